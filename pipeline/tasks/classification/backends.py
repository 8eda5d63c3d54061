"""The classifier of a run on each backend: TensorFlow, and the run's ONNX export (fp32, int8).

Evaluate predicts with ``serve.backend`` (``--backend``) and, when the run has an onnx/ export,
scores the same sentences on every backend it has, so the report shows TF, ONNX fp32 and int8
side by side (accuracy, macro F1, labels that agree with TF; sentences/s of that one pass in
metrics.json only: a single pass on a busy machine is no speed figure, benchmarks/onnx.py is).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from pipeline.model.batched_classifier import BatchedClassifier, PaddedClassifier
from pipeline.model.loading import ModelRef, load_trained
from pipeline.model.onnx_classifier import BACKENDS, exported_backends  # noqa: F401  (evaluate.py)
from pipeline.reporting import md_table


def classifier(task: Any, ref: ModelRef, backend: str, max_seq_len: int,
               batch_size: int) -> PaddedClassifier:  # fmt: skip
    """The run's classifier on ``backend`` (tf, onnx or onnx-int8)."""
    if backend == "tf":
        model, tokenizer = load_trained(ref, task.auto_model)
        task.check_model(model.config, ref.source)
        return BatchedClassifier(model, tokenizer, max_seq_len, batch_size, task.encode)
    from pipeline.model.onnx_classifier import OnnxClassifier, load_exported

    graph, tokenizer = load_exported(ref, backend)
    task.check_model(graph.config, ref.source)
    return OnnxClassifier(graph, tokenizer, max_seq_len, batch_size, task.encode)


class ClassifierExport:
    """The export's check of a (pair) classifier: one logit row per sentence, test macro F1."""

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

    def score(self, frame: pd.DataFrame, logits: np.ndarray) -> tuple[str, float]:
        from pipeline.tasks.classification.metrics import macro_f1

        return "macro_f1", macro_f1(frame["label"].map(self.label2id).to_numpy(), logits)


def compare(
    make: Callable[[str], PaddedClassifier],
    examples: list[Any],
    backends: list[str],
    score: Callable[[np.ndarray], dict[str, Any]],
) -> list[dict[str, Any]]:
    """One row per backend (in ``BACKENDS`` order): accuracy, macro F1, agreement with TF's
    labels, sentences/s, each backend warmed up first and timed on the same examples."""
    results: dict[str, tuple[np.ndarray, float]] = {}
    by_length = sorted(range(len(examples)), key=lambda i: len(str(examples[i])))
    warm_up = [examples[by_length[int(q * (len(by_length) - 1))]] for q in (0, 0.5, 1)]
    for backend in backends:
        clf = make(backend)
        for example in warm_up:  # a few widths: TF traces its graph, relaxing the shapes
            clf.predict_proba([example])
        t0 = time.perf_counter()
        results[backend] = (clf.predict_proba(examples), time.perf_counter() - t0)
    tf_labels = results["tf"][0].argmax(axis=1)
    rows = []
    for backend in (b for b in BACKENDS if b in results):
        probs, secs = results[backend]
        scores = score(probs)
        rows.append({
            "backend": backend,
            "accuracy": scores["accuracy"],
            "macro_f1": scores["macro_f1"],
            "label_agreement_with_tf": round(float((probs.argmax(axis=1) == tf_labels).mean()), 6),
            "sentences_per_s": round(len(examples) / max(secs, 1e-9), 1),
        })  # fmt: skip
    return rows


def backends_markdown(rows: list[dict[str, Any]], main: str) -> list[str]:
    """The report's "Backends" section (nothing without an ONNX export)."""
    if len(rows) < 2:
        return []
    table = md_table(
        [[r["backend"] + (" (reported above)" if r["backend"] == main else ""), r["accuracy"],
          r["macro_f1"], f"{r['label_agreement_with_tf']:.1%}"] for r in rows],
        ["backend", "accuracy", "macro F1", "labels as TF"],
    )  # fmt: skip
    return [
        "## Backends",
        "",
        "The same sentences on TensorFlow and on the run's ONNX export (`make export`, "
        "docs/onnx.md). metrics.json's `backends` also holds each one's sentences/s in this "
        "one pass; the speed comparison is `make bench`'s (reports/bench/onnx.json).",
        "",
        table,
        "",
    ]
