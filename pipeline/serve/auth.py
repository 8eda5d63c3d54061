"""API keys: with ``serve.api_keys_file`` (or ``PIPELINE_API_KEY_HASHES``) set, every route but
``/health``, the page and its files (and ``/metrics`` while ``serve.metrics_public``) needs
``Authorization: Bearer <key>``.

The server keeps only the keys' sha256 hashes (a leaked keys file gives no key away), compares
the hash of what a client sends with every stored hash in constant time (``hmac.compare_digest``,
no early exit: the time says nothing about which key came close), and answers a missing or
wrong key 401 with ``WWW-Authenticate: Bearer`` and the API's ``{"error": ...}``. A key is
never logged or echoed: the access log names the key by its name from the file.

The page and its files stay open because a browser cannot send a header to load a page: the
page's script asks for the key at the first 401 and keeps it in sessionStorage (this tab only).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from pathlib import Path

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from pipeline.config import Config
from pipeline.errors import PipelineError

ENV = "PIPELINE_API_KEY_HASHES"  # sha256 hex hashes, separated by commas or spaces
HASH = re.compile(r"[0-9a-f]{64}")
# What a browser or a load balancer needs without a key: nothing here says anything about the
# model or answers with it (/info does, and is guarded).
OPEN_PATHS = frozenset({"/health", "/", "/docs", "/openapi.json", "/fonts/NanumGothic.ttf"})
OPEN_PREFIXES = ("/static/", "/swagger/")


def hash_key(key: str) -> str:
    """The sha256 hex of ``key`` as the keys file stores it."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ApiKeys:
    """The stored hashes and their names (a key's name is what the access log shows)."""

    hashes: tuple[tuple[str, str], ...]  # (sha256 hex, name)

    def match(self, key: str) -> str | None:
        """The name of the stored key ``key`` is, else None; the same work for every key."""
        candidate = hash_key(key)
        found = None
        for stored, name in self.hashes:
            if hmac.compare_digest(candidate, stored) and found is None:
                found = name
        return found


def parse_keys(text: str, where: str) -> list[tuple[str, str]]:
    """Lines of ``<sha256 hex> [name]`` (``#`` comments and blank lines skipped) -> hashes;
    a line that is not one is a PipelineError naming ``where`` and the line number (never
    quoting it: it might be a key pasted in by mistake)."""
    hashes = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        digest, _, name = line.partition(" ")
        if not HASH.fullmatch(digest.lower()):
            raise PipelineError(
                f"{where} line {number}: expected a sha256 hex hash (64 characters 0-9a-f) and "
                "an optional name; make one with `python -m pipeline.serve.keys hash`"
            )
        hashes.append((digest.lower(), name.strip() or f"key{len(hashes) + 1}"))
    return hashes


def load_keys(cfg: Config) -> ApiKeys | None:
    """The keys of ``serve.api_keys_file`` and of ``PIPELINE_API_KEY_HASHES``; None: none set.
    A missing, unreadable or empty file is a PipelineError naming the key and the path."""
    hashes: list[tuple[str, str]] = []
    name = cfg.serve.api_keys_file
    if name is not None:
        path = Path(cfg.root) / name
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise PipelineError(f"serve.api_keys_file: cannot read {path}: {reason}") from None
        hashes += parse_keys(text, f"serve.api_keys_file {path}")
        if not hashes:
            raise PipelineError(
                f"serve.api_keys_file {path} holds no key hash: nobody could use the server "
                "(add one with `python -m pipeline.serve.keys hash`, or set the key to null)"
            )
    env = os.environ.get(ENV, "").replace(",", "\n")
    if env.strip():
        hashes += parse_keys(env, f"environment variable {ENV}")
    return ApiKeys(tuple(hashes)) if hashes else None


def is_open(path: str, metrics_public: bool) -> bool:
    """Whether ``path`` is answered without a key."""
    if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
        return True
    return metrics_public and path == "/metrics"


class RequireKey:
    """ASGI middleware: a guarded route without the right bearer key gets 401 (plain ASGI, so
    a streamed answer is not buffered)."""

    def __init__(self, app: ASGIApp, keys: ApiKeys, metrics_public: bool) -> None:
        self.app, self.keys, self.metrics_public = app, keys, metrics_public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_open(scope["path"], self.metrics_public):
            return await self.app(scope, receive, send)
        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        scheme, _, key = header.partition(" ")
        name = self.keys.match(key.strip()) if scheme.lower() == "bearer" else None
        if name is None:
            message = (
                "this server needs an API key: send Authorization: Bearer <key>"
                if not header
                else "the API key is not valid"
            )
            challenge = 'Bearer realm="pipeline.serve"'
            if header:
                challenge += ', error="invalid_token"'
            answer = JSONResponse(
                {"error": message}, status_code=401, headers={"www-authenticate": challenge}
            )
            return await answer(scope, receive, send)
        note = scope.get("pipeline.access")
        if note is not None:
            note["key"] = name
        await self.app(scope, receive, send)
