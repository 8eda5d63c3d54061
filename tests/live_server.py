"""A real uvicorn server for the serve tests: the app of pipeline.serve on a free loopback port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from pipeline.config import Config
from pipeline.inference.server import Server
from pipeline.model.loading import ModelRef
from pipeline.serve.app import create_app
from pipeline.serve.stage import server_config
from pipeline.tasks import task_for


def run_service(cfg: Config, run_dir: Path) -> Server:
    """The config's task's server of a run directory (what ``--model PATH`` resolves to)."""
    return task_for(cfg).server(cfg, ModelRef(name=run_dir.name, run_dir=run_dir))


@contextmanager
def live_server(service: Server, wait_ready: bool = True, app: Any = None) -> Iterator[str]:
    """Serve ``service`` (or ``app``) on 127.0.0.1 in a thread; yields the URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = app or create_app(service)
    server = uvicorn.Server(server_config(app, service.cfg, access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: server.started, "server start")
        if wait_ready:
            _wait(lambda: httpx.get(f"{url}/health").status_code == 200, "model warm-up")
        yield url
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def _wait(check, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not finish within {timeout} s")
