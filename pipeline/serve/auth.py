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

# sha256 hex hashes, separated by commas and/or whitespace (no names, no comments)
ENV = "PIPELINE_API_KEY_HASHES"
HASH = re.compile(r"[0-9a-f]{64}")
ENV_SEPARATORS = re.compile(r"[,\s]+")
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
        digest, *rest = line.split(None, 1)  # the hash, then the name after spaces or a tab
        name = rest[0] if rest else ""
        if not HASH.fullmatch(digest.lower()):
            raise PipelineError(
                f"{where} line {number}: expected a sha256 hex hash (64 characters 0-9a-f) and "
                "an optional name; make one with `python -m pipeline.serve.keys hash`"
            )
        hashes.append((digest.lower(), name.strip() or f"key{len(hashes) + 1}"))
    return hashes


def parse_env_keys(value: str) -> list[tuple[str, str]]:
    """``PIPELINE_API_KEY_HASHES`` -> hashes: bare sha256 hex hashes separated by commas and/or
    whitespace, named ``env1``, ``env2``, ... in the access log. An entry that is not a hash
    (a name, a ``#`` comment, a key pasted by mistake) is a PipelineError naming the variable and
    the entry's number (never quoting it), and so is a value that holds no hash at all: a set
    variable must not leave the server open."""
    hashes = []
    entries = [e for e in ENV_SEPARATORS.split(value) if e]
    for number, entry in enumerate(entries, start=1):
        if not HASH.fullmatch(entry.lower()):
            raise PipelineError(
                f"environment variable {ENV} entry {number}: expected a sha256 hex hash (64 "
                "characters 0-9a-f); give bare hashes separated by commas or spaces, no names "
                "or comments (make one with `python -m pipeline.serve.keys hash`)"
            )
        hashes.append((entry.lower(), f"env{number}"))
    if not hashes:
        raise PipelineError(
            f"environment variable {ENV} is set but holds no key hash: nobody could use the "
            "server (give sha256 hex hashes separated by commas or spaces, or unset it)"
        )
    return hashes


def load_keys(cfg: Config) -> ApiKeys | None:
    """The keys of ``serve.api_keys_file`` and of ``PIPELINE_API_KEY_HASHES``; None: neither
    set. A missing, unreadable or empty file, or a set variable without a valid hash, is a
    PipelineError naming the key (or variable) and the path."""
    hashes: list[tuple[str, str]] = []
    name = cfg.serve.api_keys_file
    if name is not None:
        path = Path(cfg.root) / name
        try:  # utf-8-sig: a byte-order mark (Notepad's) is not part of the first line
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise PipelineError(f"serve.api_keys_file: cannot read {path}: {reason}") from None
        hashes += parse_keys(text, f"serve.api_keys_file {path}")
        if not hashes:
            raise PipelineError(
                f"serve.api_keys_file {path} holds no key hash: nobody could use the server "
                "(add one with `python -m pipeline.serve.keys hash`, or set the key to null)"
            )
    env = os.environ.get(ENV)
    if env is not None:
        hashes += parse_env_keys(env)
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
