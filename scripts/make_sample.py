"""Write the bundled synthetic sample in the AI-Hub emotional dialogue layout.

    python scripts/make_sample.py            # data/raw/sample_dialogues.xlsx, sample_labels.xlsx
    python scripts/make_sample.py --labels-only data/raw/emotion_labels.xlsx  # the 58-row table
    python scripts/make_sample.py --rows 50000 --out /tmp/big.xlsx           # a large workbook

The sample is synthetic: every sentence is composed here from a situation and an expression of
the dialogue's emotion (several per sub-emotion, plus expressions shared by its major group and
a few sentences with no emotional cue), so a classifier has something to learn but no single
phrase gives a class away. It covers the 58 sub-emotions (감정_소분류) of AI-Hub's corpus under
their 6 major groups (감정_대분류); 고립된 and 혼란스러운 occur under two groups, as in the corpus.
A few planted problems give prepare something to report: empty labels, whitespace-only
sentences, repeated sentences (one with another label, one in decomposed Unicode) and blank
third turns. A fixed seed and fixed zip timestamps make the files byte-for-byte reproducible.
"""

# The phrase tables keep a few entries per line; Hangul counts double toward the line length.
# ruff: noqa: E501
from __future__ import annotations

import argparse
import io
import logging
import random
import re
import unicodedata
import zipfile
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook

logger = logging.getLogger("make_sample")

SEED = 20240501
FIXED_TIME = datetime(2024, 5, 1)
SHEET = "Sheet1"
HEADER = ["번호", "연령", "성별", "상황키워드", "신체질환", "감정_대분류", "감정_소분류",
          "사람문장1", "시스템문장1", "사람문장2", "시스템문장2", "사람문장3", "시스템문장3"]  # fmt: skip

