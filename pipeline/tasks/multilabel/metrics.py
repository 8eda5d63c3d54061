"""Multi-label scores and the baseline: pure functions over 0/1 matrices and score matrices.

    s = score(Y, probs, cuts, names)   # micro/macro/samples F1, subset accuracy, Hamming, ...
    base = OneVsRestBaseline().fit(train_texts, Y_train)
    probs = base.predict_proba(test_texts)            # (n, labels), a sigmoid-like score each

A label is chosen when its score reaches its threshold (``cuts``, one per label). ``accuracy``
is subset accuracy (the whole set right), the strictest number; Hamming loss is the share of
(sentence, label) cells wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import f1_score, precision_recall_fscore_support

from pipeline.calibration import ece, nll, reliability, scaled_probs

SCORE_KEYS = ("micro_f1", "micro_precision", "micro_recall", "macro_f1", "samples_f1",
              "accuracy", "hamming_loss")  # fmt: skip


def chosen(probs: np.ndarray, cuts: Sequence[float]) -> np.ndarray:
    """0/1 (n, labels): each label whose score reaches its threshold."""
    return (np.asarray(probs) >= np.asarray(cuts)[None, :]).astype(np.int32)


def label_count_table(y: np.ndarray, pred: np.ndarray) -> dict[str, dict[str, int]]:
    """How many sentences have 0, 1, 2, ... labels: true and predicted."""
    top = int(max(y.sum(axis=1).max(initial=0), pred.sum(axis=1).max(initial=0)))
    return {
        name: {str(k): int((m.sum(axis=1) == k).sum()) for k in range(top + 1)}
        for name, m in (("true", y), ("predicted", pred))
    }


def score(y: np.ndarray, probs: np.ndarray, cuts: Sequence[float], names: list[str]
          ) -> dict[str, Any]:  # fmt: skip
    """Every number of the report for scores ``probs`` at thresholds ``cuts``."""
    y = np.asarray(y, dtype=np.int32)
    pred = chosen(probs, cuts)
    p, r, f, support = precision_recall_fscore_support(y, pred, average=None, zero_division=0)
    mp, mr, mf, _ = precision_recall_fscore_support(y, pred, average="micro", zero_division=0)
    return {
        "micro_f1": float(mf),
        "micro_precision": float(mp),
        "micro_recall": float(mr),
        "macro_f1": float(f1_score(y, pred, average="macro", zero_division=0)),
        "samples_f1": float(f1_score(y, pred, average="samples", zero_division=0)),
        "accuracy": float((pred == y).all(axis=1).mean()),
        "hamming_loss": float((pred != y).mean()),
        "per_label": {
            n: {
                "precision": float(p[j]),
                "recall": float(r[j]),
                "f1": float(f[j]),
                "support": int(support[j]),
                "predicted": int(pred[:, j].sum()),
            }
            for j, n in enumerate(names)
        },  # fmt: skip
        "label_count": label_count_table(y, pred),
    }


def calibration_scores(logits: np.ndarray, y: np.ndarray, temperature: float) -> dict[str, Any]:
    """ECE (15 bins over every (sentence, label) score) and mean BCE, raw and calibrated, with
    the reliability bins for the figure."""
    out: dict[str, Any] = {"temperature": temperature}
    for name, t in (("raw", 1.0), ("calibrated", temperature)):
        probs = scaled_probs(logits, t, "sigmoid").ravel()
        out[name] = {
            "ece": ece(probs, np.asarray(y).ravel()),
            "nll": nll(logits, y, t, "sigmoid"),
            "reliability": reliability(probs, np.asarray(y).ravel()),
        }
    return out


class OneVsRestBaseline:
    """TF-IDF character n-grams (as the single-label baseline) + one logistic regression per
    label (scikit-learn's one-vs-rest), fitted on the train split in seconds."""

    name = "tfidf-char-ovr-logreg"

    def fit(self, texts: Sequence[str], y: np.ndarray) -> OneVsRestBaseline:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier
        from sklearn.pipeline import make_pipeline

        self.pipeline_ = make_pipeline(
            TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True,
                            dtype=np.float32),
            OneVsRestClassifier(LogisticRegression(C=10.0, max_iter=1000)),
        )  # fmt: skip
        self.pipeline_.fit(list(texts), np.asarray(y))
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.pipeline_.predict_proba(list(texts)), dtype=np.float64)
