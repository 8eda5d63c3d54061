"""Write the bundled synthetic Korean NLI sample (premise, hypothesis, gold_label).

    python scripts/make_nli_sample.py     # data/raw/nli_sample.xlsx and data/raw/nli_labels.xlsx

Every pair is composed here, in KLUE-NLI's layout and label names (entailment, neutral,
contradiction). A premise says who did what, where and when ("민수는 아침에 공원에서 달리기를
했다."); its hypothesis either follows from it (the place or a general form of the activity),
contradicts it (the negation, or staying home) or is neither (another place, another person,
a feeling). "X에 갔다" is entailed when the premise's place is X and neutral otherwise, "X에 가지
않았다" a contradiction or neutral the same way: the pair, not the hypothesis alone, decides. A few planted problems
give prepare something to report: a repeated pair and a pair with an empty hypothesis. A fixed
seed and the emotion sample's fixed workbook metadata make the file byte-for-byte reproducible.
"""

# ruff: noqa: E501
from __future__ import annotations

import argparse
import logging
import random
from pathlib import Path

from make_sample import save_workbook

logger = logging.getLogger("make_nli_sample")

SEED = 20240502
HEADER = ["premise", "hypothesis", "gold_label"]
LABELS = ["entailment", "neutral", "contradiction"]  # KLUE-NLI's names; ids in this order
PAIRS_PER_LABEL = 130

NAMES = [
    "민수",
    "지수",
    "서연",
    "준호",
    "하은",
    "도윤",
    "예린",
    "현우",
    "수빈",
    "태민",
    "유진",
    "상철",
]
TIMES = ["아침에", "점심에", "저녁에", "주말에", "어제", "오늘"]
# (place, what was done there, a general form, its negation)
ACTIVITIES = [
    ("공원", "공원에서 달리기를 했다", "운동을 했다", "운동을 하지 않았다"),
    ("도서관", "도서관에서 소설책을 읽었다", "책을 읽었다", "책을 읽지 않았다"),
    ("식당", "식당에서 비빔밥을 먹었다", "밥을 먹었다", "아무것도 먹지 않았다"),
    ("영화관", "영화관에서 공포 영화를 봤다", "영화를 봤다", "영화를 보지 않았다"),
    ("시장", "시장에서 사과를 샀다", "과일을 샀다", "아무것도 사지 않았다"),
    ("수영장", "수영장에서 수영을 했다", "물에 들어갔다", "물에 들어가지 않았다"),
    ("카페", "카페에서 커피를 마셨다", "음료를 마셨다", "아무것도 마시지 않았다"),
    ("학교", "학교에서 수학 시험을 봤다", "시험을 봤다", "시험을 보지 않았다"),
    ("병원", "병원에서 진료를 받았다", "의사를 만났다", "의사를 만나지 않았다"),
    ("노래방", "노래방에서 노래를 불렀다", "노래를 불렀다", "노래를 부르지 않았다"),
]
CONTEXT = ["", "", "날씨가 맑았다. ", "비가 조금 내렸다. ", "바람이 많이 불었다. "]
FEELINGS = [
    "그 일을 무척 좋아한다",
    "그날 기분이 좋았다",
    "그곳에 처음 가 봤다",
    "친구와 함께 있었다",
]


def topic(name: str) -> str:
    """``name`` with its topic particle: 은 after a final consonant, 는 after a vowel."""
    return name + ("은" if (ord(name[-1]) - 0xAC00) % 28 else "는")


def pair(rng: random.Random, label: str) -> tuple[str, str]:
    name, time = rng.choice(NAMES), rng.choice(TIMES)
    place, done, general, negated = rng.choice(ACTIVITIES)
    premise = f"{rng.choice(CONTEXT)}{topic(name)} {time} {done}."
    other_place = rng.choice([a[0] for a in ACTIVITIES if a[0] != place])
    other_name = rng.choice([n for n in NAMES if n != name])
    if label == "entailment":
        hypothesis = rng.choice(
            [f"{topic(name)} {time} {general}.", f"{topic(name)} {time} {place}에 갔다.",
             f"{topic(name)} {time} 집 밖에 있었다."]
        )  # fmt: skip
    elif label == "contradiction":
        hypothesis = rng.choice(
            [f"{topic(name)} {time} {negated}.", f"{topic(name)} {time} {place}에 가지 않았다.",
             f"{topic(name)} {time} 집에만 있었다."]
        )  # fmt: skip
    else:
        hypothesis = rng.choice(
            [f"{topic(name)} {time} {other_place}에 갔다.", f"{topic(name)} {time} {other_place}에 가지 않았다.",
             f"{topic(other_name)} {time} {place}에 갔다.", f"{topic(other_name)} {time} {general}.",
             f"{topic(name)} {rng.choice(FEELINGS)}."]
        )  # fmt: skip
    return premise, hypothesis


def sample(rng: random.Random) -> list[list[str]]:
    """PAIRS_PER_LABEL distinct pairs per label, shuffled, plus two planted problems."""
    rows: list[list[str]] = []
    seen: set[tuple[str, str]] = set()
    for label in LABELS:
        n = 0
        while n < PAIRS_PER_LABEL:
            p, h = pair(rng, label)
            if (p, h) not in seen:
                seen.add((p, h))
                rows.append([p, h, label])
                n += 1
    rng.shuffle(rows)
    rows.append(list(rows[0]))  # a repeated pair: prepare de-duplicates it
    rows.append([rows[1][0], "", rows[1][2]])  # an empty hypothesis: prepare drops it
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the synthetic Korean NLI sample.")
    parser.add_argument("--out-dir", type=Path, default=Path("data/raw"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    rows = sample(random.Random(SEED))
    save_workbook(args.out_dir / "nli_sample.xlsx", HEADER, rows)
    logger.info("wrote %s: %d pairs", args.out_dir / "nli_sample.xlsx", len(rows))
    table = [[name, i] for i, name in enumerate(LABELS)]
    save_workbook(args.out_dir / "nli_labels.xlsx", ["gold_label", "id"], table)
    logger.info("wrote %s: %d labels", args.out_dir / "nli_labels.xlsx", len(LABELS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
