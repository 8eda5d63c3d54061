"""The multi-label classifier on each backend: what the export compares, what evaluate shows.

A multi-label sentence's "label" is its label *set*: the labels whose calibrated sigmoid,
``sigmoid(logit / T)``, reaches their threshold (the run's calibration.json: the temperature
``T`` and one threshold per label; without one, 1 and 0.5). Two backends agree on a sentence
when they choose exactly the same set, every label in and every label out.

- ``MultiLabelExport`` (the task's ``export_check``, pipeline/export/): parity is one logit row
  per validation sentence within the export's tolerance and every label set the same; the int8
  gate compares the test split's macro F1 at those thresholds, as evaluate computes it.
- ``backend_rows`` / ``backends_markdown``: evaluate's "Backends" table (micro and macro F1,
  the share of sentences whose set is TF's), through classification's ``predict_each``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from pipeline.calibration import Calibration, scaled_probs
from pipeline.model.batched_classifier import PaddedClassifier
from pipeline.model.loading import ModelRef
from pipeline.reporting import backends_section
from pipeline.tasks.classification.backends import ClassifierExport, predict_each, side_by_side
from pipeline.tasks.multilabel.data import label_sets, multi_hot
from pipeline.tasks.multilabel.metrics import chosen, score
from pipeline.tasks.multilabel.serve import cuts_of, load_calibration


class MultiLabelExport(ClassifierExport):
    """The export's check of a multi-label run: one logit row per sentence (as a classifier's),
    each sentence's label set at the run's thresholds, the test split's macro F1 of them."""

    unit = "label sets"
    rules = {
        "labels": "each sentence's label set: the labels whose sigmoid(logit / temperature) "
        "reaches their threshold (the run's calibration.json); equal when every label is "
        "chosen or left alike",
        "score": "the test split's macro F1 over the labels of those sets (evaluate's "
        "macro_f1 at the run's thresholds)",
    }

    def __init__(self, task: Any, ref: ModelRef, tokenizer: Any, id2label: dict[int, str],
                 max_len: int, batch_size: int) -> None:  # fmt: skip
        super().__init__(task, tokenizer, id2label, max_len, batch_size)
        self.names = [id2label[i] for i in range(len(id2label))]
        self.calibration = load_calibration(ref, self.names, True)
        self.cuts = cuts_of(self.calibration, self.names)

    def rows(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows whose every label the model knows."""
        known = [set(s) <= set(self.names) for s in label_sets(frame)]
        return frame[known].reset_index(drop=True)

    def labels(self, logits: np.ndarray) -> np.ndarray:
        return label_set(logits, self.calibration, self.cuts)

    def score(self, frame: pd.DataFrame, logits: np.ndarray) -> tuple[str, float]:
        probs = scaled_probs(logits, self.calibration.temperature, "sigmoid")
        truth = multi_hot(label_sets(frame), self.names)
        return "macro_f1", round(score(truth, probs, self.cuts, self.names)["macro_f1"], 6)


def label_set(logits: np.ndarray, calibration: Calibration, cuts: np.ndarray) -> np.ndarray:
    """0/1 (sentences, labels): the labels whose calibrated sigmoid reaches its threshold."""
    return chosen(scaled_probs(logits, calibration.temperature, "sigmoid"), cuts)


def backend_rows(make: Callable[[str], PaddedClassifier], examples: list[Any],
                 backends: list[str], y: np.ndarray, calibration: Calibration,
                 names: list[str]) -> list[dict[str, Any]]:  # fmt: skip
    """One row per backend the run has (``make(backend)`` -> its ``PaddedClassifier``), on
    the same sentences: micro and macro F1 at the thresholds, label sets as TF's, sentences/s."""
    cuts = cuts_of(calibration, names)

    def row(logits: np.ndarray, tf_logits: np.ndarray) -> dict[str, Any]:
        scores = score(y, scaled_probs(logits, calibration.temperature, "sigmoid"), cuts, names)
        same = label_set(logits, calibration, cuts) == label_set(tf_logits, calibration, cuts)
        return {"micro_f1": round(scores["micro_f1"], 6), "macro_f1": round(scores["macro_f1"], 6),
                "label_sets_as_tf": round(float(same.all(axis=1).mean()), 6)}  # fmt: skip

    return side_by_side(predict_each(make, examples, backends), row)


def backends_markdown(rows: list[dict[str, Any]], main: str) -> list[str]:
    """The report's "Backends" section (nothing without an ONNX export)."""
    columns = [("micro_f1", "micro F1", ".4f"), ("macro_f1", "macro F1", ".4f"),
               ("label_sets_as_tf", "label sets as TF", ".1%")]  # fmt: skip
    return backends_section(rows, main, columns)
