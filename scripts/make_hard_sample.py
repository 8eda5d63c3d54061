"""Write the harder bundled sample: short, noisy chat sentences of 24 emotions, for learning curves.

    python scripts/make_hard_sample.py      # data/raw/hard_sample.xlsx

Where the demo's sample (make_sample.py) is three-turn dialogues with four expressions per
emotion, this one is what users more often have: one short sentence per row, messenger style,
with label noise. Each of 24 emotions (four of each major group) has twelve expressions of its
own that share few words with each other, so a classifier that has seen five sentences of an
emotion has seen at most five of its twelve ways of saying it: telling the others needs to know
what words mean, which is where a pretrained encoder should beat character n-grams. Noise, drawn
independently of the label: an opener (오늘, 회사에서, ...), an intensifier, an ending (ㅠㅠ, ㅋㅋ,
...), spaces dropped; 15 % of sentences carry an expression of a sibling emotion of the same
group and 5 % one of any emotion, as annotators disagree on real data. 90 sentences per emotion
(2,160 in all: 54 per emotion in a 6:2:2 split's train), so a learning curve can go from 5 to 50
examples per class. A fixed seed and fixed zip timestamps make the file byte-for-byte
reproducible. Columns: 번호, 감정_대분류, 감정, 문장 (configs/hard-demo.yaml).
"""

# The phrase tables keep a few entries per line; Hangul counts double toward the line length.
# ruff: noqa: E501
from __future__ import annotations

import argparse
import logging
import random
from pathlib import Path

from make_sample import save_workbook

logger = logging.getLogger("make_hard_sample")

SEED = 20261202
PER_CLASS = 90
SIBLING_NOISE = 0.15  # an expression of another emotion of the same major group
ANY_NOISE = 0.05  # an expression of any other emotion
HEADER = ["번호", "감정_대분류", "감정", "문장"]

