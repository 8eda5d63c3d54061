"""transformers' token-classification windows and "simple" entity groups, in numpy.

``TokenClassificationPipeline`` (transformers 4.57) cuts a text longer than the tokenizer's
length into overlapping windows in its ``preprocess`` (the fast tokenizer with truncation,
overflowing tokens, ``stride``, padding, offsets and special-token masks) and turns the
windows' logits into entity groups in its ``postprocess`` (``gather_pre_entities``,
``aggregate`` with the "simple" strategy, ``group_entities``, then
``aggregate_overlapping_entities`` across windows). Those steps are plain Python and numpy,
but the pipeline's module imports TensorFlow whenever it is installed and a pipeline is built
only around a TF or PyTorch model: the ONNX serve path (no TensorFlow: docs/onnx.md) could not
use them. So they are here, step for step, for any framework: ``windows`` is what
``preprocess`` yields for one text, ``entity_groups`` what ``postprocess`` answers for the
windows' logits. tests/test_ner_windows.py checks both against the pipeline's own, on the same
logits, to the last bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


def stride(max_len: int) -> int:
    """Pieces two windows of ``max_len`` share (what serve's pipeline was built with)."""
    return max(1, max_len // 4)


@dataclass(frozen=True)
class Window:
    """One window of a text: the model's ``inputs`` (1-D int32 arrays: ``input_ids``,
    ``attention_mask`` and, if the tokenizer gives them, ``token_type_ids``; the last window
    padded as the pipeline pads it), which pieces are special (padding included) and each
    piece's character ``offsets`` into the text."""

    inputs: dict[str, np.ndarray]
    special: np.ndarray
    offsets: np.ndarray

    @property
    def ids(self) -> np.ndarray:
        return self.inputs["input_ids"]


def windows(tokenizer: Any, text: str, max_len: int | None) -> list[Window]:
    """``text`` in windows of ``max_len`` pieces overlapping by ``stride(max_len)`` (None: one
    window, cut at the tokenizer's own length), as the pipeline's ``preprocess`` cuts it."""
    extra: dict[str, Any] = {}
    if max_len is not None:  # the pipeline's ``model_max_length=max_len`` and ``stride``
        extra = {"max_length": max_len, "stride": stride(max_len)}
        extra |= {"return_overflowing_tokens": True, "padding": True}
    enc = tokenizer(
        text,
        return_tensors="np",
        truncation=bool(tokenizer.model_max_length and tokenizer.model_max_length > 0),
        return_special_tokens_mask=True,
        return_offsets_mapping=True,
        verbose=False,
        **extra,
    )
    keys = [k for k in ("input_ids", "token_type_ids", "attention_mask") if k in enc]
    return [
        Window(
            {k: np.asarray(enc[k][i], dtype=np.int32) for k in keys},
            np.asarray(enc["special_tokens_mask"][i]),
            np.asarray(enc["offset_mapping"][i]),
        )
        for i in range(len(enc["input_ids"]))
    ]


def entity_groups(tokenizer: Any, id2label: dict[int, str], text: str, parts: Sequence[Window],
                  logits: Sequence[np.ndarray]) -> list[dict[str, Any]]:  # fmt: skip
    """The pipeline's ``postprocess(..., aggregation_strategy="simple")`` of ``parts`` (the
    windows of ``text``) and their logits (float32, one row per piece): groups
    ``{"entity_group", "score", "word", "start", "end"}``, offsets into ``text``, "O" left
    out, overlaps of windows resolved (the longer group wins, then the higher score)."""
    found: list[dict[str, Any]] = []
    for part, window_logits in zip(parts, logits, strict=True):
        exp = np.exp(window_logits - np.max(window_logits, axis=-1, keepdims=True))
        scores = exp / exp.sum(axis=-1, keepdims=True)
        pieces = []
        for idx, piece_scores in enumerate(scores):
            if part.special[idx]:
                continue
            start, end = (int(x) for x in part.offsets[idx])
            token = int(part.ids[idx])
            word = tokenizer.convert_ids_to_tokens(token)
            if token == tokenizer.unk_token_id:
                word = text[start:end]
            best = piece_scores.argmax()
            pieces.append({
                "entity": id2label[int(best)], "score": piece_scores[best], "word": word,
                "start": start, "end": end,
            })  # fmt: skip
        found += [g for g in _group(tokenizer, pieces) if g["entity_group"] != "O"]
    return _resolve_overlaps(found) if len(parts) > 1 else found


def _tag(entity: str) -> tuple[str, str]:
    """("B" or "I", type) of a tag; one without a B-/I- prefix continues (``get_tag``)."""
    if entity.startswith(("B-", "I-")):
        return entity[0], entity[2:]
    return "I", entity


def _group(tokenizer: Any, pieces: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Adjacent pieces of one type, each B- starting a new group (``group_entities``)."""
    runs: list[list[dict[str, Any]]] = []
    for piece in pieces:
        bi, tag = _tag(piece["entity"])
        if runs and tag == _tag(runs[-1][-1]["entity"])[1] and bi != "B":
            runs[-1].append(piece)
        else:
            runs.append([piece])
    return [
        {
            "entity_group": run[0]["entity"].split("-", 1)[-1],
            "score": np.mean(np.nanmean([p["score"] for p in run])),  # as group_sub_entities
            "word": tokenizer.convert_tokens_to_string([p["word"] for p in run]),
            "start": run[0]["start"],
            "end": run[-1]["end"],
        }
        for run in runs
    ]


def _resolve_overlaps(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Of groups that overlap (windows read the same pieces twice) keep the longer, then the
    higher-scored one (``aggregate_overlapping_entities``)."""
    if not entities:
        return entities
    entities = sorted(entities, key=lambda x: x["start"])
    kept = []
    previous = entities[0]
    for entity in entities:
        if previous["start"] <= entity["start"] < previous["end"]:
            length, previous_length = (e["end"] - e["start"] for e in (entity, previous))
            if length > previous_length or (
                length == previous_length and entity["score"] > previous["score"]
            ):
                previous = entity
        else:
            kept.append(previous)
            previous = entity
    kept.append(previous)
    return kept
