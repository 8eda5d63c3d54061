"""Serving a generation run behind the one web app: the Inference API's text-generation shape,
bounded, and its page (``GenerationServer``, a pipeline/inference/server.py ``Server``).

- ``POST /generate`` (also ``/predict``) ``{"inputs": "프롬프트", "parameters": {"max_new_tokens",
  "temperature", "top_p", "top_k", "repetition_penalty", "no_repeat_ngram_size", "do_sample",
  "seed", "min_new_tokens", "return_full_text"}}`` -> ``[{"generated_text": ...}]``, so
  ``InferenceClient(model=URL).text_generation(prompt, ...)`` works; unset parameters take the
  config's ``generate`` values. A bad prompt or parameter: 422 naming it and its range.
  ``"stream": true``: text-generation-inference's server-sent events, a token at a time
  (stream.py; ``text_generation(..., stream=True)``); a client that leaves stops it.
- ``GET /`` generate.html (prompt box, sliders, result); ``/health``; ``/info`` (defaults,
  ranges and limits the page's sliders read).

Bounded: one generation runs at a time (``TextGenerationPipeline(framework="tf")`` in one
worker thread); at most ``generate.queue_size`` requests wait, more get 503; a request that
has not finished within ``generate.timeout_s`` (waiting included) gets 503 and, if it had not
started, never runs; ``max_new_tokens`` is capped by ``generate.max_new_tokens_cap``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.responses import StreamingResponse

from pipeline.config import Config
from pipeline.errors import PipelineError
from pipeline.inference.api import RequestError
from pipeline.inference.labeller import Labeller
from pipeline.inference.observe import NO_OBSERVER
from pipeline.inference.server import Disconnected, Server
from pipeline.model.loading import ModelRef
from pipeline.tasks.generation import sampling
from pipeline.tasks.generation.stream import EventStream, Stopped, stream_generate

logger = logging.getLogger("pipeline.serve")


class GenerationServer(Server):
    """The model behind the app: loaded in a thread, one generation at a time, bounded queue."""

    routes = ("/generate", "/predict")
    summary = "Continue a prompt (Inference API text-generation shape)"
    page = "generate.html"

    def __init__(self, cfg: Config, ref: ModelRef) -> None:
        super().__init__(cfg, ref)
        self.gen = cfg.generate
        self.pipe: Any = None
        self.context = 0
        self.waiting = 0  # requests queued or running
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generate")

    def _load(self) -> None:
        self.pipe, self.context = load_generator(self.ref.source)
        warm = sampling.settings_from({"max_new_tokens": 2, "seed": 0}, self.base(), self.cap)
        sampling.generate(self.pipe, "안녕", warm)
        self.observer.queue(self.ref.name, lambda: self.waiting)

    @property
    def cap(self) -> int:
        """generate.max_new_tokens_cap, less when the model's context leaves less room."""
        room = self.context - 1 if self.context else self.gen.max_new_tokens_cap
        return max(1, min(self.gen.max_new_tokens_cap, room))

    def base(self) -> dict[str, Any]:
        return sampling.defaults(self.gen)

    def parse(self, body: Any) -> tuple[str, sampling.Settings, bool]:
        """A request body -> (prompt, settings, stream); RequestError 422 naming the bad part."""
        if not isinstance(body, dict) or "inputs" not in body:
            raise RequestError(422, 'the body must be {"inputs": "prompt", "parameters": {...}}')
        unknown = sorted(set(body) - {"inputs", "parameters", "stream"})
        if unknown:
            raise RequestError(422, f"unknown field(s) {', '.join(unknown)}")
        params = {} if body.get("parameters") is None else body["parameters"]
        if not isinstance(params, dict):
            raise RequestError(422, '"parameters" must be an object')
        stream = body.get("stream")
        if stream not in (None, True, False):
            raise RequestError(422, f"stream must be true or false, got {stream!r}")
        try:
            settings = sampling.settings_from(params, self.base(), self.cap)
            sampling.check_prompt(
                self.pipe.tokenizer, body["inputs"], settings.max_new_tokens, self.context
            )
        except PipelineError as exc:
            raise RequestError(422, str(exc)) from None
        return body["inputs"], settings, bool(stream)

    async def answer(self, body: Any, disconnected: Disconnected) -> tuple[Any, dict[str, str]]:
        prompt, settings, stream = self.parse(body)
        if stream:
            return await self.stream(prompt, settings), {}
        out = await self.submit(prompt, settings)
        seed = {} if out["seed"] is None else {"x-seed": str(out["seed"])}  # None: greedy
        return [{"generated_text": out["generated_text"]}], seed

    def _admit(self) -> None:
        """503 when generate.queue_size requests wait already."""
        if self.waiting >= self.gen.queue_size + 1:
            raise RequestError(
                503,
                f"busy: {self.waiting} requests queued or running (at most "
                f"{self.gen.queue_size} wait, generate.queue_size)",
            )

    def _late(self) -> RequestError:
        return RequestError(
            503,
            f"generation did not finish within {self.gen.timeout_s:g} s "
            "(generate.timeout_s): try fewer max_new_tokens",
        )

    async def stream(self, prompt: str, settings: sampling.Settings) -> StreamingResponse:
        """TGI's server-sent events, a token at a time (stream.py). The same queue and limits
        as ``submit``; a request that has not started within generate.timeout_s gets a JSON
        503, one that runs out of time later an error event; a client that leaves stops it."""
        self._admit()
        queued = time.monotonic()
        deadline = queued + self.gen.timeout_s
        events = EventStream(asyncio.get_running_loop())

        def stop() -> bool:
            return events.gone.is_set() or time.monotonic() > deadline

        def job() -> None:
            started = time.monotonic()
            try:
                if stop():
                    return
                out = stream_generate(self.pipe, prompt, settings, events.emit, stop)
                self._observe(prompt, out["generated_text"], started - queued, started, settings)
            except Stopped as stopped:
                sent = stopped.args[0] if stopped.args else 0
                self.observer.processed(self.cfg.task, self.ref.name, 1, 0, "input")
                self.observer.processed(self.cfg.task, self.ref.name, 0, sent, "generated")
                logger.info("a streamed generation stopped after %d tokens", sent)
                if not events.gone.is_set():
                    events.emit({"error": self._late().message, "error_type": "timeout"})
            except Exception as exc:  # noqa: BLE001  (this request's error event only)
                logger.exception("a streamed generation failed")
                events.emit({"error": f"generation failed: {exc}", "error_type": "generation"})
            finally:
                events.emit(None)

        self.waiting += 1
        future = asyncio.get_running_loop().run_in_executor(self.worker, job)
        future.add_done_callback(lambda _: setattr(self, "waiting", self.waiting - 1))
        try:
            first = await asyncio.wait_for(events.events.get(), deadline - time.monotonic())
        except TimeoutError:
            first = None
        if first is None:  # not started in time: nothing was sent yet, so a plain 503
            events.gone.set()
            raise self._late()
        headers = {"cache-control": "no-cache", "x-accel-buffering": "no"}  # the seed: details
        media = "text/event-stream"
        return StreamingResponse(events.body(first), media_type=media, headers=headers)

    async def submit(self, prompt: str, settings: sampling.Settings) -> dict[str, Any]:
        """Run one generation in the worker; 503 when the queue is full or time runs out."""
        self._admit()
        queued = time.monotonic()
        deadline = queued + self.gen.timeout_s
        self.waiting += 1

        def job() -> dict[str, Any] | None:
            started = time.monotonic()
            if started > deadline:  # its client has been answered 503 already
                return None
            out = sampling.generate(self.pipe, prompt, settings)
            self._observe(prompt, out["generated_text"], started - queued, started, settings)
            return out

        late = self._late()
        try:
            future = asyncio.get_running_loop().run_in_executor(self.worker, job)
            out = await asyncio.wait_for(asyncio.shield(future), self.gen.timeout_s)
        except TimeoutError:
            raise late from None
        finally:
            self.waiting -= 1
        if out is None:  # the worker saw the deadline pass before the loop's timeout fired
            raise late
        return out

    def _observe(
        self, prompt: str, text: str, wait_s: float, started: float, s: sampling.Settings
    ) -> None:
        """One generation into /metrics: a batch of one, its prompt and new tokens."""
        if self.observer is NO_OBSERVER:
            return
        name, task, count = self.ref.name, self.cfg.task, self.pipe.tokenizer
        self.observer.batch(name, 1, [wait_s], time.monotonic() - started)
        prompt_tokens = len(count(prompt)["input_ids"])
        new = text[len(prompt) :] if s.return_full_text and text.startswith(prompt) else text
        self.observer.processed(task, name, 1, prompt_tokens, "input")
        self.observer.processed(task, name, 0, len(count(new)["input_ids"]), "generated")

    def request_schema(self) -> dict[str, Any]:
        return REQUEST_SCHEMA

    def answer_schema(self) -> dict[str, Any]:
        return ANSWER_SCHEMA

    def details(self) -> dict[str, Any]:
        return {
            "defaults": self.base(),
            "ranges": sampling.ranges(self.cap),
            "limits": {
                "max_new_tokens": self.cap,
                "timeout_s": self.gen.timeout_s,
                "queue_size": self.gen.queue_size,
                "context_tokens": self.context,
            },
        }

    def limits(self) -> dict[str, Any]:
        """The body limits of the one app; batching, top_k and inputs do not apply here."""
        serve = self.cfg.serve
        return {k: getattr(serve, k) for k in ("max_body_bytes", "body_timeout_s", "keep_alive_s")}

    def close(self) -> None:
        self.worker.shutdown(wait=False, cancel_futures=True)