# Major group -> emotion -> twelve expressions.
EXPRESSIONS: dict[str, dict[str, list[str]]] = {
    "분노": {
        "분노": ["진짜 열받아서 미치겠네", "어떻게 나한테 이럴 수가 있어", "참다참다 결국 소리를 질렀어",
               "얼굴이 시뻘게질 정도로 화났어", "그 인간 때문에 피가 거꾸로 솟아", "더는 못 참겠어",
               "주먹이 부들부들 떨려", "한 대 치고 싶을 만큼 분해", "속에서 천불이 나",
               "뚜껑 열리는 줄 알았어", "말도 안 되는 소리에 폭발했어", "이건 도저히 용서가 안 돼"],
        "짜증내는": ["아 진짜 다 짜증나", "하나부터 열까지 마음에 안 들어", "왜 자꾸 나만 갖고 그래",
                 "오늘따라 모든 게 거슬려", "신경질 나서 문을 쾅 닫았어", "말 걸지 마 지금 예민하니까",
                 "짜증이 확 밀려오네", "사람 말을 좀 들으라고", "아침부터 일이 꼬여서 기분 잡쳤어",
                 "괜히 애꿎은 동생한테 성질냈어", "듣기 싫은 소리만 골라서 하네", "뭐 하나 제대로 되는 게 없네"],
        "성가신": ["자꾸 전화해서 귀찮게 해", "하루에도 몇 번씩 부르니까 번거로워", "옆에서 계속 말 시켜서 성가셔",
                "모기 때문에 밤새 뒤척였어", "별거 아닌 부탁을 계속 해 와", "쓸데없는 알림이 자꾸 울려",
                "일 하나 끝나면 또 다른 일이 생겨", "서류를 몇 번이나 다시 내래", "매번 같은 걸 물어봐서 피곤해",
                "이것저것 챙길 게 너무 많아", "광고 문자가 하루 종일 와", "치워도 치워도 끝이 없어"],
        "좌절한": ["몇 달을 준비했는데 또 떨어졌어", "아무리 발버둥 쳐도 제자리야", "이제 더 이상 해 볼 힘이 없어",
                "벽에 부딪힌 느낌이야", "노력해도 안 되는 건 안 되나 봐", "다 포기하고 싶어졌어",
                "될 듯 말 듯 하다가 결국 무너졌어", "내 능력은 여기까지인가 봐", "계획이 전부 엎어졌어",
                "다시 처음부터 해야 한다니 막막해", "기회가 또 날아갔어", "내가 뭘 해도 소용이 없네"],
    },
    "슬픔": {
        "슬픔": ["자꾸 눈물이 나", "마음이 너무 아파서 잠이 안 와", "그 사람이 떠난 게 아직도 믿기지 않아",
               "가슴 한쪽이 텅 빈 것 같아", "하늘도 내 마음처럼 흐리네", "키우던 강아지가 무지개 다리를 건넜어",
               "울고 싶은데 울 곳도 없어", "추억이 떠올라서 먹먹해", "목이 메어서 말이 안 나와",
               "요즘 웃을 일이 하나도 없어", "이별은 언제나 힘들어", "슬픈 노래만 계속 듣게 돼"],
        "실망한": ["기대한 내가 바보지", "결과가 생각보다 훨씬 별로야", "믿었는데 결국 이렇게 되네",
                "약속을 또 안 지켰어", "선물이 사진이랑 완전 달라", "그 정도밖에 안 되는 사람이었구나",
                "맛집이라더니 영 아니더라", "점수가 기대에 한참 못 미쳐", "이번엔 다를 줄 알았는데",
                "김이 확 샜어", "공연이 생각보다 너무 시시했어", "큰맘 먹고 샀는데 돈이 아까워"],
        "후회되는": ["그때 그 말은 하지 말걸", "조금만 더 공부할걸 그랬어", "왜 그런 선택을 했을까",
                 "시간을 되돌리고 싶어", "부모님께 더 잘해 드릴걸", "충동구매한 게 계속 생각나",
                 "그 기회를 놓친 게 아쉬워", "내가 먼저 사과했어야 했는데", "술김에 한 행동이 자꾸 떠올라",
                 "괜히 그만뒀나 싶어", "미리 준비했으면 이렇게 안 됐을 텐데", "그 사람을 붙잡지 않은 게 한이야"],
        "우울한": ["아무것도 하기 싫고 누워만 있어", "몇 주째 기분이 가라앉아 있어", "사는 게 재미가 없어",
                "하루 종일 무기력해", "밥맛도 없고 잠도 안 와", "세상이 온통 회색빛 같아",
                "나 같은 건 없어져도 모를 거야", "웃는 법을 잊어버린 것 같아", "의욕이 하나도 안 생겨",
                "창밖만 멍하니 보고 있어", "마음이 축 처져서 일어나기 힘들어", "요즘 계속 다운돼 있어"],
    },
    "불안": {
        "불안": ["뭔가 잘못될 것 같은 예감이 들어", "심장이 계속 두근거려", "마음이 붕 떠서 집중이 안 돼",
               "결과 발표 전까지 잠을 못 잘 것 같아", "앞날이 어떻게 될지 모르겠어", "가슴이 답답하고 숨이 차",
               "계속 안절부절못하고 있어", "회사에서 잘릴까 봐 조마조마해", "자꾸 나쁜 상상만 하게 돼",
               "괜찮을 거라고 해도 마음이 안 놓여", "손에 땀이 나고 떨려", "뭔가 빠뜨린 것 같아서 찜찜해"],
        "두려운": ["밤길 걷는 게 무서워", "그 사람 얼굴만 봐도 겁이 나", "수술 받는 게 너무 무서워",
                "다시 그런 일을 당할까 봐 소름 끼쳐", "혼자 남겨질까 봐 겁나", "높은 곳에 올라가면 다리가 후들거려",
                "큰 소리만 나도 깜짝깜짝 놀라", "무서워서 이불 밖으로 못 나가겠어", "그 골목은 무서워서 돌아가",
                "사람들 앞에 서는 게 겁나", "공포 때문에 몸이 얼어붙었어", "검사 결과 듣는 게 두려워"],
        "걱정스러운": ["엄마가 아프시다는데 걱정돼", "아이가 학교에서 잘 지내는지 모르겠어", "이번 달 카드값을 어떻게 내지",
                  "친구가 요즘 연락이 없어서 신경 쓰여", "할머니 건강이 계속 마음에 걸려", "태풍 온다는데 집이 괜찮을까",
                  "동생이 나쁜 친구들이랑 어울리는 것 같아", "취업이 안 되면 어떡하지", "노후 준비를 하나도 못 했어",
                  "아빠가 요즘 술을 너무 많이 드셔", "내일 면접인데 잘할 수 있을까", "대출 이자가 오른다니 한숨만 나와"],
        "초조한": ["시간이 얼마 안 남았는데 아직 반도 못 했어", "버스가 안 와서 발을 동동 굴렀어", "답장이 안 와서 계속 휴대폰만 봐",
                "마감이 코앞이라 손이 떨려", "합격자 발표를 기다리는 중이야", "1분이 한 시간처럼 길어",
                "차가 막혀서 약속에 늦을 것 같아", "순서가 다가오니까 입이 바짝 말라", "손톱을 자꾸 물어뜯게 돼",
                "빨리 끝났으면 좋겠는데 끝이 안 보여", "시계만 계속 쳐다보고 있어", "재촉하는 전화가 계속 와서 조급해"],
    },
    "상처": {
        "배신당한": ["가장 친한 친구가 내 험담을 하고 다녔대", "믿었던 동료가 내 아이디어를 가로챘어", "애인이 바람을 피웠어",
                 "빌려준 돈을 갚을 생각이 없대", "내 편인 줄 알았는데 등을 돌렸어", "비밀이라고 한 걸 다 퍼뜨렸더라",
                 "뒤통수 제대로 맞았어", "십 년 우정이 이렇게 끝나네", "나 몰래 다른 사람 편을 들었어",
                 "앞에서는 웃고 뒤에서는 욕하더라", "같이 하기로 해 놓고 혼자 빠져나갔어", "그렇게 잘해 줬는데 돌아온 게 이거야"],
        "질투하는": ["친구가 먼저 승진해서 배 아파", "동생만 예뻐하는 게 너무 싫어", "걔는 뭐든 쉽게 얻는 것 같아",
                 "남자친구가 다른 여자랑 웃는 게 신경 쓰여", "다들 걔만 칭찬해", "나보다 잘난 사람 보면 괜히 샘나",
                 "친구 새 차를 보니 부러워 죽겠어", "나도 저렇게 인기 많았으면 좋겠다", "단짝이 다른 애랑 더 친해졌어",
                 "사촌이 땅을 사면 배가 아프다더니", "걔 SNS 보면 괜히 속이 쓰려", "왜 나만 빼고 다 잘 나가는 거야"],
        "억울한": ["내가 안 했는데 나한테 뒤집어씌웠어", "아무리 설명해도 안 믿어 줘", "잘못은 걔가 했는데 혼은 내가 났어",
                "오해받아서 분하고 서러워", "나만 벌점 받았어", "열심히 한 건 나인데 공은 남이 가져갔어",
                "증거가 없으니 말할 수도 없어", "억울해서 잠이 안 와", "누명을 쓴 기분이야",
                "사정도 안 들어 보고 나를 탓해", "똑같이 했는데 나만 걸렸어", "변명할 기회도 안 줬어"],
        "버려진": ["다들 나만 두고 가 버렸어", "부모님이 나한테 관심이 없어", "헤어지자는 문자 한 통으로 끝났어",
                "필요할 때만 찾고 이제는 연락도 없어", "길 잃은 강아지가 된 기분이야", "회사가 나를 하루아침에 내쳤어",
                "아무도 나를 찾지 않아", "내가 쓸모없어지니까 떠나더라", "결혼하더니 친구들이 다 멀어졌어",
                "이사 간 뒤로 아무도 안 놀러 와", "생일인데 아무도 기억 못 해", "혼자 덩그러니 남겨졌어"],
    },
    "당황": {
        "당황": ["갑자기 질문을 받아서 머리가 하얘졌어", "지갑을 두고 와서 계산을 못 했어", "엉뚱한 사람한테 문자를 보냈어",
               "예상 못 한 손님이 들이닥쳤어", "발표 자료가 갑자기 안 열려", "모르는 사람이 내 이름을 불렀어",
               "어버버하다가 대답을 못 했어", "버스를 반대로 탔지 뭐야", "회의 시간을 완전히 착각했어",
               "이게 무슨 상황인지 모르겠어", "눈앞에서 컵을 엎질렀어", "뜻밖의 말에 할 말을 잃었어"],
        "부끄러운": ["사람들 앞에서 넘어졌어", "얼굴이 화끈거려서 고개를 못 들겠어", "바지 지퍼가 열린 줄도 몰랐어",
                 "노래 부르다 음이탈 났어", "내가 쓴 글을 누가 읽는다니 쑥스러워", "칭찬받으니까 몸 둘 바를 모르겠어",
                 "잘못 알아듣고 엉뚱한 대답을 했어", "쥐구멍에라도 숨고 싶어", "다들 나를 보고 웃는 것 같아",
                 "창피해서 다시는 못 가겠어", "흑역사가 하나 더 생겼네", "이름을 잘못 불러서 민망했어"],
        "외로운": ["주말 내내 아무하고도 말을 안 했어", "혼밥하는 게 오늘따라 쓸쓸해", "연락할 사람이 아무도 없어",
                "북적이는 곳에 있어도 혼자 같아", "불 꺼진 집에 들어가기 싫어", "명절인데 갈 데가 없어",
                "누가 옆에 있어 줬으면 좋겠어", "다들 짝이 있는데 나만 혼자야", "밤이 되면 허전함이 커져",
                "고향 친구들이 보고 싶어", "내 얘기를 들어 줄 사람이 없어", "텅 빈 방에 혼자 앉아 있어"],
        "죄책감의": ["나 때문에 친구가 혼났어", "엄마한테 심한 말을 해서 마음에 걸려", "그 사람한테 너무 미안해",
                 "내 실수로 팀 전체가 손해를 봤어", "거짓말한 게 자꾸 찔려", "아픈 동생을 두고 놀러 나갔어",
                 "내가 조금만 더 신경 썼으면 안 다쳤을 텐데", "볼 면목이 없어", "부탁을 거절한 게 계속 걸려",
                 "약속을 어겨서 얼굴을 못 보겠어", "나만 살아남은 것 같아서 괴로워", "용서를 빌고 싶어"],
    },
    "기쁨": {
        "기쁨": ["드디어 합격했어", "오늘 하루 완전 최고였어", "입꼬리가 자꾸 올라가",
               "좋은 소식이 연달아 들려와", "월급이 올랐어", "오랜만에 푹 자고 일어나서 상쾌해",
               "복권에 당첨됐어", "행복해서 날아갈 것 같아", "아기가 처음으로 걸었어",
               "원하던 회사에서 연락이 왔어", "세상이 다 아름다워 보여", "웃음이 끊이지 않는 하루였어"],
        "감사하는": ["항상 내 편이 되어 줘서 고마워", "바쁜데 도와줘서 정말 감사해요", "덕분에 무사히 끝낼 수 있었어",
                 "이 은혜를 어떻게 갚지", "부모님께 늘 감사하게 생각해", "선배가 밥을 사 줬는데 고맙더라",
                 "모르는 사람이 길을 알려 줬어", "힘들 때 곁에 있어 준 게 큰 힘이 됐어", "작은 선물이지만 마음이 전해졌어",
                 "선생님 덕분에 여기까지 왔어", "응원해 준 모두에게 고마워", "신경 써 줘서 진심으로 고맙다"],
        "안도": ["검사 결과가 정상이래", "잃어버린 지갑을 찾았어", "아슬아슬하게 기차를 탔어",
               "다행히 아무도 안 다쳤어", "걱정했던 일이 잘 풀렸어", "이제야 발 뻗고 잘 수 있겠어",
               "마감 직전에 겨우 제출했어", "아이가 무사히 집에 왔어", "큰 병이 아니라서 천만다행이야",
               "십 년 감수했네", "시험에 간신히 통과했어", "긴장이 풀리니까 온몸에 힘이 빠져"],
        "신이 난": ["내일 여행 간다 야호", "콘서트 티켓 구했어", "주말에 놀이공원 가기로 했어",
                 "새 게임이 나와서 밤새 할 거야", "친구들이랑 캠핑 갈 생각에 들떠", "방학이 시작됐어",
                 "노래가 절로 나와", "오늘 파티다", "첫눈이 와서 밖에서 뛰어놀았어",
                 "좋아하는 가수를 실제로 봤어", "신나서 어깨가 들썩들썩해", "축제 가서 실컷 놀았어"],
    },
}  # fmt: skip

