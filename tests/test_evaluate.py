"""Evaluate stage: metric functions, bad input, and the whole stage on a tiny project."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline.errors import PipelineError
from pipeline.evaluate.stage import main
from pipeline.io import write_parquet
from pipeline.tasks.classification.evaluate import complete_groups
from pipeline.tasks.classification.inputs import check_labels, pick_text_column, read_input
from pipeline.tasks.classification.metrics import most_confused, predictions_frame, score
from tests.conftest import write_config
from tests.tiny import TINY_LABELS

NAMES = ["a", "b", "c", "d"]
GROUPS = {"a": "x", "b": "x", "c": "y", "d": "z"}
CONTRACT_KEYS = [
    "split",
    "n",
    "accuracy",
    "macro_f1",
    "weighted_f1",
    "macro_precision",
    "macro_recall",
    "weighted_precision",
    "weighted_recall",
    "top_k_accuracy",
    "group_accuracy",
    "baseline",
    "embedding_baseline",
    "below_baseline",
    "data",
    "model",
    "calibration",
]


# --- pure functions -----------------------------------------------------------------------------


def test_score_known_values() -> None:
    y_true = np.array([0, 1, 2, 3])
    probs = np.array(
        [
            [0.7, 0.2, 0.1, 0.0],  # right
            [0.6, 0.3, 0.1, 0.0],  # wrong (a), same group x, true is 2nd
            [0.1, 0.2, 0.3, 0.4],  # wrong (d), other group, true is 2nd
            [0.4, 0.3, 0.2, 0.1],  # wrong (a), true is last
        ]
    )
    m = score(y_true, probs, NAMES, GROUPS)
    assert m["accuracy"] == 0.25
    assert m["top_k_accuracy"] == {"1": 0.25, "3": 0.75, "5": 1.0}
    assert m["group_accuracy"] == 0.5
    # a: P=1/3 R=1 F1=0.5; others 0 -> macro F1 0.125
    assert m["macro_f1"] == pytest.approx(0.125)
    assert m["macro_recall"] == pytest.approx(0.25)


def test_score_without_groups_has_no_group_accuracy() -> None:
    probs = np.eye(4)
    assert score(np.arange(4), probs, NAMES, {})["group_accuracy"] is None


def test_most_confused_orders_by_count() -> None:
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([1, 1, 0, 0, 2, 2])
    pairs = most_confused(y_true, y_pred, NAMES, n=2)
    assert pairs["true label"].tolist() == ["a", "b"]
    assert pairs["predicted"].tolist() == ["b", "a"]
    assert pairs["count"].tolist() == [2, 1]
    assert pairs["share of true label"].tolist() == [pytest.approx(0.667), 0.5]


def test_predictions_frame_top3() -> None:
    data = pd.DataFrame({"text": ["s1", "s2"], "label": ["c", "a"]})
    probs = np.array([[0.1, 0.2, 0.6, 0.1], [0.3, 0.5, 0.15, 0.05]])
    frame = predictions_frame(data, probs, NAMES)
    assert frame["predicted"].tolist() == ["c", "b"]
    assert frame["correct"].tolist() == [True, False]
    assert frame[["top1", "top2", "top3"]].iloc[1].tolist() == ["b", "a", "c"]
    assert frame["top2_score"].tolist() == [0.2, 0.3]


def test_check_labels_error_names_the_labels() -> None:
    labels = pd.Series(["a", "zz", "b", "yy"])
    with pytest.raises(PipelineError, match=r"test.parquet: 2 sentence.*'yy', 'zz'"):
        check_labels(labels, {"a": 0, "b": 1}, "error", "test.parquet")
    assert check_labels(labels, {"a": 0, "b": 1}, "skip", "x").tolist() == [1, 0, 1, 0]


def test_pick_text_column() -> None:
    df = pd.DataFrame({"번호": [1, 2], "문장": ["가", "나"], "감정": ["a", "b"]})
    assert pick_text_column(df, "감정", "w.xlsx") == "문장"
    df["메모"] = ["x", "y"]
    with pytest.raises(PipelineError, match=r"w.xlsx.*문장, 메모.*--text-column"):
        pick_text_column(df, "감정", "w.xlsx")


def test_read_input_csv_normalizes_and_drops_blank_rows(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    pd.DataFrame({"s": ["  오늘   기뻐요 ", None, "슬퍼요"], "y": ["a", None, "b"]}).to_csv(
        path, index=False
    )
    frame = read_input(path, "s", "y")
    assert frame["text"].tolist() == ["오늘 기뻐요", "슬퍼요"]
    assert frame["source_row"].tolist() == [2, 4]


# --- the stage ----------------------------------------------------------------------------------


@pytest.fixture()
def project(tiny_project: Path, untrained_run: Path) -> Path:
    """tiny_project with the untrained run copied to models/tiny (the config's run_name)."""
    shutil.copytree(untrained_run, tiny_project.parent / "models" / "tiny")
    return tiny_project


@pytest.fixture()
def trained_project(tmp_path: Path, trained_run: Path) -> Path:
    """A copy of the shared trained project (the fixture must not be modified); its config."""
    root = tmp_path / "project"
    shutil.copytree(trained_run.parent.parent, root)
    cfg = yaml.safe_load((root / "config.yaml").read_text(encoding="utf-8"))
    return write_config(root / "config.yaml", {**cfg, "root": str(root)})


@pytest.mark.slow
def test_evaluate_end_to_end_is_reproducible(trained_project: Path, capsys) -> None:
    project, root = trained_project, trained_project.parent
    assert main(["--config", str(project)]) == 0
    out = root / "reports" / "tiny"
    assert "report:" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert list(metrics) == CONTRACT_KEYS
    test = pd.read_parquet(root / "data/processed/test.parquet")
    assert metrics["n"] == len(test) and metrics["model"] == "tiny"
    assert set(metrics["top_k_accuracy"]) == {"1", "3", "5"}
    assert metrics["top_k_accuracy"]["1"] == metrics["accuracy"]
    assert metrics["baseline"]["name"] == "tfidf-char-logreg"
    assert metrics["baseline"]["accuracy"] > 0.5  # the marker words make this easy
    assert 0 < metrics["baseline"]["weighted_f1"] <= 1  # the model card shows it beside BERT's
    for name in ("classification_report.txt", "classification_report.csv", "run.json"):
        assert (out / name).stat().st_size > 0
    report_json = json.loads((out / "classification_report.json").read_text(encoding="utf-8"))
    assert {label for label, _, _ in TINY_LABELS} <= set(report_json)
    preds = pd.read_parquet(out / "predictions.parquet")
    assert len(preds) == len(test)
    assert preds["text"].tolist() == test["text"].tolist()
    assert pd.read_excel(out / "predictions.xlsx").shape == preds.shape
    for fig in ("confusion_matrix.png", "per_class_f1.png"):
        assert (out / "figures" / fig).read_bytes()[:4] == b"\x89PNG"
    md = (out / "report.md").read_text(encoding="utf-8")
    for part in ("## Results", "baseline", "## Training run", "### Token lengths", "## Data"):
        assert part in md
    assert "## Environment" in md and "## Config" in md and "figures/curves.png" in md
    assert f"make evaluate CONFIG={project} MODEL=tiny" in md
    html = (out / "report.html").read_text(encoding="utf-8")
    # confusion, F1, curves, reliability, coverage
    assert html.count("data:image/png;base64,") == 5 and 'src="figures/' not in html

    first = {n: (out / n).read_bytes() for n in ("metrics.json", "report.md")}
    assert main(["--config", str(project)]) == 0
    assert {n: (out / n).read_bytes() for n in first} == first


# --- bad input: exit 2, one clear line, nothing written -----------------------------------------


def fails(args: list[str], capsys, match: str) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: ") and match in err, err


def test_run_dir_without_model(tiny_project: Path, capsys) -> None:
    run_dir = tiny_project.parent / "models" / "tiny"
    run_dir.mkdir(parents=True)
    (run_dir / "labels.json").write_text("{}", encoding="utf-8")
    fails(["--config", str(tiny_project)], capsys, "holds no trained model")
    assert not (tiny_project.parent / "reports").exists()


def test_unknown_label_stops_or_is_skipped(project: Path, capsys) -> None:
    test_file = project.parent / "data/processed/test.parquet"
    test = pd.read_parquet(test_file)
    test.loc[[0, 1], "label"] = "없는감정"
    write_parquet(test_file, test)
    fails(["--config", str(project)], capsys, "label(s) the model does not know: '없는감정'")
    assert not (project.parent / "reports").exists()

    args = ["--config", str(project), "--set", "evaluate.unknown_labels=skip"]
    assert main(args) == 0
    out = project.parent / "reports" / "tiny"
    assert json.loads((out / "metrics.json").read_text(encoding="utf-8"))["n"] == len(test) - 2
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["skipped_unknown_labels"] == 2
    assert "2 sentence(s) with labels the model does not know skipped" in (
        out / "report.md"
    ).read_text(encoding="utf-8")


def test_empty_test_file(project: Path, capsys) -> None:
    test_file = project.parent / "data/processed/test.parquet"
    write_parquet(test_file, pd.read_parquet(test_file).iloc[:0])
    fails(["--config", str(project)], capsys, "test.parquet: no sentences to evaluate")
    assert not (project.parent / "reports").exists()


def test_workbook_with_several_text_columns(project: Path, capsys) -> None:
    book = project.parent / "new.xlsx"
    pd.DataFrame(
        {"감정_소분류": ["신이 난"], "사람문장1": ["신나요"], "시스템문장1": ["좋네요"]}
    ).to_excel(book, index=False)
    fails(
        ["--config", str(project), "--input", str(book)],
        capsys,
        "new.xlsx, sheet 'Sheet1': cannot tell which column holds the sentences "
        "(text-like columns: 사람문장1, 시스템문장1)",
    )
    assert not (project.parent / "reports").exists()


def test_missing_text_column_lists_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    pd.DataFrame({"문장": ["기뻐요"], "감정": ["a"]}).to_csv(path, index=False)
    with pytest.raises(PipelineError, match=r"no text column 'text' \(columns: 문장, 감정\)"):
        read_input(path, "text", "감정")


def test_batch_size_below_1_is_refused_before_loading(project: Path, capsys) -> None:
    args = ["--config", str(project), "--set", "evaluate.batch_size=0"]
    fails(args, capsys, "evaluate.batch_size must be at least 1, got 0")
    assert not (project.parent / "reports").exists()


def test_data_split_for_another_task_is_refused(project: Path, capsys) -> None:
    """The data stages last ran with another config: its report would be nonsense."""
    record = project.parent / "data/processed/run.json"
    record.write_text('{"stage": "split", "config": {"task": "token-classification"}}')
    fails(["--config", str(project)], capsys, "was split for task token-classification, not")
    assert not (project.parent / "reports").exists()


def test_column_flags_without_input_are_refused(project: Path, capsys) -> None:
    fails(["--config", str(project), "--text-column", "x"], capsys, "columns of --input")
    fails(["--config", str(project), "--label-column", "x"], capsys, "columns of --input")
    assert not (project.parent / "reports").exists()


# --- group accuracy, ad-hoc inputs, the baseline warning, escaping, SIGTERM ----------------------


def test_complete_groups_fills_gaps_from_the_data_by_majority() -> None:
    data = pd.DataFrame(
        {"label": ["고립된", "고립된", "고립된", "기쁨", "외로운"],
         "group": ["상처", "슬픔", "상처", "기쁨", None]}
    )  # fmt: skip
    # 고립된 is filed under two groups: the one most of its sentences carry wins, as in prepare
    assert complete_groups({}, [data]) == {"고립된": "상처", "기쁨": "기쁨"}
    assert complete_groups({"기쁨": "행복"}, [data, data[["label"]]])["기쁨"] == "행복"
    assert complete_groups({}, [data[["label"]]]) == {}


def read_metrics(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text(encoding="utf-8"))


def test_held_out_and_adhoc_reports_stay_apart(project: Path, capsys) -> None:
    root = project.parent
    assert main(["--config", str(project)]) == 0
    out = root / "reports" / "tiny"
    metrics = read_metrics(out)
    assert list(metrics) == CONTRACT_KEYS and metrics["split"] == "test"
    # An untrained head against a baseline that reads the marker words: below it, said first.
    assert metrics["below_baseline"] is True
    assert metrics["macro_f1"] < metrics["baseline"]["macro_f1"]
    md = (out / "report.md").read_text(encoding="utf-8").splitlines()
    assert md[0] == "# Evaluation of `tiny`" and md[2].startswith("> **Below the baseline:**")
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.index("Below the baseline") < html.index("<h2")
    assert "evaluated on the held-out **test** split" in md[4]
    assert metrics["data"]["split_rule"].startswith("unknown")  # the fixture's manifest is old

    csv = root / "new.csv"
    pd.DataFrame({"문장": ["친구가 선물을 줬어. 고마워요"], "감정_소분류": ["감사하는"]}).to_csv(
        csv, index=False
    )
    held_out = (out / "metrics.json").read_bytes()
    assert main(["--config", str(project), "--input", str(csv)]) == 0
    adhoc = out / "adhoc" / "new"
    metrics = read_metrics(adhoc)
    assert metrics["input"] == "new.csv" and "split" not in metrics and metrics["n"] == 1
    assert "split_rule" not in metrics["data"]
    assert "ad-hoc input **new.csv** (not a held-out split)" in (adhoc / "report.md").read_text(
        encoding="utf-8"
    )
    assert (out / "metrics.json").read_bytes() == held_out  # the test report is untouched
    assert main(["--config", str(project)]) == 0  # and a new test report keeps the ad-hoc one
    assert read_metrics(adhoc)["input"] == "new.csv" and read_metrics(out)["split"] == "test"


def test_group_accuracy_from_the_data_when_labels_json_has_none(project: Path) -> None:
    root = project.parent
    for path in (root / "models/tiny/labels.json", root / "data/interim/labels.json"):
        labels = json.loads(path.read_text(encoding="utf-8"))
        path.write_text(json.dumps({**labels, "label2group": {}}), encoding="utf-8")
    assert main(["--config", str(project)]) == 0
    metrics = read_metrics(root / "reports/tiny")
    assert metrics["group_accuracy"] is not None
    assert metrics["baseline"]["group_accuracy"] >= metrics["baseline"]["accuracy"]
    md = (root / "reports/tiny/report.md").read_text(encoding="utf-8")
    assert "| major-group accuracy |" in md


def test_report_html_escapes_text_from_the_data(tmp_path: Path) -> None:
    from pipeline.tasks.classification.report import ReportInputs, write_report

    script, img = "<script>alert(1)</script>", "<img src=x onerror=alert(1)>"
    link = "[click](javascript:alert(1))"
    names = [img, "보통"]
    wrong = pd.DataFrame(
        {"text": [script, link], "label": [img, "보통"], "predicted": ["보통", img],
         "score": [0.9, 0.8]}
    )  # fmt: skip
    scores = {"accuracy": 0.5, "macro_f1": 0.5, "weighted_f1": 0.5, "macro_precision": 0.5,
              "macro_recall": 0.5, "weighted_precision": 0.5, "weighted_recall": 0.5,
              "top_k_accuracy": {"1": 0.5}, "group_accuracy": None}  # fmt: skip
    metrics = {"split": "test", "n": 2, **scores, "baseline": None,
               "below_baseline": None, "data": {"split_sha256": "0"}, "model": "m"}  # fmt: skip
    inputs = ReportInputs(
        model="m", model_dir=tmp_path, metrics=metrics, baseline=None, embedding_baseline=None,
        names=names,
        label2group={img: script}, y_true=np.array([0, 1]), y_pred=np.array([1, 0]),
        class_report=f"{img} ```\n<script>x</script>", confused=wrong[["label", "predicted"]],
        misclassified=wrong, config={"x": script}, manifest=None, run_info={},
        sweep_results=None, skipped_unknown=0, command=f"make evaluate {script}",
    )  # fmt: skip
    write_report(tmp_path / "out", inputs)
    html = (tmp_path / "out/report.html").read_text(encoding="utf-8")
    assert "<script" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown as text
    assert 'href="javascript' not in html


def test_sigterm_exits_130_like_ctrl_c(project: Path) -> None:
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.evaluate", "--config", str(project)],
        stderr=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    assert proc.stderr is not None
    for line in proc.stderr:  # the handler is in place once the config is logged
        if "INFO pipeline: config" in line:
            break
    proc.send_signal(signal.SIGTERM)
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) == 130, rest
    assert rest.rstrip().endswith("interrupted")
    assert not (project.parent / "reports/tiny").exists()


