"""Prepare: drop and de-duplicate, the label table join, labels.json and the report."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipeline.data.prepare import (
    check_label_table,
    derive_label_table,
    drop_empty_and_duplicates,
    join_labels,
    label_groups,
    main,
)
from pipeline.errors import PipelineError
from pipeline.io import read_json, write_parquet
from tests.xlsx_helpers import expect_error, write_config, write_workbook


def sentences(rows: list[tuple[object, object, object]]) -> pd.DataFrame:
    """A sentences.parquet frame (the ingest contract) from (text, label, group) triples."""
    return pd.DataFrame(
        {
            "text": [r[0] for r in rows],
            "label": [r[1] for r in rows],
            "group": [r[2] for r in rows],
            "source_file": "a.xlsx",
            "source_sheet": "S",
            "source_row": pd.Series(range(2, len(rows) + 2), dtype="int64"),
            "source_column": "사람문장1",
        }
    )


ROWS = [
    ("좋아.", "기쁨", "기쁨"),
    ("", "기쁨", "기쁨"),  # empty text
    (None, "슬픔", "슬픔"),  # empty text
    ("울어.", None, "슬픔"),  # empty label
    ("좋아.", "기쁨", "기쁨"),  # duplicate, same label
    ("화나.", "분노", "분노"),
    ("화나.", "짜증", "분노"),  # duplicate with another label: a conflict
    ("슬퍼.", "슬픔", "슬픔"),
    ("짜증 나.", "짜증", "분노"),
]


def project(tmp_path: Path, rows: list = ROWS) -> Path:
    write_parquet(tmp_path / "data/interim/sentences.parquet", sentences(rows))
    return tmp_path


def test_drop_empty_and_duplicates_counts_every_reason() -> None:
    df = sentences(ROWS)
    before = df.copy()
    kept, summary = drop_empty_and_duplicates(df)
    pd.testing.assert_frame_equal(df, before)  # the input is not modified
    assert kept["text"].tolist() == ["좋아.", "화나.", "슬퍼.", "짜증 나."]
    assert kept["label"].tolist() == ["기쁨", "분노", "슬픔", "짜증"]  # the first one is kept
    assert summary["dropped"] == {"empty_text": 2, "empty_label": 1, "duplicate_text": 2}
    assert summary["conflicting_texts"] == 1
    assert summary["conflict_examples"] == [{"text": "화나.", "labels": ["분노", "짜증"]}]


def test_derive_label_table_sorts_names() -> None:
    assert derive_label_table(pd.Series(["슬픔", "기쁨", None, "슬픔"])) == {"기쁨": 0, "슬픔": 1}


def test_derive_label_table_sorts_by_group_then_name() -> None:
    labels = pd.Series(["툴툴대는", "고마운", "노여워하는", "기쁨", "무명"])
    groups = {"툴툴대는": "분노", "노여워하는": "분노", "고마운": "기쁨", "기쁨": "기쁨"}
    assert list(derive_label_table(labels, groups)) == [
        "고마운", "기쁨", "노여워하는", "툴툴대는", "무명"]  # fmt: skip  # no group: last


def table(*rows: tuple[str, int]) -> pd.DataFrame:
    return pd.DataFrame({"name": [r[0] for r in rows], "id": [r[1] for r in rows],
                         "row": range(2, len(rows) + 2)})  # fmt: skip


def test_check_label_table() -> None:
    assert check_label_table(table(("b", 1), ("a", 0)), "t.xlsx") == {"a": 0, "b": 1}
    with pytest.raises(PipelineError, match=r"t\.xlsx: duplicate id 1 on rows 2, 4"):
        check_label_table(table(("a", 1), ("b", 0), ("c", 1)), "t.xlsx")
    with pytest.raises(PipelineError, match=r"duplicate name 'a' on rows 2, 3"):
        check_label_table(table(("a", 0), ("a", 1)), "t.xlsx")
    with pytest.raises(PipelineError, match=r"ids must be 0\.\.1 .*missing \[1\]"):
        check_label_table(table(("a", 0), ("b", 2)), "t.xlsx")


def test_join_labels_lists_every_unknown_label() -> None:
    df = sentences(
        [("a", "기쁨", None), ("b", "분노", None), ("c", "놀람", None), ("d", "분노", None)]
    )
    with pytest.raises(PipelineError) as info:
        join_labels(df, {"기쁨": 0}, "labels.xlsx")
    assert str(info.value) == (
        "2 label(s) in the data are not in labels.xlsx: '놀람' (1 row), '분노' (2 rows) "
        "(first: a.xlsx, row 3)"  # where the first unknown label is, to find it in the file
    )
    joined = join_labels(df.iloc[:1], {"기쁨": 0}, "labels.xlsx")
    assert joined["label_id"].tolist() == [0] and joined["label_id"].dtype == "int64"


def test_label_groups_takes_the_most_common_group() -> None:
    df = sentences([("a", "고립된", "상처"), ("b", "고립된", "당황"), ("c", "고립된", "상처"),
                    ("d", "기쁨", None), ("e", "외로운", "당황")])  # fmt: skip
    groups = label_groups(df, {0: "고립된", 1: "기쁨", 2: "외로운"})
    assert groups == {"고립된": "상처", "외로운": "당황"}  # no group known for 기쁨


def test_main_with_label_table(tmp_path: Path) -> None:
    project(tmp_path)
    write_workbook(
        tmp_path / "labels.xlsx",
        {"labels": [["id", "감정_소분류"], [2, "슬픔"], [0, "기쁨"], [1, "분노"], [3.0, " 짜증 "]]},
    )
    config = write_config(tmp_path, prepare={"label_table": "labels.xlsx"})
    assert main(["--config", str(config)]) == 0
    interim = tmp_path / "data/interim"
    dataset = pd.read_parquet(interim / "dataset.parquet")
    assert dataset.columns.tolist()[-1] == "label_id" and dataset["label_id"].dtype == "int64"
    assert dict(zip(dataset["label"], dataset["label_id"], strict=True)) == {
        "기쁨": 0, "분노": 1, "슬픔": 2, "짜증": 3}  # fmt: skip
    labels = read_json(interim / "labels.json")
    assert labels["id2label"] == {"0": "기쁨", "1": "분노", "2": "슬픔", "3": "짜증"}
    assert labels["label2group"] == {"기쁨": "기쁨", "분노": "분노", "슬픔": "슬픔", "짜증": "분노"}
    report = read_json(interim / "prepare_report.json")
    assert report["rows_in"] == 9 and report["rows_out"] == 4
    assert report["dropped"] == {"empty_text": 2, "empty_label": 1, "duplicate_text": 2}
    assert report["class_counts"] == {"기쁨": 1, "분노": 1, "슬픔": 1, "짜증": 1}
    assert (interim / "prepare.run.json").is_file()


def test_main_derives_the_table_when_none_is_given(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    project(tmp_path)
    assert main(["--config", str(write_config(tmp_path, prepare={"label_table": None}))]) == 0
    labels = read_json(tmp_path / "data/interim/labels.json")
    # by major group (기쁨 < 분노 < 슬픔), then name: 짜증 sits with 분노 in its group
    assert list(labels["id2label"].values()) == ["기쁨", "분노", "짜증", "슬픔"]
    how = "derived from the data (sorted by major group, then name)"
    assert read_json(tmp_path / "data/interim/prepare_report.json")["label_table"] == how
    out = capsys.readouterr()
    assert f"no label table configured (prepare.label_table: null): 4 labels {how}" in out.err
    assert how in out.out


def test_main_derives_by_name_without_groups(tmp_path: Path) -> None:
    project(tmp_path, [("좋아요", "좋음", None), ("별로", "나쁨", None), ("최고", "최고", None)])
    assert main(["--config", str(write_config(tmp_path))]) == 0
    labels = read_json(tmp_path / "data/interim/labels.json")
    assert list(labels["id2label"].values()) == ["나쁨", "좋음", "최고"]
    report = read_json(tmp_path / "data/interim/prepare_report.json")
    assert report["label_table"] == "derived from the data (sorted by name)"


def test_source_study_table_columns_and_groups_from_data(tmp_path: Path) -> None:
    # The source study's table: columns sentiment and label, no group column.
    project(tmp_path)
    write_workbook(
        tmp_path / "labels.xlsx",
        {"t": [["sentiment", "label"], ["기쁨", 0], ["분노", 1], ["슬픔", 2], ["짜증", 3]]},
    )
    prepare = {"label_table": "labels.xlsx", "label_name_column": "sentiment",
               "label_id_column": "label"}  # fmt: skip
    assert main(["--config", str(write_config(tmp_path, prepare=prepare))]) == 0
    labels = read_json(tmp_path / "data/interim/labels.json")
    assert labels["id2label"] == {"0": "기쁨", "1": "분노", "2": "슬픔", "3": "짜증"}
    assert labels["label2group"]["짜증"] == "분노"  # groups come from the data, not the table


def test_main_without_groups_writes_an_empty_label2group(tmp_path: Path) -> None:
    project(tmp_path, [("좋아요", "5", None), ("별로예요", "1", None), ("좋아요", "5", None)])
    assert main(["--config", str(write_config(tmp_path))]) == 0
    labels = read_json(tmp_path / "data/interim/labels.json")
    assert labels == {"id2label": {"0": "1", "1": "5"}, "label2group": {}}


# --- bad input ---------------------------------------------------------------------------------


def run_bad(tmp_path: Path, capsys: pytest.CaptureFixture, label_rows: list | None) -> str:
    project(tmp_path)
    prepare = {"label_table": None}
    if label_rows is not None:
        write_workbook(tmp_path / "labels.xlsx", {"S": [["감정_소분류", "id"], *label_rows]})
        prepare = {"label_table": "labels.xlsx"}
    argv = ["--config", str(write_config(tmp_path, prepare=prepare))]
    return expect_error(main, argv, capsys, tmp_path)


def test_label_missing_from_table(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    err = run_bad(tmp_path, capsys, [["기쁨", 0], ["슬픔", 1]])
    assert "2 label(s) in the data are not in" in err
    assert "'분노' (1 row), '짜증' (1 row)" in err


def test_duplicate_id_in_table(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    err = run_bad(tmp_path, capsys, [["기쁨", 0], ["슬픔", 1], ["분노", 1], ["짜증", 2]])
    assert "labels.xlsx: duplicate id 1 on rows 3, 4" in err


def test_non_integer_id_in_table(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    err = run_bad(tmp_path, capsys, [["기쁨", 0], ["슬픔", "하나"]])
    assert "labels.xlsx, first sheet, row 3: 'id' must be an integer, got '하나'" in err


def test_label_table_not_found(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    project(tmp_path)
    argv = ["--config", str(write_config(tmp_path, prepare={"label_table": "none.xlsx"}))]
    assert "none.xlsx: label table not found" in expect_error(main, argv, capsys, tmp_path)


def test_no_sentences_yet(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["--config", str(write_config(tmp_path))]
    assert "run `python -m pipeline.data.ingest` first" in expect_error(
        main, argv, capsys, tmp_path
    )