OPENERS = ["아까 ", "오늘 ", "어제 ", "방금 ", "요즘 ", "지난주에 ", "회사에서 ", "학교에서 ", "집에 와서 ",
           "퇴근길에 ", "점심 먹다가 ", "아침부터 ", "솔직히 ", "근데 ", "있잖아 ", "주말에 ", "새벽에 ",
           "그러니까 ", "아무튼 ", "결국 "]  # fmt: skip
INTENSIFIERS = ["진짜 ", "너무 ", "완전 ", "아 ", "하 ", "후 ", "와 "]
ENDINGS = ["", "", ".", ".", "..", "...", "!", "ㅠㅠ", "ㅜㅜ", "ㅋㅋ", "ㅎㅎ", "ㅡㅡ", " ㅠ"]


def noisy(rng: random.Random, expression: str) -> str:
    """The expression with label-independent noise: opener, intensifier, ending, spacing."""
    text = expression
    if rng.random() < 0.3:
        text = rng.choice(INTENSIFIERS) + text
    if rng.random() < 0.5:
        text = rng.choice(OPENERS) + text
    text += rng.choice(ENDINGS)
    roll = rng.random()
    if roll < 0.1:  # typed without spaces
        text = text.replace(" ", "")
    elif roll < 0.3 and " " in text:  # one space missing
        spaces = [i for i, ch in enumerate(text) if ch == " "]
        i = rng.choice(spaces)
        text = text[:i] + text[i + 1 :]
    return text


