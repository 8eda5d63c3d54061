"""The multi-label task end to end with a tiny random BERT: the data stages, training (it must
learn: a broken training fails here), the calibration and the thresholds, the report, the
served API with huggingface_hub's client, predict, and publish to a local Hub.

One project per session (conftest.py's ``multilabel_project``, tests/tiny_multilabel.py,
shared with tests/test_multilabel_onnx.py): a tiny multi-label workbook (1-2 of 4 labels per
sentence, one label holding the separator) and its label table, ingest -> prepare -> split ->
train -> evaluate through each stage's ``main``. (The bundled sample needs a pretrained
encoder: its numbers are the demo's, docs/tasks.md.)
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from pipeline.calibration import nll, scaled_probs, tune_thresholds
from pipeline.config import load_config
from pipeline.evaluate import stage as evaluate
from pipeline.model.batched_classifier import BatchedClassifier
from pipeline.model.loading import ModelRef, load_trained
from pipeline.serve import predict
from pipeline.tasks import get_task
from pipeline.tasks.multilabel.fit import targets
from pipeline.tasks.multilabel.metrics import score
from tests.live_server import live_server, run_service
from tests.tiny_multilabel import ML_LABELS, tiny_multilabel

pytestmark = [pytest.mark.slow, pytest.mark.heavy]  # trains a tiny BERT 14 epochs (minutes)

TASK = get_task("multi-label-classification")


@pytest.fixture(scope="module")
def project(multilabel_project: Path) -> Path:
    """The tiny multi-label project, trained and evaluated (conftest.py, tiny_multilabel.py)."""
    return multilabel_project


def run_dir(project: Path) -> Path:
    return project.parent / "models/ml"


def test_training_learns_the_label_sets(project: Path) -> None:
    """Validation micro F1 rises and BCE falls over the epochs: shuffled targets, a softmax
    loss or a wrong label order would leave F1 near the rate of always answering no."""
    history = pd.read_csv(run_dir(project) / "history.csv")
    assert history["val_micro_f1"].max() > 0.6
    assert history["val_micro_f1"].max() > history["val_micro_f1"].iloc[0] + 0.1
    assert history["val_loss"].min() < history["val_loss"].iloc[0]
    config = json.loads((run_dir(project) / "config.json").read_text("utf-8"))
    assert config["problem_type"] == "multi_label_classification"
    assert list(config["id2label"].values()) == ML_LABELS


def validation(project: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The trained model's validation logits, the 0/1 truth and the label names."""
    model, tokenizer = load_trained(ModelRef(name="ml", run_dir=run_dir(project)))
    val = pd.read_parquet(project.parent / "data/processed/validation.parquet")
    labels = json.loads((run_dir(project) / "labels.json").read_text("utf-8"))
    logits = BatchedClassifier(model, tokenizer, 32, 64, TASK.encode).predict_logits(
        TASK.examples(val)
    )
    names = [labels["id2label"][str(i)] for i in range(len(labels["id2label"]))]
    return logits, targets(val, {"labels": labels["id2label"]}), names


def test_calibration_lowers_validation_nll_and_keeps_every_ranking(project: Path) -> None:
    cal = json.loads((run_dir(project) / "calibration.json").read_text("utf-8"))
    record = json.loads((run_dir(project) / "run.json").read_text("utf-8"))
    assert record["calibration"] == cal and cal["kind"] == "sigmoid"
    logits, y, names = validation(project)
    t = cal["temperature"]
    assert cal["nll_raw"] == pytest.approx(nll(logits, y, 1.0, "sigmoid"), abs=1e-4)
    assert nll(logits, y, t, "sigmoid") < nll(logits, y, 1.0, "sigmoid") or t == 1.0
    probs = scaled_probs(logits, t, "sigmoid")
    for j in range(len(names)):  # the order of every label's scores is the logits' order
        assert np.array_equal(np.argsort(probs[:, j], kind="stable"),
                              np.argsort(logits[:, j], kind="stable"))  # fmt: skip


def test_transformers_pipeline_reads_the_sigmoid_from_config_json(project: Path) -> None:
    """A user of AutoModelForSequenceClassification + the pipeline gets a sigmoid per label
    (problem_type in config.json), the scores our batched path gives before calibration."""
    from transformers import TextClassificationPipeline

    model, tokenizer = load_trained(ModelRef(name="ml", run_dir=run_dir(project)))
    pipe = TextClassificationPipeline(model=model, tokenizer=tokenizer, framework="tf")
    texts = ["친구가 선물을 줬어. 신나요 고마워요", "오늘 소식을 전했어. 걱정돼요"]
    logits = BatchedClassifier(model, tokenizer, 32, 8, TASK.encode).predict_logits(texts)
    for text, row in zip(texts, scaled_probs(logits, 1.0, "sigmoid"), strict=True):
        got = {a["label"]: a["score"] for a in pipe(text, top_k=None)}
        want = {model.config.id2label[j]: float(p) for j, p in enumerate(row)}
        assert got == pytest.approx(want, abs=1e-5)
        assert sum(got.values()) != pytest.approx(1.0, abs=1e-3)  # not a softmax


