"""The one web app of ``python -m pipeline.serve``, for every task: a page and the Inference
API's JSON shape of the model's task.

- ``POST /predict`` (generation also ``/generate``): the task's request -> its answer, e.g. a
  classifier's ``{"inputs": "문장" | ["문장", ...], "parameters": {"top_k": 5}}`` ->
  ``[[{"label": ..., "score": ...}, ...], ...]``, so ``huggingface_hub.InferenceClient(
  model="http://127.0.0.1:8000/predict")`` works against it (NER: entities; generation:
  ``[{"generated_text": ...}]``; with ``"stream": true`` server-sent events).
- ``POST /models/<name>/predict``: each model when several are served (pipeline/serve/
  models.py, which also sends the shadow traffic of ``serve.shadow``).
- ``GET /`` the task's page; ``GET /health`` 503 until every model answered a warm-up call;
  ``GET /info`` model, task, labels or generation limits, serve limits, versions, the models;
  ``GET /metrics`` Prometheus (metrics.py); ``GET /docs`` API docs (assets.py).

Operated through plain ASGI middleware (no buffering, so streams stream): the access log with
request ids and the request metrics (access.py), the security headers, and the API keys
(auth.py) when ``serve.api_keys_file`` is set.

What a decoded body becomes is the task's server (pipeline/inference/server.py: a
micro-batched classifier or NER model; pipeline/tasks/generation/serve.py: one generation at a
time); the model loads in a background thread so /health can say "loading".

Hardened against hostile clients: the body is read within ``serve.body_timeout_s`` (else 408
and the connection is closed) and decoded with bounds (depth, integer digits, valid Unicode)
before any check; every input is validated before it joins a batch, and a failed batch is
retried job by job so one bad request cannot fail its neighbours; every error, 404/405
included, is ``{"error": ...}``; responses carry nosniff and a Content-Security-Policy.

Long because: the routes, their error handling and the headers read best in one place.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline.inference.api import RequestError, load_json, read_body
from pipeline.inference.server import Server
from pipeline.serve.access import AccessLog, note_inputs, note_model, request_id_of
from pipeline.serve.assets import STATIC, mount_assets
from pipeline.serve.auth import RequireKey, load_keys
from pipeline.serve.metrics import Metrics
from pipeline.serve.models import Shadow, check_shadow

logger = logging.getLogger("pipeline.serve")


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


def create_app(server: Server, more: Mapping[str, Server] | None = None) -> FastAPI:
    """The FastAPI app of ``server`` (and of ``more`` models by name, pipeline/serve/models.py);
    starting it starts loading the models, in order, in a background thread."""
    models = {server.ref.name: server, **(more or {})}

    def load_all() -> None:
        # One after another: transformers' lazy imports are not safe from two threads at once
        # (a second loader saw no TFAutoModelForSequenceClassification), and one load at a
        # time keeps the memory peak to one model's.
        for model in models.values():
            model.load()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        threading.Thread(target=load_all, name="model-loader", daemon=True).start()
        yield
        for model in models.values():  # the requests are answered (or drain_s ran out)
            model.close()

    app = FastAPI(
        title=f"Korean {server.cfg.task} model",
        description="The Hugging Face Inference API's shape for the model's task.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.service = server
    limits = server.cfg.serve
    keys = load_keys(server.cfg)  # a bad keys file fails here, before anything listens
    check_shadow(server.cfg, models)
    metrics = Metrics(server.cfg.task) if limits.metrics else None
    for model in models.values():
        model.observer = metrics or model.observer
    shadow = Shadow(models[limits.shadow], limits.shadow_share, metrics) if limits.shadow else None
    # Outermost last: the access log sees every answer, the 401s included, and every answer
    # carries the security headers.
    if keys is not None:
        app.add_middleware(RequireKey, keys=keys, metrics_public=limits.metrics_public)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(AccessLog, model=server.ref.name, metrics=metrics, enabled=limits.access_log)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        """404, 405 and the like in the API's own shape: {"error": ...}, not {"detail": ...}."""
        return _error(exc.status_code, str(exc.detail), exc.headers)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> JSONResponse:
        # Starlette answers this outside every middleware: the security headers come here.
        headers = {"x-content-type-options": "nosniff", "content-security-policy": PAGE_CSP}
        return _error(500, f"internal error: {type(exc).__name__}", headers)

    for path in server.routes:  # the default model
        _add_predict(app, path, server, shadow)
    for name, model in models.items():
        for path in model.routes:
            _add_predict(app, f"/models/{name}{path}", model, None)

    @app.get("/health", summary="200 once every model answered its warm-up call, else 503")
    async def health() -> JSONResponse:
        each = {n: _status(m) for n, m in models.items()}
        extra = {"models": each} if len(models) > 1 else {}
        if all(m.ready.is_set() for m in models.values()):
            return JSONResponse({"status": "ok", "model": server.ref.name, **extra})
        failed = next((m for m in models.values() if m.error), None)
        status, error = ("failed", failed.error) if failed else ("loading", None)
        return JSONResponse({"status": status, "error": error, **extra}, status_code=503)

    if metrics is not None:

        @app.get("/metrics", include_in_schema=False)
        async def prometheus() -> Response:
            data, content_type = metrics.exposition()
            return Response(data, media_type=content_type)

    @app.get("/info", summary="Model, labels, limits and versions; every model served")
    async def info() -> dict[str, Any]:
        listed = [
            {"name": n, "source": m.source, "default": m is server, "ready": m.ready.is_set(),
             "routes": [f"/models/{n}{p}" for p in m.routes]}
            for n, m in models.items()
        ]  # fmt: skip
        return {**server.info(), "models": listed, "shadow": limits.shadow}

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / server.page)

    mount_assets(app)
    return app


