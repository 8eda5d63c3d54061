"""What a model server reports about its work, for whoever watches it (the app's /metrics).

The servers (pipeline/inference/server.py, the generation server) and the micro-batcher call
these methods as they work; the default does nothing, so a server without metrics and the
predict command pay nothing. pipeline/serve/metrics.py is the Prometheus implementation: the
serve layer plugs it in, so the inference layer never imports the web stack.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


class Observer:
    """Hooks called from the worker thread (batches) and the event loop (requests)."""

    def loaded(self, model: str, seconds: float) -> None:
        """The model is ready, ``seconds`` after the server started loading it."""

    def batch(self, model: str, size: int, waits_s: Sequence[float], model_s: float) -> None:
        """One model call of ``size`` inputs; ``waits_s``: each job's time in the queue."""

    def processed(self, task: str, model: str, inputs: int, tokens: int, kind: str) -> None:
        """``inputs`` answered, carrying ``tokens`` (``kind``: input or generated)."""

    def queue(self, model: str, depth: Callable[[], int]) -> None:
        """``depth()`` says how many jobs wait for ``model``'s worker right now."""


NO_OBSERVER = Observer()


def count_tokens(
    tokenizer: object, examples: Sequence[object], max_len: int | None
) -> tuple[int, int]:
    """(inputs, tokens) the model reads for ``examples`` (texts or text pairs), special tokens
    included and cut at ``max_len`` as the model cuts them; other items (NER's unfinished
    readings, queued again) were counted when they first came."""
    texts = [e for e in examples if isinstance(e, str)]
    pairs = [e for e in examples if isinstance(e, tuple) and len(e) == 2]
    total = 0
    kwargs = {"truncation": max_len is not None, "max_length": max_len}
    if texts:
        total += sum(len(ids) for ids in tokenizer(texts, **kwargs)["input_ids"])
    if pairs:
        first, second = [a for a, _ in pairs], [b for _, b in pairs]
        total += sum(len(ids) for ids in tokenizer(first, second, **kwargs)["input_ids"])
    return len(texts) + len(pairs), total