# Sub-emotion -> expressions of it. Ordered as the corpus codes them (E10..E69); 고립된 and
# 혼란스러운 are listed under their first group and also used under 당황 (see TAXONOMY).
EXPRESSIONS: dict[str, list[str]] = {
    # 분노
    "분노": ["너무 화가 나서 손이 떨릴 정도야", "이건 정말 분노할 일이야",
           "화를 참으려고 해도 참아지지가 않아", "머리끝까지 화가 치밀어 올라"],
    "툴툴대는": ["괜히 나만 손해 보는 것 같아서 툴툴거리게 돼", "마음에 드는 게 없어서 자꾸 투덜대게 돼",
             "왜 맨날 이런 식이냐고 혼잣말로 구시렁거렸어", "불평이 입에서 떠나질 않아"],
    "좌절한": ["아무리 해도 안 되니까 좌절감이 들어", "몇 번을 해 봤는데 또 실패해서 주저앉고 싶어",
            "뭘 해도 소용없을 것 같아서 힘이 쭉 빠져", "노력이 다 물거품이 된 것 같아 좌절스러워"],
    "짜증내는": ["사소한 것까지 전부 짜증이 나", "하루 종일 짜증이 나서 아무것도 못 하겠어",
             "같은 말을 몇 번씩 하게 만드니까 짜증 나 죽겠어", "신경이 곤두서서 작은 소리에도 짜증을 냈어"],
    "방어적인": ["내 잘못도 아닌데 왜 나한테 그러는지 모르겠어", "나도 할 말은 있다고 따지고 싶었어",
             "나를 탓하는 것 같아서 변명부터 하게 돼", "누가 뭐라고 하기도 전에 먼저 방어하게 돼"],
    "악의적인": ["그 사람도 똑같이 당해 봤으면 좋겠어", "그 사람이 쫄딱 망했으면 좋겠다는 생각까지 들어",
             "언젠가 꼭 되갚아 주고 말 거야", "일부러 골탕을 먹이고 싶은 마음이 들어"],
    "안달하는": ["빨리 결과가 나와야 하는데 안달이 나", "연락이 올 때까지 가만히 있을 수가 없어",
             "당장 해결하고 싶어서 발을 동동 구르고 있어", "조바심이 나서 계속 휴대폰만 들여다보게 돼"],
    "구역질 나는": ["그 얘기를 들으니까 속이 메스꺼워", "그 사람 얼굴만 떠올려도 구역질이 나",
               "너무 역겨워서 토할 것 같았어", "비위가 상해서 밥이 넘어가질 않아"],
    "노여워하는": ["어른한테 그렇게 굴다니 정말 노여워", "그 무례함에 노여움이 가라앉질 않아",
              "괘씸해서 한마디 하지 않을 수가 없었어", "노여워서 얼굴이 화끈거렸어"],
    "성가신": ["자꾸 귀찮게 하니까 너무 성가셔", "별것도 아닌 일로 계속 불러서 성가셔 죽겠어",
            "하나 끝나면 또 하나 생기니 성가신 일투성이야", "신경 쓸 일이 자꾸 생겨서 귀찮기만 해"],
    # 슬픔
    "슬픔": ["너무 슬퍼서 아무 말도 안 나와", "슬픈 마음이 계속 가시지 않아",
           "그 생각만 하면 한없이 슬퍼져", "마음 한구석이 너무 슬퍼"],
    "실망한": ["기대를 많이 했는데 실망이 커", "믿었던 만큼 실망스러워",
            "결과를 보고 크게 실망했어", "이 정도밖에 안 되나 싶어서 실망했어"],
    "비통한": ["가슴이 찢어질 것처럼 비통해", "비통한 마음을 감출 수가 없었어",
            "너무 비통해서 숨쉬기도 힘들어", "세상이 무너진 것처럼 애통해"],
    "후회되는": ["그때 왜 그랬는지 너무 후회돼", "조금만 더 신경 썼으면 좋았을 텐데 후회가 남아",
             "시간을 되돌릴 수만 있다면 좋겠어", "내 선택을 자꾸 곱씹으면서 후회하고 있어"],
    "우울한": ["요즘 계속 우울해서 아무것도 하기 싫어", "우울한 기분이 몇 주째 이어지고 있어",
            "침대에서 나오기도 힘들 만큼 축 처져", "뭘 해도 즐겁지가 않고 우울하기만 해"],
    "마비된": ["너무 큰일이라 아무 감정도 느껴지지 않아", "머리가 멍해서 아무 생각도 안 나",
            "감각이 마비된 것처럼 멍하니 앉아 있었어", "눈물도 안 나오고 그냥 텅 빈 느낌이야"],
    "염세적인": ["세상은 원래 불공평한 곳인 것 같아", "어차피 달라지는 건 하나도 없을 거야",
             "사는 게 다 부질없다는 생각이 들어", "사람한테 기대해 봤자 소용없더라"],
    "눈물이 나는": ["얘기하다 보니 눈물이 자꾸 나", "그 장면이 떠올라서 눈물이 멈추질 않았어",
               "혼자 있으면 눈물이 왈칵 쏟아져", "목이 메어서 울음을 참을 수가 없었어"],
    "낙담한": ["될 줄 알았는데 떨어져서 낙담했어", "기운이 쭉 빠지고 의욕이 사라졌어",
            "이번에도 안 되니 맥이 탁 풀려", "희망을 걸었던 일이 틀어져서 풀이 죽었어"],
    "환멸을 느끼는": ["그 사람의 진짜 모습을 보고 환멸을 느꼈어", "이런 곳에서 버티는 게 환멸스러워",
                "믿었던 사람들한테 정나미가 뚝 떨어졌어", "이제는 그쪽 사람들 전부에게 환멸이 나"],
    # 불안
    "불안": ["앞으로 어떻게 될지 몰라 불안해", "불안한 마음이 가라앉지를 않아",
           "괜히 불안해서 아무 일도 손에 안 잡혀", "혹시 잘못될까 봐 불안해 죽겠어"],
    "두려운": ["다시 그런 일이 생길까 봐 두려워", "무서워서 혼자 있기가 싫어",
            "그 사람을 다시 마주칠까 봐 겁이 나", "결과를 확인하는 게 두려워"],
    "스트레스 받는": ["스트레스 때문에 머리가 지끈거려", "요즘 스트레스가 너무 심해서 잠을 못 자",
                "할 일이 잔뜩 쌓여서 스트레스를 받아", "스트레스 때문에 속이 쓰려"],
    "취약한": ["조그만 일에도 쉽게 무너질 것 같아", "요즘 내가 너무 약해진 것 같아",
            "누가 한마디만 해도 버티지 못할 것 같아", "몸도 마음도 지쳐서 작은 일도 견디기 힘들어"],
    "혼란스러운": ["뭐가 맞는지 몰라서 혼란스러워", "머릿속이 복잡해서 정리가 안 돼",
              "어떤 선택을 해야 할지 갈피를 못 잡겠어", "말이 자꾸 바뀌니까 뭘 믿어야 할지 혼란스러워"],
    "당혹스러운": ["예상하지 못한 말을 들어서 당혹스러웠어", "갑작스러운 일이라 어떻게 해야 할지 당혹스러워",
              "대답할 말이 떠오르지 않아 난처했어", "생각지도 못한 상황이라 당혹스럽기만 해"],
    "회의적인": ["이게 정말 효과가 있을지 의심스러워", "그 말을 믿어도 되는지 회의가 들어",
             "다들 괜찮다고 하는데 나는 잘 모르겠어", "이렇게 해서 뭐가 달라질지 회의적이야"],
    "걱정스러운": ["혹시 무슨 일이 생길까 봐 걱정돼", "그 생각만 하면 걱정이 끊이지 않아",
              "앞으로가 걱정스러워서 한숨만 나와", "잘 지내고 있는지 걱정이 돼"],
    "조심스러운": ["말 한마디 잘못할까 봐 조심스러워", "이번에는 실수하지 않으려고 조심하고 있어",
              "상대 기분을 건드릴까 봐 조심스럽게 말했어", "섣불리 결정하지 않으려고 조심하는 중이야"],
    "초조한": ["시간은 없는데 아무것도 안 돼서 초조해", "연락을 기다리는 동안 너무 초조했어",
            "마감이 다가오니까 초조해서 손톱을 물어뜯게 돼", "초조한 마음에 가만히 앉아 있을 수가 없어"],
    # 상처
    "상처": ["그 말 한마디에 크게 상처받았어", "상처가 너무 깊어서 쉽게 아물 것 같지 않아",
           "나한테 그렇게 말한 게 상처가 됐어", "마음에 생긴 상처가 자꾸 욱신거려"],
    "질투하는": ["다른 사람만 칭찬받는 걸 보니 질투가 나", "친구가 잘되는 게 부러우면서도 샘이 나",
             "나도 모르게 그 사람을 시기하게 돼", "질투 때문에 속이 좁아지는 내가 싫어"],
    "배신당한": ["믿었던 사람한테 배신당했어", "내 비밀을 떠벌리다니 배신감이 들어",
             "뒤통수를 세게 맞은 기분이야", "그렇게 믿었는데 등을 돌리다니 배신감이 커"],
    "고립된": ["주변에 아무도 없는 것처럼 고립된 느낌이야", "다들 나만 빼고 어울리는 것 같아",
            "어디에도 끼지 못하고 혼자 동떨어져 있어", "연락할 사람이 하나도 없어서 고립된 기분이야"],
    "충격 받은": ["그 소식을 듣고 큰 충격을 받았어", "너무 충격적이라 아직도 믿기지 않아",
              "머리를 한 대 맞은 것처럼 충격이었어", "충격이 커서 한동안 아무것도 못 했어"],
    "가난한, 불우한": ["돈이 없어서 하고 싶은 걸 다 포기해야 해", "집안 형편이 어려워서 서러워",
                "가난 때문에 늘 뒤처지는 것 같아", "형편이 안 좋아서 남들처럼 살 수가 없어"],
    "희생된": ["가족을 위해 나만 희생하는 것 같아", "나만 참고 양보하는 게 허무해",
            "다른 사람 대신 내가 희생양이 된 것 같아", "내 시간과 꿈을 다 바쳤는데 남은 게 없어"],
    "억울한": ["내가 하지도 않은 일로 혼나서 억울해", "아무도 내 말을 믿어 주지 않아서 억울해",
            "오해를 받아서 너무 억울해", "억울해서 밤새 잠이 안 왔어"],
    "괴로워하는": ["그 일 때문에 하루하루가 너무 괴로워", "괴로워서 아무것도 할 수가 없어",
              "머릿속에서 그 장면이 떠나지 않아 괴로워", "마음이 괴로워서 견디기가 힘들어"],
    "버려진": ["다들 나를 버리고 떠난 것 같아", "필요 없어지니까 나를 내친 것 같아",
            "혼자 덩그러니 남겨진 기분이야", "가족한테도 버림받은 것 같아"],
    # 당황 (고립된, 혼란스러운: see above)
    "당황": ["갑자기 그런 일이 생겨서 너무 당황했어", "당황해서 아무 대답도 못 했어",
           "예상 밖이라 어쩔 줄을 몰랐어", "당황한 나머지 실수를 또 했어"],
    "남의 시선을 의식하는": ["사람들이 나를 어떻게 볼지 자꾸 신경 쓰여", "남들 눈치를 보느라 하고 싶은 말을 못 해",
                    "다들 나만 쳐다보는 것 같아서 불편해", "남들이 수군거릴까 봐 밖에 나가기가 싫어"],
    "외로운": ["요즘 너무 외로워", "얘기할 사람이 없어서 외로워",
            "사람들 사이에 있어도 외로움이 느껴져", "밤이 되면 외로움이 더 커져"],
    "열등감": ["다른 사람들과 비교하면 나는 한참 부족한 것 같아", "동기들보다 못한 것 같아서 열등감이 들어",
            "나만 뒤처진 것 같아서 자존심이 상해", "잘난 사람들 사이에 있으면 작아지는 기분이야"],
    "죄책감의": ["나 때문에 그렇게 된 것 같아서 죄책감이 들어", "미안한 마음에 얼굴을 볼 수가 없어",
             "내 잘못인 것 같아서 마음이 무거워", "죄책감 때문에 잠을 못 자겠어"],
    "부끄러운": ["사람들 앞에서 실수해서 너무 부끄러웠어", "창피해서 얼굴을 들 수가 없었어",
             "그 일을 생각하면 아직도 부끄러워", "부끄러워서 숨어 버리고 싶었어"],
    "혐오스러운": ["그런 짓을 한 내가 너무 혐오스러워", "그 사람 행동이 혐오스러워서 보기도 싫어",
              "그런 모습을 보니 혐오감이 들어", "내 자신이 징그럽고 싫어졌어"],
    "한심한": ["이것도 제대로 못 하는 내가 한심해", "또 같은 실수를 하다니 한심해",
            "한심하게 하루를 그냥 날려 버렸어", "스스로가 한심하게 느껴져"],
    # 기쁨
    "기쁨": ["너무 기뻐서 소리를 지를 뻔했어", "기쁜 소식을 들어서 날아갈 것 같아",
           "생각만 해도 기분이 좋아", "정말 기쁜 하루였어"],
    "감사하는": ["도와준 사람들에게 너무 감사해", "고맙다는 말을 몇 번이나 했는지 몰라",
             "이렇게 챙겨 줘서 정말 고마워", "감사한 마음을 어떻게 전해야 할지 모르겠어"],
    "신뢰하는": ["그 사람이라면 믿고 맡길 수 있어", "늘 약속을 지켜 줘서 믿음이 가",
             "가족을 믿으니까 든든해", "선생님을 전적으로 신뢰하고 있어"],
    "편안한": ["요즘은 마음이 참 편안해", "집에 오니까 몸도 마음도 편해",
            "걱정거리가 없어서 편안하게 지내고 있어", "따뜻한 차를 마시니 마음이 편안해져"],
    "만족스러운": ["결과가 아주 만족스러워", "내가 한 일이 마음에 쏙 들어",
              "이 정도면 충분히 만족해", "기대했던 대로 돼서 만족스러워"],
    "흥분": ["너무 흥분돼서 잠이 안 와", "생각만 해도 가슴이 뛰고 흥분돼",
           "들뜬 마음을 주체할 수가 없어", "심장이 터질 것처럼 두근거려"],
    "느긋": ["오늘은 느긋하게 쉬었어", "서두르지 않고 느긋하게 하려고 해",
           "주말에 느긋하게 산책을 했어", "급할 것 없이 느긋한 마음이야"],
    "안도": ["다행히 별일 아니라서 안도했어", "결과를 보고 겨우 한숨 돌렸어",
           "무사하다는 말을 듣고 마음이 놓였어", "큰일 날 줄 알았는데 괜찮아서 안심이야"],
    "신이 난": ["오랜만에 친구들을 만나서 신이 났어", "신나서 하루 종일 콧노래를 불렀어",
             "여행 갈 생각에 신이 나", "너무 신나서 춤이라도 추고 싶어"],
    "자신하는": ["이번에는 잘할 수 있다고 자신해", "준비를 많이 해서 자신 있어",
             "내 실력을 믿어", "누구보다 잘할 자신이 있어"],
}  # fmt: skip

