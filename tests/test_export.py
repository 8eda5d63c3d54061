"""pipeline.export: the tiny trained run -> onnx/ (fp32 parity, the int8 gate), and the ONNX
backends of serve, predict and evaluate on it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from pipeline.config import load_config
from pipeline.errors import PipelineError
from pipeline.io import read_json, write_json

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny trained project with its run exported; returns the config path."""
    from pipeline.export.stage import main

    root = tmp_path_factory.mktemp("exported") / "project"
    shutil.copytree(trained_run.parent.parent, root)
    config = root / "config.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(str(trained_run.parent.parent), str(root)),
        encoding="utf-8",
    )
    assert main(["--config", str(config)]) == 0
    return config


def test_export_writes_checked_files(exported: Path) -> None:
    onnx_dir = exported.parent / "models/tiny/onnx"
    for name in ("model.onnx", "model_quantized.onnx", "config.json", "export.json"):
        assert (onnx_dir / name).is_file(), name
    assert (onnx_dir / "tokenizer.json").is_file() or (onnx_dir / "vocab.txt").is_file()
    record = read_json(onnx_dir / "export.json")
    assert record["parity"]["labels_identical"] is True
    assert record["parity"]["max_abs_logit_diff"] < 1e-3
    gate = record["int8"]
    assert gate["written"] is True and gate["metric"] == "macro_f1"
    assert gate["drop"] <= gate["max_drop"] == 0.01
    assert record["config"]["task"] == "text-classification" and record["git_commit"] is not None
    # Every layer's attention and exact GELU fused (pipeline/export/rewrite.py), as ONNX
    # Runtime fuses a PyTorch BERT; LayerNorm + residual into SkipLayerNormalization.
    layers = read_json(exported.parent / "models/tiny/config.json")["num_hidden_layers"]
    fused = record["fused_operators"]
    assert fused.get("Attention") == layers
    assert fused.get("Gelu", 0) + fused.get("BiasGelu", 0) == layers
    assert fused.get("SkipLayerNormalization", 0) >= layers
    assert not list(onnx_dir.parent.glob(".onnx*"))  # no temporary folder left


def test_onnx_backend_refused_for_other_tasks(exported: Path) -> None:
    from pipeline.export.stage import run
    from pipeline.tasks import task_for

    multilabel = ["task=multi-label-classification", "serve.backend=onnx"]
    multilabel += ["train.early_stopping.monitor=val_micro_f1"]
    task_for(load_config(exported, multilabel))  # exported too (tests/test_multilabel_onnx.py)
    with pytest.raises(PipelineError, match="text-generation is not exported to ONNX: a causal"):
        run(load_config(exported, ["task=text-generation", "train.head_init=random"]))
    with pytest.raises(PipelineError, match="keep serve.batching true"):
        load_config(exported, ["serve.backend=onnx-int8", "serve.batching=false"])


SENTENCES = ["친구가 선물을 줬어. 고마워요", "팀장님이 약속을 어겼어. 화가 나요 정말 억울해요"]


def tf_answers(config: Path, k: int = 3) -> list[list[dict]]:
    from pipeline.inference.loaded import batched_classifier, load_model, resolve

    cfg = load_config(config)
    loaded = load_model(cfg, resolve(cfg, None), "TFAutoModelForSequenceClassification")
    return batched_classifier(loaded, 8).top_k(SENTENCES, k)


def assert_close(got: list[list[dict]], want: list[list[dict]], tol: float) -> None:
    for g, w in zip(got, want, strict=True):
        assert [a["label"] for a in g] == [a["label"] for a in w]
        assert np.allclose([a["score"] for a in g], [a["score"] for a in w], atol=tol)


@pytest.mark.parametrize(("backend", "tol"), [("onnx", 1e-5), ("onnx-int8", 0.05)])
@pytest.mark.heavy
def test_serve_onnx_backend_answers_as_tf(exported: Path, backend: str, tol: float) -> None:
    """The app on the ONNX graph: the Inference API's answers as the TF model's (fp32 within
    1e-5; int8 the same labels), /info names the backend, the client library reads it."""
    import httpx
    import requests
    from huggingface_hub import InferenceClient, configure_http_backend

    from tests.live_server import live_server, run_service

    cfg = load_config(exported, [f"serve.backend={backend}"])
    service = run_service(cfg, exported.parent / "models/tiny")
    with live_server(service) as url:
        body = {"inputs": SENTENCES, "parameters": {"top_k": 3}}
        answer = httpx.post(f"{url}/predict", json=body).json()
        info = httpx.get(f"{url}/info").json()
        configure_http_backend(requests.Session)
        try:
            one = InferenceClient(model=f"{url}/predict").text_classification(SENTENCES[0], top_k=3)
        finally:
            configure_http_backend()
    assert info["serve"]["backend"] == backend and info["serve"]["batching"] is True
    want = tf_answers(exported)
    if backend == "onnx":
        assert_close(answer, want, tol)
    else:  # int8: the best label as TF's, scores near
        assert [a[0]["label"] for a in answer] == [w[0]["label"] for w in want]
        assert np.allclose([a[0]["score"] for a in answer], [w[0]["score"] for w in want], atol=tol)
    assert [a.label for a in one] == [a["label"] for a in answer[0]]


