"""The predict command: sentences to the terminal, and a whole sheet to a labeled copy."""

from __future__ import annotations

import os
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
        (
            ["--input", "{tmp}/in.csv", "--column", "사람문장1", "--param", "top_k=2"],
            "--param and --seed apply to sentences given on the command line",
        ),
        (
            ["--input", "{tmp}/in.csv", "--column", "사람문장1", "--seed", "1"],
            "--param and --seed apply to sentences given on the command line",
        ),
        (["문장", "--param", "seed=1", "--seed", "2"], "--seed 2 and --param seed=1"),
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
        "param with a sheet",
        "seed with a sheet",
        "two seeds",
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


# --- hardening: outputs the pipeline owns, read-only folders, inputs as ingest reads them --------


def refused_before_loading(config, tmp_path, capsys, monkeypatch, output: str) -> str:
    """predict --input in.csv --output OUTPUT exits 2 without looking up or loading a model."""
    import pipeline.inference.labeller as labeller

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before --output was checked")

    monkeypatch.setattr(labeller, "load_model", no_model)
    monkeypatch.setattr(labeller, "resolve", no_model)
    sheet().to_csv(tmp_path / "in.csv", index=False)
    argv = ["--config", config, "--input", str(tmp_path / "in.csv"), "--column", "사람문장1"]
    assert main([*argv, "--output", output]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()[-1:]
    assert line.startswith("error: --output ")
    return line


@pytest.mark.parametrize(
    "output",
    ["data/processed/test.parquet", "data/interim/sentences.csv", "models/demo/history.csv",
     "reports/demo/labeled.xlsx", "models/new-folder/out.csv"],
)  # fmt: skip
def test_an_output_where_the_pipeline_writes_is_refused(
    config, tmp_path, capsys, monkeypatch, output
) -> None:
    target = tmp_path / output
    if "new-folder" not in output:
        target.parent.mkdir(parents=True)
        target.write_bytes(b"the pipeline's own file")
    line = refused_before_loading(config, tmp_path, capsys, monkeypatch, str(target))
    assert "where the pipeline writes its own files" in line
    if target.exists():
        assert target.read_bytes() == b"the pipeline's own file"
    assert not (tmp_path / "models/new-folder").exists()


def test_an_existing_file_predict_did_not_write_is_refused(
    config, tmp_path, capsys, monkeypatch
) -> None:
    mine = tmp_path / "my-notes.csv"
    mine.write_text("이름,메모\n민수,중요\n", encoding="utf-8")
    line = refused_before_loading(config, tmp_path, capsys, monkeypatch, str(mine))
    assert "exists and is not a table predict wrote (no predicted_label column)" in line
    assert mine.read_text(encoding="utf-8") == "이름,메모\n민수,중요\n"


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".parquet"])
def test_a_previous_predict_output_may_be_replaced(tmp_path, suffix) -> None:
    from pipeline.paths import Paths
    from pipeline.serve.predict import check_output, write_table

    out = tmp_path / f"labeled{suffix}"
    write_table(out, sheet().assign(predicted_label="기쁨", top3="기쁨 (0.9)"))
    sheet().to_csv(tmp_path / "in.csv", index=False)
    check_output(out, tmp_path / "in.csv", Paths(tmp_path), "predicted_label")  # no error


def test_an_output_in_a_read_only_folder_is_refused_before_loading(
    config, tmp_path, capsys, monkeypatch
) -> None:
    if os.geteuid() == 0:  # root writes anywhere chmod allows nothing: sysfs refuses even root
        folder = Path("/sys")
    else:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
    line = refused_before_loading(config, tmp_path, capsys, monkeypatch, str(folder / "o.csv"))
    assert f"cannot write in {folder}" in line


