"""One text normalisation for training and serving (pipeline/text.py), and label names (NFKC)."""

from __future__ import annotations

import logging
import unicodedata

import pandas as pd
import pytest

from pipeline.config import IngestConfig
from pipeline.inference.loaded import clean_text, column_texts
from pipeline.tables.sentences import sentences_from_sheet
from pipeline.tasks.classification.inputs import normalize_text as evaluate_normalize
from pipeline.text import normalize_label, normalize_text

# What people paste: decomposed Hangul (macOS), zero-width spaces from web pages, a BOM, tabs,
# line breaks, no-break and ideographic spaces, and cells with nothing visible at all.
SAME_TEXT = [
    unicodedata.normalize("NFD", "오늘 시험에 붙었어"),
    "정말\u200b 기뻐\u200d요",
    "\ufeff고마워요",
    "화가\t\t나요\r\n진짜로",
    "  여유\u00a0있는\u3000하루  ",
    "단어\u2060사이",
    "\u200b\u200c",
    "\x00",
    "\u200e\u200f",
    "\u200e \x00",
    " \t ",
    "평범한 문장.",
]


def test_ingest_and_serving_normalise_the_same_strings_alike() -> None:
    """ingest's stored sentence == serve's request text == predict's cell == evaluate --input's."""
    frame = pd.DataFrame({"text": SAME_TEXT, "label": ["기쁨"] * len(SAME_TEXT)}, dtype=object)
    cfg = IngestConfig(files=["x"], text_columns=["text"], label_column="label", group_column=None)
    out, _ = sentences_from_sheet(frame, cfg, "f.xlsx", "S")
    ingested = dict(zip(out["source_row"] - 2, out["text"], strict=True))
    stored = [ingested[i] for i in range(len(SAME_TEXT))]  # every cell is non-blank: all kept
    assert stored == [clean_text(s) for s in SAME_TEXT]
    assert stored == column_texts(pd.DataFrame({"c": SAME_TEXT}), "c")
    assert stored == [evaluate_normalize(s) for s in SAME_TEXT]
    assert stored[:6] == ["오늘 시험에 붙었어", "정말 기뻐요", "고마워요", "화가 나요 진짜로",
                          "여유 있는 하루", "단어사이"]  # fmt: skip
    assert stored[6:11] == [""] * 5  # nothing visible: empty (prepare drops it)


@pytest.mark.parametrize(
    "written, name",
    [
        ("ＰＯＳ", "POS"),  # full-width
        ("ｱﾝｹｰﾄ", "アンケート"),  # half-width katakana
        ("①", "1"),
        (unicodedata.normalize("NFD", "기쁨"), "기쁨"),
        ("ㅋㅋ", "ㅋㅋ"),  # compatibility jamo stay as written
        ("ﾡ", "ㄱ"),  # half-width jamo: the ordinary (compatibility) jamo
        ("  신이\u200b 난 ", "신이 난"),
    ],
)
def test_label_names_fold_compatibility_forms(written: str, name: str) -> None:
    assert normalize_label(written) == name


def test_sentences_keep_their_width() -> None:
    assert normalize_text("ＰＯＳ ①") == "ＰＯＳ ①"  # NFKC is for label names only


def test_full_and_half_width_labels_are_one_class_with_a_log_line(caplog) -> None:
    frame = pd.DataFrame({"text": ["좋아", "싫어", "그냥"], "label": ["ＰＯＳ", "POS", "NEG"]})
    cfg = IngestConfig(files=["x"], text_columns=["text"], label_column="label", group_column=None)
    with caplog.at_level(logging.INFO, logger="pipeline"):
        out, _ = sentences_from_sheet(frame, cfg, "f.xlsx", "S")
    assert out["label"].tolist() == ["POS", "POS", "NEG"]
    assert "'ＰＯＳ' -> 'POS'" in caplog.text and "f.xlsx, sheet 'S'" in caplog.text
