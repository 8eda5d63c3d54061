"""Multi-label evaluation: the test split (or ``--input``) -> metrics, figures, report.md.

The model's scores are the sigmoid of its logits divided by the run's temperature, each label
chosen at its own threshold (the run's calibration.json; a run without one: 1.0 and 0.5). The
same sentences are scored at a single 0.5 too, and by the baseline (TF-IDF + one-vs-rest
logistic regression fitted on the train split, its thresholds tuned on the validation split the
same way), side by side. ``below_baseline``: the model's macro or micro F1 under the baseline's.
metrics.json: micro/macro/samples F1, subset ``accuracy``, ``hamming_loss``, ``per_label``,
``label_count`` (true and predicted), ``at_0.5``, ``calibration`` (ECE and NLL raw and
calibrated), ``baseline``. Files: predictions.{parquet,xlsx}, figures/, report.md (report.py).
The model runs on ``serve.backend`` (``--backend``: TF, or the run's ONNX export); a run with
an export is scored on every backend it has, side by side (``backends``, backends.py).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.calibration import scaled_probs, tune_thresholds
from pipeline.errors import PipelineError
from pipeline.io import sha256_file, write_parquet, write_text
from pipeline.model.batched_classifier import PaddedClassifier
from pipeline.paths import RunDir
from pipeline.tables.outputs import to_excel_as_text
from pipeline.tasks.base import EvaluateRequest, Evaluation
from pipeline.tasks.classification.backends import classifier, exported_backends
from pipeline.tasks.classification.inputs import read_input
from pipeline.tasks.multilabel.backends import backend_rows
from pipeline.tasks.multilabel.data import UnknownLabel, label_sets, multi_hot, split_cell
from pipeline.tasks.multilabel.fit import MIN_POSITIVES
from pipeline.tasks.multilabel.metrics import (
    SCORE_KEYS,
    OneVsRestBaseline,
    calibration_scores,
    chosen,
    score,
)
from pipeline.tasks.multilabel.report import markdown, write_figures
from pipeline.tasks.multilabel.serve import cuts_of, load_calibration

logger = logging.getLogger("pipeline.evaluate")


def read_data(req: EvaluateRequest, names: list[str]) -> tuple[pd.DataFrame, np.ndarray, Path]:
    """(rows with ``text``, their 0/1 labels, the file read)."""
    cfg = req.cfg
    if req.input_file is None:
        path = req.paths.split_file(cfg.evaluate.split)
        if not path.is_file():
            raise PipelineError(f"{path} not found (run `make data` first)")
        data = pd.read_parquet(path)
        unknown = sorted({n for s in label_sets(data) for n in s} - set(names))
        if unknown:
            raise PipelineError(f"{path}: labels {unknown} are not the model's ({names})")
        return data, multi_hot(label_sets(data), names), path
    path = req.input_file
    column = req.label_column or cfg.ingest.label_column
    data = read_input(path, req.text_column or cfg.ingest.text_columns[0], column,
                      None, None, cfg.ingest.encoding)  # fmt: skip
    sets = []
    for i, cell in enumerate(data["label"].astype(str)):
        try:
            sets.append(split_cell(cell, cfg.prepare.label_separator, names))
        except UnknownLabel as exc:
            raise PipelineError(
                f"{path.name}, row {i + 2}: label {exc.args[0]!r} is not one of the model's "
                f"({', '.join(names)})"
            ) from None
    return data, multi_hot(sets, names), path


def evaluate(task: Any, req: EvaluateRequest) -> Evaluation:
    if req.classifier is not None:
        raise PipelineError("--classifier is for task text-generation (it checks samples)")
    cfg, paths, run = req.cfg, req.paths, RunDir(req.ref.run_dir)
    max_len = int(req.run_info.get("config", {}).get("model", {}).get("max_seq_len")
                  or cfg.model.max_seq_len)  # fmt: skip
    backend, batch_size = cfg.serve.backend, cfg.evaluate.batch_size

    def make(name: str) -> PaddedClassifier:  # TF, or the run's ONNX export (fp32, int8)
        return classifier(task, req.ref, name, max_len, batch_size)

    clf = make(backend)
    names = [clf.id2label[i] for i in range(len(clf.id2label))]
    data, y, data_path = read_data(req, names)
    if data.empty:
        raise PipelineError(f"{data_path}: no sentences to evaluate")
    if not run.calibration.is_file():
        logger.warning("%s not found: scores uncalibrated, every threshold 0.5", run.calibration)
    # The scores shown: calibrated, or raw with the thresholds moved to match (--no-calibration).
    fitted = load_calibration(req.ref, names, True)
    cal = fitted if cfg.serve.calibration else load_calibration(req.ref, names, False)
    cuts = cuts_of(cal, names)
    t0 = time.perf_counter()
    logits = clf.predict_logits(task.examples(data))
    predict_s = time.perf_counter() - t0
    probs = scaled_probs(logits, cal.temperature, "sigmoid")
    scores = score(y, probs, cuts, names)
    where = {"split": cfg.evaluate.split} if req.input_file is None else {"input": str(data_path)}
    metrics: dict[str, Any] = {**where, "n": len(data), **scores}
    metrics["thresholds"] = dict(zip(names, cuts.round(4).tolist(), strict=True))
    half = score(y, probs, np.full(len(names), 0.5), names)
    metrics["at_0.5"] = {k: half[k] for k in SCORE_KEYS}
    metrics["calibration"] = calibration_scores(logits, y, fitted.temperature)
    metrics["calibration"]["applied"] = bool(cfg.serve.calibration)
    # What train measured when it tuned the thresholds (calibration.json): on validation.
    metrics["thresholds_on_validation"] = fitted.validation
    base = fit_baseline(task, paths, names, data)
    metrics["baseline"] = base and {"name": OneVsRestBaseline.name,
                                    **score(y, base[0], base[1], names)}  # fmt: skip
    metrics["below_baseline"] = base is not None and (
        metrics["macro_f1"] < metrics["baseline"]["macro_f1"]
        or metrics["micro_f1"] < metrics["baseline"]["micro_f1"]
    )
    metrics["data"] = {"split_sha256": sha256_file(data_path)}
    metrics["model"] = req.name
    metrics["backend"] = backend
    on_each = exported_backends(req.ref)
    if len(on_each) > 1:  # the run has an ONNX export: every backend on the same sentences
        metrics["backends"] = backend_rows(make, task.examples(data), on_each, y, cal, names)
    base_name = OneVsRestBaseline.name
    if metrics["below_baseline"]:
        logger.warning("the model is below the %s baseline (macro or micro F1)", base_name)
    pred = chosen(probs, cuts)
    preds = pd.DataFrame({
        "text": data["text"].tolist(),
        "labels": [", ".join(n for n, v in zip(names, row, strict=True) if v) for row in y],
        "predicted": [", ".join(n for n, v in zip(names, row, strict=True) if v) for row in pred],
        "exact": (pred == y).all(axis=1),
        "scores": [json.dumps(dict(zip(names, np.round(p, 4).tolist(), strict=True)),
                              ensure_ascii=False) for p in probs],
    })  # fmt: skip

    def write(out: Path) -> None:
        write_parquet(out / "predictions.parquet", preds)
        to_excel_as_text(preds, out / "predictions.xlsx", sheet_name="predictions")
        write_figures(out / "figures", metrics, names)
        write_text(out / RunDir.REPORT, markdown(req.name, metrics, names, preds, req.command))

    m, b = metrics, metrics["baseline"] or {}
    return Evaluation(
        metrics=metrics,
        n=len(data),
        write=write,
        inputs={"data": data_path, "model": run.weights},
        summary=f"{m['model']}: micro F1 {m['micro_f1']:.4f}, macro F1 {m['macro_f1']:.4f}, "
        f"subset accuracy {m['accuracy']:.4f}; baseline micro F1 {b.get('micro_f1', 0):.4f}, "
        f"macro F1 {b.get('macro_f1', 0):.4f} on {len(data)} sentences",
        record={"backend": backend, "predict_s": predict_s, "command": req.command},
    )


def fit_baseline(task: Any, paths: Any, names: list[str], data: pd.DataFrame
                 ) -> tuple[np.ndarray, np.ndarray] | None:  # fmt: skip
    """The baseline's scores on ``data`` and its thresholds (tuned on validation), or None."""
    frames = {}
    for split in ("train", "validation"):
        path = paths.split_file(split)
        if not path.is_file():
            logger.warning("no %s: the report has no baseline", path)
            return None
        frames[split] = pd.read_parquet(path)
    y_train = multi_hot(label_sets(frames["train"]), names)
    if (y_train.sum(axis=0) == 0).any() or (y_train.sum(axis=0) == len(y_train)).any():
        logger.warning("a label is never (or always) present in train: no baseline")
        return None
    t0 = time.perf_counter()
    base = OneVsRestBaseline().fit(task.baseline_text(task.examples(frames["train"])), y_train)
    val = frames["validation"]
    y_val = multi_hot(label_sets(val), names)
    cuts = tune_thresholds(base.predict_proba(task.baseline_text(task.examples(val))), y_val,
                           MIN_POSITIVES)  # fmt: skip
    probs = base.predict_proba(task.baseline_text(task.examples(data)))
    logger.info("baseline fitted, tuned and scored in %.1fs", time.perf_counter() - t0)
    return probs, cuts