GROUPS = ["분노", "슬픔", "불안", "상처", "당황", "기쁨"]
# The 60 corpus codes as (group, sub-emotion): 10 per group, the 58 names plus the two
# names 당황 shares with 상처 (고립된) and 불안 (혼란스러운).
_NAMES = list(EXPRESSIONS)
TAXONOMY: list[tuple[str, str]] = [
    *[("분노", n) for n in _NAMES[0:10]],
    *[("슬픔", n) for n in _NAMES[10:20]],
    *[("불안", n) for n in _NAMES[20:30]],
    *[("상처", n) for n in _NAMES[30:40]],
    *[("당황", n) for n in ["당황", "고립된", *_NAMES[41:48], "혼란스러운"]],
    *[("기쁨", n) for n in _NAMES[48:58]],
]
assert len(TAXONOMY) == 60 and len({n for _, n in TAXONOMY}) == len(EXPRESSIONS) == 58
SHARED = {("당황", "고립된"), ("당황", "혼란스러운")}  # second homes: fewer dialogues

# Expressions any sub-emotion of a group may use: they tell the group, not the sub-emotion.
GROUP_EXPRESSIONS = {
    "분노": ["진짜 열받아", "생각할수록 속이 부글부글 끓어", "어이가 없어서 말이 안 나와",
           "도저히 그냥 넘어갈 수가 없어"],
    "슬픔": ["마음이 너무 아파", "가슴이 먹먹해", "하루 종일 기운이 없어", "괜히 울적해"],
    "불안": ["마음이 계속 조마조마해", "잠을 설칠 정도로 신경이 쓰여", "가슴이 두근거려서 진정이 안 돼",
           "무슨 일이 생길 것만 같아"],
    "상처": ["마음에 상처가 남았어", "그 말이 계속 가슴에 박혀 있어", "생각할수록 마음이 쓰려",
           "그 일 이후로 마음이 닫혀 버렸어"],
    "당황": ["순간 머리가 하얘졌어", "얼굴이 빨개져서 고개를 못 들었어", "말문이 막혀서 아무 말도 못 했어",
           "어디론가 숨고 싶었어"],
    "기쁨": ["오늘은 기분이 정말 좋아", "마음이 한결 가벼워졌어", "웃음이 저절로 나와",
           "요즘 하루하루가 즐거워"],
}  # fmt: skip

