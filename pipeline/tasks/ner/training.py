"""NER training pieces: piece-tag targets, the masked loss and accuracy, the val entity F1.

Targets are one tag id per word piece (align.py), -100 for special tokens; the loss is sparse
cross-entropy over the pieces that are not -100, and ``accuracy`` the share of those pieces
tagged right. ``ValEntityF1`` decodes the validation sentences after every epoch and writes
``val_entity_f1`` (micro entity F1, exact spans) into the epoch's logs, before the run's
checkpoint callback reads them: ``train.early_stopping.monitor: val_entity_f1`` stops on it.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import tf_keras

from pipeline.tasks.ner.align import piece_labels
from pipeline.tasks.ner.markup import spans_from_json
from pipeline.tasks.ner.metrics import entity_scores
from pipeline.tasks.ner.predict import encode_with_offsets, predict_entities

logger = logging.getLogger("pipeline.train")


def targets(tokenizer: Any, df: pd.DataFrame, max_len: int | None, tags: list[str]) -> np.ndarray:
    """An object array: per sentence, the tag id of each piece (-100: special token)."""
    tag2id = {t: i for i, t in enumerate(tags)}
    texts = df["text"].tolist()
    enc = encode_with_offsets(tokenizer, texts, max_len)
    out = np.empty(len(texts), dtype=object)
    for i, (text, value) in enumerate(zip(texts, df["entities"], strict=True)):
        out[i] = np.asarray(
            piece_labels(
                text,
                enc["offset_mapping"][i],
                enc["special_tokens_mask"][i],
                spans_from_json(value),
                tag2id,
            ),
            dtype=np.int32,
        )
    return out


def masked_loss(y_true: Any, logits: Any) -> Any:
    """Mean sparse cross-entropy over the pieces whose target is not -100."""
    import tensorflow as tf

    y_true = tf.cast(y_true, tf.int32)
    mask = tf.cast(y_true != -100, logits.dtype)
    safe = tf.where(y_true == -100, 0, y_true)
    loss = tf_keras.losses.sparse_categorical_crossentropy(safe, logits, from_logits=True)
    return tf.reduce_sum(loss * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


class MaskedAccuracy(tf_keras.metrics.Metric):
    """Share of the tagged pieces (target not -100) whose most probable tag is the target."""

    def __init__(self, name: str = "accuracy", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.right = self.add_weight(name="right", initializer="zeros")
        self.total = self.add_weight(name="total", initializer="zeros")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        import tensorflow as tf

        y_true = tf.cast(y_true, tf.int32)
        mask = y_true != -100
        hit = tf.logical_and(mask, tf.cast(tf.argmax(y_pred, axis=-1), tf.int32) == y_true)
        self.right.assign_add(tf.reduce_sum(tf.cast(hit, tf.float32)))
        self.total.assign_add(tf.reduce_sum(tf.cast(mask, tf.float32)))

    def result(self) -> Any:
        return self.right / tf_keras.backend.maximum(self.total, 1.0)

    def reset_state(self) -> None:
        self.right.assign(0.0)
        self.total.assign(0.0)


class ValEntityF1(tf_keras.callbacks.Callback):
    """After each epoch: micro entity F1 on the validation sentences -> logs["val_entity_f1"]."""

    def __init__(self, tokenizer: Any, val_df: pd.DataFrame, max_len: int, types: list[str]):
        super().__init__()
        self.tokenizer, self.max_len, self.types = tokenizer, max_len, types
        self.texts = val_df["text"].tolist()
        self.gold = [spans_from_json(v) for v in val_df["entities"]]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        found = predict_entities(self.model, self.tokenizer, self.texts, self.max_len)
        pred = [[(s, e, t) for s, e, t, _ in sentence] for sentence in found]
        f1 = entity_scores(self.gold, pred, self.types)["micro"]["f1"]
        if logs is not None:
            logs["val_entity_f1"] = f1
        logger.info("epoch %d: val entity F1 %.4f", epoch + 1, f1)
