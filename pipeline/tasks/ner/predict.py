"""Batched entity prediction with a token-classification model (evaluate, train's val F1).

Sentences are tokenized with offsets, sorted by length, padded per batch and run through the
model; each piece takes its most probable tag, and the tags are decoded to character spans with
the strict IOB2 rule (align.py). An entity's score is the mean probability of its pieces' tags,
as transformers' ``aggregation_strategy="simple"`` scores its groups. The model is the TF
model or the run's ONNX export (``OnnxModel`` is called the same way); ``EntityExport`` is what
the export compares between them (pipeline/export/).
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


def token_logits(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    max_len: int,
    batch_size: int = 64,
    progress: Callable[[int], Any] | None = None,
) -> tuple[Any, list[np.ndarray]]:
    """(the encoding with offsets, each text's (pieces, tags) logits) of ``model``: the TF model
    or an exported ``OnnxModel`` (pipeline/model/onnx_classifier.py), called the same way."""
    enc = encode_with_offsets(tokenizer, texts, max_len)
    ids = enc["input_ids"]
    order = np.argsort([len(x) for x in ids], kind="stable")
    out: list[np.ndarray] = [np.empty(0)] * len(texts)
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
        for row, i in enumerate(idx):
            out[i] = logits[row, : len(ids[i])]
        if progress:
            progress(len(idx))
    return enc, out


def decode(texts: Sequence[str], enc: Any, logits: Sequence[np.ndarray],
           id2label: dict[int, str]) -> list[list[Entity]]:  # fmt: skip
    """Each text's entities from its pieces' logits (``token_logits``)."""
    out = []
    for i, (text, piece_logits) in enumerate(zip(texts, logits, strict=True)):
        probs = np.exp(piece_logits - piece_logits.max(axis=-1, keepdims=True))
        probs /= probs.sum(axis=-1, keepdims=True)
        best = probs.argmax(axis=-1)
        special = enc["special_tokens_mask"][i]
        tags = ["O" if special[k] else id2label[int(best[k])] for k in range(len(best))]
        spans = piece_spans(text, enc["offset_mapping"][i], tags)
        out.append([
            (s, e, kind, float(probs[np.arange(a, b), best[a:b]].mean()))
            for s, e, kind, a, b in spans
        ])  # fmt: skip
    return out


def predict_entities(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    max_len: int,
    batch_size: int = 64,
    progress: Callable[[int], Any] | None = None,
) -> list[list[Entity]]:
    """Entities ``(start, end, type, score)`` of each text, in the order given."""
    enc, logits = token_logits(model, tokenizer, texts, max_len, batch_size, progress)
    id2label = {int(i): t for i, t in model.config.id2label.items()}
    return decode(texts, enc, logits, id2label)


class EntityExport:
    """The export's check of a NER run: one logit row per word piece (the special tokens
    too) of every sentence, and the test split's entity F1 (micro, exact match)."""

    unit = "tags"
    rules = {
        "labels": "each word piece's tag: the argmax of its logits",
        "score": "the test split's entity F1 (micro; exact span and type)",
    }

    def __init__(self, tokenizer: Any, id2label: dict[int, str], max_len: int,
                 batch_size: int) -> None:  # fmt: skip
        self.tokenizer, self.id2label = tokenizer, id2label
        self.types = sorted({tag[2:] for tag in id2label.values() if tag != "O"})  # B-PS: PS
        self.max_len, self.batch_size = max_len, batch_size

    def rows(self, frame: Any) -> Any:
        return frame

    def logits(self, model: Any, frame: Any) -> np.ndarray:
        texts = frame["text"].tolist()
        return np.concatenate(
            token_logits(model, self.tokenizer, texts, self.max_len, self.batch_size)[1]
        )

    def labels(self, logits: np.ndarray) -> np.ndarray:
        return logits.argmax(axis=1)

    def score(self, frame: Any, logits: np.ndarray) -> tuple[str, float]:
        from pipeline.tasks.ner.markup import spans_from_json
        from pipeline.tasks.ner.metrics import entity_scores

        texts = frame["text"].tolist()
        enc = encode_with_offsets(self.tokenizer, texts, self.max_len)
        cuts = np.cumsum([len(x) for x in enc["input_ids"]])[:-1]
        found = decode(texts, enc, np.split(logits, cuts), self.id2label)
        pred = [[(s, e, t) for s, e, t, _ in f] for f in found]
        gold = [spans_from_json(v) for v in frame["entities"]]
        return "entity_f1", round(entity_scores(gold, pred, self.types)["micro"]["f1"], 6)
