"""Sentences through the NER model window by window, the windows of many in one batch.

transformers' ``TokenClassificationPipeline`` reads a sentence longer than the model's length in
overlapping windows (``stride``) and runs the model once per window, eagerly, at batch 1. On a
CPU that call is mostly Python: about a thousand TF ops dispatched one by one, so a 64-piece
window of the demo's 12-layer encoder cost ~0.2 s (~0.04 s of it arithmetic) and a
5,000-character request ~25 s (109 windows). Tokenizing and the pipeline's postprocess are
milliseconds. So ``Tagger`` cuts the windows as the pipeline's ``preprocess`` does (with their
offsets and special-token masks) and aggregates as its ``postprocess`` does (overlaps resolved
the same way: the same entities), both in numpy (groups.py), and in between runs the windows of
all the texts at hand through one model call in batches of at most ``batch`` windows, each
padded to the longest window of its batch: a TF model through one traced function
(``tf.function``, one trace for every shape; TensorFlow is imported only then), an exported
graph (``OnnxModel``, serve.backend onnx / onnx-int8) in ONNX Runtime, without TensorFlow.

A ``Reading`` is a text part way through: ``Tagger.step`` with a ``budget`` reads at most that
many windows of the texts longer than one window, and cuts a new long text into windows only
while the turn has room for its windows, so that a server can read a long text in slices
between other requests (``serve.EntityServer``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.model.onnx_classifier import OnnxModel
from pipeline.tasks.ner.groups import Window, entity_groups, windows
from pipeline.tasks.ner.view import View, model_view

Logits = Callable[[dict[str, np.ndarray]], np.ndarray]  # a padded batch -> its logits


def model_call(model: Any, inputs: dict[str, np.ndarray]) -> Logits:
    """``model`` as one call on a padded batch like ``inputs``: an exported graph as it is, a
    TF model traced once for every batch size and width."""
    if isinstance(model, OnnxModel):
        return lambda batch: model(batch, training=False).logits
    import tensorflow as tf

    spec = {k: tf.TensorSpec([None, None], tf.int32, name=k) for k in inputs}
    traced = tf.function(lambda x: model(**x, training=False)[0], input_signature=[spec])
    return lambda batch: traced({k: tf.constant(v) for k, v in batch.items()}).numpy()


@dataclass(eq=False)
class Reading:
    """``text`` (as sent) being read: the model's view of it, its windows (``chunks``, as the
    pipeline's preprocess cuts them) and the logits of the first ``len(outputs)`` of them."""

    text: str
    view: View
    chunks: list[Window]
    outputs: list[np.ndarray] = field(default_factory=list)

    @property
    def left(self) -> int:
        """Windows not read yet (0: done)."""
        return len(self.chunks) - len(self.outputs)


class Tagger:
    """The pipeline's windows and aggregation around batched model calls (``batch`` windows
    at most per call) of ``model``: a TF token classifier or an exported ``OnnxModel``;
    ``calls`` counts the model calls."""

    def __init__(
        self, model: Any, tokenizer: Any, max_len: int | None = None, batch: int = 16
    ) -> None:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self.model, self.tokenizer, self.max_len, self.batch = model, tokenizer, max_len, batch
        self.id2label = {int(i): tag for i, tag in model.config.id2label.items()}
        # a text this long or shorter is always read in its turn (a few milliseconds)
        self.short_chars = max_len or 512
        self.calls = 0
        self._logits: Logits | None = None  # the model call, built (traced) on the first batch

    def read(self, text: str) -> Reading:
        """``text`` cut into the pipeline's windows (none for a blank text), nothing read yet."""
        view = model_view(text)
        if not view.text.strip():
            return Reading(text, view, [])
        return Reading(text, view, windows(self.tokenizer, view.text, self.max_len))

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
        return entity_groups(
            self.tokenizer, self.id2label, reading.view.text, reading.chunks, reading.outputs
        )

    def forward(self, chunks: list[Window]) -> list[np.ndarray]:
        """One model call on ``chunks`` padded to the longest; per chunk, its logits (float32)
        cut back to its own length."""
        left = self.tokenizer.padding_side == "left"
        lengths = [len(c.ids) for c in chunks]
        width = max(lengths)
        inputs = {}
        for key in chunks[0].inputs:
            pad = (self.tokenizer.pad_token_id or 0) if key == "input_ids" else 0  # mask: 0
            batch = np.full((len(chunks), width), pad, dtype=np.int32)
            for i, chunk in enumerate(chunks):
                row = chunk.inputs[key]
                if left:
                    batch[i, width - len(row) :] = row
                else:
                    batch[i, : len(row)] = row
            inputs[key] = batch
        if self._logits is None:
            self._logits = model_call(self.model, inputs)
        logits = np.asarray(self._logits(inputs), dtype=np.float32)
        self.calls += 1
        return [logits[i, width - n :] if left else logits[i, :n] for i, n in enumerate(lengths)]