def test_tuned_thresholds_beat_one_half_on_the_validation_split(project: Path) -> None:
    logits, y, names = validation(project)
    cal = json.loads((run_dir(project) / "calibration.json").read_text("utf-8"))
    probs = scaled_probs(logits, cal["temperature"], "sigmoid")
    cuts = [cal["thresholds"][n] for n in names]
    assert cuts == pytest.approx(tune_thresholds(probs, y).tolist(), abs=1e-5)
    tuned, half = score(y, probs, cuts, names), score(y, probs, [0.5] * len(names), names)
    assert tuned["macro_f1"] > half["macro_f1"] or tuned["micro_f1"] > half["micro_f1"]
    assert all(tuned["per_label"][n]["f1"] >= half["per_label"][n]["f1"] for n in names)
    # train recorded the same comparison in calibration.json, and the report shows it
    assert cal["validation"]["micro_f1_tuned"] == pytest.approx(tuned["micro_f1"], abs=1e-5)
    assert cal["validation"]["macro_f1_at_0.5"] == pytest.approx(half["macro_f1"], abs=1e-5)
    report = (project.parent / "reports/ml/report.md").read_text("utf-8")
    assert "| tuned thresholds | one threshold of 0.5 |" in report


def test_the_report_has_every_number_and_the_baseline(project: Path) -> None:
    out = project.parent / "reports/ml"
    m = json.loads((out / "metrics.json").read_text("utf-8"))
    for key in ("micro_f1", "macro_f1", "samples_f1", "accuracy", "hamming_loss", "at_0.5"):
        assert key in m
    assert m["baseline"]["name"] == "tfidf-char-ovr-logreg" and 0 < m["baseline"]["micro_f1"] <= 1
    assert set(m["per_label"]) == set(m["thresholds"]) == set(ML_LABELS)
    assert sum(m["label_count"]["true"].values()) == m["n"]
    assert m["calibration"]["raw"]["ece"] >= 0 and "nll" in m["calibration"]["calibrated"]
    for figure in ("per_label_f1.png", "label_count.png", "reliability.png"):
        assert (out / "figures" / figure).stat().st_size > 1000
    assert "## Per label" in (out / "report.md").read_text("utf-8")


@pytest.fixture(scope="module")
def server(project: Path):
    with live_server(run_service(load_config(project), run_dir(project))) as url:
        yield url


def test_the_api_marks_the_labels_over_their_thresholds(server: str, project: Path) -> None:
    import requests
    from huggingface_hub import InferenceClient, configure_http_backend

    text = "친구가 선물을 줬어. 신나요 고마워요"
    body = {"inputs": [text], "parameters": {"function_to_apply": "sigmoid"}}
    response = httpx.post(f"{server}/predict", json=body, timeout=30)
    assert response.status_code == 200, response.text
    (answer,) = response.json()
    assert len(answer) == 4 and [a["score"] for a in answer] == sorted(
        (a["score"] for a in answer), reverse=True
    )
    assert all(a["selected"] == (a["score"] >= a["threshold"]) for a in answer)
    cal = json.loads((run_dir(project) / "calibration.json").read_text("utf-8"))
    assert {a["label"]: a["threshold"] for a in answer} == pytest.approx(cal["thresholds"])
    configure_http_backend(requests.Session)
    try:
        parsed = InferenceClient(model=f"{server}/predict").text_classification(text, top_k=3)
    finally:
        configure_http_backend()
    assert [(p.label, p["selected"]) for p in parsed] == [
        (a["label"], a["selected"]) for a in answer[:3]
    ]
    bad = {"inputs": text, "parameters": {"function_to_apply": "softmax"}}
    response = httpx.post(f"{server}/predict", json=bad, timeout=30)
    assert response.status_code == 422 and "sigmoid" in response.json()["error"]
    page = httpx.get(server).text
    assert "multilabel.js" in page
    schema = httpx.get(f"{server}/openapi.json").json()
    body = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert "sigmoid" in json.dumps(body["schema"]["properties"]["parameters"])


def test_predict_prints_and_tables_the_chosen_labels(project: Path, tmp_path: Path, capsys) -> None:
    assert predict.main(["--config", str(project), "친구가 약속을 어겼어. 화가 나요"]) == 0
    assert "->" in capsys.readouterr().out
    src, dst = tmp_path / "in.xlsx", tmp_path / "out.xlsx"
    pd.DataFrame({"문장": ["오늘 소식을 전했어. 걱정돼요", None, "감사해요"]}).to_excel(
        src, index=False
    )
    argv = ["--config", str(project), "--input", str(src), "--column", "문장", "--output", str(dst)]
    assert predict.main(argv) == 0
    out = pd.read_excel(dst, engine="calamine")
    assert out["scores"].isna().tolist() == [False, True, False]
    assert set(json.loads(out["scores"][0])) == set(json.loads(
        (run_dir(project) / "calibration.json").read_text("utf-8"))["thresholds"])  # fmt: skip


