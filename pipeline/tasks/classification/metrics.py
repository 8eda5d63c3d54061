"""Pure metric functions of the evaluate stage: scores, classification report, error tables.

Inputs are label ids (``y_true``), probability rows (``probs``, one column per id) and the
label names in id order; nothing here reads or writes files.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import classification_report, precision_recall_fscore_support
from sklearn.metrics import top_k_accuracy_score as sk_top_k

TOP_K = (1, 3, 5)
# metrics.json keys in the order of docs/contracts.md
SCORE_KEYS = (
    "accuracy",
    "macro_f1",
    "weighted_f1",
    "macro_precision",
    "macro_recall",
    "weighted_precision",
    "weighted_recall",
    "top_k_accuracy",
    "group_accuracy",
)


def top_k_accuracy(y_true: np.ndarray, probs: np.ndarray, ks=TOP_K) -> dict[str, float]:
    n_classes = probs.shape[1]
    out = {}
    for k in ks:
        if k >= n_classes:
            out[str(k)] = 1.0
        else:
            score = probs[:, 1] if n_classes == 2 else probs
            out[str(k)] = sk_top_k(y_true, score, k=k, labels=np.arange(n_classes))
    return {k: round(float(v), 6) for k, v in out.items()}


def score(
    y_true: np.ndarray, probs: np.ndarray, names: list[str], label2group: dict[str, str]
) -> dict[str, Any]:
    """Accuracy, macro/weighted P/R/F1, top-k and major-group accuracy of one set of scores."""
    ids = np.arange(len(names))
    y_pred = probs.argmax(axis=1)
    out: dict[str, Any] = {"accuracy": round(float(np.mean(y_pred == y_true)), 6)}
    for avg in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=ids, average=avg, zero_division=0
        )
        out |= {f"{avg}_precision": p, f"{avg}_recall": r, f"{avg}_f1": f}
    out = {k: round(float(v), 6) for k, v in out.items()}
    out["top_k_accuracy"] = top_k_accuracy(y_true, probs)
    out["group_accuracy"] = group_accuracy(y_true, y_pred, names, label2group)
    return out


def macro_f1(y_true: Any, scores: np.ndarray) -> float:
    """Macro F1 of the argmax of ``scores`` (probabilities or logits, one column per label id)
    over every label: what ``score`` reports as macro_f1."""
    scores = np.asarray(scores)
    ids = np.arange(scores.shape[1])
    f1 = precision_recall_fscore_support(
        y_true, scores.argmax(axis=1), labels=ids, average="macro", zero_division=0
    )[2]
    return round(float(f1), 6)


def group_accuracy(
    y_true: np.ndarray, y_pred: np.ndarray, names: list[str], label2group: dict[str, str]
) -> float | None:
    """Share of predictions in the true label's major group; None unless every true label has
    a group (a predicted label without one counts as the wrong group)."""
    if not label2group or not all(names[i] in label2group for i in np.unique(y_true)):
        return None
    groups = np.array([label2group.get(n) for n in names], dtype=object)
    return round(float(np.mean(groups[y_pred] == groups[y_true])), 6)


def class_report(y_true: np.ndarray, y_pred: np.ndarray, names: list[str]) -> tuple[str, dict]:
    kw = dict(labels=np.arange(len(names)), target_names=names, zero_division=0)
    text = classification_report(y_true, y_pred, digits=4, **kw)
    return text, classification_report(y_true, y_pred, output_dict=True, **kw)


def most_confused(y_true: np.ndarray, y_pred: np.ndarray, names: list[str], n: int) -> pd.DataFrame:
    """The ``n`` most frequent (true, predicted) pairs, with their share of the true class."""
    frame = pd.DataFrame({"true": y_true, "pred": y_pred})
    support = frame["true"].value_counts()
    wrong = frame[frame["true"] != frame["pred"]]
    pairs = wrong.value_counts(["true", "pred"]).rename("count").reset_index()
    pairs = pairs.sort_values(["count", "true", "pred"], ascending=[False, True, True]).head(n)
    return pd.DataFrame(
        {
            "true label": [names[i] for i in pairs["true"]],
            "predicted": [names[i] for i in pairs["pred"]],
            "count": pairs["count"].to_numpy(),
            "share of true label": (pairs["count"] / pairs["true"].map(support))
            .round(3)
            .to_numpy(),
        }
    )


def predictions_frame(
    data: pd.DataFrame, probs: np.ndarray, names: list[str], k: int = 3
) -> pd.DataFrame:
    """sentence, true and predicted label, score, the top-k labels with scores (+ provenance)."""
    best = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    pred = best[:, 0]
    out = pd.DataFrame(
        {
            "text": data["text"].to_numpy(),
            "label": data["label"].to_numpy(),
            "predicted": [names[i] for i in pred],
            "score": probs[np.arange(len(probs)), pred].round(6),
            "correct": data["label"].to_numpy() == np.array([names[i] for i in pred]),
        }
    )
    if "text_pair" in data.columns:  # a pair task's second sentence, beside the first
        out.insert(1, "text_pair", data["text_pair"].to_numpy())
    for j in range(min(k, probs.shape[1])):
        out[f"top{j + 1}"] = [names[i] for i in best[:, j]]
        out[f"top{j + 1}_score"] = probs[np.arange(len(probs)), best[:, j]].round(6)
    for col in ("source_file", "source_sheet", "source_row"):
        if col in data.columns:
            out[col] = data[col].to_numpy()
    return out