def test_a_run_without_tokenizer_files_is_one_line(config, untrained_run, tmp_path, capsys) -> None:
    import shutil

    run = tmp_path / "copied-run"
    shutil.copytree(untrained_run, run)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        (run / name).unlink(missing_ok=True)
    assert main(["--config", config, "--model", str(run), "고마워요"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        f"error: {run} has no tokenizer files (tokenizer.json, vocab.txt, vocab.json or a "
        "SentencePiece .model): copy them from the run it came from, or train it again"
    )


def test_csv_output_cells_are_never_formulas(tmp_path) -> None:
    from pipeline.serve.predict import write_table

    df = pd.DataFrame(
        {"문장": ['=HYPERLINK("http://x.invalid","클릭")', "+cmd|' /C calc'!A0", "-1+2", "@SUM(A1)",
                  "\t=1+1", "보통 문장", "-3"],
         "predicted_score": [0.5, 0.1, 0.2, 0.3, 0.4, 0.6, 0.7]}
    )  # fmt: skip
    out = tmp_path / "o.csv"
    write_table(out, df)
    back = pd.read_csv(out, encoding="utf-8-sig", keep_default_na=False)
    assert back["문장"].tolist() == ["'" + t for t in df["문장"][:5]] + ["보통 문장", "-3"]
    assert back["predicted_score"].tolist() == df["predicted_score"].tolist()


@pytest.mark.parametrize("codec", ["utf-8", "utf-8-sig", "utf-16", "cp949"])
def test_korean_csv_inputs_in_every_encoding(tmp_path, codec) -> None:
    from pipeline.serve.predict import read_table

    path = tmp_path / "in.csv"
    path.write_bytes("번호,문장\n1,시험에 합격했어\n2,친구가 미워\n".encode(codec))
    df = read_table(path, "문장")
    assert df["문장"].tolist() == ["시험에 합격했어", "친구가 미워"]


def test_a_numeric_header_is_a_column_name(tmp_path) -> None:
    from pipeline.serve.predict import read_table
    from tests.xlsx_helpers import write_workbook

    path = write_workbook(tmp_path / "in.xlsx", {"S": [["번호", 2024], [1, "시험에 합격했어"]]})
    assert read_table(path, "2024")["2024"].tolist() == ["시험에 합격했어"]


def test_a_hidden_first_sheet_is_skipped_and_formula_cells_are_named(tmp_path) -> None:
    import openpyxl

    from pipeline.errors import PipelineError
    from pipeline.serve.predict import read_table
    from tests.xlsx_helpers import write_workbook

    path = write_workbook(
        tmp_path / "in.xlsx",
        {"old": [["문장"], ["예전 것"]], "S": [["번호", "문장"], [1, "좋아요"], [2, '=B2&"!"']]},
    )
    wb = openpyxl.load_workbook(path)
    wb["old"].sheet_state = "hidden"
    wb.active = 1
    wb.save(path)
    with pytest.raises(PipelineError, match=r"in.xlsx, sheet 'S': 1 formula cell\(s\) in column"):
        read_table(path, "문장")
    assert read_table(path, "번호")["번호"].tolist() == [1, 2]  # the visible sheet


def test_an_xlsx_output_with_a_cell_excel_would_cut_is_refused(tmp_path) -> None:
    from pipeline.errors import PipelineError
    from pipeline.serve.predict import write_table

    out = tmp_path / "o.xlsx"
    df = sheet().assign(entities=["[]", None, "[" + "x" * 40_000 + "]", None])
    with pytest.raises(PipelineError, match=r"^--output .*o\.xlsx: 1 cell\(s\) longer than Excel"):
        write_table(out, df)
    assert list(tmp_path.iterdir()) == []  # no half file, no temporary left
    write_table(tmp_path / "o.csv", df)  # .csv keeps it whole
    back = pd.read_csv(tmp_path / "o.csv", encoding="utf-8-sig")
    assert len(back["entities"][2]) == 40_002


@pytest.mark.slow
def test_predict_refuses_an_xlsx_output_excel_would_cut(
    config, untrained_run, tmp_path, capsys
) -> None:
    src, dst = tmp_path / "in.csv", tmp_path / "out.xlsx"
    sheet().assign(메모=["메" * 40_000, None, None, None]).to_csv(src, index=False)
    argv = ["--config", config, "--model", str(untrained_run), "--input", str(src)]
    assert main([*argv, "--column", "사람문장1", "--output", str(dst)]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line == (
        f"error: --output {dst}: 1 cell(s) longer than Excel's limit of 32,767 characters "
        "(column '메모' row(s) 2) would be cut short; write a .csv or .parquet file instead"
    )
    assert not dst.exists() and sorted(p.name for p in tmp_path.glob("out*")) == []


def test_formulas_never_calculated_in_other_columns_are_a_warning(tmp_path, caplog) -> None:
    import logging

    from pipeline.serve.predict import read_table
    from tests.xlsx_helpers import write_workbook

    path = write_workbook(
        tmp_path / "in.xlsx",
        {"S": [["번호", "문장", "합계"], [1, "좋아요", "=A2*2"], [2, "싫어요", "=A3*2"]]},
    )
    with caplog.at_level(logging.WARNING, logger="pipeline.data"):
        df = read_table(path, "문장")
    assert df["문장"].tolist() == ["좋아요", "싫어요"]
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warned == [
        "in.xlsx, sheet 'S': 2 formula cell(s) in column(s) '합계' have no saved value (C2, C3): "
        "the file was written by a program that does not calculate formulas, so they are empty "
        "in the output; open it in Excel or LibreOffice and save it to keep their values"
    ]
