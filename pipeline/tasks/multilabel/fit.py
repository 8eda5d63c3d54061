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
from pipeline.fitting.loop import Examples, FitSpec
from pipeline.model.loading import load_base_classifier
from pipeline.tasks.multilabel.data import label_sets, multi_hot, run_names

logger = logging.getLogger("pipeline.train")

PROBLEM_TYPE = "multi_label_classification"
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

    return FitSpec(
        train=examples(train_df),
        val=examples(val_df),
        build_model=lambda: build(checkpoint, names),
        loss=bce_from_logits,
        metrics=lambda: [cell_accuracy(), micro_f1_metric()],
        pad_id=tokenizer.pad_token_id or 0,
    )


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
    )
    logger.info(
        "calibration: temperature %.3f, validation BCE %.4f -> %.4f; thresholds %s",
        t, result.nll_raw, result.nll_calibrated, result.thresholds,
    )  # fmt: skip
    return result
