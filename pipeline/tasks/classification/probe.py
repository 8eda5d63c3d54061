"""Start the classification head from what the frozen encoder already knows (``train.head_init``).

A freshly initialised head (transformers' default, ``head_init: random``) sends noise back into
a pretrained encoder for the first hundred steps; with a few examples per class that is most of
training, and the fine-tuned model ends below a logistic regression on the frozen encoder's
features. ``head_init: probe`` is linear probing, then fine-tuning (LP-FT):

1. a pooler the checkpoint lacks (multilingual-e5 ships none: it was trained with mean pooling)
   starts as the identity, so the pooled output is tanh of the [CLS] vector the encoder gives;
2. the frozen model's pooled output is computed once for the training examples (dropout off)
   and a multinomial logistic regression is fitted on it, strongly regularised (``probe_c``);
3. its coefficients become the classifier's kernel and bias.

The probe is soft on purpose. The C that classifies validation best (10 on the samples) gives
a head already sure of every training example: fine-tuning from it sends the encoder almost no
gradient, overfits from the first epoch and stops early (0.680 test macro F1 against 0.760 on
the hard sample at 50 sentences per class; docs/train.md). A C of 5 / (sentences per class)
points every label the right way without deciding it, so the first steps train the encoder
with a useful signal instead of a random head's noise. The model stays a plain
``...ForSequenceClassification`` (pooler + dropout + dense), so Auto classes and pipelines
load it as they load any other.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from pipeline.errors import PipelineError
from pipeline.fitting.loop import Examples
from pipeline.model.batched_classifier import padded_batches
from pipeline.tasks.classification.baseline import in_columns

logger = logging.getLogger("pipeline.train")

# The probe's C is this over the training sentences per label: regularisation that grows with
# the labels and shrinks with the data (0.1 at 50 per label and 24 labels, 0.54 on the demo).
PROBE_C_PER_CLASS = 5.0
# A class with no training example gets this many logits below the lowest fitted bias.
ABSENT_CLASS_MARGIN = 10.0


def identity_pooler(model: Any) -> None:
    """Set the pooler's dense layer to the identity (kernel I, bias 0)."""
    dense = model.bert.pooler.dense
    kernel, bias = dense.kernel, dense.bias
    kernel.assign(np.eye(*kernel.shape, dtype=np.float32))
    bias.assign(np.zeros(bias.shape, dtype=np.float32))


def pooled_features(
    model: Any,
    ids: Sequence[Sequence[int]],
    types: Sequence[Sequence[int]] | None,
    max_seq_len: int,
    pad_id: int,
    batch_size: int = 64,
) -> np.ndarray:
    """The pooled output the classifier reads, per example, with dropout off."""
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def forward(input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
        out = model.bert(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            training=False,
        )
        return tf.cast(out.pooler_output, tf.float32)

    width = model.config.hidden_size
    feats = np.zeros((len(ids), width), dtype=np.float32)
    for idx, batch, mask, segments in padded_batches(ids, types, batch_size, max_seq_len, pad_id):
        feats[idx] = forward(batch, mask, segments).numpy()
    return feats


def probe_c(y_train: np.ndarray) -> float:
    """The probe's inverse regularisation: PROBE_C_PER_CLASS / training sentences per label."""
    per_class = len(y_train) / max(1, len(np.unique(y_train)))
    return PROBE_C_PER_CLASS / per_class


def fit_probe(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    n_labels: int,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """A logistic regression on frozen features -> (kernel [features, labels], bias, record).

    Labels without a training example get a zero kernel column and a bias far below the rest;
    the record has the probe's validation log loss and accuracy (how much it knows at start).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score, log_loss

    if len(np.unique(y_train)) < 2:  # scikit-learn's ValueError, a traceback, otherwise
        raise PipelineError(
            "train.head_init: probe fits a logistic regression, which needs two labels or more "
            f"in the training split; it has {len(np.unique(y_train))} (label id "
            f"{int(y_train[0]) if len(y_train) else 'none'} only): "
            "set train.head_init to random"
        )
    c = probe_c(y_train)
    clf = LogisticRegression(C=c, max_iter=2000).fit(x_train, y_train)
    probs = in_columns(clf.predict_proba(x_val), clf.classes_, range(n_labels))
    probs = np.clip(probs, 1e-7, 1.0)  # labels the probe never saw: not 0
    loss = log_loss(y_val, probs / probs.sum(axis=1, keepdims=True), labels=range(n_labels))
    kernel = np.zeros((x_train.shape[1], n_labels), dtype=np.float32)
    bias = np.full(n_labels, clf.intercept_.min() - ABSENT_CLASS_MARGIN, dtype=np.float32)
    classes = clf.classes_.astype(int)
    if len(classes) == 2:  # sklearn fits one column for two classes: logit of the second
        kernel[:, classes[1]], bias[classes[1]] = clf.coef_[0], clf.intercept_[0]
        bias[classes[0]] = 0.0
    else:
        kernel[:, classes] = clf.coef_.T
        bias[classes] = clf.intercept_
    predicted = clf.predict(x_val)
    record = {
        "C": round(c, 6),
        "val_log_loss": round(float(loss), 4),
        "val_accuracy": round(float(np.mean(predicted == y_val)), 4),
        "val_macro_f1": round(
            float(f1_score(y_val, predicted, average="macro", zero_division=0)), 4
        ),
    }
    return kernel, bias, record


def init_probe_head(
    model: Any, train: Examples, val: Examples, max_seq_len: int, pad_id: int, new_pooler: bool
) -> dict[str, Any]:
    """Linear probing: (identity pooler,) features, logistic regression, classifier weights.

    Returns what run.json records about the probe.
    """
    if new_pooler:
        identity_pooler(model)
    x_train = pooled_features(model, train.ids, train.types, max_seq_len, pad_id)
    x_val = pooled_features(model, val.ids, val.types, max_seq_len, pad_id)
    n_labels = int(model.config.num_labels)
    kernel, bias, record = fit_probe(x_train, train.targets, x_val, val.targets, n_labels)
    # added to the fresh head, not put in its place: its small random weights (std 0.02) still
    # break the symmetry between labels where the probe learned nothing
    model.classifier.kernel.assign(model.classifier.kernel.numpy() + kernel)
    model.classifier.bias.assign(model.classifier.bias.numpy() + bias)
    logger.info(
        "head from a linear probe%s: C %g, validation log loss %.4f, accuracy %.4f",
        " (identity pooler)" if new_pooler else "",
        record["C"], record["val_log_loss"], record["val_accuracy"],
    )  # fmt: skip
    return {"identity_pooler": new_pooler, **record}
