"""The predict command: sentences to the terminal, and a whole sheet to a labeled copy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.inference.loaded import top_answers
from pipeline.serve.predict import main
from pipeline.tasks.classification.serve import label_table
from tests.conftest import tiny_config_dict, write_config
from tests.tiny import TINY_LABELS

LABELS = [label for label, _, _ in TINY_LABELS]
GROUPS = {label: group for label, group, _ in TINY_LABELS}


@pytest.fixture()
def config(tmp_path: Path, tiny_bert: Path) -> str:
    return str(write_config(tmp_path / "config.yaml", tiny_config_dict(tmp_path, tiny_bert)))


def sheet() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "번호": [1, 2, 3, 4],
            "사람문장1": ["친구가 선물을 줬어. 고마워요", None, "약속을 어겼어. 화가 나요", "  "],
        }
    )


# --- pure parts ---------------------------------------------------------------------------------


def test_top_answers_sorts_cuts_and_keeps_id_order_on_ties() -> None:
    probs = np.array([[0.1, 0.6, 0.3], [0.25, 0.5, 0.25]], dtype=np.float32)
    answers = top_answers(probs, {0: "a", 1: "b", 2: "c"}, 2)
    assert [[x["label"] for x in a] for a in answers] == [["b", "c"], ["b", "a"]]
    assert answers[0][0]["score"] == pytest.approx(0.6)


def test_label_table_keeps_columns_and_skips_empty_cells() -> None:
    seen: list[list[str]] = []

    def probs_of(texts: list[str]) -> np.ndarray:
        seen.append(texts)
        return np.tile(np.array([0.1, 0.2, 0.3, 0.4], dtype=np.float32), (len(texts), 1))

    out = label_table(sheet(), "사람문장1", probs_of, dict(enumerate(LABELS)), GROUPS)
    assert seen == [["친구가 선물을 줬어. 고마워요", "약속을 어겼어. 화가 나요"]]
    assert list(out.columns[:2]) == ["번호", "사람문장1"]
    assert out["predicted_label"].notna().tolist() == [True, False, True, False]
    assert out["predicted_label"].dropna().tolist() == [LABELS[3], LABELS[3]]
    assert out["predicted_group"].dropna().tolist() == [GROUPS[LABELS[3]]] * 2
    assert out["top3"][0] == f"{LABELS[3]} (0.400), {LABELS[2]} (0.300), {LABELS[1]} (0.200)"


# --- the command line on the tiny model ----------------------------------------------------------


@pytest.mark.slow
def test_sentences_print_their_top_emotions(config, untrained_run, capsys) -> None:
    code = main(["--config", config, "--model", str(untrained_run), "--top-k", "2", "고마워요"])
    assert code == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("고마워요  [") and out[0].endswith("]")  # the group of the best one
    assert len(out) == 3 and out[1].strip().startswith("1. ") and out[2].strip().startswith("2. ")
    named = [line.strip()[3:].rsplit(" ", 1)[0].strip() for line in out[1:]]
    assert set(named) <= set(LABELS)


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_a_sheet_is_labeled_into_a_new_file(config, untrained_run, tmp_path, suffix) -> None:
    src, dst = tmp_path / f"in{suffix}", tmp_path / f"out{suffix}"
    if suffix == ".csv":
        sheet().to_csv(src, index=False)
    else:
        sheet().to_excel(src, index=False, sheet_name="대화")
    argv = ["--config", config, "--model", str(untrained_run), "--input", str(src)]
    assert main([*argv, "--column", "사람문장1", "--output", str(dst)]) == 0
    out = pd.read_csv(dst) if suffix == ".csv" else pd.read_excel(dst, engine="calamine")
    assert out.columns.tolist() == [
        "번호",
        "사람문장1",
        "predicted_label",
        "predicted_score",
        "predicted_group",
        "top3",
    ]
    assert out["predicted_label"].notna().tolist() == [True, False, True, False]
    assert set(out["predicted_label"].dropna()) <= set(LABELS)
    assert out["top3"].dropna().str.count(r"\(").tolist() == [3, 3]


@pytest.mark.parametrize(
    "args, words",
    [
        (
            ["--input", "{tmp}/missing.xlsx", "--column", "사람문장1"],
            "missing.xlsx: file not found",
        ),
        (["--input", "{tmp}/in.csv", "--column", "문장"], "'문장' not found in"),
        (["--input", "{tmp}/in.txt", "--column", "사람문장1"], "use an .xlsx or .csv file"),
        ([], "nothing to label"),
        (["   "], "sentence 1 is empty"),
        (["--input", "{tmp}/bad.xlsx", "--column", "문장"], "bad.xlsx: cannot read it"),
        (
            ["--input", "{tmp}/in.csv", "--column", "사람문장1", "--batch-size", "0"],
            "--batch-size must be at least 1, got 0",
        ),
        (["문장", "--top-k", "0"], "--top-k must be at least 1, got 0"),
        (["문장", "--batch-size", "0"], "--batch-size must be at least 1, got 0"),
        (["문장", "--model", " "], "--model is empty"),
    ],
    ids=[
        "missing file",
        "missing column",
        "wrong type",
        "nothing",
        "empty sentence",
        "not a workbook",
        "batch size 0",
        "top-k 0 for sentences",
        "batch size 0 for sentences",
        "empty model",
    ],
)
def test_bad_input_exits_2_naming_it_and_writes_nothing(config, tmp_path, capsys, args, words):
    sheet().to_csv(tmp_path / "in.csv", index=False)
    (tmp_path / "in.txt").write_text("x")
    (tmp_path / "bad.xlsx").write_text("not a workbook")
    out = tmp_path / "out.csv"
    argv = [a.format(tmp=tmp_path) for a in args]
    if "--input" in argv:
        argv += ["--output", str(out)]
    assert main(["--config", config, *argv]) == 2
    err = capsys.readouterr().err
    assert words in err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "bad.xlsx",
        "config.yaml",
        "in.csv",
        "in.txt",
    ]


@pytest.mark.parametrize(
    "output, words",
    [
        ("{tmp}/in.csv", "is the input file: it would be overwritten"),
        ("{tmp}/sub/../in.csv", "is the input file"),
        ("{tmp}/link.csv", "is the input file"),
        ("{tmp}/data/raw/labeled.csv", "raw data is read-only"),
        ("{tmp}/folder.csv", "is a directory: give a file name"),
        ("{tmp}/in.txt/out.csv", "in.txt is a file, not a folder"),
    ],
    ids=[
        "same path",
        "same file by another path",
        "symlink to it",
        "under data/raw",
        "folder",
        "parent is a file",
    ],
)
def test_an_output_that_would_destroy_data_is_refused_before_loading(
    config, tmp_path, capsys, output, words
) -> None:
    sheet().to_csv(tmp_path / "in.csv", index=False)
    before = (tmp_path / "in.csv").read_bytes()
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.csv").symlink_to(tmp_path / "in.csv")
    (tmp_path / "data" / "raw").mkdir(parents=True)
    (tmp_path / "folder.csv").mkdir()
    (tmp_path / "in.txt").write_text("a file")
    argv = ["--config", config, "--model", "no-such-run", "--input", str(tmp_path / "in.csv")]
    argv += ["--column", "사람문장1", "--output", output.format(tmp=tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and "no-such-run" not in err  # refused before the model is looked up
    assert (tmp_path / "in.csv").read_bytes() == before
    assert list((tmp_path / "data" / "raw").iterdir()) == []


@pytest.mark.parametrize(
    "sentence, words",
    [
        (
            "좋아요 \ud800",
            "sentence 2 holds a lone surrogate U+D800 at character 5: not valid text",
        ),
        ("\u200b\u200d", "sentence 2 is empty"),
        ("\x00", "sentence 2 is empty"),
    ],
    ids=["lone surrogate", "zero-width only", "NUL only"],
)
def test_unencodable_or_invisible_sentences_exit_2(config, capsys, sentence, words) -> None:
    assert main(["--config", config, "--model", "no-such-run", "고마워요", sentence]) == 2
    assert words in capsys.readouterr().err


def test_a_cell_that_is_not_valid_text_is_named() -> None:
    from pipeline.errors import PipelineError

    df = pd.DataFrame({"문장": ["좋아요", "a\udc80b"]}, dtype=object)
    with pytest.raises(PipelineError, match="row 3 of column '문장' holds a lone surrogate U.DC80"):
        label_table(df, "문장", lambda texts: None, dict(enumerate(LABELS)), GROUPS)


def test_a_one_column_csv_keeps_its_blank_rows(config, untrained_run, tmp_path) -> None:
    """Blank lines of a one-column CSV are rows: the output lines up with the input."""
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text("문장\n시험에 합격했어\n\n친구가 미워\n", encoding="utf-8")
    argv = ["--config", config, "--model", str(untrained_run), "--input", str(src)]
    assert main([*argv, "--column", "문장", "--output", str(dst)]) == 0
    out = pd.read_csv(dst, skip_blank_lines=False)
    assert len(out) == 3 and out["predicted_label"].notna().tolist() == [True, False, True]


def test_a_missing_input_is_named_even_when_the_output_exists(config, tmp_path, capsys) -> None:
    (tmp_path / "out.csv").write_text("kept\n")
    argv = ["--config", config, "--input", str(tmp_path / "nope.csv"), "--column", "사람문장1"]
    assert main([*argv, "--output", str(tmp_path / "out.csv")]) == 2
    assert f"--input {tmp_path / 'nope.csv'}: file not found" in capsys.readouterr().err
    assert (tmp_path / "out.csv").read_text() == "kept\n"
