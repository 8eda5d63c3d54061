"""What the soak (benchmarks/soak.py) sends to each task's server and how it checks the answers:
good requests, the hostile ones with the 4xx each must get, a body sent too slowly, connections
that never send a byte.

Most hostile requests are refused by the one web app before any task sees them (bad JSON,
bounds, surrogates, sizes, paths) and are sent to every server; a few are the task's own.
Generation's good requests include the settings that once answered 500 (whole-number
``temperature`` and ``repetition_penalty``, nearly the largest ``max_new_tokens`` with
``no_repeat_ngram_size`` 10, a temperature of 1e-300). NER adds one client that sends
5,000-character texts back to back (``long_text``), so that the short requests' latency is
measured with a long one in flight.
"""

from __future__ import annotations

import json
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

JSON = {"content-type": "application/json"}
MAX_REQUEST_CHARS = 5000  # the NER server's cap per request (pipeline/tasks/ner/serve.py)

Check = Callable[[httpx.Response], "str | None"]


@dataclass(frozen=True)
class Bad:
    """One hostile request and the 4xx it must get."""

    name: str
    status: int
    content: bytes = b""
    method: str = "POST"
    path: str = "/predict"
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))


def bad_requests(max_body_bytes: int) -> list[Bad]:
    """The refused requests every server gets; the big ones sized to fit ``max_body_bytes``."""
    digits = b"1" * 5000
    depth = min(20_000, (max_body_bytes - 20) // 2)
    return [
        Bad("invalid JSON", 400, b'{"inputs": "abc'),
        Bad("wrong content type", 415, b'{"inputs": "a"}', headers={"content-type": "text/plain"}),
        Bad("lone surrogate in inputs", 422, '{"inputs": ["좋아요", "\\ud800"]}'.encode()),
        Bad("lone surrogate in a field name", 422, b'{"\\udc80": 1, "inputs": "a"}'),
        Bad("lone surrogate in a parameter", 422, b'{"inputs": "a", "parameters": {"\\ud800": 1}}'),
        Bad("5000-digit top_k", 400, b'{"inputs": "a", "parameters": {"top_k": ' + digits + b"}}"),
        Bad("5000-digit input", 400, b'{"inputs": [' + digits + b"]}"),
        Bad(f"JSON nested {depth} deep", 400, b"[" * depth + b"]" * depth),
        Bad("JSON nested 40 deep in inputs", 400, b'{"inputs": ' + b"[" * 40 + b"]" * 40 + b"}"),
        Bad("NaN top_k", 400, b'{"inputs": "a", "parameters": {"top_k": NaN}}'),
        Bad("zero-width only", 422, '{"inputs": "\u200b\u200d\ufeff"}'.encode()),
        Bad("NUL only", 422, b'{"inputs": ["\\u0000", "a"]}'),
        Bad("parameters 0", 422, b'{"inputs": "a", "parameters": 0}'),
        Bad('parameters ""', 422, b'{"inputs": "a", "parameters": ""}'),
        Bad("empty text", 422, b'{"inputs": " "}'),
        Bad("missing inputs", 422, b'{"parameters": {}}'),
        Bad("body over the limit", 413, b'{"inputs": "' + b"a" * max_body_bytes + b'"}'),
        Bad("unknown path", 404, method="GET", path="/nope"),
        Bad("wrong method", 405, method="GET", path="/predict"),
    ]


def _json(name: str, status: int, body: Any) -> Bad:
    return Bad(name, status, json.dumps(body).encode())


TEXTS = [
    "친구가 선물을 줬어. 고마워요",
    "오늘 약속을 어겼어. 화가 나요 정말 열받아요",
    "시험 결과를 알려줬어. 걱정돼요",
    "여행을 가자고 했어. 신나요",
    "회사에서 갑자기 혼이 났어",
    "김민수 씨가 내일 오후 3시에 서울역에서 만나자고 했어요.",
]


@dataclass
class Mix:
    """A task's side of the soak."""

    good: Callable[[random.Random], tuple[dict[str, Any], Check]]
    bads: list[Bad]
    long_text: str | None = None  # sent back to back by one more client (NER)


def _texts(rng: random.Random, max_inputs: int) -> list[str]:
    n = rng.randint(1, max(1, min(3, max_inputs)))
    return [f"{rng.choice(TEXTS)} {rng.randint(0, 999)}" for _ in range(n)]


def _status(response: httpx.Response) -> str | None:
    if response.status_code != 200:
        return f"good request got {response.status_code}: {response.text[:200]}"
    return None


def _scores(n: int, k: int, labels: set[str]) -> Check:
    """A classifier's answer: ``n`` lists of ``k`` known labels, scores descending."""

    def check(response: httpx.Response) -> str | None:
        if problem := _status(response):
            return problem
        body = response.json()
        if not (isinstance(body, list) and len(body) == n and all(len(a) == k for a in body)):
            return f"good request: wrong shape {str(body)[:200]}"
        for answer in body:
            scores = [a["score"] for a in answer]
            if scores != sorted(scores, reverse=True) or not {a["label"] for a in answer} <= labels:
                return f"good request: unsorted or unknown labels {answer}"
        return None

    return check


def classification(info: dict[str, Any], pairs: bool) -> Mix:
    labels, limits = set(info["labels"]), info["serve"]

    def good(rng: random.Random) -> tuple[dict[str, Any], Check]:
        texts = _texts(rng, limits["max_inputs"])
        if pairs:
            items: list[Any] = [{"text": t, "text_pair": rng.choice(TEXTS)} for t in texts]
        else:
            items = texts
        k = rng.randint(1, len(labels))
        body = {"inputs": items if len(items) > 1 else items[0], "parameters": {"top_k": k}}
        return body, _scores(len(items), k, labels)

    bads = bad_requests(limits["max_body_bytes"])
    bads.append(_json("top_k zero", 422, {"inputs": "a", "parameters": {"top_k": 0}}))
    if pairs:
        bads.append(_json("pair without text_pair", 422, {"inputs": {"text": "전제"}}))
        pair = {"text": "전제", "text_pair": "\u200b"}
        bads.append(_json("empty text_pair", 422, {"inputs": pair}))
    return Mix(good, bads)


def _entities(texts: list[str], single: bool) -> Check:
    """NER's answer: per text, entities whose offsets lie inside it."""

    def check(response: httpx.Response) -> str | None:
        if problem := _status(response):
            return problem
        body = response.json()
        per_text = [body] if single else body
        if not isinstance(per_text, list) or len(per_text) != len(texts):
            return f"good request: wrong shape {str(body)[:200]}"
        for text, found in zip(texts, per_text, strict=True):
            for e in found:
                if not {"entity_group", "score", "word", "start", "end"} <= set(e):
                    return f"good request: an entity lacks a field: {e}"
                if not 0 <= e["start"] < e["end"] <= len(text):
                    return f"good request: offsets {e['start']}:{e['end']} outside {text!r}"
        return None

    return check


def entities(info: dict[str, Any]) -> Mix:
    limits = info["serve"]

    def good(rng: random.Random) -> tuple[dict[str, Any], Check]:
        texts = _texts(rng, limits["max_inputs"])
        single = len(texts) == 1
        return {"inputs": texts[0] if single else texts}, _entities(texts, single)

    bads = bad_requests(limits["max_body_bytes"])
    over = "가" * (MAX_REQUEST_CHARS + 1)
    bads.append(_json("text over 5,000 characters", 413, {"inputs": over}))
    bads.append(_json("NFC grows over 5,000", 413, {"inputs": "\ufb2c" * 2000}))
    bads.append(_json("unknown parameter", 422, {"inputs": "a", "parameters": {"x": 1}}))
    long_text = (" ".join(TEXTS) + " ") * (MAX_REQUEST_CHARS // (len(" ".join(TEXTS)) + 1) + 1)
    return Mix(good, bads, long_text=long_text[:MAX_REQUEST_CHARS])


def _generated(response: httpx.Response) -> str | None:
    if problem := _status(response):
        return problem
    body = response.json()
    if not (isinstance(body, list) and len(body) == 1 and isinstance(body[0], dict)):
        return f"good request: wrong shape {str(body)[:200]}"
    if not isinstance(body[0].get("generated_text"), str):
        return f"good request: no generated_text in {str(body)[:200]}"
    return None


def generation(info: dict[str, Any]) -> Mix:
    limits, cap = info["serve"], info["limits"]["max_new_tokens"]
    longest = max(1, cap - 16)  # the served cap less room for a prompt of 8 characters
    edges: list[dict[str, Any]] = [
        {"temperature": 2, "do_sample": True},  # the page's sliders at their maximum
        # as many new tokens as the context leaves beside the longest prompt sent (8 characters)
        {"repetition_penalty": 10, "no_repeat_ngram_size": 10, "max_new_tokens": longest},
        {"temperature": 1e-300, "do_sample": True},
        {"temperature": 0.7, "top_p": 0.9, "top_k": 20, "do_sample": True, "seed": 3},
        {},  # the config's defaults
    ]

    def good(rng: random.Random) -> tuple[dict[str, Any], Check]:
        params = {"max_new_tokens": rng.randint(1, min(cap, 8)), **rng.choice(edges)}
        return {"inputs": rng.choice(TEXTS)[:8], "parameters": params}, _generated

    bads = bad_requests(limits["max_body_bytes"])
    for name, params in [
        ("temperature -1", {"temperature": -1}),
        ("top_p 2", {"top_p": 2}),
        ("max_new_tokens over the cap", {"max_new_tokens": cap + 1}),
        ("repetition_penalty as text", {"repetition_penalty": "10"}),
    ]:
        bads.append(_json(name, 422, {"inputs": "오늘", "parameters": params}))
    bads.append(_json("unknown field", 422, {"inputs": "오늘", "nope": 1}))
    return Mix(good, bads)


def mix_for(info: dict[str, Any]) -> Mix:
    """The soak mix of the task that /info names."""
    task = info["task"]
    if task == "text-classification":
        return classification(info, pairs=False)
    if task == "text-pair-classification":
        return classification(info, pairs=True)
    if task == "token-classification":
        return entities(info)
    if task == "text-generation":
        return generation(info)
    raise ValueError(f"no soak mix for task {task!r}")


def slow_body(host: str, port: int, body_timeout_s: float, key: str | None = None) -> str | None:
    """Send headers and a body that stalls half-way; None if the server answers 408 and closes
    the connection, else what went wrong. ``key``: sent as the bearer API key."""
    with socket.create_connection((host, port), timeout=body_timeout_s + 10) as sock:
        auth = f"Authorization: Bearer {key}\r\n" if key else ""
        head = (
            "POST /predict HTTP/1.1\r\nHost: soak\r\nContent-Type: application/json\r\n"
            f"{auth}Content-Length: 100\r\n\r\n"
        )
        sock.sendall(head.encode() + b'{"inputs": "')
        received = b""
        try:
            while chunk := sock.recv(4096):
                received += chunk
        except TimeoutError:
            return f"the connection was still open {body_timeout_s + 10:g} s later"
    if not received.startswith(b"HTTP/1.1 408"):
        return f"slow body got {received[:60]!r}, not 408"
    return None


def idle_connections(host: str, port: int, n: int) -> list[socket.socket]:
    """``n`` connections that never send a byte."""
    return [socket.create_connection((host, port), timeout=30) for _ in range(n)]


def closed_by_server(socks: list[socket.socket], wait_s: float) -> int:
    """How many of ``socks`` the server closed (read end of stream) within ``wait_s`` each."""
    closed = 0
    for sock in socks:
        sock.settimeout(wait_s)
        try:
            closed += sock.recv(1) == b""
        except OSError:  # a reset, or still open after wait_s
            pass
        finally:
            sock.close()
    return closed


def check_bad(response: httpx.Response, bad: Bad) -> str | None:
    if response.status_code != bad.status:
        return f"{bad.name}: got {response.status_code}, not {bad.status}: {response.text[:200]}"
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return f"{bad.name}: the answer has no JSON error field: {response.text[:200]}"
    return None if isinstance(error, str) and error else f"{bad.name}: empty error"