# Situations (상황키워드) and events that fit any emotion.
SITUATIONS = {
    "가족관계": ["엄마가 내 방을 말없이 정리했어", "형이 내 물건을 빌려 갔어",
             "아빠가 내 진로 얘기를 꺼냈어", "명절에 친척들이 모였어", "동생이 부모님께 내 얘기를 했어"],
    "학업 및 진로": ["이번 시험 성적이 나왔어", "입시 결과가 발표됐어", "조별 과제 발표를 했어",
                "장학금 심사 결과를 받았어", "전공을 바꾸기로 했어"],
    "학교폭력/따돌림": ["반 단체 대화방에서 내 얘기가 나왔어", "쉬는 시간에 친구들이 내 자리로 몰려왔어",
                  "급식실에서 혼자 밥을 먹었어", "친구들이 나에 대해 하는 말을 들었어"],
    "대인관계": ["친구가 약속 시간을 바꿨어", "동호회 모임에서 내 의견을 말했어",
             "오래 알던 친구한테서 연락이 왔어", "이웃이 우리 집 문을 두드렸어"],
    "연애, 결혼, 출산": ["애인이 기념일 얘기를 꺼냈어", "결혼 준비로 양가 부모님을 만났어",
                  "아기가 밤새 깨어 있었어", "여자친구가 할 말이 있다고 했어"],
    "진로, 취업, 직장": ["면접 결과가 나왔어", "입사 지원서를 열 군데 넘게 냈어",
                  "팀장님이 회의에서 내 보고서를 언급했어", "동료가 내 아이디어로 발표를 했어",
                  "부서 이동 통보를 받았어"],
    "재정, 은퇴, 노후준비": ["퇴직금 정산 결과를 받았어", "대출 금리가 바뀌었어",
                     "투자한 주식 결과를 확인했어", "은퇴하고 처음으로 생활비를 계산해 봤어"],
    "건강": ["건강검진 결과가 나왔어", "허리 때문에 병원에 다녀왔어", "의사 선생님이 새 진단을 말해 줬어",
           "수술 날짜가 잡혔어"],
    "대인관계(부부, 자녀)": ["남편이 집안일 얘기를 했어", "아들이 요즘 방에만 있어",
                      "아내와 생활비 얘기를 했어", "딸이 독립하겠다고 했어"],
}  # fmt: skip

