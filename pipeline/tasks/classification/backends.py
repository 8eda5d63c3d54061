"""The classifier of a run on each backend: TensorFlow, and the run's ONNX export (fp32, int8).

Evaluate predicts with ``serve.backend`` (``--backend``) and, when the run has an onnx/ export,
scores the same sentences on every backend it has, so the report shows TF, ONNX fp32 and int8
side by side (accuracy, macro F1, labels that agree with TF; sentences/s of that one pass in
metrics.json only: a single pass on a busy machine is no speed figure, benchmarks/onnx.py is).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from pipeline.calibration import scaled_probs
from pipeline.errors import PipelineError
from pipeline.model.batched_classifier import BatchedClassifier, PaddedClassifier
from pipeline.model.loading import ModelRef, load_trained
from pipeline.model.onnx_classifier import BACKENDS, exported_backends  # noqa: F401  (evaluate.py)
from pipeline.reporting import backends_section

logger = logging.getLogger("pipeline.evaluate")


def classifier(task: Any, ref: ModelRef, backend: str, max_seq_len: int,
               batch_size: int) -> PaddedClassifier:  # fmt: skip
    """The run's classifier on ``backend`` (tf, onnx or onnx-int8)."""
    if backend == "tf":
        model, tokenizer = load_trained(ref, task.auto_model)
        task.check_model(model.config, ref.source)
        return BatchedClassifier(model, tokenizer, max_seq_len, batch_size, task.encode)
    from pipeline.model.onnx_classifier import OnnxClassifier, load_exported

    graph, tokenizer = load_exported(ref, backend, task.auto_model)
    task.check_model(graph.config, ref.source)
    return OnnxClassifier(graph, tokenizer, max_seq_len, batch_size, task.encode)


class ClassifierExport:
    """The export's check of a (pair) classifier: one logit row per sentence, test macro F1."""

    unit = "labels"
    rules = {
        "labels": "each sentence's label: the argmax of its logits",
        "score": "the test split's macro F1 of those labels",
    }

    def __init__(self, task: Any, tokenizer: Any, id2label: dict[int, str], max_len: int,
                 batch_size: int) -> None:  # fmt: skip
        self.task, self.tokenizer = task, tokenizer
        self.max_len, self.batch_size = max_len, batch_size
        self.label2id = {name: i for i, name in id2label.items()}

    def rows(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows whose label the model knows."""
        return frame[frame["label"].isin(list(self.label2id))].reset_index(drop=True)

    def logits(self, model: Any, frame: pd.DataFrame) -> np.ndarray:
        from pipeline.model.onnx_classifier import OnnxClassifier, OnnxModel

        kind = OnnxClassifier if isinstance(model, OnnxModel) else BatchedClassifier
        clf = kind(model, self.tokenizer, self.max_len, self.batch_size, self.task.encode)
        return clf.predict_logits(self.task.examples(frame))

    def labels(self, logits: np.ndarray) -> np.ndarray:
        return logits.argmax(axis=1)

    def score(self, frame: pd.DataFrame, logits: np.ndarray) -> tuple[str, float]:
        from pipeline.tasks.classification.metrics import macro_f1

        return "macro_f1", macro_f1(frame["label"].map(self.label2id).to_numpy(), logits)


def predict_each(
    make: Callable[[str], PaddedClassifier], examples: list[Any], backends: list[str]
) -> dict[str, tuple[np.ndarray, float]]:
    """Each backend's logits of ``examples`` and the seconds they took (in ``BACKENDS``
    order), each backend warmed up first on a few widths (TF traces its graph then)."""
    found: dict[str, tuple[np.ndarray, float]] = {}
    by_length = sorted(range(len(examples)), key=lambda i: len(str(examples[i])))
    warm_up = [examples[by_length[int(q * (len(by_length) - 1))]] for q in (0, 0.5, 1)]
    for backend in (b for b in BACKENDS if b in backends):
        try:
            clf = make(backend)
        except PipelineError as exc:  # a damaged comparison graph: the report goes on without it
            logger.warning("%s left out of the backends table: %s", backend, exc)
            continue
        clf.predict_logits(warm_up)
        t0 = time.perf_counter()
        found[backend] = (clf.predict_logits(examples), time.perf_counter() - t0)
    return found


def side_by_side(
    found: dict[str, tuple[np.ndarray, float]],
    row: Callable[[np.ndarray, np.ndarray], dict[str, Any]],
) -> list[dict[str, Any]]:
    """One row per backend of ``predict_each``'s answers: ``row(logits, tf_logits)`` (its
    scores and agreement with TF) between the backend's name and its sentences/s."""
    tf_logits = found["tf"][0]
    return [
        {"backend": backend, **row(logits, tf_logits),
         "sentences_per_s": round(len(logits) / max(secs, 1e-9), 1)}
        for backend, (logits, secs) in found.items()
    ]  # fmt: skip


def compare(
    make: Callable[[str], PaddedClassifier],
    examples: list[Any],
    backends: list[str],
    score: Callable[[np.ndarray], dict[str, Any]],
) -> list[dict[str, Any]]:
    """One row per backend (in ``BACKENDS`` order): accuracy, macro F1 (``score`` of the
    softmax), agreement with TF's labels, sentences/s, on the same examples."""

    def row(logits: np.ndarray, tf_logits: np.ndarray) -> dict[str, Any]:
        scores = score(scaled_probs(logits))
        same = (logits.argmax(axis=1) == tf_logits.argmax(axis=1)).mean()
        return {"accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"],
                "label_agreement_with_tf": round(float(same), 6)}  # fmt: skip

    return side_by_side(predict_each(make, examples, backends), row)


def backends_markdown(rows: list[dict[str, Any]], main: str) -> list[str]:
    """The report's "Backends" section (nothing without an ONNX export)."""
    columns = [("accuracy", "accuracy", ".4f"), ("macro_f1", "macro F1", ".4f"),
               ("label_agreement_with_tf", "labels as TF", ".1%")]  # fmt: skip
    return backends_section(rows, main, columns)
