"""The server's connections before any route runs: idle and trickling clients are cut off,
requests that cannot be parsed get the API's JSON error, and so does an unhandled error.

Against a real uvicorn server (pipeline/serve/protocol.py's connection class) on loopback,
with raw sockets where a client library would not send such a request.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from pathlib import Path

import httpx
import pytest

from pipeline.config import load_config
from pipeline.serve.app import create_app
from tests.conftest import tiny_config_dict, write_config
from tests.live_server import live_server, run_service

KEEP_ALIVE_S = 1.0
HEAD_TIMEOUT_S = 1.0  # serve.body_timeout_s bounds the request head too
PATIENCE_S = 15.0  # a socket read that waits longer than this means the server never closed


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_bert: Path, untrained_run: Path):
    root = tmp_path_factory.mktemp("connections")
    serve = {"keep_alive_s": KEEP_ALIVE_S, "body_timeout_s": HEAD_TIMEOUT_S}
    cfg = load_config(write_config(root / "c.yaml", tiny_config_dict(root, tiny_bert, serve=serve)))
    service = run_service(cfg, untrained_run)
    app = create_app(service)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    with live_server(service, app=app) as url:
        yield url


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=PATIENCE_S)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (a socket timeout fails the test)."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def _parse(answer: bytes) -> tuple[int, dict[str, str], dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, json.loads(body)


def test_a_connection_that_never_sends_a_byte_is_closed(server) -> None:
    with _connect(server) as sock:
        assert _read_all(sock) == b""  # closed after serve.keep_alive_s, with nothing said


def test_a_request_head_sent_too_slowly_gets_408_and_is_closed(server) -> None:
    with _connect(server) as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: appl")
        status, headers, body = _parse(_read_all(sock))
    assert status == 408 and "request head" in body["error"]
    assert headers["connection"] == "close" and headers["x-content-type-options"] == "nosniff"


def test_a_200_kb_header_gets_431_as_json(server) -> None:
    response = httpx.get(f"{server}/info", headers={"x-big": "a" * 200_000}, timeout=PATIENCE_S)
    assert response.status_code == 431
    assert "request head is over" in response.json()["error"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert httpx.get(f"{server}/health").status_code == 200  # still serving


def test_a_request_line_that_cannot_be_parsed_gets_400_as_json(server) -> None:
    with _connect(server) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        status, headers, body = _parse(_read_all(sock))
    assert status == 400 and "could not be parsed" in body["error"]
    assert headers["content-type"] == "application/json"


def test_an_unhandled_error_is_a_json_500_with_the_security_headers(server) -> None:
    response = httpx.get(f"{server}/boom")
    assert response.status_code == 500
    assert response.json() == {"error": "internal error: RuntimeError"}
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_a_kept_alive_connection_still_serves_several_requests(server) -> None:
    with httpx.Client(base_url=server) as client:
        for _ in range(3):
            assert client.get("/health").status_code == 200


def _read_answer(sock: socket.socket) -> bytes:
    """One whole answer (head and a Content-Length body), leaving the connection open."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(_parse(head + b"\r\n\r\n{}")[1]["content-length"])
    while len(body) < length:
        body += sock.recv(65536)
    return data


def _trickle_until_closed(sock: socket.socket) -> bool:
    """Send a byte every 0.2 s; True once the server has closed the connection."""
    deadline = time.monotonic() + PATIENCE_S
    sock.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            sock.sendall(b"a")
            if sock.recv(65536) == b"":
                return True
        except TimeoutError:
            continue
        except OSError:  # reset or broken pipe: closed
            return True
    return False


def test_a_body_trickled_after_its_answer_is_cut_off(server) -> None:
    """A 404 does not read the body: the client may not keep the connection by trickling it."""
    with _connect(server) as sock:
        sock.sendall(b"POST /nope HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n0123456789")
        assert _read_answer(sock).startswith(b"HTTP/1.1 404")
        assert _trickle_until_closed(sock)


def test_a_connection_idle_after_a_body_that_ended_late_is_closed(server) -> None:
    """The answer went out before the body's last byte; then the client says nothing."""
    with _connect(server) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\n")
        assert _read_answer(sock).startswith(b"HTTP/1.1 200")
        sock.sendall(b"a")  # the body, after its answer: the connection waits for a request
        assert _read_all(sock) == b""  # closed after keep_alive_s


def test_a_malformed_chunked_body_gets_400_without_a_traceback(server, caplog) -> None:
    caplog.set_level(logging.WARNING)
    with _connect(server) as sock:
        head = b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        sock.sendall(head + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n")
        status, _, body = _parse(_read_all(sock))
    assert status == 400 and "could not be parsed" in body["error"]
    time.sleep(0.5)  # the app's own answer, had it been written, would fail by now
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert httpx.get(f"{server}/health").status_code == 200