REQUEST_SCHEMA = {
    "type": "object",
    "required": ["inputs"],
    "properties": {
        "inputs": {"type": "string", "examples": ["[기쁨] 오늘"]},
        "parameters": {
            "type": "object",
            "properties": {
                "max_new_tokens": {"type": "integer", "minimum": 1},
                "min_new_tokens": {"type": "integer", "minimum": 0},
                "temperature": {"type": "number", "exclusiveMinimum": 0},
                "top_p": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                "top_k": {"type": "integer", "minimum": 0},
                "repetition_penalty": {"type": "number", "exclusiveMinimum": 0},
                "no_repeat_ngram_size": {"type": "integer", "minimum": 0},
                "do_sample": {"type": "boolean"},
                "seed": {"type": "integer", "minimum": 0},
                "return_full_text": {"type": "boolean"},
            },
        },
    },
}
ANSWER_SCHEMA = {
    "type": "array",
    "items": {"type": "object", "properties": {"generated_text": {"type": "string"}}},
}


def load_generator(source: Any) -> tuple[Any, int]:
    """``TextGenerationPipeline(framework="tf")`` over a run or Hub id, and its context length."""
    from transformers import TextGenerationPipeline

    from pipeline.model.loading import load_tokenizer
    from pipeline.tasks.generation.train import load_causal_lm

    model, tokenizer = load_causal_lm(source), load_tokenizer(source)
    context = int(getattr(model.config, "n_positions", 0) or model.config.max_position_embeddings)
    return TextGenerationPipeline(model=model, tokenizer=tokenizer, framework="tf"), context


class GenerationLabeller(Labeller):
    """predict's answers for generation: each prompt's generated text, one per line."""

    output_column = "generated_text"

    def check_columns(self, column: str, pair_column: str | None) -> None:
        raise PipelineError(
            f"task {self.task.name} continues prompts given on the command line; it labels no "
            "sheet (drop --input)"
        )

    def lines(self, prompts: list[str], top_k: int, params: dict[str, Any]) -> str:
        """The prompts continued with ``params`` (the API's parameters: max_new_tokens,
        temperature, seed, ...); a bad value or prompt names it and its range."""
        gen = self.cfg.generate
        settings = sampling.settings_from(params, sampling.defaults(gen), gen.max_new_tokens_cap)
        from pipeline.inference.loaded import resolve

        pipe, context = load_generator(resolve(self.cfg, self.model).source)
        for prompt in prompts:
            sampling.check_prompt(pipe.tokenizer, prompt, settings.max_new_tokens, context)
        return "\n".join(sampling.generate(pipe, p, settings)["generated_text"] for p in prompts)