OPENERS = ["", "", "오늘 ", "어제 ", "요즘 ", "지난주에 ", "얼마 전에 "]
LINKS = ["", "솔직히 ", "생각할수록 ", "지금도 ", "그래서 그런지 ", "사실 ", "아무튼 "]
LEADS = ["", "", "그 일 때문에 ", "그날 이후로 ", "이번 일로 ", "요즘은 ", "결국 "]
CLOSINGS = ["", "", "", " 어떻게 하면 좋을까?", " 이 마음을 어떻게 해야 할지 모르겠어.",
            " 누구한테라도 털어놓고 싶었어.", " 그냥 들어 줘서 고마워."]  # fmt: skip
SYSTEM = ["그런 일이 있었군요. 조금 더 이야기해 주시겠어요?", "마음이 많이 복잡하시겠어요.",
          "그 상황에서 어떤 생각이 드셨나요?", "말씀해 주셔서 고마워요.",
          "지금 할 수 있는 일은 무엇이 있을까요?", "그런 기분이 드는 게 당연해요.",
          "스스로를 위해 해 볼 수 있는 일이 있을까요?"]  # fmt: skip
AGES = ["청소년", "청년", "중년", "노년"]


def label_table() -> list[tuple[str, int, str]]:
    """The 58 names with ids 0..57 and their first group, in corpus code order."""
    return [(name, i, group) for i, (name, group) in enumerate(_first_groups().items())]