def _status(model: Server) -> str:
    return "ok" if model.ready.is_set() else "failed" if model.error else "loading"


def _add_predict(app: FastAPI, path: str, server: Server, shadow: Shadow | None) -> None:
    """POST ``path``: a request body -> ``server``'s answer (and, with ``shadow``, the same body
    to the shadow model afterwards, in the background)."""
    limits = server.cfg.serve

    async def predict(request: Request) -> Response:
        try:
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "application/json":
                raise RequestError(
                    415, f"content type must be application/json, got {ctype or 'none'!r}"
                )
            raw = await read_body(request, limits.max_body_bytes, limits.body_timeout_s)
            body = load_json(raw)
            note_model(request.scope, server.ref.name)
            if isinstance(body, dict) and "inputs" in body:
                note_inputs(request.scope, body["inputs"], limits.log_inputs)
            if not server.ready.is_set():
                raise RequestError(503, server.error or "the model is still loading")
            answer, headers = await server.answer(body, request.is_disconnected)
        except ClientDisconnect:  # gone while its body was read: nobody to answer, no traceback
            return _error(499, "the client closed the connection before its body arrived")
        except RequestError as exc:
            # A stalled body (408) is cut off with the connection. The rest of a body over the
            # limit (413) is read and dropped by uvicorn: closing while the client still sends
            # would reset the connection before the client could read the answer.
            close = {"connection": "close"} if exc.status == 408 else None
            return _error(exc.status, exc.message, close)
        if isinstance(answer, Response):  # a stream (generation's server-sent events)
            return answer
        if shadow is not None:
            shadow.maybe(body, answer, server.ref.name, request_id_of(request.scope))
        return JSONResponse(answer, headers=headers)

    body_spec = {"required": True, "content": {"application/json": {}}}
    body_spec["content"]["application/json"]["schema"] = server.request_schema()
    app.post(
        path,
        summary=server.summary,
        openapi_extra={"requestBody": body_spec},
        responses={200: {"content": {"application/json": {"schema": server.answer_schema()}}}},
    )(predict)
