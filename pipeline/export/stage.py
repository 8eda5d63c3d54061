"""Export: a trained run -> ONNX files ONNX Runtime, transformers.js and Optimum read, checked.

    python -m pipeline.export --config configs/default.yaml [--model RUN|sweep:NAME|PATH]
    make export [MODEL=...]

Writes models/<run>/onnx/: ``model.onnx`` (fp32, ONNX Runtime's transformer fusions),
``model_quantized.onnx`` (int8 weights, head and embeddings in float), the model's config.json
and tokenizer files, and ``export.json`` (provenance and the checks below). The checks:

- parity: the fp32 graph's logits against TensorFlow's on the validation split: the largest
  absolute difference must stay within ``MAX_LOGIT_DIFF`` and every label must be the same
  (the task's labels: a sentence's argmax, a word piece's tag, a multi-label sentence's set
  at the run's thresholds), else nothing is written (exit 2);
- the int8 quality gate: the int8 graph's test-split score (the task's: macro F1 for a
  classifier, entity F1 for NER, macro F1 at the run's thresholds for multi-label) at most
  ``MAX_INT8_DROP`` below TensorFlow's. A miss writes
  everything but the int8 file, says by how much it missed (a warning, and
  ``int8.written: false`` in export.json) and exits 0: the fp32 export stands on its own.

Everything is written into a temporary folder that replaces onnx/ at the end, so a failure
leaves the previous export as it was. Text classification, sentence pairs, multi-label and
NER are exported (what is compared is the task's ``export_check``: one logit row per sentence,
or per word piece for NER); generation is refused with the reason (``onnx_refusal``).
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.cli import add_config_args, run_cli, sigterm_as_interrupt
from pipeline.config import Config
from pipeline.errors import PipelineError
from pipeline.io import atomic_dir, provenance, write_json
from pipeline.model.loading import load_trained, resolve_model_ref
from pipeline.model.onnx_classifier import EXPORT_RECORD, ONNX_DIR
from pipeline.paths import Paths, RunDir
from pipeline.tasks import check_split_task, task_for
from pipeline.tasks.base import ExportCheck

logger = logging.getLogger("pipeline.export")

MAX_LOGIT_DIFF = 1e-3  # fp32 graph against TF, validation split
MAX_INT8_DROP = 0.01  # int8 test score at most this much below TF's
Quantizer = Callable[[Path, Path], dict[str, Any]]  # (fp32 file, int8 file) -> its settings


@dataclass(frozen=True)
class ExportResult:
    onnx_dir: Path
    record: dict[str, Any]
    summary: str


def read_split(paths: Paths, split: str, check: ExportCheck) -> tuple[Any, Path]:
    """The rows of a split the model can be scored on (``check.rows``)."""
    import pandas as pd

    path = paths.split_file(split)
    if not path.is_file():
        raise PipelineError(f"{path} not found (run `make data` first)")
    frame = check.rows(pd.read_parquet(path))
    if frame.empty:
        raise PipelineError(f"{path}: no example with a label the model knows")
    return frame, path


def run(
    cfg: Config, model_ref: str | None = None, quantize: Quantizer | None = None
) -> ExportResult:
    """Export the run; ``quantize`` replaces ``convert.quantize_int8`` (the tests damage it)."""
    from pipeline.export import convert

    started = time.time()
    task = task_for(cfg)
    if task.onnx_refusal:
        raise PipelineError(f"task {task.name} {task.onnx_refusal}")
    paths = Paths.from_config(cfg)
    ref = resolve_model_ref(paths, cfg.train.run_name, model_ref)
    run_dir = RunDir(ref.run_dir)
    check_split_task(cfg, paths)
    model_cfg = run_dir.read(RunDir.RECORD).get("config", {}).get("model", {})
    max_seq_len = int(model_cfg.get("max_seq_len") or cfg.model.max_seq_len)
    batch_size = cfg.evaluate.batch_size
    model, tokenizer = load_trained(ref, task.auto_model)
    task.check_model(model.config, ref.source)
    id2label = {int(i): name for i, name in model.config.id2label.items()}
    check = task.export_check(ref, tokenizer, id2label, max_seq_len, batch_size)
    val, val_path = read_split(paths, "validation", check)
    test, test_path = read_split(paths, "test", check)

    t0 = time.perf_counter()
    tf_val, tf_test = check.logits(model, val), check.logits(model, test)
    tf_s = time.perf_counter() - t0
    out_dir = run_dir.path / ONNX_DIR
    with atomic_dir(out_dir) as tmp:
        fused = convert.to_onnx(model, tmp / "model.onnx", tmp / "raw.onnx")
        (tmp / "raw.onnx").unlink()
        model.config.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))

        onnx_val = check.logits(_graph(tmp, "model.onnx"), val)
        parity = {
            "split": "validation",
            "n": len(val),
            "predictions": len(onnx_val),
            "max_abs_logit_diff": float(np.abs(onnx_val - tf_val).max()),
            "unit": check.unit,
            "labels": check.rules["labels"],
            "labels_identical": bool(agree(check, onnx_val, tf_val).all()),
        }
        logger.info("fp32 parity on validation: %s", parity)
        if not parity["labels_identical"] or parity["max_abs_logit_diff"] > MAX_LOGIT_DIFF:
            raise PipelineError(
                f"the ONNX graph does not match TensorFlow on {val_path}: largest logit "
                f"difference {parity['max_abs_logit_diff']:.2e} (at most {MAX_LOGIT_DIFF:.0e}), "
                f"{check.unit} identical: {parity['labels_identical']}; nothing written"
            )
        settings = (quantize or convert.quantize_int8)(tmp / "model.onnx", tmp / "int8.onnx")
        int8_test = check.logits(_graph(tmp, "int8.onnx"), test)
        fp32_test = check.logits(_graph(tmp, "model.onnx"), test)
        name, tf_score = check.score(test, tf_test)
        int8_score = check.score(test, int8_test)[1]
        drop = round(tf_score - int8_score, 6)
        gate = {
            "split": "test",
            "n": len(test),
            "metric": name,
            "score": check.rules["score"],
            "tf": tf_score,
            "onnx": check.score(test, fp32_test)[1],
            "onnx_int8": int8_score,
            "drop": drop,
            "max_drop": MAX_INT8_DROP,
            "label_agreement": float(agree(check, int8_test, tf_test).mean()),
            **settings,
        }
        if drop <= MAX_INT8_DROP:
            (tmp / "int8.onnx").rename(tmp / "model_quantized.onnx")
            gate |= {"written": True}
        else:
            (tmp / "int8.onnx").unlink()
            reason = (
                f"its test {name} {int8_score:.4f} is {drop:.4f} below TensorFlow's "
                f"{tf_score:.4f}, more than the {MAX_INT8_DROP} allowed"
            )
            logger.warning("int8 graph refused: %s; model_quantized.onnx not written", reason)
            gate |= {"written": False, "reason": reason}
        record = provenance(cfg.to_dict(), {"model": run_dir.weights, "test": test_path}, started)
        record |= {
            "model": ref.name,
            "opset": convert.OPSET,
            "fused_operators": fused,
            "parity": parity,
            "int8": gate,
            "tf_predict_s": round(tf_s, 3),
            "files": sorted(p.name for p in tmp.iterdir()) + [EXPORT_RECORD],
        }
        write_json(tmp / EXPORT_RECORD, record)
    int8_line = (
        f"int8 {name} {int8_score:.4f} (TF {tf_score:.4f}, change {-drop:+.4f})"
        if gate["written"]
        else f"int8 refused: {gate['reason']}"
    )
    summary = (
        f"{ref.name}: onnx/model.onnx (max logit diff {parity['max_abs_logit_diff']:.1e}, "
        f"{check.unit} identical); {int8_line}"
    )
    return ExportResult(out_dir, record, summary)


def agree(check: ExportCheck, logits: np.ndarray, tf_logits: np.ndarray) -> np.ndarray:
    """Per prediction, whether its label (a label id, or a multi-label set) is TF's."""
    a, b = np.asarray(check.labels(logits)), np.asarray(check.labels(tf_logits))
    return (a == b).reshape(len(a), -1).all(axis=1)


def _graph(folder: Path, name: str) -> Any:
    """The ONNX file ``name`` of ``folder`` (with the config saved beside it) in a session."""
    from transformers import AutoConfig

    from pipeline.model.onnx_classifier import OnnxModel

    return OnnxModel(folder / name, AutoConfig.from_pretrained(str(folder)), name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_args(parser)
    parser.add_argument("--model", help="run name, sweep:<name>, or run directory")

    def work(args: argparse.Namespace, cfg: Config) -> None:
        res = run(cfg, args.model)
        print(f"{res.summary}\nfiles: {res.onnx_dir}")  # noqa: T201

    with sigterm_as_interrupt():  # nothing half-written is left
        return run_cli(parser, work, argv)


if __name__ == "__main__":
    raise SystemExit(main())
