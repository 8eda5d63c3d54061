"""The web app of ``python -m pipeline.serve``: a page and the Inference API's JSON shape.

- ``POST /predict`` ``{"inputs": "문장" | ["문장", ...], "parameters": {"top_k": 5}}`` ->
  ``[[{"label": ..., "score": ...}, ...], ...]``: one list per input, best first, so
  ``huggingface_hub.InferenceClient(model="http://127.0.0.1:8000/predict")`` works against it.
- ``GET /`` the page; ``GET /health`` 503 until the model answered a warm-up call; ``GET
  /info`` model, task, labels, limits, versions; ``GET /docs`` API docs (assets served here).

The model loads in a background thread so /health can say "loading". Answers are those of
``TextClassificationPipeline(model, tokenizer, framework="tf")``: with ``serve.batching`` off
every request calls that pipeline; with it on (the default) requests arriving within
``serve.max_wait_ms`` run together through ``BatchedClassifier`` (same scores within 1e-4).
Request checks: ``api.py``; the micro-batcher: ``microbatcher.py``; the task's request shape,
encoding and page (sentences, or pairs for NLI): pipeline/tasks/. A task may bring its own
answerer and answer shape (NER: entities from ``TokenClassificationPipeline``, docs/tasks.md).

Hardened against hostile clients: the body is read within ``serve.body_timeout_s`` (else 408
and the connection is closed) and decoded with bounds (depth, integer digits, valid Unicode)
before any check; every input is validated before it joins a batch, and a failed batch is
retried job by job so one bad request cannot fail its neighbours; every error, 404/405
included, is ``{"error": ...}``; responses carry nosniff and a Content-Security-Policy.

Long because: the service, its routes and their error handling read best in one place.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import logging
import threading
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline.config import Config
from pipeline.inference.api import (
    ANSWER_SCHEMA,
    RequestError,
    load_json,
    predict_schema,
    read_body,
)
from pipeline.inference.loaded import (
    LoadedModel,
    batched_classifier,
    load_model,
    pipeline_proba,
    text_pipeline,
)
from pipeline.inference.microbatcher import MicroBatcher
from pipeline.io import package_versions
from pipeline.model.loading import ModelRef
from pipeline.tasks import get_task

logger = logging.getLogger("pipeline.serve")

STATIC = Path(__file__).parent / "static"


class Service:
    """The model behind the app: loaded in a thread, ready after a warm-up prediction."""

    def __init__(self, cfg: Config, ref: ModelRef, on_failure: Callable[[], None] | None = None):
        self.cfg, self.ref, self.on_failure = cfg, ref, on_failure
        self.task = get_task(cfg.task)  # request shape, encoding and page of the model's task
        self.loaded: LoadedModel | None = None
        self.batcher: MicroBatcher | None = None
        self.error: str | None = None
        self.ready = threading.Event()
        self.started = time.time()
        self.ready_after_s: float | None = None

    def load(self) -> None:
        serve = self.cfg.serve
        try:
            loaded = load_model(self.cfg, self.ref, self.task.auto_model)
            own = self.task.predictor(loaded, serve)  # NER: (entities, batch size); None: below
            pipe = text_pipeline(loaded) if own is None else None
            if own is not None:
                predict, size = own
            elif serve.batching:
                clf = batched_classifier(loaded, serve.max_batch_size, self.task.encode)
                predict, size = clf.predict_proba, serve.max_batch_size
            else:

                def predict(texts: list[Any]) -> Any:  # the task's examples
                    inputs = self.task.pipeline_inputs(texts)
                    return pipeline_proba(pipe, inputs, loaded.max_seq_len)

                size = 1
            warm = list(self.task.warm_up)
            if pipe is not None:
                pipeline_proba(pipe, self.task.pipeline_inputs(warm[:1]), loaded.max_seq_len)
            for n in (1, 2, size):  # a few shapes, so the first requests trace no graphs
                predict((warm * size)[:n])
            self.batcher = MicroBatcher(predict, size, serve.max_wait_ms)
            self.batcher.start()
            self.loaded = loaded
            self.ready_after_s = round(time.time() - self.started, 2)
            self.ready.set()
            logger.info("ready after %.1f s (batching %s)", self.ready_after_s, serve.batching)
        except Exception as exc:  # noqa: BLE001  (reported by /health and main)
            logger.exception("could not load %s", self.ref.source)
            self.error = f"could not load {self.ref.source}: {exc}"
            if self.on_failure:
                self.on_failure()

    def info(self) -> dict[str, Any]:
        serve = self.cfg.serve
        # The run's name or the Hub id: never a local path (it says who installed it where).
        source = f"hub:{self.ref.hub_id}" if self.ref.hub_id else f"run:{self.ref.name}"
        out: dict[str, Any] = {"model": self.ref.name, "source": source}
        out["ready"] = self.ready.is_set()
        out["task"] = self.task.name
        if self.loaded:
            out["labels"] = list(self.loaded.id2label.values())
            out["label2group"] = self.loaded.label2group
            out["max_seq_len"] = self.loaded.max_seq_len
        limits = ("max_inputs", "max_body_bytes", "top_k", "max_batch_size", "max_wait_ms")
        limits += ("body_timeout_s", "keep_alive_s")
        out["serve"] = {"batching": serve.batching, **{k: getattr(serve, k) for k in limits}}
        out["batches"] = self.batcher.stats.as_dict() if self.batcher else None
        out["ready_after_s"] = self.ready_after_s
        out["versions"] = package_versions()
        return out


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    # A message quoting the request must still encode: escape anything UTF-8 cannot carry.
    message = message.encode("utf-8", "backslashreplace").decode("utf-8")
    return JSONResponse({"error": message}, status_code=status, headers=headers)


# The page loads only its own script, style and font; /docs needs Swagger UI's inline start-up
# script. No page may be framed (clickjacking).
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
DOCS_CSP = PAGE_CSP.replace(
    "default-src 'self';",
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline';",
)


class SecurityHeaders:
    """Adds nosniff and a Content-Security-Policy to every response (plain ASGI: no buffering)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        csp = (DOCS_CSP if scope["path"] == "/docs" else PAGE_CSP).encode()

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"x-content-type-options", b"nosniff"),
                    (b"content-security-policy", csp),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(service: Service) -> FastAPI:
    """The FastAPI app; starting it starts loading ``service`` in a background thread."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        threading.Thread(target=service.load, name="model-loader", daemon=True).start()
        yield
        if service.batcher:
            service.batcher.stop()

    app = FastAPI(
        title="Korean emotion classifier",
        description="Text classification in the Hugging Face Inference API shape.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.service = service
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    limits = service.cfg.serve

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        """404, 405 and the like in the API's own shape: {"error": ...}, not {"detail": ...}."""
        return _error(exc.status_code, str(exc.detail), exc.headers)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> JSONResponse:
        return _error(500, f"internal error: {type(exc).__name__}")

    @app.post(
        "/predict",
        summary="Classify one sentence or a list of sentences",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": predict_schema(service.task)}},
            }
        },
        responses={200: {"content": {"application/json": {"schema": ANSWER_SCHEMA}}}},
    )
    async def predict(request: Request) -> JSONResponse:
        try:
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "application/json":
                raise RequestError(
                    415, f"content type must be application/json, got {ctype or 'none'!r}"
                )
            raw = await read_body(request, limits.max_body_bytes, limits.body_timeout_s)
            body = load_json(raw)
            if not service.ready.is_set():
                raise RequestError(503, service.error or "the model is still loading")
            n_labels, parse = len(service.loaded.id2label), service.task.parse_request
            texts, top_k = parse(body, limits.max_inputs, n_labels, limits.top_k)
        except RequestError as exc:
            # A stalled body (408) is cut off with the connection. The rest of a body over the
            # limit (413) is read and dropped by uvicorn: closing while the client still sends
            # would reset the connection before the client could read the answer.
            close = {"connection": "close"} if exc.status == 408 else None
            return _error(exc.status, exc.message, close)
        try:
            probs = await service.batcher.submit(texts)
        except Exception as exc:  # noqa: BLE001  (the batcher logged it; this request only)
            return _error(500, f"prediction failed: {type(exc).__name__}: {exc}")
        return JSONResponse(service.task.answers(probs, texts, service.loaded.id2label, top_k))

    @app.get("/health", summary="200 once the model answered its warm-up call, else 503")
    async def health() -> JSONResponse:
        if service.ready.is_set():
            return JSONResponse({"status": "ok", "model": service.ref.name})
        status = "failed" if service.error else "loading"
        return JSONResponse({"status": status, "error": service.error}, status_code=503)

    @app.get("/info", summary="Model, labels, limits and versions")
    async def info() -> dict[str, Any]:
        return service.info()

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / service.task.page)

    @app.get("/fonts/NanumGothic.ttf", include_in_schema=False)
    async def font() -> Response:
        headers = {"cache-control": "public, max-age=86400"}
        return Response(korean_font(), media_type="font/ttf", headers=headers)

    _mount_docs(app)
    return app


@functools.cache
def korean_font() -> bytes:
    """NanumGothic from koreanize-matplotlib (installed for the figures), made web-safe.

    Browsers' font sanitizer refuses the file as shipped (an empty VTT hinting table, TSI3);
    the TSI* tables only matter to font editors, so they are dropped (fontTools comes with
    matplotlib).
    """
    from fontTools.ttLib import TTFont

    spec = importlib.util.find_spec("koreanize_matplotlib")
    font = TTFont(Path(spec.origin).parent / "fonts" / "NanumGothic.ttf", lazy=True)
    for table in [t for t in font.keys() if t.startswith("TSI")]:
        del font[table]
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def _mount_docs(app: FastAPI) -> None:
    """Swagger UI from the swagger-ui-bundle package, so /docs works offline."""
    import swagger_ui_bundle

    app.mount("/swagger", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="swagger")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Any:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - API docs",
            swagger_js_url="/swagger/swagger-ui-bundle.js",
            swagger_css_url="/swagger/swagger-ui.css",
            swagger_favicon_url="/swagger/favicon-32x32.png",
        )