def _first_groups() -> dict[str, str]:
    first: dict[str, str] = {}
    for group, name in TAXONOMY:
        first.setdefault(name, group)
    return first


def _expression(rng: random.Random, group: str, name: str, used: set[str]) -> str:
    pool = EXPRESSIONS[name] if rng.random() < 0.8 else GROUP_EXPRESSIONS[group]
    fresh = [e for e in pool if e not in used] or pool
    choice = rng.choice(fresh)
    used.add(choice)
    return choice


def _but(event: str) -> str:
    """ "면접 결과가 나왔어" -> "면접 결과가 나왔는데" (every event ends in a past/있 stem + 어)."""
    return event[:-1] + "는데"


def dialogue(rng: random.Random, group: str, name: str) -> list[str]:
    """The situation and three human turns of one dialogue with emotion ``name`` of ``group``."""
    situation = rng.choice(list(SITUATIONS))
    event, other = rng.sample(SITUATIONS[situation], 2)
    used: set[str] = set()
    first = f"{rng.choice(OPENERS)}{event}. {_expression(rng, group, name, used)}."
    roll = rng.random()
    if roll < 0.08:  # a turn that only tells more of the story: no cue at all
        second = f"그리고 {other}."
    elif roll < 0.55:
        second = f"{_but(other)} {_expression(rng, group, name, used)}."
    else:
        second = f"{rng.choice(LINKS)}{_expression(rng, group, name, used)}."
    third = f"{rng.choice(LEADS)}{_expression(rng, group, name, used)}.{rng.choice(CLOSINGS)}"
    return [situation, first, second, third]


def dialogues(rng: random.Random, n_rows: int | None = None) -> list[list[object]]:
    """Rows in the AI-Hub layout: 5-6 dialogues per code (3 for shared names), or n_rows."""
    plan = [
        (g, n) for g, n in TAXONOMY for _ in range(3 if (g, n) in SHARED else rng.choice([5, 6]))
    ]
    if n_rows is not None:
        plan = [TAXONOMY[i % len(TAXONOMY)] for i in range(n_rows)]
    rng.shuffle(plan)
    rows = []
    for number, (group, name) in enumerate(plan, 1):
        situation, *turns = dialogue(rng, group, name)
        system = rng.sample(SYSTEM, 3)
        rows.append([number, rng.choice(AGES), rng.choice(["남성", "여성"]), situation,
                     rng.choice(["만성질환 유", "만성질환 무"]), group, name,
                     turns[0], system[0], turns[1], system[1], turns[2], system[2]])  # fmt: skip
    return rows


