"""Multi-label on the ONNX backends: the tiny trained run exported (parity on label sets, the
int8 gate on macro F1 at the run's thresholds), served through the HTTP server as the TF server
answers, predicted and evaluated on onnx (the report's "Backends" table), and the gate
refusing a damaged quantization.

The project is conftest.py's ``multilabel_project`` (trained once per session), copied here so
the export and its reports stay out of the shared one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from pipeline.config import load_config
from pipeline.errors import PipelineError
from pipeline.io import read_json
from tests.live_server import live_server, run_service

pytestmark = [pytest.mark.slow, pytest.mark.heavy]  # trains a tiny BERT 14 epochs (minutes)

SENTENCES = [
    "친구가 선물을 줬어. 신나요 고마워요",
    "팀장님이 약속을 어겼어. 화가 나요",
    "오늘 소식을 전했어. 걱정돼요",
    "감사해요",
]


@pytest.fixture(scope="module")
def exported(multilabel_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny multi-label project with its run exported; returns the config."""
    from pipeline.export.stage import main

    root = tmp_path_factory.mktemp("ml-onnx") / "project"
    shutil.copytree(multilabel_project.parent, root)
    config = root / "config.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace(str(multilabel_project.parent), str(root)), encoding="utf-8")
    assert main(["--config", str(config)]) == 0
    return config


def test_export_compares_label_sets_and_gates_on_macro_f1(exported: Path) -> None:
    """Parity is each validation sentence's logits and label set (at calibration.json's
    thresholds); the gate compares the test macro F1 that evaluate reports."""
    root = exported.parent
    record = read_json(root / "models/ml/onnx/export.json")
    parity, gate = record["parity"], record["int8"]
    assert parity["labels_identical"] is True and parity["max_abs_logit_diff"] < 1e-3
    assert parity["predictions"] == parity["n"] and "label set" in parity["labels"]
    assert gate["metric"] == "macro_f1" and "threshold" in gate["score"]
    assert gate["written"] is True and gate["drop"] <= gate["max_drop"] == 0.01
    assert gate["onnx"] == gate["tf"]
    # the TF score the gate compares is the report's: same split, same thresholds
    assert gate["tf"] == pytest.approx(read_json(root / "reports/ml/metrics.json")["macro_f1"])
    config = read_json(root / "models/ml/onnx/config.json")
    assert config["problem_type"] == "multi_label_classification"  # check_model reads it
    layers = config["num_hidden_layers"]
    fused = record["fused_operators"]
    assert fused.get("Attention") == layers
    assert fused.get("Gelu", 0) + fused.get("BiasGelu", 0) == layers
    assert fused.get("SkipLayerNormalization", 0) >= layers


def served(config: Path, backend: str) -> tuple[list[list[dict]], dict]:
    """The /predict answer to SENTENCES and /info of the server on ``backend`` (a min_score
    that marks some sentences uncertain)."""
    cfg = load_config(config, [f"serve.backend={backend}", "serve.min_score=0.8"])
    with live_server(run_service(cfg, config.parent / "models/ml")) as url:
        body = {"inputs": SENTENCES, "parameters": {"function_to_apply": "sigmoid"}}
        response = httpx.post(f"{url}/predict", json=body, timeout=60)
        assert response.status_code == 200, response.text
        return response.json(), httpx.get(f"{url}/info").json()


def test_serve_on_onnx_answers_as_the_tf_server(exported: Path) -> None:
    """The HTTP server on each backend: fp32's scores within 1e-4 of TF's, the same
    thresholds (calibration.json), ``selected`` and ``uncertain`` marks; int8 the same
    thresholds and near scores."""
    want, _ = served(exported, "tf")
    got, info = served(exported, "onnx")
    assert info["serve"]["backend"] == "onnx"
    assert any(a[0].get("uncertain") for a in want)  # the flag is exercised
    for g, w in zip(got, want, strict=True):
        assert [a["label"] for a in g] == [a["label"] for a in w]
        assert np.allclose([a["score"] for a in g], [a["score"] for a in w], atol=1e-4)
        for key in ("threshold", "selected", "uncertain"):
            assert [a.get(key) for a in g] == [a.get(key) for a in w], key
    cal = read_json(exported.parent / "models/ml/calibration.json")
    assert {a["label"]: a["threshold"] for a in got[0]} == pytest.approx(cal["thresholds"])
    int8, _ = served(exported, "onnx-int8")
    for g, w in zip(int8, want, strict=True):
        by_label = {a["label"]: a for a in w}
        assert all(a["threshold"] == by_label[a["label"]]["threshold"] for a in g)
        assert all(abs(a["score"] - by_label[a["label"]]["score"]) < 0.05 for a in g)


