"""Token streaming for generation: the text-generation-inference (TGI) server-sent events that
``InferenceClient.text_generation(..., stream=True)`` reads.

TensorFlow's ``generate`` has no streamer, but it calls every logits processor once per step
with the tokens chosen so far; ``TokenHook`` is a processor that changes no score: it hands
each new token out as it appears (and can stop the generation: a client that went away, a
deadline). The generation itself is ``sampling.generate``'s, so a stream and a plain request
with the same seed give the same text. Events, one per token, the last with the whole text::

    data:{"index": 1, "token": {"id": 17, "text": "요", "logprob": -2.3, "special": false},
          "generated_text": null, "details": null, "top_tokens": null}
    data:{"index": 6, "token": {...}, "generated_text": "[기쁨] 오늘 ...",
          "details": {"finish_reason": "length", "generated_tokens": 6, "input_length": 3,
                      "seed": 7}, "top_tokens": null}

A token's text is what it adds to the decoded text (byte pieces of a Hangul syllable wait for
the rest: a token may carry ""), so the texts put together are the new text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from pipeline.tasks.generation import sampling

Emit = Callable[[dict[str, Any]], None]


class Stopped(Exception):
    """Raised inside ``generate`` to end it early (the client is gone, or time ran out)."""


def sse(event: dict[str, Any]) -> bytes:
    """One server-sent event as TGI writes it."""
    return b"data:" + json.dumps(event, ensure_ascii=False).encode("utf-8") + b"\n\n"


class TokenText:
    """Incremental decoding: each token's share of the decoded new text."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer, self.ids, self.sent = tokenizer, [], ""
        self.special = set(tokenizer.all_special_ids)

    def add(self, token: int) -> tuple[str, bool]:
        """(the text ``token`` adds, whether it is a special token)."""
        if token in self.special:
            return self.tokenizer.convert_ids_to_tokens(token), True
        self.ids.append(token)
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):  # an incomplete character: wait for its next bytes
            return "", False
        new, self.sent = text[len(self.sent) :], text
        return new, False


def stream_generate(
    pipe: Any, prompt: str, s: sampling.Settings, emit: Emit, stop: Callable[[], bool]
) -> dict[str, Any]:
    """``sampling.generate`` with every new token handed to ``emit`` as a TGI event as it comes
    (the last event carries the text and details); ``stop()`` true ends it with ``Stopped``.
    Returns ``{"generated_text", "seed", "tokens"}``."""
    from transformers.generation.tf_logits_process import TFLogitsProcessor

    text = TokenText(pipe.tokenizer)
    state: dict[str, Any] = {"start": None, "index": 0, "logprobs": None}

    def send(token: int, generated: str | None = None, details: Any = None) -> None:
        piece, special = text.add(token)
        logprob = float(state["logprobs"][token]) if state["logprobs"] is not None else 0.0
        state["index"] += 1
        token_info = {"id": token, "text": piece, "logprob": logprob, "special": special}
        event = {"index": state["index"], "token": token_info, "generated_text": generated}
        emit({**event, "details": details, "top_tokens": None})

    class TokenHook(TFLogitsProcessor):
        """Called before each step's choice with the sequence so far: the token chosen at the
        step before is new. Keeps this step's log-probabilities for the token it chooses."""

        def __call__(self, input_ids: Any, scores: Any, cur_len: Any) -> Any:
            length = int(cur_len)
            if state["start"] is None:
                state["start"] = length  # the prompt's tokens
            elif length > state["start"]:
                send(int(input_ids[0, length - 1]))
            if stop():
                raise Stopped(state["index"])  # the tokens sent so far
            row = scores[0].numpy().astype(np.float64)
            row = row - row.max()
            state["logprobs"] = row - np.log(np.exp(row).sum())
            return scores

    out = sampling.generate(pipe, prompt, s, logits_processor=[TokenHook()], tensors=True)
    ids = [int(i) for i in out["token_ids"]]
    start = state["start"] if state["start"] is not None else len(ids)
    new = ids[start:]
    if not new:  # nothing generated (cannot happen with max_new_tokens >= 1): no event
        return {"generated_text": out["generated_text"], "seed": out["seed"], "tokens": 0}
    eos = pipe.tokenizer.eos_token_id
    finish = "eos_token" if new[-1] == eos and len(new) < s.max_new_tokens else "length"
    details = {
        "finish_reason": finish,
        "generated_tokens": len(new),
        "input_length": start,
        "seed": out["seed"],
    }
    send(new[-1], out["generated_text"], details)
    return {"generated_text": out["generated_text"], "seed": out["seed"], "tokens": len(new)}


class EventStream:
    """The bridge from the generation worker thread to the event loop: events in order, then
    ``None``; ``gone`` set by the loop when the client left (the hook then stops)."""

    def __init__(self, loop: Any) -> None:
        import asyncio
        import threading

        self.loop, self.events = loop, asyncio.Queue()
        self.gone = threading.Event()

    def emit(self, event: dict[str, Any] | None) -> None:
        """From the worker: hand ``event`` (None: the end) to the loop."""
        self.loop.call_soon_threadsafe(self.events.put_nowait, event)

    async def body(self, first: dict[str, Any]) -> Any:
        """The response body: ``first`` and every later event as SSE, until the end. Leaving
        early (the client disconnected: Starlette cancels this) stops the generation."""
        try:
            event: dict[str, Any] | None = first
            while event is not None:
                yield sse(event)
                event = await self.events.get()
        finally:
            self.gone.set()