def rows(rng: random.Random) -> list[list[object]]:
    """(번호, group, emotion, sentence) rows, PER_CLASS per emotion, shuffled."""
    labels = [(g, e) for g, emotions in EXPRESSIONS.items() for e in emotions]
    out: list[tuple[str, str, str]] = []
    for group, emotion in labels:
        for _ in range(PER_CLASS):
            roll = rng.random()
            if roll < SIBLING_NOISE:  # an annotator who read it as a neighbouring emotion
                source = rng.choice([e for e in EXPRESSIONS[group] if e != emotion])
                pool = EXPRESSIONS[group][source]
            elif roll < SIBLING_NOISE + ANY_NOISE:
                g, e = rng.choice([lab for lab in labels if lab != (group, emotion)])
                pool = EXPRESSIONS[g][e]
            else:
                pool = EXPRESSIONS[group][emotion]
            out.append((group, emotion, noisy(rng, rng.choice(pool))))
    rng.shuffle(out)
    return [[i, *row] for i, row in enumerate(out, 1)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=Path("data/raw"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    table = rows(random.Random(SEED))
    path = args.out_dir / "hard_sample.xlsx"
    save_workbook(path, HEADER, table)
    logger.info("wrote %s: %d sentences of %d emotions", path, len(table), len(table) // PER_CLASS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
