"""Batched entity prediction with a token-classification model (evaluate, train's val F1).

Sentences are tokenized with offsets, sorted by length, padded per batch and run through the
model; each piece takes its most probable tag, and the tags are decoded to character spans with
the strict IOB2 rule (align.py). An entity's score is the mean probability of its pieces' tags,
as transformers' ``aggregation_strategy="simple"`` scores its groups.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from pipeline.tasks.ner.align import piece_spans

Entity = tuple[int, int, str, float]  # start, end, type, score


def encode_with_offsets(tokenizer: Any, texts: Sequence[str], max_len: int | None) -> Any:
    """Token ids, offsets and special-token masks of ``texts`` (truncated at ``max_len``)."""
    return tokenizer(
        list(texts),
        truncation=max_len is not None,
        max_length=max_len,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
        verbose=False,
    )


def predict_entities(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    max_len: int,
    batch_size: int = 64,
    progress: Callable[[int], Any] | None = None,
) -> list[list[Entity]]:
    """Entities ``(start, end, type, score)`` of each text, in the order given."""
    enc = encode_with_offsets(tokenizer, texts, max_len)
    ids = enc["input_ids"]
    id2label = {int(i): t for i, t in model.config.id2label.items()}
    order = np.argsort([len(x) for x in ids], kind="stable")
    out: list[list[Entity]] = [[] for _ in texts]
    pad = tokenizer.pad_token_id or 0
    for at in range(0, len(order), batch_size):
        idx = order[at : at + batch_size]
        width = max(len(ids[i]) for i in idx)
        batch = np.full((len(idx), width), pad, dtype=np.int32)
        mask = np.zeros_like(batch)
        for row, i in enumerate(idx):
            batch[row, : len(ids[i])] = ids[i]
            mask[row, : len(ids[i])] = 1
        inputs = {"input_ids": batch, "attention_mask": mask, "token_type_ids": np.zeros_like(mask)}
        logits = np.asarray(model(inputs, training=False).logits, dtype=np.float64)
        probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
        probs /= probs.sum(axis=-1, keepdims=True)
        for row, i in enumerate(idx):
            n = len(ids[i])
            best = probs[row, :n].argmax(axis=-1)
            special = enc["special_tokens_mask"][i]
            tags = ["O" if special[k] else id2label[int(best[k])] for k in range(n)]
            spans = piece_spans(texts[i], enc["offset_mapping"][i], tags)
            out[i] = [
                (s, e, kind, float(probs[row, np.arange(a, b), best[a:b]].mean()))
                for s, e, kind, a, b in spans
            ]
        if progress:
            progress(len(idx))
    return out
