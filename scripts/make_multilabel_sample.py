"""Write the bundled synthetic Korean multi-label emotion sample (문장, 감정: 1-3 emotions each).

    python scripts/make_multilabel_sample.py   # data/raw/multilabel_sample.xlsx, multilabel_labels.xlsx

Every sentence is composed here: a situation, then one clause per emotion it carries (1-3 of the
8 in LABELS, joined by connectives), sometimes a clause with a *negated* cue of another emotion
("화가 나지는 않았지만"), which does not count. The label cell lists the emotions separated by
", "; one label, "당황, 놀람", itself holds the separator and is resolved through the label
table. Each emotion has many paraphrased cues, so a model has to read the meaning, not a
fixed word, and the negated cues make a bag of character n-grams guess wrong now and then.
Planted problems for prepare: a repeated sentence and an empty label. A fixed seed and the
emotion sample's fixed workbook metadata make both files byte-for-byte reproducible.
"""

# ruff: noqa: E501
from __future__ import annotations

import argparse
import logging
import random
from pathlib import Path

from make_sample import save_workbook

logger = logging.getLogger("make_multilabel_sample")

SEED = 20240523
SENTENCES = 520
HEADER = ["문장", "감정"]
LABELS = ["기쁨", "슬픔", "분노", "불안", "감사", "설렘", "외로움", "당황, 놀람"]
# Positive cues per emotion; a sentence draws one per emotion it carries.
CUES = {
    "기쁨": ["너무 기뻤다", "정말 행복했다", "하루 종일 웃음이 났다", "날아갈 것 같았다", "기분이 최고였다", "신이 났다",
             "입꼬리가 내려가지 않았다", "즐거워서 노래를 불렀다", "마음이 환해졌다", "뿌듯하고 흐뭇했다", "콧노래가 절로 나왔다", "춤이라도 추고 싶었다"],
    "슬픔": ["눈물이 났다", "마음이 아팠다", "너무 슬펐다", "가슴이 먹먹했다", "한참을 울었다", "우울한 기분이 들었다",
             "마음이 무너져 내렸다", "서러움이 밀려왔다", "목이 메었다", "울적해서 아무것도 못 했다", "눈시울이 붉어졌다", "비통한 심정이었다"],
    "분노": ["화가 치밀었다", "너무 짜증이 났다", "열이 받았다", "분통이 터졌다", "어이가 없고 화가 났다", "참을 수가 없었다",
             "주먹이 부들부들 떨렸다", "속이 부글부글 끓었다", "소리를 지르고 싶었다", "괘씸해서 잠이 안 왔다", "머리끝까지 화가 솟았다", "울화통이 터졌다"],
    "불안": ["걱정이 되었다", "불안해서 잠이 오지 않았다", "초조했다", "가슴이 두근거리며 조마조마했다", "겁이 났다", "마음이 놓이지 않았다",
             "손에 땀이 났다", "안절부절못했다", "혹시 잘못될까 봐 무서웠다", "긴장이 풀리지 않았다", "머릿속이 걱정으로 가득했다", "애가 탔다"],
    "감사": ["정말 고마웠다", "감사한 마음이 들었다", "은혜를 잊지 못할 것 같다", "고맙다는 말을 몇 번이나 했다", "덕분에 힘이 났다", "진심으로 감사했다",
             "그 마음 씀씀이가 고마웠다", "신세를 갚고 싶었다", "도와준 사람들에게 감사 인사를 했다", "감동해서 고맙다고 했다", "은인을 만난 기분이었다", "고마움을 전하고 싶었다"],
    "설렘": ["가슴이 설렜다", "두근두근 기대가 되었다", "빨리 그날이 왔으면 했다", "기대에 부풀었다", "벌써부터 마음이 들떴다", "설레서 잠을 설쳤다",
             "어떤 일이 생길지 기대됐다", "마음이 콩닥콩닥했다", "손꼽아 기다렸다", "새로운 시작에 마음이 부풀었다", "상상만 해도 두근거렸다", "그날을 기다리며 들떴다"],
    "외로움": ["혼자라는 생각이 들었다", "너무 외로웠다", "쓸쓸했다", "곁에 아무도 없는 것 같았다", "고독이 밀려왔다", "말할 사람이 없었다",
               "빈방이 유난히 넓어 보였다", "홀로 남겨진 기분이었다", "연락할 친구가 없었다", "허전하고 적적했다", "아무도 나를 찾지 않았다", "텅 빈 마음이었다"],
    "당황, 놀람": ["깜짝 놀랐다", "당황해서 말이 안 나왔다", "어리둥절했다", "눈이 휘둥그레졌다", "너무 놀라서 얼어붙었다", "황당해서 멍해졌다",
                 "갑작스러워서 어쩔 줄 몰랐다", "믿기지가 않았다", "말문이 막혔다", "얼굴이 화끈거렸다", "예상 밖이라 허둥댔다", "심장이 철렁 내려앉았다"],
}  # fmt: skip
# Negated cues: mention an emotion the sentence does not carry.
NEGATED = {
    "기쁨": "기쁘지는 않았고", "슬픔": "슬프지는 않았지만", "분노": "화가 나지는 않았지만", "불안": "걱정되지는 않았지만",
    "감사": "고맙지는 않았고", "설렘": "설레지는 않았지만", "외로움": "외롭지는 않았지만", "당황, 놀람": "놀라지는 않았지만",
}  # fmt: skip
SITUATIONS = [
    "오랜만에 친구를 만났는데", "회사에서 발표를 마치고", "시험 결과가 나온 날", "이사를 하고 나서", "동생이 갑자기 전화를 해서",
    "퇴근길에 비가 쏟아져서", "생일에 선물을 받고", "면접을 보러 가는 길에", "여행 계획을 세우다가", "밤늦게 집에 돌아와서",
    "팀장님이 나를 불러서", "강아지가 아파서 병원에 갔는데", "새 학기가 시작되어서", "헤어진 연인의 소식을 듣고", "이웃이 음식을 나눠 줘서",
    "버스를 놓쳐서", "첫 월급을 받아서", "주말 내내 집에 있다 보니", "할머니 댁에 다녀와서", "친구가 약속을 어겨서",
]  # fmt: skip
JOIN = [" ", " 그리고 ", " 동시에 ", " 한편으로는 ", " 그러면서도 "]
COUNTS = [1, 1, 2, 2, 2, 3]  # labels per sentence: 1-3, two most often
# Emotions that tend to come together (the sample's co-occurrence is not uniform).
PARTNERS = {"기쁨": ["감사", "설렘"], "슬픔": ["외로움", "분노"], "불안": ["당황, 놀람", "설렘"]}