@pytest.mark.heavy
def test_predict_and_evaluate_take_backend(exported: Path, capsys: pytest.CaptureFixture) -> None:
    """predict --backend onnx prints the TF lines; evaluate --backend onnx reports the ONNX
    scores with TF, fp32 and int8 side by side."""
    from pipeline.evaluate.stage import main as evaluate
    from pipeline.serve.predict import main as predict

    lines = {}
    for backend in ("tf", "onnx"):
        assert predict(["--config", str(exported), "--backend", backend, *SENTENCES]) == 0
        lines[backend] = capsys.readouterr().out
    assert lines["onnx"] == lines["tf"] and "1. " in lines["tf"]

    assert evaluate(["--config", str(exported), "--backend", "onnx"]) == 0
    report = exported.parent / "reports/tiny"
    metrics = read_json(report / "metrics.json")
    rows = {r["backend"]: r for r in metrics["backends"]}
    assert list(rows) == ["tf", "onnx", "onnx-int8"]
    assert rows["onnx"]["macro_f1"] == rows["tf"]["macro_f1"] == metrics["macro_f1"]
    assert rows["onnx"]["label_agreement_with_tf"] == 1.0
    # the export's gate, on the same test split: int8 at most 0.01 below TF (the tiny model's
    # int8 has scored 0.035 above TF too: its scores sit close together)
    assert rows["tf"]["macro_f1"] - rows["onnx-int8"]["macro_f1"] <= 0.01
    assert read_json(report / "run.json")["backend"] == "onnx"
    text = (report / "report.md").read_text(encoding="utf-8")
    assert "## Backends" in text and "onnx (reported above)" in text

    # a damaged comparison graph is left out of the table with a warning; the report is written
    int8 = exported.parent / "models/tiny/onnx/model_quantized.onnx"
    kept = int8.read_bytes()
    try:
        int8.write_bytes(kept[:2048])
        assert evaluate(["--config", str(exported), "--backend", "onnx"]) == 0
    finally:
        int8.write_bytes(kept)
    assert [r["backend"] for r in read_json(report / "metrics.json")["backends"]] == ["tf", "onnx"]
    assert "onnx-int8 left out of the backends table" in capsys.readouterr().err


@pytest.mark.heavy
def test_publish_pushes_the_onnx_folder_and_says_so(
    exported: Path, capsys: pytest.CaptureFixture
) -> None:
    """publish --dry-run lists onnx/ (not export.json, which holds local paths) and the card
    names the files and the int8 file's measured F1 change (--force: whether or not a
    report was written by the tests before)."""
    from pipeline.publish.stage import main as publish

    assert publish(["--config", str(exported), "--repo", "alice/tiny", "--dry-run", "--force"]) == 0
    out = capsys.readouterr().out
    assert "onnx/model.onnx" in out and "onnx/model_quantized.onnx" in out
    assert "onnx/tokenizer.json" in out and "onnx/export.json" not in out
    card = out.split("--- README.md ---\n", 1)[1]
    gate = read_json(exported.parent / "models/tiny/onnx/export.json")["int8"]
    assert "## ONNX" in card and f"test macro F1 {gate['onnx_int8']:.4f}" in card


# argv: config, --model (a run directory or a Hub id), backend. Shared by test_hub_onnx.py.
NO_TF_SCRIPT = """
import asyncio, sys
from pipeline.config import load_config
from pipeline.inference.loaded import resolve
from pipeline.tasks import task_for
import pipeline.serve.stage, pipeline.serve.predict
cfg = load_config(sys.argv[1], ["serve.backend=" + sys.argv[3]])
server = task_for(cfg).server(cfg, resolve(cfg, sys.argv[2]))
server.load()
async def gone():
    return False
answer, _ = asyncio.run(server.answer({"inputs": "오늘 정말 고마워요"}, gone))
server.close()
assert len(answer[0]) == 4, answer
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tf_keras", "keras"))
assert not loaded, loaded[:5]
"""