def test_predict_on_onnx_chooses_the_tf_labels(
    exported: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from pipeline.serve.predict import main as predict

    lines = {}
    for backend in ("tf", "onnx"):
        assert predict(["--config", str(exported), "--backend", backend, *SENTENCES]) == 0
        lines[backend] = capsys.readouterr().out
    assert lines["onnx"] == lines["tf"] and "->" in lines["tf"]
    src = tmp_path / "in.xlsx"
    pd.DataFrame({"문장": SENTENCES}).to_excel(src, index=False)
    tables = {}
    for backend in ("tf", "onnx"):
        dst = tmp_path / f"{backend}.xlsx"
        argv = ["--config", str(exported), "--backend", backend, "--input", str(src),
                "--column", "문장", "--output", str(dst)]  # fmt: skip
        assert predict(argv) == 0
        tables[backend] = pd.read_excel(dst, engine="calamine")
    assert tables["onnx"]["predicted_labels"].tolist() == tables["tf"]["predicted_labels"].tolist()


def test_evaluate_on_onnx_shows_every_backend(exported: Path) -> None:
    """evaluate --backend onnx reports the ONNX scores (TF's, on fp32) and the "Backends"
    table: micro and macro F1 and the label sets as TF's, for tf, onnx and onnx-int8."""
    from pipeline.evaluate.stage import main as evaluate

    report = exported.parent / "reports/ml"
    tf_metrics = read_json(report / "metrics.json")
    assert evaluate(["--config", str(exported), "--backend", "onnx"]) == 0
    metrics = read_json(report / "metrics.json")
    assert metrics["backend"] == "onnx" and read_json(report / "run.json")["backend"] == "onnx"
    assert metrics["macro_f1"] == tf_metrics["macro_f1"]
    assert metrics["micro_f1"] == tf_metrics["micro_f1"]
    rows = {r["backend"]: r for r in metrics["backends"]}
    assert list(rows) == ["tf", "onnx", "onnx-int8"]
    assert rows["onnx"]["label_sets_as_tf"] == rows["tf"]["label_sets_as_tf"] == 1.0
    assert rows["onnx"]["macro_f1"] == rows["tf"]["macro_f1"] == round(metrics["macro_f1"], 6)
    assert rows["tf"]["macro_f1"] - rows["onnx-int8"]["macro_f1"] <= 0.01  # the export's gate
    text = (report / "report.md").read_text(encoding="utf-8")
    assert "## Backends" in text and "onnx (reported above)" in text
    assert "label sets as TF" in text


def test_publish_card_names_the_onnx_files(exported: Path, capsys: pytest.CaptureFixture) -> None:
    from pipeline.publish.stage import main as publish

    assert publish(["--config", str(exported), "--repo", "alice/ml", "--dry-run", "--force"]) == 0
    out = capsys.readouterr().out
    assert "onnx/model.onnx" in out and "onnx/model_quantized.onnx" in out
    card = out.split("--- README.md ---\n", 1)[1]
    assert "## ONNX" in card and "label sets" in card.split("## ONNX", 1)[1]
    assert "## Thresholds and per-label F1" in card


# Last: it leaves the exported run without its int8 file.
def test_damaged_int8_is_refused_and_fp32_kept(exported: Path) -> None:
    """A quantization whose head chooses label 0 alone for every sentence misses the gate on
    macro F1 at the run's thresholds: no int8 file, export.json and serving say why."""
    from pipeline.export.stage import run
    from pipeline.model.onnx_classifier import load_onnx
    from tests.test_export import damaged_head

    result = run(load_config(exported), quantize=damaged_head)
    gate = result.record["int8"]
    assert gate["written"] is False and gate["drop"] > 0.01
    assert gate["label_agreement"] < 0.5  # few sentences have label 0 alone
    assert "its test macro_f1" in gate["reason"] and "int8 refused" in result.summary
    onnx_dir = exported.parent / "models/ml/onnx"
    assert (onnx_dir / "model.onnx").is_file() and not (onnx_dir / "model_quantized.onnx").exists()
    with pytest.raises(PipelineError, match="was not written: its test macro_f1"):
        load_onnx(onnx_dir.parent, "onnx-int8")