def test_the_report_opens_with_its_verdict_either_way() -> None:
    from pipeline.tasks.classification.report import below_baseline_note

    tfidf, embedding = {"macro_f1": 0.69}, {"macro_f1": 0.71}
    above = below_baseline_note({"macro_f1": 0.73, "below_baseline": False}, [tfidf, embedding])
    assert above[0].startswith("The model's macro F1 (0.7300) is at or above the TF-IDF")
    assert "frozen encoder + LR baseline's (0.7100)" in above[0]
    between = below_baseline_note({"macro_f1": 0.7, "below_baseline": True}, [tfidf, embedding])
    assert between[0].startswith("> **Below the baseline:**")
    assert "frozen encoder" in between[0] and "TF-IDF" not in between[0]
    only = below_baseline_note({"macro_f1": 0.5, "below_baseline": True}, [tfidf, None])
    assert only[0].startswith("> **Below the baseline:**") and "TF-IDF" in only[0]
    assert below_baseline_note({"macro_f1": 0.5, "below_baseline": None}, [None, None]) == []


def test_report_html_never_links_an_address_from_the_data(tmp_path: Path) -> None:
    """Markdown turns <https://...> and <a@b.c> into links: in a report they are text."""
    from pipeline.reporting import md_table, render_html

    cells = ["<https://evil.invalid/login>", "<me@evil.invalid>", "<mailto:x@evil.invalid>"]
    html = render_html(md_table([cells], ["a", "b", "c"]), tmp_path, "report")
    assert "<a " not in html and "href=" not in html
    assert "&lt;https://evil.invalid/login&gt;" in html and "&lt;me@evil.invalid&gt;" in html