def plant_problems(rows: list[list[object]], rng: random.Random) -> None:
    """Things a real export has: blanks, repeats, stray whitespace, decomposed Hangul."""
    col = {name: i for i, name in enumerate(HEADER)}
    picks = rng.sample(range(len(rows)), 40)
    for r in picks[0:3]:  # no label: prepare drops these rows' sentences
        rows[r][col["감정_소분류"]] = None
    for r in picks[3:5]:  # a sentence of whitespace only
        rows[r][col["사람문장2"]] = "\u3000"  # a full-width space: Excel keeps it
    for r in picks[5:30]:  # a two-turn dialogue: the third turn is blank
        rows[r][col["사람문장3"]] = rows[r][col["시스템문장3"]] = None
    by_label: dict[object, list[int]] = {}
    for i, row in enumerate(rows):
        if i not in picks[0:30]:
            by_label.setdefault(row[col["감정_소분류"]], []).append(i)
    for r in picks[30:34]:  # the same sentence again under the same label
        twin = rng.choice([i for i in by_label[rows[r][col["감정_소분류"]]] if i != r])
        rows[twin][col["사람문장2"]] = rows[r][col["사람문장1"]]
    label = col["감정_소분류"]
    src = picks[34]  # the same sentence under another label: a conflict
    dst = rng.choice(
        [i for i in range(len(rows)) if i not in picks and rows[i][label] != rows[src][label]]
    )
    rows[dst][col["사람문장3"]] = rows[src][col["사람문장1"]]
    src = picks[35]  # a repeat in decomposed Unicode (NFD), as some tools write
    dst = rng.choice([i for i in by_label[rows[src][label]] if i not in picks])
    rows[dst][col["사람문장1"]] = unicodedata.normalize("NFD", str(rows[src][col["사람문장1"]]))
    for r in picks[38:40]:  # stray whitespace that ingest collapses
        rows[r][col["사람문장1"]] = f"  {rows[r][col['사람문장1']]}\n".replace(". ", ".  \t", 1)


def save_workbook(path: Path, header: list[str], rows: list[list[object]]) -> None:
    """Write one sheet; fixed document and zip timestamps make the bytes reproducible."""
    wb = Workbook(write_only=True)
    wb.properties.created = wb.properties.modified = FIXED_TIME
    ws = wb.create_sheet(SHEET)
    ws.append(header)
    for row in rows:
        ws.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps "modified" on save
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>" + stamp, data)
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(fixed, data)


def write_labels(path: Path) -> None:
    save_workbook(path, ["감정_소분류", "id", "감정_대분류"], [list(r) for r in label_table()])
    logger.info("wrote %s: %d labels", path, len(label_table()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the synthetic AI-Hub-layout sample.")
    parser.add_argument("--out-dir", type=Path, default=Path("data/raw"))
    parser.add_argument("--labels-only", type=Path, metavar="XLSX",
                        help="write only the 58-row label table to this file")  # fmt: skip
    parser.add_argument("--rows", type=int, help="write this many dialogue rows to --out instead")
    parser.add_argument("--out", type=Path, help="workbook path for --rows")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.labels_only:
        write_labels(args.labels_only)
        return 0
    rng = random.Random(SEED)
    if args.rows:
        out = args.out or args.out_dir / "large_dialogues.xlsx"
        save_workbook(out, HEADER, dialogues(rng, args.rows))
        logger.info("wrote %s: %d dialogues", out, args.rows)
        return 0
    rows = dialogues(rng)
    plant_problems(rows, rng)
    save_workbook(args.out_dir / "sample_dialogues.xlsx", HEADER, rows)
    logger.info("wrote %s: %d dialogues", args.out_dir / "sample_dialogues.xlsx", len(rows))
    write_labels(args.out_dir / "sample_labels.xlsx")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