def test_onnx_serve_path_imports_no_tensorflow(exported: Path) -> None:
    """The fast guard of tests/test_serve_without_tf.py (heavy): in a fresh process the app's
    modules, loading the exported model and answering never import TensorFlow."""
    import subprocess
    import sys

    run_dir = exported.parent / "models/tiny"
    done = subprocess.run(
        [sys.executable, "-c", NO_TF_SCRIPT, str(exported), str(run_dir), "onnx-int8"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def damaged_head(fp32: Path, out: Path) -> dict:
    """A "quantization" that breaks the classifier head: weights zeroed, the bias +10 for
    label 0 and -10 for every other (one label for every sentence, or the set {label 0})."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(fp32))
    for init in model.graph.initializer:
        if "/classifier/" in init.name:
            broken = np.zeros_like(numpy_helper.to_array(init))
            if broken.ndim == 1:
                broken[:] = -10.0
                broken[0] = 10.0
            init.CopyFrom(numpy_helper.from_array(broken, init.name))
    onnx.save(model, str(out))
    return {"method": "damaged (test)"}


# Last: it leaves the exported run without its int8 file.
def test_damaged_int8_is_refused_and_fp32_kept(
    exported: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A quantization that breaks the head (weights zeroed, one class favoured) misses the
    gate: the int8 file is not written, export.json and the log say by how much."""
    from pipeline.export.stage import run

    cfg = load_config(exported)
    tf_f1 = read_json(exported.parent / "models/tiny/onnx/export.json")["int8"]["tf"]
    assert tf_f1 > 0.15  # above one class's macro F1 (at most 0.1 of 4 labels)
    with caplog.at_level("WARNING", logger="pipeline.export"):
        result = run(cfg, quantize=damaged_head)
    gate = result.record["int8"]
    assert gate["written"] is False and gate["drop"] > 0.01
    assert f"is {gate['drop']:.4f} below TensorFlow's" in gate["reason"]
    assert "int8 graph refused" in caplog.text
    onnx_dir = exported.parent / "models/tiny/onnx"
    assert (onnx_dir / "model.onnx").is_file() and not (onnx_dir / "model_quantized.onnx").exists()
    assert "int8 refused" in result.summary
    # serving the refused file is one message naming the reason
    from pipeline.model.onnx_classifier import load_onnx

    with pytest.raises(PipelineError, match="was not written: its test macro_f1"):
        load_onnx(onnx_dir.parent, "onnx-int8")


def test_a_damaged_or_foreign_export_is_one_line(exported: Path, tmp_path: Path) -> None:
    """What the TF path refuses by name, the ONNX one does too: a truncated graph, an export
    without tokenizer files, another task's graph, labels reordered against the run's, and a
    graph whose scores do not match its config's labels."""
    from pipeline.model.onnx_classifier import load_onnx

    def copy(name: str) -> Path:
        run = tmp_path / name
        shutil.copytree(exported.parent / "models/tiny", run)
        return run

    load_onnx(copy("good"), "onnx", "TFAutoModelForSequenceClassification")  # the control
    run = copy("truncated")
    graph = run / "onnx/model.onnx"
    graph.write_bytes(graph.read_bytes()[:4096])
    with pytest.raises(PipelineError, match=r"model.onnx is not a graph ONNX Runtime can load"):
        load_onnx(run, "onnx")
    run = copy("no-tokenizer")
    for name in ("tokenizer.json", "vocab.txt", "vocab.json"):
        (run / "onnx" / name).unlink(missing_ok=True)
    with pytest.raises(PipelineError, match=r"onnx has no tokenizer files"):
        load_onnx(run, "onnx")
    with pytest.raises(PipelineError, match="not a model ForTokenClassification: a run of another"):
        load_onnx(copy("ner-config"), "onnx", "TFAutoModelForTokenClassification")
    run = copy("swapped")
    config = read_json(run / "onnx/config.json")
    names = config["id2label"]
    names["0"], names["1"] = names["1"], names["0"]
    write_json(run / "onnx/config.json", config)
    with pytest.raises(PipelineError, match=r"name different labels \(0: .* vs .*, 1: "):
        load_onnx(run, "onnx")
    (run / "config.json").unlink()  # no run config to compare with: the graph's width is checked
    config["id2label"] = {str(i): f"label{i}" for i in range(len(names) + 1)}
    config["label2id"] = {v: int(k) for k, v in config["id2label"].items()}
    write_json(run / "onnx/config.json", config)
    with pytest.raises(PipelineError, match=rf"answers {len(names)} scores per prediction but"):
        load_onnx(run, "onnx")
