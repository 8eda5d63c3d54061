"""Sentences through the NER model window by window, the windows of many in one batch.

transformers' ``TokenClassificationPipeline`` reads a sentence longer than the model's length in
overlapping windows (``stride``) and runs the model once per window, eagerly, at batch 1. On a
CPU that call is mostly Python: about a thousand TF ops dispatched one by one, so a 64-piece
window of the demo's 12-layer encoder cost ~0.2 s (~0.04 s of it arithmetic) and a
5,000-character request ~25 s (109 windows). Tokenizing and the pipeline's postprocess are
milliseconds. So ``Tagger`` keeps the pipeline's own ``preprocess`` (the windows, with their
offsets and special-token masks) and its own ``postprocess`` (the same aggregation, overlaps
resolved the same way: the same entities), and in between runs the windows of all the texts at
hand through one traced model function (``tf.function``, one trace for every shape) in batches
of at most ``batch`` windows, each padded to the longest window of its batch.

A ``Reading`` is a text part way through: ``Tagger.step`` with a ``budget`` reads at most that
many windows of the texts longer than one window, and cuts a new long text into windows only
while the turn has room for its windows, so that a server can read a long text in slices
between other requests (``serve.EntityServer``).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.tasks.ner.view import View, model_view

# What the pipeline's preprocess yields besides the model's inputs (its ``_forward`` pops them).
NOT_MODEL_INPUTS = ("special_tokens_mask", "offset_mapping", "sentence", "is_last")
NOT_MODEL_INPUTS += ("word_ids", "word_to_chars_map")


def entity_pipeline(model: Any, tokenizer: Any, max_len: int | None = None) -> Any:
    """The pipeline; with ``max_len``, a long sentence is read in overlapping windows of
    ``max_len`` pieces (the length the model was trained at) instead of being cut off."""
    from transformers import TokenClassificationPipeline

    if max_len is None:
        return TokenClassificationPipeline(
            model=model, tokenizer=tokenizer, framework="tf", aggregation_strategy="simple"
        )
    windowed = copy.copy(tokenizer)  # the loaded tokenizer keeps its own length
    windowed.model_max_length = max_len
    return TokenClassificationPipeline(
        model=model,
        tokenizer=windowed,
        framework="tf",
        aggregation_strategy="simple",
        stride=max(1, max_len // 4),
    )


@dataclass(eq=False)
class Reading:
    """``text`` (as sent) being read: the model's view of it, its windows (the pipeline's
    chunks) and the model's outputs for the first ``len(outputs)`` of them."""

    text: str
    view: View
    chunks: list[dict[str, Any]]
    outputs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def left(self) -> int:
        """Windows not read yet (0: done)."""
        return len(self.chunks) - len(self.outputs)


class Tagger:
    """The pipeline's windows and aggregation around batched model calls (``batch`` windows
    at most per call); ``calls`` counts the model calls."""

    def __init__(
        self, model: Any, tokenizer: Any, max_len: int | None = None, batch: int = 16
    ) -> None:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self.pipe = entity_pipeline(model, tokenizer, max_len)
        self.batch = batch
        # a text this long or shorter is always read in its turn (a few milliseconds)
        self.short_chars = max_len or 512
        self.calls = 0
        self._logits: Any = None  # the traced model call, built on the first batch

    def read(self, text: str) -> Reading:
        """``text`` cut into the pipeline's windows (none for a blank text), nothing read yet."""
        view = model_view(text)
        if not view.text.strip():
            return Reading(text, view, [])
        chunks = self.pipe.preprocess(view.text, **self.pipe._preprocess_params)
        return Reading(text, view, list(chunks))

    def step(
        self, items: Sequence[str | Reading], budget: int | None = None
    ) -> list[Reading | str]:
        """Read the items' next windows: all of them (``budget`` None), or every one-window
        text and, of the longer ones (the first ones first), as many windows as make
        ``budget`` in all, at least ``budget // 2`` (a stream of short texts cannot starve a
        long one).

        With a ``budget``, cutting a text into windows (``read``, ~0.1 ms a character) is
        bounded too: a new text of more than ``short_chars`` characters is read only while
        the windows of the long texts before it leave room in the turn; the others come back
        as they were (strings), to be read in a later turn."""
        readings: list[Reading | str] = []
        waiting = 0  # windows of the longer texts so far, more than a turn can read
        for item in items:
            if budget is not None and isinstance(item, str):
                if len(item) > self.short_chars and waiting >= budget:
                    readings.append(item)
                    continue
            r = item if isinstance(item, Reading) else self.read(item)
            if len(r.chunks) > 1:
                waiting += r.left
            readings.append(r)
        read = [r for r in readings if isinstance(r, Reading)]
        todo: list[tuple[Reading, dict[str, Any]]] = []
        room = budget
        if budget is not None:
            short = sum(r.left for r in read if len(r.chunks) == 1)
            room = max(budget // 2, budget - short, 1)
        for r in read:
            take = r.left
            if room is not None and len(r.chunks) > 1:
                take = min(take, room)
                room -= take
            todo += [(r, c) for c in r.chunks[len(r.outputs) : len(r.outputs) + take]]
        for at in range(0, len(todo), self.batch):
            part = todo[at : at + self.batch]
            for (r, _), out in zip(part, self.forward([c for _, c in part]), strict=True):
                r.outputs.append(out)  # a reading's windows are in order within ``todo``
        return readings

    def groups(self, reading: Reading) -> list[dict[str, Any]]:
        """The pipeline's entity groups of a read text (offsets index ``reading.view.text``)."""
        if not reading.chunks:
            return []
        if reading.left:
            raise ValueError(f"{reading.left} windows of this text are not read yet")
        return self.pipe.postprocess(reading.outputs, **self.pipe._postprocess_params)

    def forward(self, chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One model call on ``chunks`` padded to the longest; per chunk, what the pipeline's
        ``_forward`` gives (its logits cut back to its own length)."""
        import tensorflow as tf

        tokenizer = self.pipe.tokenizer
        left = tokenizer.padding_side == "left"
        keys = [k for k in chunks[0] if k not in NOT_MODEL_INPUTS]
        lengths = [int(c["input_ids"].shape[-1]) for c in chunks]
        width = max(lengths)
        inputs = {}
        for key in keys:
            rows = [np.asarray(c[key])[0] for c in chunks]
            pad = (tokenizer.pad_token_id or 0) if key == "input_ids" else 0  # mask: 0
            batch = np.full((len(rows), width), pad, dtype=rows[0].dtype)
            for i, row in enumerate(rows):
                if left:
                    batch[i, width - len(row) :] = row
                else:
                    batch[i, : len(row)] = row
            inputs[key] = tf.constant(batch)
        if self._logits is None:
            model = self.pipe.model
            spec = {k: tf.TensorSpec([None, None], v.dtype, name=k) for k, v in inputs.items()}
            self._logits = tf.function(
                lambda x: model(**x, training=False)[0], input_signature=[spec]
            )
        logits = self._logits(inputs).numpy()
        self.calls += 1
        out = []
        for i, (chunk, n) in enumerate(zip(chunks, lengths, strict=True)):
            own = logits[i : i + 1, width - n :] if left else logits[i : i + 1, :n]
            out.append(
                {
                    "offset_mapping": None,
                    "word_ids": None,
                    "word_to_chars_map": None,
                    **chunk,
                    "logits": tf.constant(own),
                }
            )
        return out
