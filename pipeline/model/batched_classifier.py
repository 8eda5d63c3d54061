"""Batched inference for a trained run: the one forward path evaluate, predict and serve share.

Sentences are sorted by token length and cut into batches, each padded only to its longest
member rounded up to a multiple of ``PAD_MULTIPLE``: few distinct shapes (so TensorFlow traces
few graphs) and little padding. The attention mask makes padded and unpadded sentences give
the same logits, so results equal ``TextClassificationPipeline`` one sentence at a time.

    clf = BatchedClassifier(model, tokenizer, max_seq_len=128, batch_size=64)
    probs = clf.predict_proba(["오늘 너무 기뻐요"])     # (n, num_labels), softmax
    clf.temperature = 1.7                               # a run's calibration.json: softmax(z / T)

``PaddedClassifier`` holds the batching and the answers; ``BatchedClassifier`` runs a TF model
in it, pipeline/model/onnx_classifier.py's ``OnnxClassifier`` an exported ONNX graph.

``encode`` (a task's, pipeline/tasks/) turns other examples into ids and token_type_ids: with
the pair task's, examples are (premise, hypothesis) tuples.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

PAD_MULTIPLE = 16

Padded = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # rows, ids, mask, segment ids


def padded_batches(
    ids: Sequence[Sequence[int]],
    types: Sequence[Sequence[int]] | None,
    batch_size: int,
    max_seq_len: int,
    pad_id: int,
) -> Iterator[Padded]:
    """Length-sorted batches of token ids: (row indices, ids, attention mask, token types),
    each padded to its longest member rounded up to a multiple of ``PAD_MULTIPLE``."""
    order = np.argsort([len(x) for x in ids], kind="stable")
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        longest = max(len(ids[i]) for i in idx)
        width = max(min(-(-longest // PAD_MULTIPLE) * PAD_MULTIPLE, max_seq_len), longest)
        batch = np.full((len(idx), width), pad_id, dtype=np.int32)
        mask = np.zeros((len(idx), width), dtype=np.int32)
        segments = np.zeros((len(idx), width), dtype=np.int32)
        for row, i in enumerate(idx):
            batch[row, : len(ids[i])] = ids[i]
            mask[row, : len(ids[i])] = 1
            if types is not None:
                segments[row, : len(types[i])] = types[i]
        yield idx, batch, mask, segments


class PaddedClassifier:
    """``predict_logits`` / ``predict_proba`` / ``predict`` / ``top_k`` over length-sorted padded
    batches; a subclass says how one padded batch becomes logits (``_logits``)."""

    def __init__(
        self,
        tokenizer: Any,
        max_seq_len: int,
        batch_size: int,
        id2label: dict[int, str],
        encode: Callable[..., tuple[list[list[int]], list[list[int]] | None]] | None = None,
    ) -> None:
        # (tokenizer, examples, max_len) -> (input_ids, token_type_ids or None); None: one
        # text per example, segment ids all zero.
        self.encoder = encode
        self.tokenizer = tokenizer
        self.max_seq_len = max_seq_len
        self.batch_size = batch_size
        self.id2label = id2label
        # predict_proba's softmax(logits / temperature): the run's calibration (1.0: raw scores;
        # pipeline/calibration.py). It never changes a label: the temperature is positive.
        self.temperature = 1.0

    def _logits(self, ids: np.ndarray, mask: np.ndarray, segments: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def encode(self, texts: Sequence[Any]) -> list[list[int]]:
        return self.encode_with_types(texts)[0]

    def encode_with_types(
        self, texts: Sequence[Any]
    ) -> tuple[list[list[int]], list[list[int]] | None]:
        if self.encoder is not None:
            return self.encoder(self.tokenizer, texts, self.max_seq_len)
        ids = self.tokenizer(
            list(texts), truncation=True, max_length=self.max_seq_len, add_special_tokens=True
        )["input_ids"]
        return ids, None

    def predict_logits(
        self, texts: Sequence[Any], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Logits (float32), one row per text (example), in the input order."""
        out = np.zeros((len(texts), len(self.id2label)), dtype=np.float32)
        if len(texts) == 0:
            return out
        ids, types = self.encode_with_types(texts)
        pad_id = self.tokenizer.pad_token_id or 0
        for idx, batch, mask, segments in padded_batches(
            ids, types, self.batch_size, self.max_seq_len, pad_id
        ):
            out[idx] = self._logits(batch, mask, segments)
            if progress:
                progress(len(idx))
        return out

    def predict_proba(
        self, texts: Sequence[Any], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Softmax probabilities of ``logits / temperature``, one row per text (example), in
        the input order."""
        return softmax(self.predict_logits(texts, progress) / np.float32(self.temperature))

    def predict(self, texts: Sequence[Any]) -> list[str]:
        return [self.id2label[int(i)] for i in self.predict_logits(texts).argmax(axis=1)]

    def top_k(self, texts: Sequence[Any], k: int) -> list[list[dict[str, float | str]]]:
        """Per text, the k best ``{"label", "score"}``, best first (the Inference API shape)."""
        probs = self.predict_proba(texts)
        best = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        return [
            [{"label": self.id2label[int(j)], "score": float(row[j])} for j in cols]
            for row, cols in zip(probs, best, strict=True)
        ]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float32 (what ``tf.nn.softmax`` gives, within rounding)."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (shifted / shifted.sum(axis=-1, keepdims=True)).astype(np.float32)


class BatchedClassifier(PaddedClassifier):
    """A TF sequence-classification model behind ``PaddedClassifier``: one compiled graph."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        max_seq_len: int,
        batch_size: int = 64,
        encode: Callable[..., tuple[list[list[int]], list[list[int]] | None]] | None = None,
    ) -> None:
        id2label = {int(i): name for i, name in model.config.id2label.items()}
        super().__init__(tokenizer, max_seq_len, batch_size, id2label, encode)
        self.model = model
        self._forward = None

    def _compiled(self) -> Callable:
        if self._forward is None:
            import tensorflow as tf

            model = self.model

            @tf.function(reduce_retracing=True)
            def forward(input_ids, attention_mask, token_type_ids):
                logits = model(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    token_type_ids=token_type_ids,
                    training=False,
                ).logits
                return tf.cast(logits, tf.float32)

            self._forward = forward
        return self._forward

    def _logits(self, ids: np.ndarray, mask: np.ndarray, segments: np.ndarray) -> np.ndarray:
        return self._compiled()(ids, mask, segments).numpy()
