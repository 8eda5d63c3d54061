"""LM sequences: condition prefix + sentence + eos, length-bucketed batches, perplexity.

A sequence is the tokens of ``prefix + text`` followed by the eos token, truncated at
``model.max_seq_len`` (no bos: prompts at serving time start without one, as KoGPT2's do).
Batches reuse train's length buckets (pad per batch to a multiple of 4); the loss labels are
the input ids with padding set to -100, which transformers' causal-LM loss leaves out.
Perplexity is exp of the mean negative log-likelihood per predicted token (every token after
the first, eos included), summed over the whole split, not averaged per batch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from pipeline.fitting import length_buckets

IGNORE = -100  # label of a position the loss skips


def with_prefix(texts: Sequence[str], labels: Sequence[str], prefix: str | None) -> list[str]:
    """``prefix`` (``"[{label}] "``) filled with each row's label, before its text."""
    if prefix is None:
        return list(texts)
    return [prefix.format(label=label) + text for text, label in zip(texts, labels, strict=True)]


def encode(tokenizer: Any, texts: Sequence[str], max_len: int | None) -> list[list[int]]:
    """Token ids of each text plus eos, at most ``max_len`` of them (None: untruncated)."""
    ids = tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
    out = [[*x, tokenizer.eos_token_id] for x in ids]
    return [x[:max_len] for x in out] if max_len is not None else out


def lm_batches(
    ids: list[list[int]], batch_size: int, max_len: int, pad_id: int, seed: int | None
) -> Iterator[dict[str, np.ndarray]]:
    """One pass of padded batches with ``labels`` (padding: -100); ``seed`` None: length order."""
    for idx in length_buckets.bucket_order([len(x) for x in ids], batch_size, seed):
        width = length_buckets.pad_width(max(len(ids[i]) for i in idx), max_len)
        batch = length_buckets.pad_batch(ids, idx, width, pad_id)
        del batch["token_type_ids"]
        batch["labels"] = np.where(batch["attention_mask"] == 1, batch["input_ids"], IGNORE)
        yield batch


def token_nll(model: Any, ids: list[list[int]], batch_size: int, pad_id: int) -> tuple[float, int]:
    """Summed negative log-likelihood of every predicted token, and how many there are."""
    import tensorflow as tf

    total, count = 0.0, 0
    for batch in lm_batches(ids, batch_size, 10**9, pad_id, None):
        logits = model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], training=False
        ).logits
        labels = batch["labels"][:, 1:]
        mask = labels != IGNORE
        logp = tf.nn.log_softmax(tf.cast(logits[:, :-1], tf.float32), axis=-1).numpy()
        picked = np.take_along_axis(logp, np.where(mask, labels, 0)[..., None], axis=-1)[..., 0]
        total -= float(picked[mask].sum())
        count += int(mask.sum())
    return total, count


def perplexity(model: Any, ids: list[list[int]], batch_size: int, pad_id: int) -> float:
    """exp(mean NLL per predicted token) of ``model`` on the sequences ``ids``."""
    total, count = token_nll(model, ids, batch_size, pad_id)
    return math.exp(total / max(count, 1))


def masked_token_accuracy() -> Any:
    """A Keras metric: share of predicted tokens (labels != -100) the argmax gets right."""
    import tensorflow as tf
    import tf_keras

    class TokenAccuracy(tf_keras.metrics.Mean):
        def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
            labels = tf.cast(y_true[:, 1:], tf.int64)
            guess = tf.argmax(y_pred[:, :-1], axis=-1)
            mask = tf.cast(labels != IGNORE, tf.float32)
            hits = tf.cast(guess == labels, tf.float32)
            return super().update_state(hits, sample_weight=mask)

    return TokenAccuracy(name="accuracy")