def test_raw_scores_choose_the_same_labels_and_min_score_marks_unsure(
    project: Path, tmp_path: Path
) -> None:
    """--no-calibration shows the raw sigmoid with each threshold moved to the raw scale, so
    the chosen labels stay; --min-score marks a sentence whose best score is below it."""
    texts = ["친구가 약속을 어겼어. 화가 나요", "감사해요", "오늘 소식을 전했어. 걱정돼요"]
    src = tmp_path / "in.xlsx"
    pd.DataFrame({"문장": texts}).to_excel(src, index=False)
    outs = {}
    for name, extra in (
        ("cal", []),
        ("raw", ["--no-calibration"]),
        ("unsure", ["--min-score", "1"]),
    ):
        dst = tmp_path / f"{name}.xlsx"
        argv = ["--config", str(project), "--input", str(src), "--column", "문장", "--output",
                str(dst), *extra]  # fmt: skip
        assert predict.main(argv) == 0
        outs[name] = pd.read_excel(dst, engine="calamine")
    cal, raw = outs["cal"], outs["raw"]
    assert (
        cal["predicted_labels"].fillna("").tolist() == raw["predicted_labels"].fillna("").tolist()
    )
    t = json.loads((run_dir(project) / "calibration.json").read_text("utf-8"))["temperature"]
    assert abs(t - 1) > 0.05  # else raw and calibrated scores could not differ
    assert cal["scores"].tolist() != raw["scores"].tolist()
    assert outs["unsure"]["predicted_unsure"].tolist() == [True] * len(texts)


def test_publish_sends_problem_type_calibration_and_the_thresholds_card(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants
    from huggingface_hub.utils import reset_sessions

    from pipeline.publish.stage import main as publish
    from tests.hub_server import HubServer

    token = "hf_TestSecretToken0123456789abcdef"
    with HubServer(tokens={token: "alice"}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        monkeypatch.setenv("HF_TOKEN", token)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
        reset_sessions()
        try:
            assert publish(["--config", str(project), "--repo", "alice/ml"]) == 0
            remote = hub.files("alice/ml")
        finally:
            reset_sessions()
    assert json.loads(remote["config.json"])["problem_type"] == "multi_label_classification"
    assert json.loads(remote["calibration.json"])["thresholds"]
    assert remote["figures/per_label_f1.png"].startswith(b"\x89PNG")
    card = remote["README.md"].decode()
    assert "multi-label" in card and "## Thresholds and per-label F1" in card
    assert "분노, 짜증" in card.split("## Thresholds and per-label F1")[1]


def test_evaluate_reads_an_input_sheet_with_the_separator(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Last (it writes a report of its own): label cells of --input read as prepare reads them;
    an unknown label is one line naming the row, exit 2."""
    sheet = tiny_multilabel(n=12, seed=3)
    good = tmp_path / "new.xlsx"
    sheet.to_excel(good, index=False)
    argv = ["--config", str(project), "--text-column", "문장", "--label-column", "감정"]
    assert evaluate.main([*argv, "--input", str(good)]) == 0
    sheet.loc[4, "감정"] = "기쁨, 짜증"
    bad = tmp_path / "bad.xlsx"
    sheet.to_excel(bad, index=False)
    capsys.readouterr()
    assert evaluate.main([*argv, "--input", str(bad)]) == 2
    assert "bad.xlsx, row 6: label '짜증'" in capsys.readouterr().err


def test_a_run_of_the_other_classification_task_is_refused(project: Path, capsys) -> None:
    """Both are TFBertForSequenceClassification: the config's problem_type tells them apart
    (a multi-label run read with softmax, or a single-label one with thresholds, would answer
    nonsense without an error)."""
    single = [
        "--set",
        "task=text-classification",
        "--set",
        "train.early_stopping.monitor=val_accuracy",
    ]
    assert predict.main(["--config", str(project), *single, "화가 나요"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "is a multi-label model (problem_type multi_label_classification)" in err


def test_a_calibration_json_of_other_labels_is_refused(
    project: Path, tmp_path: Path, capsys
) -> None:
    import shutil

    other = tmp_path / "ml"
    shutil.copytree(run_dir(project), other)
    record = json.loads((other / "calibration.json").read_text(encoding="utf-8"))
    record["thresholds"] = {"없음": 0.1}
    (other / "calibration.json").write_text(json.dumps(record), encoding="utf-8")
    assert predict.main(["--config", str(project), "--model", str(other), "화가 나요"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "thresholds do not match the model's labels" in err and "unknown: ['없음']" in err
