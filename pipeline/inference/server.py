"""The model side of the one web app (pipeline/serve/app.py): a ``Server`` per task.

The app reads a request's body within its limits, decodes it with bounds and answers
``{"error": ...}`` for every failure; what it does with a decoded body is the server's:
``answer(body)`` parses the task's request shape (a ``RequestError`` naming the problem, 4xx),
runs the model and returns the task's answer (the Hugging Face Inference API's shape for that
task). ``load()`` runs in a background thread; ``ready``/``error`` say how it went (/health).

``BatchedServer`` serves the tasks whose requests can share a model call (classification,
pairs, NER): concurrent requests arriving within ``serve.max_wait_ms`` run together through the
task's predictor (``MicroBatcher``). Its task-specific part is an ``Answers`` object: how to
parse a request, predict a batch and shape the answer. Generation brings its own server (one
generation at a time, a bounded queue: pipeline/tasks/generation/serve.py).
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from pipeline.config import Config
from pipeline.errors import PipelineError
from pipeline.inference.api import RequestError
from pipeline.inference.loaded import LoadedModel, load_model
from pipeline.inference.microbatcher import MicroBatcher
from pipeline.inference.observe import NO_OBSERVER, Observer, count_tokens
from pipeline.io import package_versions
from pipeline.model.loading import ModelRef

logger = logging.getLogger("pipeline.serve")

LIMITS = ("max_inputs", "max_body_bytes", "top_k", "max_batch_size", "max_wait_ms")
LIMITS += ("body_timeout_s", "keep_alive_s", "calibration", "min_score")


Disconnected = Callable[[], Awaitable[bool]]  # True once the client has gone


class Server(ABC):
    """A model behind the app: loaded in a thread, then answering decoded request bodies."""

    routes: tuple[str, ...] = ("/predict",)  # POST routes answered by ``answer``
    summary = "Answer one input or a list of them"
    page = "index.html"  # the page at /, under pipeline/serve/static/

    def __init__(self, cfg: Config, ref: ModelRef) -> None:
        self.cfg, self.ref = cfg, ref
        self.on_failure: Callable[[], None] | None = None
        self.error: str | None = None
        self.ready = threading.Event()
        self.started = time.time()
        self.ready_after_s: float | None = None
        self.observer: Observer = NO_OBSERVER  # the app's /metrics plugs its own in

    def load(self) -> None:
        """Load and warm up (``_load``); on failure keep the error for /health and main."""
        try:
            self._load()
            self.ready_after_s = round(time.time() - self.started, 2)
            self.observer.loaded(self.ref.name, self.ready_after_s)
            self.ready.set()
            logger.info("ready after %.1f s: %s", self.ready_after_s, self.ref.source)
        except PipelineError as exc:  # a known problem (a bad file, a run of another task):
            self.error = f"could not load {self.ref.source}: {exc}"  # main says it in one line
            if self.on_failure:
                self.on_failure()
        except Exception as exc:  # noqa: BLE001  (reported by /health and main)
            logger.exception("could not load %s", self.ref.source)
            self.error = f"could not load {self.ref.source}: {exc}"
            if self.on_failure:
                self.on_failure()

    @abstractmethod
    def _load(self) -> None:
        """Load the model and run it once, so the first request traces no graph."""

    @abstractmethod
    async def answer(self, body: Any, disconnected: Disconnected) -> tuple[Any, dict[str, str]]:
        """A decoded request body -> (the JSON answer, extra response headers).

        ``disconnected()`` (Starlette's ``request.is_disconnected``) is True once the client
        is gone: an answer that takes several turns stops there."""

    @abstractmethod
    def request_schema(self) -> dict[str, Any]:
        """The request body's JSON schema (/docs)."""

    @abstractmethod
    def answer_schema(self) -> dict[str, Any]:
        """The answer's JSON schema (/docs)."""

    @property
    def source(self) -> str:
        """Where the model came from: ``run:<the run directory's name>`` or ``hub:<id>``, never
        a local path (it says who installed it where), and never the served name (``--model
        new=RUN`` serves the run ``RUN`` as ``new``)."""
        if self.ref.hub_id:
            return f"hub:{self.ref.hub_id}"
        run = self.ref.run_dir.name if self.ref.run_dir is not None else self.ref.name
        return f"run:{run}"

    def info(self) -> dict[str, Any]:
        """/info: the model, its task, whether it is ready, limits and versions."""
        return {
            "model": self.ref.name,
            "source": self.source,
            "ready": self.ready.is_set(),
            "task": self.cfg.task,
            **self.details(),
            "serve": self.limits(),
            "ready_after_s": self.ready_after_s,
            "versions": package_versions(),
        }

    def details(self) -> dict[str, Any]:
        """The task's part of /info (labels, generation limits, ...)."""
        return {}

    def limits(self) -> dict[str, Any]:
        """The serve settings that apply to this server (/info's ``serve``)."""
        serve = self.cfg.serve
        limits = {k: getattr(serve, k) for k in LIMITS}
        return {"batching": serve.batching, "backend": serve.backend, **limits}

    def close(self) -> None:  # noqa: B027  (most servers start nothing that needs stopping)
        """Stop what ``load`` started."""


class Answers(Protocol):
    """What a batched task brings: its request shape, its model call and its answer shape."""

    auto_model: str  # the transformers TF auto class of the task's trained model
    check_model: Callable[[Any, str], None]  # the task's Task.check_model
    page: str
    inputs_schema: dict[str, Any]
    example_inputs: Any
    answer_schema: dict[str, Any]
    warm_up: tuple[Any, ...]  # examples run once before the server says it is ready

    def predictor(self, loaded: LoadedModel, serve: Any) -> tuple[Callable[[list], Any], int]:
        """(examples -> results, batch size): the model call the micro-batcher makes."""

    def warm(self, loaded: LoadedModel) -> None:
        """Anything besides the predictor to run once before the first request."""

    def parse(self, body: Any, serve: Any, loaded: LoadedModel) -> tuple[list[Any], Any]:
        """A decoded body -> (examples, options); RequestError naming the problem."""

    def answer(self, results: Any, examples: list[Any], loaded: LoadedModel, options: Any) -> Any:
        """The results of a request's examples in the task's answer shape."""


class BatchedServer(Server):
    """Requests that share model calls: a micro-batcher over the task's predictor."""

    def __init__(self, cfg: Config, ref: ModelRef, answers: Answers) -> None:
        super().__init__(cfg, ref)
        self.answers = answers
        self.page = answers.page
        self.loaded: LoadedModel | None = None
        self.batcher: MicroBatcher | None = None

    def _load(self) -> None:
        serve = self.cfg.serve
        loaded = load_model(self.cfg, self.ref, self.answers.auto_model, self.answers.check_model)
        predict, size = self.answers.predictor(loaded, serve)
        self.answers.warm(loaded)
        warm = list(self.answers.warm_up)
        for n in (1, 2, size):  # a few shapes, so the first requests trace no graphs
            predict((warm * size)[:n])
        name, task, observer = self.ref.name, self.cfg.task, self.observer

        def counted(examples: list[Any]) -> Any:
            results = predict(examples)
            if observer is not NO_OBSERVER:  # tokenizing again costs: only when watched
                inputs, tokens = count_tokens(loaded.tokenizer, examples, loaded.max_seq_len)
                observer.processed(task, name, inputs, tokens, "input")
            return results

        def on_batch(size: int, waits: list[float], model_s: float) -> None:
            observer.batch(name, size, waits, model_s)

        self.batcher = MicroBatcher(counted, size, serve.max_wait_ms, on_batch)
        self.batcher.start()
        observer.queue(name, self.batcher.depth)
        self.loaded = loaded

    async def answer(self, body: Any, disconnected: Disconnected) -> tuple[Any, dict[str, str]]:
        examples, options = self.answers.parse(body, self.cfg.serve, self.loaded)
        results = await self.submit(examples)
        return self.answers.answer(results, examples, self.loaded, options), {}

    async def submit(self, examples: list[Any]) -> list[Any]:
        """``examples`` through the micro-batcher; a failure is this request's 500 only."""
        try:
            return await self.batcher.submit(examples)
        except Exception as exc:  # noqa: BLE001  (the batcher logged it; this request only)
            raise RequestError(500, f"prediction failed: {type(exc).__name__}: {exc}") from exc

    def request_schema(self) -> dict[str, Any]:
        from pipeline.inference.api import PREDICT_SCHEMA

        inputs = {**self.answers.inputs_schema, "examples": [self.answers.example_inputs]}
        properties = {**PREDICT_SCHEMA["properties"], "inputs": inputs}
        return {**PREDICT_SCHEMA, "properties": properties}

    def answer_schema(self) -> dict[str, Any]:
        return self.answers.answer_schema

    def details(self) -> dict[str, Any]:
        if not self.loaded:
            return {}
        return {
            "labels": list(self.loaded.id2label.values()),
            "label2group": self.loaded.label2group,
            "max_seq_len": self.loaded.max_seq_len,
            # the temperature the scores are divided by, or "none": raw softmax scores
            "calibration": self.loaded.calibration_info(),
        }

    def info(self) -> dict[str, Any]:
        out = super().info()
        at = list(out).index("serve") + 1  # after the limits, as /info always listed it
        batches = {"batches": self.batcher.stats.as_dict() if self.batcher else None}
        items = list(out.items())
        return dict(items[:at] + list(batches.items()) + items[at:])

    def close(self) -> None:
        if self.batcher:
            self.batcher.stop()
