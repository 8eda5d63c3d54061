"""Graceful drain: ``python -m pipeline.serve`` in a subprocess gets SIGTERM while requests wait
in a micro-batch; it stops accepting, answers every one of them, and exits 0."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from pipeline.config import load_config
from tests.conftest import tiny_config_dict, write_config

pytestmark = pytest.mark.slow  # a whole server process with TensorFlow

IN_FLIGHT = 6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.heavy  # ~30 s: a server process of its own (test_serve.py drains in-process)
def test_sigterm_answers_the_requests_in_flight_then_exits_0(
    tmp_path: Path, tiny_bert: Path, untrained_run: Path
) -> None:
    serve = {"max_batch_size": 64, "max_wait_ms": 1000, "drain_s": 20}
    path = write_config(tmp_path / "c.yaml", tiny_config_dict(tmp_path, tiny_bert, serve=serve))
    load_config(path)  # a bad config fails here, not as a server that never comes up
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "pipeline.serve", "--config", str(path)]
    command += ["--model", str(untrained_run), "--port", str(port)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read().decode()
            time.sleep(0.2)
        answers: list[httpx.Response | Exception] = []

        def ask(i: int) -> None:
            try:
                answers.append(
                    httpx.post(f"{url}/predict", json={"inputs": f"문장 {i}"}, timeout=60)
                )
            except Exception as exc:  # noqa: BLE001  (the assertion below names it)
                answers.append(exc)

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(IN_FLIGHT)]
        for t in threads:
            t.start()
        time.sleep(0.4)  # all sent; the batch waits serve.max_wait_ms (1 s) for more
        sent_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)  # uvicorn looks at its exit flag every 0.1 s
        with pytest.raises(httpx.ConnectError):  # no longer accepting
            httpx.get(f"{url}/health", timeout=2)
        refused_at = time.monotonic()
        for t in threads:
            t.join(60)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = proc.stdout.read().decode()
    assert refused_at - sent_at < 1.0, "the check ran after the batch finished: proves nothing"
    assert [getattr(a, "status_code", a) for a in answers] == [200] * IN_FLIGHT, log
    assert all(len(a.json()[0]) == 4 for a in answers)
    assert code == 0, log
    assert "drained after SIGTERM" in log
