"""pipeline.export: the tiny trained run -> onnx/ (fp32 parity, the int8 gate), and the ONNX
backends of serve, predict and evaluate on it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from pipeline.config import load_config
from pipeline.errors import PipelineError
from pipeline.io import read_json

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
    assert not list(onnx_dir.parent.glob(".onnx*"))  # no temporary folder left


def test_onnx_backend_refused_for_other_tasks(exported: Path) -> None:
    from pipeline.export.stage import run
    from pipeline.tasks import task_for

    ner = ["task=token-classification", "serve.backend=onnx"]
    with pytest.raises(PipelineError, match="serve.backend onnx: task token-classification is"):
        task_for(load_config(exported, ner))
    with pytest.raises(PipelineError, match="text-generation is not exported to ONNX: a causal"):
        run(load_config(exported, ["task=text-generation", "train.head_init=random"]))
    with pytest.raises(PipelineError, match="keep serve.batching true"):
        load_config(exported, ["serve.backend=onnx-int8", "serve.batching=false"])


# Last: it leaves the exported run without its int8 file.
def test_damaged_int8_is_refused_and_fp32_kept(
    exported: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A quantization that breaks the head (weights zeroed, one class favoured) misses the
    gate: the int8 file is not written, export.json and the log say by how much."""
    import onnx
    from onnx import numpy_helper

    from pipeline.export.stage import run

    def damaged(fp32: Path, out: Path) -> dict:
        model = onnx.load(str(fp32))
        for init in model.graph.initializer:
            if "/classifier/" in init.name:
                values = numpy_helper.to_array(init)
                broken = np.zeros_like(values)
                if broken.ndim == 1:
                    broken[0] = 10.0  # every sentence gets label 0
                init.CopyFrom(numpy_helper.from_array(broken, init.name))
        onnx.save(model, str(out))
        return {"method": "damaged (test)"}

    cfg = load_config(exported)
    tf_f1 = read_json(exported.parent / "models/tiny/onnx/export.json")["int8"]["tf"]
    assert tf_f1 > 0.15  # above one class's macro F1 (at most 0.1 of 4 labels)
    with caplog.at_level("WARNING", logger="pipeline.export"):
        result = run(cfg, quantize=damaged)
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
