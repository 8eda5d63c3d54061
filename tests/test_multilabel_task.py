"""The multi-label task's data and scores without a model: label cells with a separator (a
label holding it included), 0/1 columns, unknown labels, the data stages on real workbooks,
the scores and the answer shape."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from huggingface_hub.inference._generated.types import TextClassificationOutputElement

from pipeline.config import load_config
from pipeline.data import ingest, prepare, split
from pipeline.errors import PipelineError
from pipeline.tasks import get_task
from pipeline.tasks.multilabel.data import UnknownLabel, split_cell
from pipeline.tasks.multilabel.metrics import chosen, score
from pipeline.tasks.multilabel.serve import answers
from tests.conftest import write_config

NAMES = ["기쁨", "슬픔", "당황, 놀람", "분노"]
TASK = get_task("multi-label-classification")


def test_a_cell_splits_on_the_separator_and_keeps_a_label_that_holds_it() -> None:
    assert split_cell("기쁨, 슬픔", ",", NAMES) == ["기쁨", "슬픔"]
    assert split_cell("기쁨,당황, 놀람", ",", NAMES) == ["기쁨", "당황, 놀람"]
    assert split_cell("당황, 놀람 , 분노,", ",", NAMES) == ["당황, 놀람", "분노"]
    assert split_cell(" 슬픔 ;; 기쁨 ; 슬픔", ";", NAMES) == ["슬픔", "기쁨"]  # once each
    with pytest.raises(UnknownLabel, match="놀람"):
        split_cell("기쁨, 놀람", ",", NAMES)  # only the whole name is a label
    with pytest.raises(UnknownLabel, match="행복"):
        split_cell("행복, 기쁨", ",", NAMES)


def write_sheet(path: Path, rows: list[list], header: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=header).to_excel(path, index=False)
    return path


def project(root: Path, rows: list[list], header: list[str], **sections: dict) -> Path:
    write_sheet(root / "data/raw/ml.xlsx", rows, header)
    write_sheet(root / "data/raw/labels.xlsx", [[n, i] for i, n in enumerate(NAMES)],
                ["감정", "id"])  # fmt: skip
    cfg = {
        "root": str(root),
        "task": "multi-label-classification",
        "ingest": {"files": ["data/raw/ml.xlsx"], "text_columns": ["문장"], "label_column": "감정",
                   "group_column": None},
        "prepare": {"label_table": "data/raw/labels.xlsx", "label_name_column": "감정"},
        "model": {"name_or_path": "unused"},
        "train": {"early_stopping": {"monitor": "val_micro_f1"}},
    }  # fmt: skip
    for name, values in sections.items():
        cfg[name] = {**cfg.get(name, {}), **values}
    return write_config(root / "config.yaml", cfg)


def sentences(n: int) -> list[list]:
    cells = ["기쁨", "슬픔, 기쁨", "당황, 놀람", "분노, 당황, 놀람", "기쁨, 분노", "슬픔"]
    return [[f"문장 {i} 입니다", cells[i % len(cells)]] for i in range(n)]


def test_the_data_stages_store_label_sets_and_split_them_iteratively(tmp_path: Path) -> None:
    cfg = project(tmp_path, sentences(60), ["문장", "감정"])
    for stage in (ingest, prepare, split):
        assert stage.main(["--config", str(cfg)]) == 0
    data = pd.read_parquet(tmp_path / "data/interim/dataset.parquet")
    assert json.loads(data["labels"][3]) == ["당황, 놀람", "분노"]  # label-table order
    labels = json.loads((tmp_path / "data/interim/labels.json").read_text("utf-8"))
    assert labels["labels"] == {str(i): n for i, n in enumerate(NAMES)}
    assert (
        labels["label_counts"]["당황, 놀람"] == 20 and labels["cooccurrence"]["분노"]["기쁨"] == 10
    )
    manifest = json.loads((tmp_path / "data/processed/manifest.json").read_text("utf-8"))
    assert "iteratively" in manifest["rule"]
    for part in manifest["splits"].values():
        assert set(part["class_counts"]) == set(NAMES)  # every label in every split


def test_an_unknown_label_names_file_sheet_and_row(tmp_path: Path) -> None:
    rows = sentences(12)
    rows[4][1] = "기쁨, 놀람"
    cfg = project(tmp_path, rows, ["문장", "감정"])
    assert ingest.main(["--config", str(cfg)]) == 0
    with pytest.raises(PipelineError, match=r"ml\.xlsx, sheet 'Sheet1', row 6: label '놀람'"):
        prepare.run(load_config(cfg))


def test_one_zero_one_column_per_label(tmp_path: Path) -> None:
    rows = [[f"문장 {i}", i % 2, (i + 1) % 2, int(i % 3 == 0), int(i % 5 == 2)] for i in range(30)]
    header = ["문장", *NAMES]
    cfg = project(tmp_path, rows, header, ingest={"label_columns": NAMES})
    for stage in (ingest, prepare, split):
        assert stage.main(["--config", str(cfg)]) == 0
    data = pd.read_parquet(tmp_path / "data/interim/dataset.parquet")
    assert json.loads(data["labels"][0]) == ["슬픔", "당황, 놀람"]
    assert json.loads(data["labels"][1]) == ["기쁨"]
    rows[5][2] = 7  # not 0/1: named with its row
    cfg = project(tmp_path, rows, header, ingest={"label_columns": NAMES})
    with pytest.raises(PipelineError, match=r"row 7: column '슬픔' must be 0 or 1"):
        ingest.run(load_config(cfg))


def test_a_cell_of_only_separators_is_dropped_as_an_empty_label(tmp_path: Path) -> None:
    rows = sentences(30)
    rows[3][1], rows[4][1], rows[5][1] = ",", " , ", ",,"
    cfg = project(tmp_path, rows, ["문장", "감정"])
    assert ingest.main(["--config", str(cfg)]) == 0
    result = prepare.run(load_config(cfg))
    assert result.report["dropped"]["empty_label"] == 3 and result.rows_out == 27
    data = pd.read_parquet(tmp_path / "data/interim/dataset.parquet")
    assert all(json.loads(v) for v in data["labels"]) and "" not in set(data["label"])
    labels = json.loads((tmp_path / "data/interim/labels.json").read_text("utf-8"))
    assert "" not in labels["id2label"].values() and "" not in labels["labels"].values()
    cells = pd.Series([",", " , ", ",,", None, "기쁨,", "당황, 놀람"])
    blank = TASK.blank_labels(cells, load_config(cfg).prepare).tolist()
    assert blank == [True, True, True, True, False, False]


def test_a_label_without_sentences_stops_split_naming_it(tmp_path: Path, capsys) -> None:
    rows = [[f"문장 {i}", 1, 0, 0, int(i == 4)] for i in range(30)]  # 분노 once, 슬픔 never
    header = ["문장", *NAMES]
    cfg = project(tmp_path, rows, header, ingest={"label_columns": NAMES})
    assert ingest.main(["--config", str(cfg)]) == 0
    assert prepare.main(["--config", str(cfg)]) == 0
    logged = capsys.readouterr().err  # the stages log to the current stderr (pipeline.cli)
    assert "label(s) in the table have no sentences: ['슬픔', '당황, 놀람']" in logged
    with pytest.raises(PipelineError) as err:
        split.run(load_config(cfg))
    for named in ("'슬픔' (0 examples)", "'당황, 놀람' (0 examples)", "'분노' (1 example)"):
        assert named in str(err.value)
    cfg = project(tmp_path, rows, header, ingest={"label_columns": NAMES},
                  split={"drop_small_classes": True})  # fmt: skip
    manifest = split.run(load_config(cfg)).manifest
    assert manifest["dropped_classes"] == {"분노": 1, "슬픔": 0, "당황, 놀람": 0}
    assert manifest["dataset"]["rows"] == 30
    assert sum(part["rows"] for part in manifest["splits"].values()) == 29
    assert "their ids stay in labels.json" in capsys.readouterr().err  # as single-label's


def test_an_unknown_label_column_names_ingest_label_columns(tmp_path: Path) -> None:
    rows = [[f"문장 {i}", 1, 0] for i in range(6)]
    cfg = project(
        tmp_path, rows, ["문장", "기쁨", "슬픔"], ingest={"label_columns": ["기쁨", "없는열"]}
    )
    with pytest.raises(
        PipelineError, match=r"missing column\(s\) '없는열' named in ingest\.label_columns"
    ):
        ingest.run(load_config(cfg))


def test_prepare_logs_and_records_the_label_table(tmp_path: Path, capsys) -> None:
    cfg = project(tmp_path, sentences(30), ["문장", "감정"])
    assert ingest.main(["--config", str(cfg)]) == 0
    assert prepare.main(["--config", str(cfg)]) == 0
    out, logged = capsys.readouterr()
    assert "no label table configured" not in logged and "4 labels (data/raw/labels.xlsx)" in logged
    assert "4 labels (data/raw/labels.xlsx)" in out
    report = json.loads((tmp_path / "data/interim/prepare_report.json").read_text("utf-8"))
    assert report["labels"] == 4 and report["label_table"] == "data/raw/labels.xlsx"
    assert report["labels_without_rows"] == [] and len(report["class_counts"]) == 6  # sets
    run = json.loads((tmp_path / "data/interim/prepare.run.json").read_text("utf-8"))
    assert Path(run["inputs"]["label_table"]["path"]) == tmp_path / "data/raw/labels.xlsx"


def test_the_task_refuses_settings_of_single_label_training(tmp_path: Path) -> None:
    cfg = project(tmp_path, sentences(6), ["문장", "감정"], train={"class_weights": "balanced"})
    with pytest.raises(PipelineError, match="class_weights"):
        ingest.run(load_config(cfg))
    cfg = project(tmp_path, sentences(6), ["문장", "감정"],
                  train={"early_stopping": {"monitor": "val_accuracy"}})  # fmt: skip
    with pytest.raises(PipelineError, match="val_micro_f1"):
        ingest.run(load_config(cfg))


def test_scores_of_a_known_case() -> None:
    y = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
    probs = np.array([[0.9, 0.2, 0.6], [0.1, 0.7, 0.2], [0.8, 0.4, 0.1], [0.3, 0.1, 0.4]])
    cuts = [0.5, 0.3, 0.35]
    assert chosen(probs, cuts).tolist() == [[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]]
    s = score(y, probs, cuts, ["a", "b", "c"])
    assert s["accuracy"] == 1.0 and s["micro_f1"] == 1.0 and s["hamming_loss"] == 0.0
    s = score(y, probs, [0.5, 0.5, 0.5], ["a", "b", "c"])
    assert s["accuracy"] == 0.5 and s["hamming_loss"] == pytest.approx(2 / 12)
    assert s["per_label"]["b"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3),
                                   "support": 2, "predicted": 1}  # fmt: skip
    assert s["label_count"] == {"true": {"0": 0, "1": 2, "2": 2},
                                "predicted": {"0": 1, "1": 2, "2": 1}}  # fmt: skip


def test_the_answer_marks_labels_over_their_threshold_and_the_client_reads_it() -> None:
    probs = np.array([[0.2, 0.9, 0.45]])
    out = answers(probs, ["a", "b", "c"], np.array([0.5, 0.5, 0.4]), 3)
    assert [(a["label"], a["selected"]) for a in out[0]] == [("b", True), ("c", True),
                                                             ("a", False)]  # fmt: skip
    parsed = TextClassificationOutputElement.parse_obj_as_list(json.dumps(out).encode())[0]
    assert parsed[1].label == "c" and parsed[1]["selected"] is True
    assert get_task("multi-label-classification").monitors[0] == "val_micro_f1"


def test_the_sample_script_reproduces_the_committed_files(tmp_path: Path) -> None:
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    script = repo / "scripts/make_multilabel_sample.py"
    subprocess.run([sys.executable, str(script), "--out-dir", str(tmp_path)], check=True,
                   capture_output=True)  # fmt: skip
    for name in ("multilabel_sample.xlsx", "multilabel_labels.xlsx"):
        assert (tmp_path / name).read_bytes() == (repo / "data/raw" / name).read_bytes(), name
    sample = pd.read_excel(tmp_path / "multilabel_sample.xlsx", engine="calamine")
    counts = sample["감정"].dropna().map(lambda c: len(split_cell(c, ",", LABELS_OF_SAMPLE)))
    assert set(counts) == {1, 2, 3}


LABELS_OF_SAMPLE = ["기쁨", "슬픔", "분노", "불안", "감사", "설렘", "외로움", "당황, 놀람"]
