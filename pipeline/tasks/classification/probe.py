"""Start the classification head from what the frozen encoder already knows (``train.head_init``).

A freshly initialised head (transformers' default, ``head_init: random``) sends noise back into
a pretrained encoder for the first hundred steps; with a few examples per class that is most of
training, and the fine-tuned model ends below a logistic regression on the frozen encoder's
features. ``head_init: probe`` is linear probing, then fine-tuning (LP-FT):

1. a pooler the checkpoint lacks (multilingual-e5 ships none: it was trained with mean pooling)
   starts as the identity, so the pooled output is tanh of the [CLS] vector the encoder gives;
2. the frozen model's pooled output is computed once for the training and validation examples
   (dropout off) and a multinomial logistic regression is fitted on it, its C chosen on
   validation macro F1;
3. its coefficients become the classifier's kernel and bias.

Fine-tuning then starts from the probe's predictions, and the gradient it sends into the
encoder is informative from the first step. The model stays a plain
``...ForSequenceClassification`` (pooler + dropout + dense), so Auto classes and pipelines
load it as they load any other.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from pipeline.fitting.loop import Examples
from pipeline.model.batched_classifier import padded_batches
from pipeline.tasks.classification.baseline import in_columns

logger = logging.getLogger("pipeline.train")

PROBE_C = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)  # inverse regularisation strengths tried
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


def fit_probe(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    n_labels: int,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """A logistic regression on frozen features -> (kernel [features, labels], bias, record).

    C is chosen on the validation split's log loss, not its accuracy: the C that classifies
    best fits the training examples almost perfectly, and a head that is already sure of every
    training example sends the encoder no gradient to learn from. The calibrated probe leaves
    fine-tuning something to do. Labels without a training example get a zero kernel column
    and a bias far below the rest.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score, log_loss

    best: tuple[float, float, Any] | None = None
    for c in PROBE_C:
        clf = LogisticRegression(C=c, max_iter=2000).fit(x_train, y_train)
        probs = in_columns(clf.predict_proba(x_val), clf.classes_, range(n_labels))
        loss = log_loss(y_val, np.clip(probs, 1e-7, 1.0), labels=range(n_labels))
        if best is None or loss < best[0] - 1e-9:
            best = (loss, c, clf)
    assert best is not None
    loss, c, clf = best
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
        "C": c,
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
    model.classifier.kernel.assign(kernel)
    model.classifier.bias.assign(bias)
    logger.info(
        "head from a linear probe%s: C %g, validation log loss %.4f, accuracy %.4f",
        " (identity pooler)" if new_pooler else "",
        record["C"], record["val_log_loss"], record["val_accuracy"],
    )  # fmt: skip
    return {"identity_pooler": new_pooler, **record}