def emotions(rng: random.Random) -> list[str]:
    first = rng.choice(LABELS)
    chosen = [first]
    n = rng.choice(COUNTS)
    while len(chosen) < n:
        pool = PARTNERS.get(first, []) if rng.random() < 0.5 else LABELS
        pick = rng.choice(pool or LABELS)
        if pick not in chosen:
            chosen.append(pick)
    return chosen


def sentence(rng: random.Random, chosen: list[str]) -> str:
    clauses = [rng.choice(CUES[e]) for e in chosen]
    text = rng.choice(SITUATIONS) + " " + clauses[0]
    for clause in clauses[1:]:
        text += "." + rng.choice(JOIN) + clause
    if rng.random() < 0.3:  # a negated cue of an emotion it does not carry
        other = rng.choice([e for e in LABELS if e not in chosen])
        text = (
            text.replace(" ", " " + NEGATED[other] + " ", 1)
            if rng.random() < 0.5
            else (NEGATED[other] + " " + text)
        )
    return text + "."


def sample(rng: random.Random) -> list[list[str]]:
    rows: list[list[str]] = []
    seen: set[str] = set()
    while len(rows) < SENTENCES:
        chosen = emotions(rng)
        text = sentence(rng, chosen)
        if text not in seen:
            seen.add(text)
            ordered = [e for e in LABELS if e in chosen]
            rows.append([text, ", ".join(ordered)])
    rows.append(list(rows[0]))  # a repeated sentence: prepare de-duplicates it
    rows.append([rows[1][0] + " 정말로.", ""])  # an empty label: prepare drops it
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the synthetic Korean multi-label sample.")
    parser.add_argument("--out-dir", type=Path, default=Path("data/raw"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    rows = sample(random.Random(SEED))
    save_workbook(args.out_dir / "multilabel_sample.xlsx", HEADER, rows)
    logger.info("wrote %s: %d sentences", args.out_dir / "multilabel_sample.xlsx", len(rows))
    table = [[name, i] for i, name in enumerate(LABELS)]
    save_workbook(args.out_dir / "multilabel_labels.xlsx", ["감정", "id"], table)
    logger.info("wrote %s: %d labels", args.out_dir / "multilabel_labels.xlsx", len(LABELS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
