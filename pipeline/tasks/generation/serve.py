"""Serving a generation run: the Inference API's text-generation shape, bounded, and a page.

- ``POST /generate`` (also ``/predict``) ``{"inputs": "프롬프트", "parameters": {"max_new_tokens",
  "temperature", "top_p", "top_k", "repetition_penalty", "no_repeat_ngram_size", "do_sample",
  "seed", "min_new_tokens", "return_full_text"}}`` -> ``[{"generated_text": ...}]``, so
  ``InferenceClient(model=URL).text_generation(prompt, ...)`` works; unset parameters take the
  config's ``generate`` values. A bad prompt or parameter: 422 naming it and its range.
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
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from pipeline.config import Config
from pipeline.errors import PipelineError
from pipeline.inference.api import RequestError, load_json, read_body
from pipeline.io import package_versions
from pipeline.model.loading import ModelRef
from pipeline.tasks.generation import sampling
from pipeline.tasks.generation.arch import check_causal_lm

logger = logging.getLogger("pipeline.serve")

STATIC = Path(__file__).resolve().parents[2] / "serve" / "static"
CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


class GenerationService:
    """The model behind the app: loaded in a thread, one generation at a time, bounded queue."""

    def __init__(self, cfg: Config, ref: ModelRef, on_failure: Callable[[], None] | None = None):
        self.cfg, self.ref, self.on_failure = cfg, ref, on_failure
        self.gen = cfg.generate
        self.error: str | None = None
        self.ready = threading.Event()
        self.pipe: Any = None
        self.context = 0
        self.waiting = 0  # requests queued or running
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generate")

    def load(self) -> None:
        from transformers import AutoTokenizer, TextGenerationPipeline, TFAutoModelForCausalLM

        try:
            source = self.ref.source
            check_causal_lm(source)
            model = TFAutoModelForCausalLM.from_pretrained(source)
            tokenizer = AutoTokenizer.from_pretrained(source, use_fast=True)
            self.pipe = TextGenerationPipeline(model=model, tokenizer=tokenizer, framework="tf")
            self.context = int(
                getattr(model.config, "n_positions", 0) or model.config.max_position_embeddings
            )
            warm = sampling.settings_from({"max_new_tokens": 2, "seed": 0}, self.base(), self.cap)
            sampling.generate(self.pipe, "안녕", warm)
            self.ready.set()
            logger.info("ready: %s (context %d tokens)", source, self.context)
        except Exception as exc:  # noqa: BLE001  (reported by /health and main)
            logger.exception("could not load %s", self.ref.source)
            self.error = f"could not load {self.ref.source}: {exc}"
            if self.on_failure:
                self.on_failure()

    @property
    def cap(self) -> int:
        """generate.max_new_tokens_cap, less when the model's context leaves less room."""
        room = self.context - 1 if self.context else self.gen.max_new_tokens_cap
        return max(1, min(self.gen.max_new_tokens_cap, room))

    def base(self) -> dict[str, Any]:
        return sampling.defaults(self.gen)

    def parse(self, body: Any) -> tuple[str, sampling.Settings]:
        """A request body -> (prompt, settings); RequestError 422 naming the bad part."""
        if not isinstance(body, dict) or "inputs" not in body:
            raise RequestError(422, 'the body must be {"inputs": "prompt", "parameters": {...}}')
        unknown = sorted(set(body) - {"inputs", "parameters", "stream"})
        if unknown:
            raise RequestError(422, f"unknown field(s) {', '.join(unknown)}")
        params = {} if body.get("parameters") is None else body["parameters"]
        if not isinstance(params, dict):
            raise RequestError(422, '"parameters" must be an object')
        try:
            settings = sampling.settings_from(
                {"stream": body.get("stream"), **params}, self.base(), self.cap
            )
            sampling.check_prompt(
                self.pipe.tokenizer, body["inputs"], settings.max_new_tokens, self.context
            )
        except PipelineError as exc:
            raise RequestError(422, str(exc)) from None
        return body["inputs"], settings

    async def submit(self, prompt: str, settings: sampling.Settings) -> dict[str, Any]:
        """Run one generation in the worker; 503 when the queue is full or time runs out."""
        if self.waiting >= self.gen.queue_size + 1:
            raise RequestError(
                503,
                f"busy: {self.waiting} requests queued or running (at most "
                f"{self.gen.queue_size} wait, generate.queue_size)",
            )
        deadline = time.monotonic() + self.gen.timeout_s
        self.waiting += 1

        def job() -> dict[str, Any] | None:
            if time.monotonic() > deadline:  # its client has been answered 503 already
                return None
            return sampling.generate(self.pipe, prompt, settings)

        try:
            future = asyncio.get_running_loop().run_in_executor(self.worker, job)
            return await asyncio.wait_for(asyncio.shield(future), self.gen.timeout_s)
        except TimeoutError:
            raise RequestError(
                503,
                f"generation did not finish within {self.gen.timeout_s:g} s "
                "(generate.timeout_s): try fewer max_new_tokens",
            ) from None
        finally:
            self.waiting -= 1

    def info(self) -> dict[str, Any]:
        return {
            "model": self.ref.name,
            "task": "text-generation",
            "ready": self.ready.is_set(),
            "defaults": self.base(),
            "ranges": sampling.ranges(self.cap),
            "limits": {
                "max_new_tokens": self.cap,
                "timeout_s": self.gen.timeout_s,
                "queue_size": self.gen.queue_size,
                "context_tokens": self.context,
            },
            "versions": {
                k: v for k, v in package_versions().items() if k in ("transformers", "tensorflow")
            },
        }


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(service: GenerationService) -> FastAPI:
    """The FastAPI app; starting it starts loading ``service`` in a background thread."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        threading.Thread(target=service.load, name="model-loader", daemon=True).start()
        yield
        service.worker.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="Korean text generation", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.service = service
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    serve = service.cfg.serve

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers["x-content-type-options"] = "nosniff"
        response.headers["content-security-policy"] = CSP
        return response

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    async def generate(request: Request) -> JSONResponse:
        try:
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "application/json":
                raise RequestError(415, f"content type must be application/json, got {ctype!r}")
            body = load_json(await read_body(request, serve.max_body_bytes, serve.body_timeout_s))
            if not service.ready.is_set():
                raise RequestError(503, service.error or "the model is still loading")
            prompt, settings = service.parse(body)
            out = await service.submit(prompt, settings)
        except RequestError as exc:
            return _error(exc.status, exc.message)
        seed = {} if out["seed"] is None else {"x-seed": str(out["seed"])}  # None: greedy
        return JSONResponse([{"generated_text": out["generated_text"]}], headers=seed)

    for path in ("/generate", "/predict"):
        app.post(path, summary="Continue a prompt (Inference API text-generation shape)")(generate)

    @app.get("/health")
    async def health() -> JSONResponse:
        if service.ready.is_set():
            return JSONResponse({"status": "ok", "model": service.ref.name})
        status = "failed" if service.error else "loading"
        return JSONResponse({"status": status, "error": service.error}, status_code=503)

    @app.get("/info")
    async def info() -> dict[str, Any]:
        return service.info()

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "generate.html")

    return app
