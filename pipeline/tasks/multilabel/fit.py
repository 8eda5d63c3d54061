"""What the fit loop trains for multi-label classification, and the calibration after it.

``TFBertForSequenceClassification`` with ``problem_type="multi_label_classification"`` (saved in
config.json, so transformers' pipeline and ``AutoModelForSequenceClassification`` users get a
sigmoid per label), one logit per label, binary cross-entropy on the logits against the 0/1
targets; ``accuracy`` (the share of (example, label) cells right at 0.5) and ``micro_f1`` (every
label at 0.5, i.e. logit > 0), the Keras metric early stopping watches (``val_micro_f1``).

Calibration (pipeline/calibration.py): one temperature for all labels, fitted on the validation
logits by minimising the binary cross-entropy, then one threshold per label on the calibrated
validation scores (the label's best F1; labels with fewer than ``MIN_POSITIVES`` validation
positives keep 0.5). One temperature rather than per-label Platt scaling: on small data a label
has a handful of validation positives, too few to fit a slope and an offset for each without
overfitting; one scalar fitted on every (example, label) cell cannot overfit, and dividing by it
keeps each label's ranking, so the thresholds tuned after it decide exactly as they would on the
raw scores' matching cut.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.calibration import Calibration, fit_temperature, nll, scaled_probs, tune_thresholds
from pipeline.config import Config
from pipeline.errors import PipelineError
from pipeline.fitting.loop import Examples, FitSpec
from pipeline.model.loading import load_base_classifier
from pipeline.tasks.multilabel.data import PROBLEM_TYPE, label_sets, multi_hot, run_names

logger = logging.getLogger("pipeline.train")

MIN_POSITIVES = 3  # validation positives a label needs for its own threshold


def bce_from_logits(targets: Any, logits: Any) -> Any:
    """Mean binary cross-entropy of 0/1 ``targets`` (any dtype) and ``logits``."""
    import tensorflow as tf

    y = tf.cast(targets, logits.dtype)
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=logits), -1)


def micro_f1_metric() -> Any:
    """A Keras metric ``micro_f1``: F1 over every (example, label) cell, logit > 0 predicted."""
    import tensorflow as tf
    import tf_keras

    class MicroF1(tf_keras.metrics.Metric):
        def __init__(self, name: str = "micro_f1", **kwargs: Any) -> None:
            super().__init__(name=name, **kwargs)
            self.tp = self.add_weight(name="tp", initializer="zeros")
            self.fp = self.add_weight(name="fp", initializer="zeros")
            self.fn = self.add_weight(name="fn", initializer="zeros")

        def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
            truth = tf.cast(y_true, tf.float32)
            guess = tf.cast(y_pred > 0, tf.float32)
            self.tp.assign_add(tf.reduce_sum(truth * guess))
            self.fp.assign_add(tf.reduce_sum((1 - truth) * guess))
            self.fn.assign_add(tf.reduce_sum(truth * (1 - guess)))

        def result(self) -> Any:
            return tf.math.divide_no_nan(2 * self.tp, 2 * self.tp + self.fp + self.fn)

        def reset_state(self) -> None:
            for v in (self.tp, self.fp, self.fn):
                v.assign(0.0)

    return MicroF1()


def cell_accuracy() -> Any:
    """``accuracy`` (every run's history has it): the share of (example, label) cells right at
    0.5, i.e. 1 - Hamming loss."""
    import tf_keras

    return tf_keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)  # on the logits


def targets(df: pd.DataFrame, labels: dict[str, Any]) -> np.ndarray:
    """The rows' label sets as an (n, labels) 0/1 int32 matrix in label-id order."""
    return multi_hot(label_sets(df), run_names(labels))


def build(checkpoint: Path, names: list[str]) -> Any:
    """The base model with a new head of one logit per label, sigmoid in its config."""
    model = load_base_classifier(checkpoint, dict(enumerate(names)))
    model.config.problem_type = PROBLEM_TYPE
    return model


def multilabel_spec(task: Any, cfg: Config, checkpoint: Path, tokenizer: Any,
                    train_df: pd.DataFrame, val_df: pd.DataFrame, labels: dict[str, Any]
                    ) -> FitSpec:  # fmt: skip
    max_len, names = cfg.model.max_seq_len, run_names(labels)

    def examples(df: pd.DataFrame) -> Examples:
        return Examples(*task.encode(tokenizer, task.examples(df), max_len), targets(df, labels))

    train, val, pad_id = examples(train_df), examples(val_df), tokenizer.pad_token_id or 0

    def start(model: Any) -> dict[str, Any] | None:
        if cfg.train.head_init != "probe":
            return None
        from pipeline.model.loading import pooler_is_pretrained

        if not hasattr(model, "bert"):  # the probe sets a BERT model's pooler and classifier
            raise PipelineError(
                f"train.head_init: probe needs a BERT model; {cfg.model.name_or_path} is not: "
                "set train.head_init to random"
            )

        return probe_head(model, train, val, max_len, pad_id, not pooler_is_pretrained(checkpoint))

    return FitSpec(
        train=train,
        val=val,
        build_model=lambda: build(checkpoint, names),
        loss=bce_from_logits,
        metrics=lambda: [cell_accuracy(), micro_f1_metric()],
        pad_id=pad_id,
        start=start,
    )


def probe_head(model: Any, train: Examples, val: Examples, max_len: int, pad_id: int,
               new_pooler: bool) -> dict[str, Any]:  # fmt: skip
    """``train.head_init: probe`` for label sets: the single-label probe's frozen pooled
    features (classification/probe.py), then one logistic regression per label, as soft
    (C = 5 / positives per label), added to the fresh head."""
    from sklearn.linear_model import LogisticRegression

    from pipeline.tasks.classification.probe import (
        PROBE_C_PER_CLASS,
        identity_pooler,
        pooled_features,
    )

    if new_pooler:
        identity_pooler(model)
    x_train = pooled_features(model, train.ids, train.types, max_len, pad_id)
    x_val = pooled_features(model, val.ids, val.types, max_len, pad_id)
    y = np.asarray(train.targets)
    c = PROBE_C_PER_CLASS * y.shape[1] / max(1, int(y.sum()))
    kernel = np.zeros((x_train.shape[1], y.shape[1]), dtype=np.float32)
    bias = np.zeros(y.shape[1], dtype=np.float32)
    for j in range(y.shape[1]):
        if 0 < y[:, j].sum() < len(y):  # a label always (or never) there: its prior only
            clf = LogisticRegression(C=c, max_iter=2000).fit(x_train, y[:, j])
            kernel[:, j], bias[j] = clf.coef_[0], clf.intercept_[0]
    model.classifier.kernel.assign(model.classifier.kernel.numpy() + kernel)
    model.classifier.bias.assign(model.classifier.bias.numpy() + bias)
    val_logits = x_val @ kernel + bias
    record = {"C": round(c, 6), "val_bce": round(nll(val_logits, val.targets, 1.0, "sigmoid"), 4)}
    logger.info("head from a linear probe per label: C %g, validation BCE %.4f", c,
                record["val_bce"])  # fmt: skip
    return {"identity_pooler": new_pooler, **record}


def validation_logits(cfg: Config, model: Any, tokenizer: Any, task: Any, df: pd.DataFrame
                      ) -> np.ndarray:  # fmt: skip
    from pipeline.model.batched_classifier import BatchedClassifier

    clf = BatchedClassifier(model, tokenizer, cfg.model.max_seq_len, cfg.evaluate.batch_size,
                            task.encode)  # fmt: skip
    return clf.predict_logits(task.examples(df))


def calibrate(task: Any, cfg: Config, model: Any, tokenizer: Any, val_df: pd.DataFrame,
              labels: dict[str, Any]) -> Calibration:  # fmt: skip
    """One temperature (sigmoid) on the validation logits, then per-label F1 thresholds."""
    names = run_names(labels)
    logits = validation_logits(cfg, model, tokenizer, task, val_df)
    y = targets(val_df, labels)
    t = fit_temperature(logits, y, kind="sigmoid")
    cuts = tune_thresholds(scaled_probs(logits, t, "sigmoid"), y, MIN_POSITIVES)
    result = Calibration(
        temperature=t,
        kind="sigmoid",
        n=len(val_df),
        nll_raw=nll(logits, y, 1.0, "sigmoid"),
        nll_calibrated=nll(logits, y, t, "sigmoid"),
        thresholds={n: round(float(c), 6) for n, c in zip(names, cuts, strict=True)},
        validation=threshold_gain(scaled_probs(logits, t, "sigmoid"), y, cuts),
    )
    logger.info(
        "calibration: temperature %.3f, validation BCE %.4f -> %.4f; thresholds %s; validation "
        "F1 %s", t, result.nll_raw, result.nll_calibrated, result.thresholds, result.validation,
    )  # fmt: skip
    return result


def threshold_gain(probs: np.ndarray, y: np.ndarray, cuts: np.ndarray) -> dict[str, float]:
    """Micro and macro F1 of ``probs`` at the tuned ``cuts`` and at one threshold of 0.5."""
    from sklearn.metrics import f1_score

    out = {}
    for name, at in (("tuned", cuts), ("at_0.5", np.full(len(cuts), 0.5))):
        pred = (probs >= at).astype(int)
        for avg in ("micro", "macro"):
            f1 = f1_score(y, pred, average=avg, zero_division=0)
            out[f"{avg}_f1_{name}"] = round(float(f1), 6)
    return out
