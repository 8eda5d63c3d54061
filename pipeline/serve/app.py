"""The one web app of ``python -m pipeline.serve``, for every task: a page and the Inference
API's JSON shape of the model's task.

- ``POST /predict`` (generation also ``/generate``): the task's request -> its answer, e.g. a
  classifier's ``{"inputs": "문장" | ["문장", ...], "parameters": {"top_k": 5}}`` ->
  ``[[{"label": ..., "score": ...}, ...], ...]``, so ``huggingface_hub.InferenceClient(
  model="http://127.0.0.1:8000/predict")`` works against it (NER: entities; generation:
  ``[{"generated_text": ...}]``).
- ``GET /`` the task's page; ``GET /health`` 503 until the model answered a warm-up call;
  ``GET /info`` model, task, labels or generation limits, serve limits, versions; ``GET
  /docs`` API docs (assets served here).

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

import functools
import importlib.util
import io
import logging
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline.inference.api import RequestError, load_json, read_body
from pipeline.inference.server import Server
from pipeline.serve.access import AccessLog, note_inputs
from pipeline.serve.auth import RequireKey, load_keys
from pipeline.serve.metrics import Metrics

logger = logging.getLogger("pipeline.serve")

STATIC = Path(__file__).parent / "static"


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


def create_app(server: Server) -> FastAPI:
    """The FastAPI app of ``server``; starting it starts loading the model in a thread."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        threading.Thread(target=server.load, name="model-loader", daemon=True).start()
        yield
        server.close()

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
    metrics = Metrics(server.cfg.task) if limits.metrics else None
    if metrics is not None:
        server.observer = metrics
    # Outermost last: the access log sees every answer, the 401s included, and every answer
    # carries the security headers.
    if keys is not None:
        app.add_middleware(RequireKey, keys=keys, metrics_public=limits.metrics_public)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(AccessLog, model=server.ref.name, metrics=metrics, enabled=limits.access_log)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        """404, 405 and the like in the API's own shape: {"error": ...}, not {"detail": ...}."""
        return _error(exc.status_code, str(exc.detail), exc.headers)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> JSONResponse:
        # Starlette answers this outside every middleware: the security headers come here.
        headers = {"x-content-type-options": "nosniff", "content-security-policy": PAGE_CSP}
        return _error(500, f"internal error: {type(exc).__name__}", headers)

    async def predict(request: Request) -> JSONResponse:
        try:
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "application/json":
                raise RequestError(
                    415, f"content type must be application/json, got {ctype or 'none'!r}"
                )
            raw = await read_body(request, limits.max_body_bytes, limits.body_timeout_s)
            body = load_json(raw)
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
        return JSONResponse(answer, headers=headers)

    body_spec = {"required": True, "content": {"application/json": {}}}
    body_spec["content"]["application/json"]["schema"] = server.request_schema()
    for path in server.routes:
        app.post(
            path,
            summary=server.summary,
            openapi_extra={"requestBody": body_spec},
            responses={200: {"content": {"application/json": {"schema": server.answer_schema()}}}},
        )(predict)

    @app.get("/health", summary="200 once the model answered its warm-up call, else 503")
    async def health() -> JSONResponse:
        if server.ready.is_set():
            return JSONResponse({"status": "ok", "model": server.ref.name})
        status = "failed" if server.error else "loading"
        return JSONResponse({"status": status, "error": server.error}, status_code=503)

    if metrics is not None:

        @app.get("/metrics", include_in_schema=False)
        async def prometheus() -> Response:
            data, content_type = metrics.exposition()
            return Response(data, media_type=content_type)

    @app.get("/info", summary="Model, labels, limits and versions")
    async def info() -> dict[str, Any]:
        return server.info()

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / server.page)

    @app.get("/fonts/NanumGothic.ttf", include_in_schema=False)
    async def font() -> Response:
        try:
            data = korean_font()
        except ImportError:  # a serve-only install (requirements-serve.txt): system fonts
            return _error(404, "the Korean web font needs koreanize-matplotlib and fonttools")
        headers = {"cache-control": "public, max-age=86400"}
        return Response(data, media_type="font/ttf", headers=headers)

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