def test_read_input_reads_korean_csvs_and_sheets_as_ingest_does(tmp_path: Path) -> None:
    import openpyxl

    from tests.xlsx_helpers import write_workbook

    path = tmp_path / "in.csv"
    path.write_bytes("문장,감정\n시험에 합격했어,ＰＯＳ\n친구가 미워,NEG\n".encode("cp949"))
    frame = read_input(path, "문장", "감정")
    assert frame["text"].tolist() == ["시험에 합격했어", "친구가 미워"]
    assert frame["label"].tolist() == ["POS", "NEG"]  # NFKC, as ingest folds label names
    book = write_workbook(
        tmp_path / "in.xlsx",
        {"old": [["x"], ["y"]], "S": [["감정", "문장"], ["기쁨", "좋아"], [None, "신나"],
                                      ["분노", "화나"]]},
    )  # fmt: skip
    wb = openpyxl.load_workbook(book)
    wb["old"].sheet_state = "hidden"
    wb.active = 1
    wb["S"].merge_cells("A2:A3")
    wb.save(book)
    frame = read_input(book, "문장", "감정")  # the first visible sheet, merged label filled
    assert frame["label"].tolist() == ["기쁨", "기쁨", "분노"]


def test_read_input_names_formula_cells_without_a_value(tmp_path: Path) -> None:
    from tests.xlsx_helpers import write_workbook

    book = write_workbook(tmp_path / "in.xlsx", {"S": [["문장", "감정"], ["좋아", '=UPPER("a")']]})
    with pytest.raises(PipelineError, match=r"in.xlsx, sheet 'S': 1 formula cell\(s\) in column"):
        read_input(book, "문장", "감정")
