"""Write the bundled synthetic Korean NER sample: sentences with inline entity markup.

    python scripts/make_ner_sample.py     # data/raw/ner_sample.xlsx (column 문장)

Every sentence is composed here from templates whose slots are people (PS), places (LC),
organisations (OG), dates (DT), times (TI) and quantities (QT), written in the KLUE-NER /
nlpbook markup ``<부산:LC>에서``. People are a surname plus a given name and organisations a
stem plus a kind (한빛 + 은행), so many test entities are combinations never seen in training:
a dictionary of training entities cannot find them, a model that reads the context can.
A repeated sentence is planted for prepare to drop. A fixed seed and the emotion sample's fixed
workbook metadata make the file byte-for-byte reproducible.
"""

# ruff: noqa: E501
from __future__ import annotations

import argparse
import logging
import random
from pathlib import Path

from make_sample import save_workbook

logger = logging.getLogger("make_ner_sample")

SEED = 20240613
N_SENTENCES = 420
SURNAMES = [
    "김",
    "이",
    "박",
    "최",
    "정",
    "강",
    "조",
    "윤",
    "장",
    "임",
    "한",
    "오",
    "서",
    "신",
    "권",
]
GIVEN = [
    "민수",
    "지영",
    "서준",
    "하은",
    "도윤",
    "수아",
    "예준",
    "지호",
    "유나",
    "현우",
    "소연",
    "태희",
    "준영",
    "다은",
]
PLACES = [
    "부산",
    "서울",
    "대전",
    "광주",
    "인천",
    "제주도",
    "강릉",
    "전주",
    "수원",
    "경주",
    "춘천",
    "여수",
    "울산",
    "목포",
]
PLACE_SUFFIX = ["시", "군", "역", "항", "공원"]
ORG_STEMS = ["한빛", "푸른", "새별", "다솜", "누리", "미래", "해오름", "가람", "바다", "솔빛"]
ORG_KINDS = ["전자", "은행", "대학교", "병원", "출판사", "건설", "항공", "신문사"]
MONTH_DAY = [f"{m}월 {d}일" for m in range(1, 13) for d in (1, 3, 5, 10, 15, 20, 25, 28)]
DATES = ["어제", "오늘", "내일", "지난주", "다음 달", "올해"]
TIMES = (
    [f"오전 {h}시" for h in range(6, 12)]
    + [f"오후 {h}시" for h in range(1, 10)]
    + [f"{h}시 30분" for h in range(1, 12)]
)
QUANTS = [
    f"{n}{u}"
    for n in (2, 3, 5, 7, 10, 12, 20, 30, 50, 100)
    for u in ("명", "개", "권", "대", "킬로그램")
]

TEMPLATES = [
    "<{PS}:PS>은 <{DT}:DT> <{LC}:LC>에서 <{OG}:OG> 사람들을 만났다.",
    "<{OG}:OG>는 <{DT}:DT> <{TI}:TI>에 새 제품을 발표했다.",
    "<{PS}:PS> 씨가 <{LC}:LC>에 있는 <{OG}:OG>에 입사했다.",
    "<{DT}:DT> <{TI}:TI>까지 <{LC}:LC>에 도착해야 한다.",
    "<{PS}:PS>는 사과 <{QT}:QT>를 샀다.",
    "<{OG}:OG>에서 <{QT}:QT>이 일하고 있다.",
    "<{PS}:PS>와 <{PS2}:PS>는 <{LC}:LC>로 여행을 떠났다.",
    "회의는 <{DT}:DT> <{TI}:TI>에 <{OG}:OG> 본사에서 열린다.",
    "<{LC}:LC> 날씨가 <{DT}:DT>부터 추워진다고 한다.",
    "<{PS}:PS> 교수는 <{OG}:OG>에서 강연을 했다.",
    "<{LC}:LC>에서 <{LC2}:LC>까지 버스로 <{QT}:QT>이 걸렸다.",
    "오늘은 아무 일정이 없어서 집에서 쉬었다.",
    "<{PS}:PS>가 <{TI}:TI>에 전화를 걸었다.",
    "<{OG}:OG> 직원 <{QT}:QT>이 <{LC}:LC> 지사로 옮겼다.",
    "그 책은 정말 재미있었다고 <{PS}:PS>가 말했다.",
]


def person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def place(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return rng.choice(PLACES) + rng.choice(PLACE_SUFFIX)
    return rng.choice(PLACES)


def org(rng: random.Random) -> str:
    return rng.choice(ORG_STEMS) + rng.choice(ORG_KINDS)


def sentence(rng: random.Random) -> str:
    template = rng.choice(TEMPLATES)
    fill = {
        "PS": person(rng),
        "PS2": person(rng),
        "LC": place(rng),
        "LC2": place(rng),
        "OG": org(rng),
        "DT": rng.choice(MONTH_DAY + DATES),
        "TI": rng.choice(TIMES),
        "QT": rng.choice(QUANTS),
    }
    return template.format(**fill)


def sample(rng: random.Random) -> list[list[str]]:
    seen: set[str] = set()
    rows = []
    while len(rows) < N_SENTENCES:
        text = sentence(rng)
        if text in seen:
            continue
        seen.add(text)
        rows.append([text])
    rows.append(list(rows[0]))  # a repeated sentence: prepare de-duplicates it
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the synthetic Korean NER sample.")
    parser.add_argument("--out-dir", type=Path, default=Path("data/raw"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    rows = sample(random.Random(SEED))
    save_workbook(args.out_dir / "ner_sample.xlsx", ["문장"], rows)
    logger.info("wrote %s: %d sentences", args.out_dir / "ner_sample.xlsx", len(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
