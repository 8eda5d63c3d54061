"""The access log and the request metrics: one line and one count per request.

Outermost ASGI middleware of the app. Each request gets an id (the client's ``X-Request-Id``
when it is a short plain token, so a proxy's id follows the request through; else a new one),
returned as the ``X-Request-Id`` header. When the answer has been sent (or the request failed)
it logs, on ``pipeline.serve.access``::

    request 3f2c... POST /predict 200 12.4 ms inputs=2 model=tiny key=alice

The route is the route's template (``/static``, ``unmatched``: never a path a client made up),
the key is its name from the keys file, and the inputs' text is logged only with
``serve.log_inputs``. Answered probes (``/health``, ``/metrics``) log at DEBUG, so a load
balancer's checks do not bury the requests. uvicorn's own access log is off
(pipeline/serve/stage.py), so there is one line per request. The same numbers feed
``pipeline_requests_total`` and the latency histogram of pipeline/serve/metrics.py.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline.serve.metrics import Metrics

logger = logging.getLogger("pipeline.serve.access")

SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
NOTE = "pipeline.access"  # the scope key the routes write the input count and model into
MOUNTS = ("/static", "/swagger")
MAX_LOGGED_CHARS = 2000  # log_inputs: the inputs, cut here so one request cannot flood the log
# Asked every few seconds by load balancers and scrapers: their lines are DEBUG, not INFO.
PROBES = frozenset({"/health", "/metrics"})


def request_id(scope: Scope) -> str:
    """The client's X-Request-Id when it is sane (1-64 of A-Z a-z 0-9 . _ : -), else a new one."""
    given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
    return given if SANE_ID.fullmatch(given) else uuid.uuid4().hex


def route_of(scope: Scope) -> str:
    """The matched route's template, the mount for static files, else ``unmatched``.

    FastAPI's own routes put themselves in the scope; a request answered before routing (a 401
    from the key check) or by a plain Starlette route (``/openapi.json``, ``/docs``) has none
    there, so the path is matched against the app's routes here. Only a route's template or a
    mount is ever a label: the labels stay as few as the routes."""
    path = getattr(scope.get("route"), "path", None)
    if path:
        return path
    path = _template_of(scope)
    if path:
        return path
    for mount in MOUNTS:
        if scope["path"].startswith(mount + "/"):
            return mount
    return "unmatched"


def _template_of(scope: Scope) -> str | None:
    """The template of the app route ``scope``'s path matches (any method), else None."""
    app = scope.get("app")
    router = getattr(app, "router", None)
    partial = None
    for route in getattr(router, "routes", ()):
        try:
            match, _ = route.matches(scope)
        except (KeyError, TypeError, ValueError):  # a route that cannot judge this scope
            continue
        template = getattr(route, "path", None)
        if match == Match.FULL and template:
            return template
        if match == Match.PARTIAL and template and partial is None:
            partial = template  # the path is a route's, the method is not (405)
    return partial


def note_model(scope: Scope, name: str) -> None:
    """Called by a route with the name of the model it asks (several models on one port)."""
    note = scope.get(NOTE)
    if note is not None:
        note["model"] = name


def request_id_of(scope: Scope) -> str | None:
    """The request's id (the access log's), for lines logged about it elsewhere."""
    note = scope.get(NOTE)
    return note.get("id") if note is not None else None


def note_inputs(scope: Scope, inputs: Any, log_inputs: bool) -> None:
    """Called by a route with the request's ``inputs``: their count (and, with
    ``serve.log_inputs``, the inputs themselves) go into the request's log line."""
    note = scope.get(NOTE)
    if note is None:
        return
    note["inputs"] = len(inputs) if isinstance(inputs, list) else 1
    if log_inputs:
        text = json.dumps(inputs, ensure_ascii=False)
        note["text"] = text[:MAX_LOGGED_CHARS] + ("..." if len(text) > MAX_LOGGED_CHARS else "")


class AccessLog:
    """ASGI middleware: request id, one log line and the request metrics per HTTP request."""

    def __init__(
        self, app: ASGIApp, model: str, metrics: Metrics | None, enabled: bool = True
    ) -> None:
        self.app, self.model, self.metrics, self.enabled = app, model, metrics, enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        rid = request_id(scope)
        note: dict[str, Any] = {"inputs": None, "text": None, "key": None, "model": self.model}
        note["id"] = rid
        scope[NOTE] = note
        status = 500  # what the client gets if the app fails before it answers

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, rid, status, time.perf_counter() - started, note)

    def _record(
        self, scope: Scope, rid: str, status: int, seconds: float, note: dict[str, Any]
    ) -> None:
        route = route_of(scope)
        if self.metrics is not None:
            self.metrics.request(route, note["model"], status, seconds)
        if not self.enabled:
            return
        parts = [f"request {rid} {scope['method']} {route} {status} {seconds * 1000:.1f} ms"]
        if note["inputs"] is not None:
            parts.append(f"inputs={note['inputs']}")
        parts.append(f"model={note['model']}")
        if note["key"] is not None:
            parts.append(f"key={note['key']}")
        if note["text"] is not None:
            parts.append(f"text={note['text']}")
        level = logging.DEBUG if route in PROBES and status < 400 else logging.INFO
        logger.log(level, " ".join(parts))
