"""Ingest: workbooks -> sentences.parquet, the AI-Hub and a generic layout, and bad input."""

from __future__ import annotations

import datetime as dt
import unicodedata
from pathlib import Path

import pandas as pd
import pytest

from pipeline.config import IngestConfig
from pipeline.data.ingest import main
from pipeline.errors import PipelineError
from pipeline.tables.cells import normalize_text
from pipeline.tables.sentences import sentences_from_sheet
from tests.xlsx_helpers import (
    AIHUB_HEADER,
    aihub_row,
    expect_error,
    write_config,
    write_workbook,
)

CONTRACT_COLUMNS = ["text", "label", "group", "source_file", "source_sheet", "source_row",
                    "source_column"]  # fmt: skip


def aihub_frame(rows: list[list[object]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=AIHUB_HEADER, dtype=object)


def test_normalize_text_nfc_whitespace_and_zero_width() -> None:
    decomposed = unicodedata.normalize("NFD", "기쁜 하루")
    assert decomposed != "기쁜 하루"
    assert normalize_text(f"  {decomposed}\t\n 였어\u200b \u3000") == "기쁜 하루 였어"


def test_aihub_rows_become_one_sentence_per_turn_in_row_order() -> None:
    frame = aihub_frame(
        [
            aihub_row("기쁨", "신이 난", "오늘  여행 가!", "너무 신나.", None),
            aihub_row("분노", None, "화가 나.", None, "정말로."),
        ]
    )
    out, converted = sentences_from_sheet(frame, IngestConfig(files=["x"]), "a.xlsx", "S")
    assert out["text"].tolist() == ["오늘 여행 가!", "너무 신나.", "화가 나.", "정말로."]
    assert out["source_column"].tolist() == ["사람문장1", "사람문장2", "사람문장1", "사람문장3"]
    assert out["source_row"].tolist() == [2, 2, 3, 3]  # Excel rows: the header is row 1
    assert out["label"].tolist()[:2] == ["신이 난", "신이 난"]
    assert out["label"].isna().tolist()[2:] == [True, True]  # kept for prepare to count
    assert out["group"].tolist() == ["기쁨", "기쁨", "분노", "분노"]
    assert converted == {}


def test_generic_layout_needs_only_config() -> None:
    frame = pd.DataFrame({"review": ["좋아요", "별로예요"], "rating": [5, 1.0]}, dtype=object)
    cfg = IngestConfig(files=["x"], text_columns=["review"], label_column="rating",
                       group_column=None)  # fmt: skip
    out, _ = sentences_from_sheet(frame, cfg, "r.xlsx", "reviews")
    assert out["label"].tolist() == ["5", "1"]  # numeric labels become text
    assert out["group"].isna().all()


def test_numbers_and_dates_in_text_are_converted_or_rejected() -> None:
    frame = pd.DataFrame(
        {"text": ["글", 42, 3.5, dt.datetime(2024, 1, 31)], "label": ["a"] * 4}, dtype=object
    )
    convert = IngestConfig(files=["x"], text_columns=["text"], label_column="label",
                           group_column=None)  # fmt: skip
    out, converted = sentences_from_sheet(frame, convert, "f.xlsx", "S")
    assert out["text"].tolist() == ["글", "42", "3.5", "2024-01-31"]
    assert converted == {"text": 3}
    reject = IngestConfig(**{**convert.__dict__, "non_text": "reject"})
    with pytest.raises(PipelineError, match=r"f\.xlsx, sheet 'S', column 'text', row 3: int 42"):
        sentences_from_sheet(frame, reject, "f.xlsx", "S")


def test_main_reads_globbed_workbooks_and_all_sheets(tmp_path: Path) -> None:
    write_workbook(
        tmp_path / "data/raw/b.xlsx",
        {"one": [AIHUB_HEADER, aihub_row("기쁨", "기쁨", "좋아.", "정말.")],
         "two": [AIHUB_HEADER, aihub_row("슬픔", "슬픔", "슬퍼.")]},
    )  # fmt: skip
    write_workbook(
        tmp_path / "data/raw/a.xlsx", {"S": [AIHUB_HEADER, aihub_row("분노", "분노", "NA")]}
    )
    assert main(["--config", str(write_config(tmp_path))]) == 0
    df = pd.read_parquet(tmp_path / "data/interim/sentences.parquet")
    assert df.columns.tolist() == CONTRACT_COLUMNS
    assert df["source_row"].dtype == "int64"
    assert list(zip(df["source_file"], df["source_sheet"], df["text"], strict=True)) == [
        ("a.xlsx", "S", "NA"),  # "NA" is a sentence, not a missing value
        ("b.xlsx", "one", "좋아."),
        ("b.xlsx", "one", "정말."),
        ("b.xlsx", "two", "슬퍼."),
    ]
    assert (tmp_path / "data/interim/ingest.run.json").is_file()


def test_named_sheets_only(tmp_path: Path) -> None:
    write_workbook(
        tmp_path / "data/raw/b.xlsx",
        {"one": [AIHUB_HEADER, aihub_row("기쁨", "기쁨", "좋아.")], "notes": [["아무거나"]]},
    )
    assert main(["--config", str(write_config(tmp_path, ingest={"sheets": ["one"]}))]) == 0
    assert len(pd.read_parquet(tmp_path / "data/interim/sentences.parquet")) == 1


# --- bad input: one line, exit code 2, nothing written -----------------------------------------


def bad_input(tmp_path: Path, capsys: pytest.CaptureFixture, *args: str, **sections: dict) -> str:
    argv = ["--config", str(write_config(tmp_path, **sections)), *args]
    return expect_error(main, argv, capsys, tmp_path)


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    err = bad_input(tmp_path, capsys, ingest={"files": ["data/raw/nope.xlsx"]})
    assert "nope.xlsx: file not found" in err


def test_empty_sheet_list(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_workbook(
        tmp_path / "data/raw/d.xlsx", {"S": [AIHUB_HEADER, aihub_row("기쁨", "기쁨", "좋아.")]}
    )
    err = bad_input(tmp_path, capsys, ingest={"sheets": []})
    assert "ingest.sheets is empty" in err


def test_glob_matching_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    err = bad_input(tmp_path, capsys, ingest={"files": ["data/raw/*.xlsx"]})
    assert "no file matches 'data/raw/*.xlsx'" in err


def test_not_a_workbook(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "data/raw").mkdir(parents=True)
    (tmp_path / "data/raw/notes.xlsx").write_text("a,b\n1,2\n", encoding="utf-8")
    assert "notes.xlsx: not an Excel workbook" in bad_input(tmp_path, capsys)


def test_corrupt_xlsx(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    good = write_workbook(tmp_path / "good.xlsx", {"S": [AIHUB_HEADER]}).read_bytes()
    (tmp_path / "data/raw").mkdir(parents=True)
    (tmp_path / "data/raw/cut.xlsx").write_bytes(good[: len(good) // 2])  # a broken download
    assert "cut.xlsx: corrupt or unreadable workbook" in bad_input(tmp_path, capsys)


def test_missing_column_names_column_and_sheet(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    header = [c for c in AIHUB_HEADER if c != "사람문장2"]
    write_workbook(tmp_path / "data/raw/d.xlsx", {"대화": [header, ["청년"] * len(header)]})
    err = bad_input(tmp_path, capsys)
    assert "d.xlsx, sheet '대화': missing column(s) '사람문장2'" in err


def test_empty_sheet(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_workbook(
        tmp_path / "data/raw/d.xlsx",
        {"ok": [AIHUB_HEADER, aihub_row("기쁨", "기쁨", "좋아.")], "빈 시트": []},
    )
    assert "d.xlsx, sheet '빈 시트': the sheet is empty" in bad_input(tmp_path, capsys)


def test_header_without_rows(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_workbook(tmp_path / "data/raw/d.xlsx", {"S": [AIHUB_HEADER]})
    assert "sheet 'S': the sheet has a header but no rows" in bad_input(tmp_path, capsys)


def test_dates_rejected_by_policy(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rows = [AIHUB_HEADER, aihub_row("기쁨", "기쁨", "좋아."),
            aihub_row("기쁨", "기쁨", "좋아요.", dt.datetime(2024, 3, 1))]  # fmt: skip
    write_workbook(tmp_path / "data/raw/d.xlsx", {"S": rows})
    err = bad_input(tmp_path, capsys, ingest={"non_text": "reject"})
    assert "d.xlsx, sheet 'S', column '사람문장2', row 3: datetime 2024-03-01 in a text" in err


def test_numbers_converted_by_default(tmp_path: Path) -> None:
    rows = [AIHUB_HEADER, aihub_row("기쁨", "기쁨", 1004, dt.datetime(2024, 3, 1, 9, 30))]
    write_workbook(tmp_path / "data/raw/d.xlsx", {"S": rows})
    assert main(["--config", str(write_config(tmp_path))]) == 0
    df = pd.read_parquet(tmp_path / "data/interim/sentences.parquet")
    assert df["text"].tolist() == ["1004", "2024-03-01 09:30:00"]


def test_missing_named_sheet(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_workbook(tmp_path / "data/raw/d.xlsx", {"S": [AIHUB_HEADER, aihub_row("a", "b", "c")]})
    err = bad_input(tmp_path, capsys, ingest={"sheets": ["Training"]})
    assert "no sheet named 'Training'" in err


# --- units, templates and the column split.group_column needs ---------------------------------

DIALOGUE_HEADER = ["번호", "성별", "상황키워드", "감정_대분류", "감정_소분류",
                   "사람문장1", "사람문장2", "사람문장3"]  # fmt: skip
DIALOGUES = [
    DIALOGUE_HEADER,
    [101, "여성", "직장", "기쁨", "신이 난", "승진했어!", "  정말 기뻐. ", None],
    [102, "남성", None, "분노", "노여워하는", "화가 나.", None, "못 참겠어."],
    [103, "여성", "가족", "슬픔", "슬픈", None, None, None],  # no text: no example
]


def dialogue_cfg(**kw: object) -> IngestConfig:
    return IngestConfig(files=["x"], **kw)  # type: ignore[arg-type]


def test_unit_row_joins_a_dialogue_and_the_template_adds_tags() -> None:
    frame = pd.DataFrame(DIALOGUES[1:], columns=DIALOGUE_HEADER, dtype=object)
    cfg = dialogue_cfg(unit="row", template="{상황키워드} {성별} | {text}")
    out, _ = sentences_from_sheet(frame, cfg, "d.xlsx", "S")
    assert out["text"].tolist() == [
        "직장 여성 | 승진했어! 정말 기뻐.",
        "남성 | 화가 나. 못 참겠어.",  # a blank tag leaves nothing behind
    ]
    assert out["label"].tolist() == ["신이 난", "노여워하는"]
    assert out["source_row"].tolist() == [2, 3]
    assert out["source_column"].tolist() == ["사람문장1+사람문장2", "사람문장1+사람문장3"]
    # Without a template a row is its text cells joined; with unit sentence, tags per sentence.
    plain, _ = sentences_from_sheet(frame, dialogue_cfg(unit="row"), "d.xlsx", "S")
    assert plain["text"].tolist() == ["승진했어! 정말 기뻐.", "화가 나. 못 참겠어."]
    tagged, _ = sentences_from_sheet(frame, dialogue_cfg(template="[{성별}] {text}"), "d.xlsx", "S")
    assert tagged["text"].tolist()[:2] == ["[여성] 승진했어!", "[여성] 정말 기뻐."]


def test_template_keeps_empty_text_empty_for_prepare_to_count() -> None:
    frame = pd.DataFrame([[1, "여성", "직장", "기쁨", "신이 난", "   ", None, None]],
                         columns=DIALOGUE_HEADER, dtype=object)  # fmt: skip
    out, _ = sentences_from_sheet(frame, dialogue_cfg(template="{성별} {text}"), "d.xlsx", "S")
    assert out["text"].tolist() == [""]


def test_split_group_column_is_kept(tmp_path: Path) -> None:
    write_workbook(tmp_path / "data/raw/d.xlsx", {"S": DIALOGUES})
    config = write_config(tmp_path, ingest={"unit": "row"}, split={"group_column": "번호"})
    assert main(["--config", str(config)]) == 0
    df = pd.read_parquet(tmp_path / "data/interim/sentences.parquet")
    assert df.columns.tolist() == [*CONTRACT_COLUMNS, "번호"]
    assert df["번호"].tolist() == ["101", "102"]
    config = write_config(tmp_path, split={"group_column": "row"})  # provenance is enough
    assert main(["--config", str(config)]) == 0
    df = pd.read_parquet(tmp_path / "data/interim/sentences.parquet")
    assert df.columns.tolist() == CONTRACT_COLUMNS and len(df) == 4


def test_missing_template_column_names_column_and_file(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    write_workbook(tmp_path / "data/raw/d.xlsx", {"S": DIALOGUES})
    err = bad_input(tmp_path, capsys, ingest={"template": "{연령} {text}"})
    assert "d.xlsx, sheet 'S': missing column(s) '연령' named in ingest.template" in err


def test_missing_group_column_names_column_and_file(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    write_workbook(tmp_path / "data/raw/d.xlsx", {"S": DIALOGUES})
    err = bad_input(tmp_path, capsys, split={"group_column": "대화ID"})
    assert "d.xlsx, sheet 'S': missing column(s) '대화ID' named in split.group_column" in err


@pytest.mark.parametrize(
    ("template", "message"),
    [("{성별}", "has no {text}"), ("고정", "found no placeholder"), ("{} {text}", "empty one")],
)
def test_bad_template(
    tmp_path: Path, capsys: pytest.CaptureFixture, template: str, message: str
) -> None:
    write_workbook(tmp_path / "data/raw/d.xlsx", {"S": DIALOGUES})
    err = bad_input(tmp_path, capsys, ingest={"template": template})
    assert f"ingest.template {template!r}" in err and message in err


# --- what pandas does not show: hidden sheets, merged and formula cells, repeated headers -------

SMALL = ["감정_소분류", "사람문장1"]


def small_config(tmp_path: Path, **ingest: object) -> Path:
    return write_config(
        tmp_path, ingest={"text_columns": ["사람문장1"], "group_column": None, **ingest}
    )


def ingested(tmp_path: Path, **ingest: object) -> pd.DataFrame:
    assert main(["--config", str(small_config(tmp_path, **ingest))]) == 0
    return pd.read_parquet(tmp_path / "data/interim/sentences.parquet")


def test_hidden_sheets_are_skipped_with_a_log_line_unless_named(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import openpyxl

    path = write_workbook(
        tmp_path / "data/raw/d.xlsx",
        {"old": [SMALL, ["분노", "예전 문장"]], "S": [SMALL, ["기쁨", "좋아요"]]},
    )
    wb = openpyxl.load_workbook(path)
    wb["old"].sheet_state = "hidden"
    wb.active = 1
    wb.save(path)
    assert ingested(tmp_path)["text"].tolist() == ["좋아요"]
    err = capsys.readouterr().err
    assert "d.xlsx: skipping hidden sheet(s) 'old' (name them in ingest.sheets" in err
    assert ingested(tmp_path, sheets=["old", "S"])["text"].tolist() == ["예전 문장", "좋아요"]
    assert "d.xlsx: reading hidden sheet 'old' (named in ingest.sheets)" in capsys.readouterr().err


def test_merged_label_cells_fill_down_with_a_log_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import openpyxl

    rows = [["번호", *SMALL], [1, "기쁨", "좋아요"], [2, None, "신나요"], [3, None, "행복해"],
            [4, "분노", "화나요"], [5, None, "짜증나"]]  # fmt: skip
    path = write_workbook(tmp_path / "data/raw/d.xlsx", {"S": rows})
    wb = openpyxl.load_workbook(path)
    wb["S"].merge_cells("B2:B4")
    wb["S"].merge_cells("B5:B6")
    wb.save(path)
    df = ingested(tmp_path)
    assert df["label"].tolist() == ["기쁨", "기쁨", "기쁨", "분노", "분노"]
    err = capsys.readouterr().err
    assert "merged cells B2:B4, B5:B6 of column '감정_소분류' filled down" in err


def test_formula_cells_without_a_saved_value_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    rows = [["번호", *SMALL], [1, "기쁨", "좋아요"], [2, "기쁨", '=C2&"!"'], [3, "=B3", "또"]]
    write_workbook(tmp_path / "data/raw/d.xlsx", {"S": rows})  # openpyxl saves no results
    err = expect_error(main, ["--config", str(small_config(tmp_path))], capsys, tmp_path)
    assert "d.xlsx, sheet 'S': 2 formula cell(s) in column(s)" in err
    assert "'사람문장1'" in err and "'감정_소분류'" in err and "(C3, B4)" in err
    assert "open it in Excel or LibreOffice, save it" in err


def test_a_formula_in_a_column_ingest_does_not_read_is_no_error(tmp_path: Path) -> None:
    rows = [["번호", *SMALL], [1, "기쁨", "좋아요"], ["=A2+1", "기쁨", "또"]]
    write_workbook(tmp_path / "data/raw/d.xlsx", {"S": rows})
    assert ingested(tmp_path)["text"].tolist() == ["좋아요", "또"]


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_two_columns_with_the_header_ingest_reads_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture, suffix: str
) -> None:
    rows = [["사람문장1", "감정_소분류", "비고", "감정_소분류"], ["좋아요", "기쁨", "", "슬픔"]]
    files = ["data/raw/*" + suffix]
    if suffix == ".xlsx":
        write_workbook(tmp_path / "data/raw/d.xlsx", {"S": rows})
        where = "d.xlsx, sheet 'S': 2 columns are headed '감정_소분류' (B and D)"
    else:
        (tmp_path / "data/raw").mkdir(parents=True)
        text = "\n".join(",".join(r) for r in rows) + "\n"
        (tmp_path / "data/raw/d.csv").write_text(text, encoding="utf-8")
        where = "d.csv: 2 columns are headed '감정_소분류' (2 and 4)"
    argv = ["--config", str(small_config(tmp_path, files=files))]
    assert where in expect_error(main, argv, capsys, tmp_path)


def test_a_repeated_header_ingest_does_not_read_is_no_error(tmp_path: Path) -> None:
    rows = [["사람문장1", "감정_소분류", "비고", "비고"], ["좋아요", "기쁨", "a", "b"]]
    write_workbook(tmp_path / "data/raw/d.xlsx", {"S": rows})
    assert ingested(tmp_path)["text"].tolist() == ["좋아요"]


def test_a_numeric_header_is_found_by_its_text(tmp_path: Path) -> None:
    write_workbook(tmp_path / "data/raw/d.xlsx", {"S": [[2024, "감정_소분류"], ["좋아요", "기쁨"]]})
    assert ingested(tmp_path, text_columns=["2024"])["text"].tolist() == ["좋아요"]


# --- Korean CSVs -------------------------------------------------------------------------------

CSV_TEXT = "사람문장1,감정_소분류\n오늘 정말 기뻐요,기쁨\n화가 나요,분노\n"


@pytest.mark.parametrize(
    ("codec", "shown"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8"), ("utf-16", "utf-16"), ("cp949", "cp949"),
     ("euc-kr", "cp949")],
)  # fmt: skip
def test_korean_csvs_are_read_in_every_encoding_excel_saves(
    tmp_path: Path, capsys: pytest.CaptureFixture, codec: str, shown: str
) -> None:
    (tmp_path / "data/raw").mkdir(parents=True)
    (tmp_path / "data/raw/k.csv").write_bytes(CSV_TEXT.encode(codec))
    df = ingested(tmp_path, files=["data/raw/k.csv"])
    assert df["text"].tolist() == ["오늘 정말 기뻐요", "화가 나요"]
    assert df["label"].tolist() == ["기쁨", "분노"]
    assert f"k.csv: read as {shown} text (ingest.encoding: auto)" in capsys.readouterr().err


def test_a_named_encoding_that_does_not_fit_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "data/raw").mkdir(parents=True)
    (tmp_path / "data/raw/k.csv").write_bytes(CSV_TEXT.encode("cp949"))
    argv = ["--config", str(small_config(tmp_path, files=["data/raw/k.csv"], encoding="utf-8"))]
    err = expect_error(main, argv, capsys, tmp_path)
    assert "k.csv: not utf-8 text (byte 0: 0xbb); set ingest.encoding" in err


def test_bytes_in_no_korean_encoding_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "data/raw").mkdir(parents=True)
    (tmp_path / "data/raw/k.csv").write_bytes(b"a,b\n\xff\xfe\xff,\x80\n")
    err = expect_error(
        main, ["--config", str(small_config(tmp_path, files=["data/raw/k.csv"]))], capsys, tmp_path
    )
    assert "k.csv: neither UTF-8 (byte 4: 0xff), UTF-16 with a BOM, nor cp949/EUC-KR" in err
