"""A real MLflow tracking server for the tests, and a gate that makes it vanish and return.

    with MlflowServer(tmp_dir) as server:      # mlflow server, SQLite + artifact folder
        server.url                             # http://127.0.0.1:PORT, /health answered
    with Gate(server.port) as gate:            # a TCP forwarder on another free port
        gate.url; gate.close(); gate.open()    # closed: connections are refused

``early`` starts one when pytest has collected a test that needs it (tests/conftest.py), so it
boots while the tests before that one run; the session fixture then only waits for it.

The server is the ``mlflow server`` command of the test environment (one uvicorn worker, no
job runner: the least a test needs), in its own process group, so stopping it stops all of it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

START_TIMEOUT_S = 180  # a loaded 2-core machine takes 20-40 s


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MlflowServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> MlflowServer:
        if self.proc is None:
            self.start()
        self.wait()
        return self

    def start(self) -> None:
        """Start the server process (without waiting for it)."""
        mlflow = Path(sys.executable).with_name("mlflow")
        command = [
            str(mlflow), "server",
            "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}",
            "--artifacts-destination", str(self.root / "artifacts"),
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
        ]  # fmt: skip
        env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
        self.log = open(self.root / "server.log", "wb")  # noqa: SIM115 - closed in __exit__
        self.proc = subprocess.Popen(
            command, stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        atexit.register(self.__exit__)  # also when the session ends before the fixture's end

    def wait(self) -> None:
        """Until /health answers; the server's log in the error when it never does."""
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while not healthy(self.url):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                log = (self.root / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"mlflow server did not start:\n{log}")
            time.sleep(0.2)

    def __exit__(self, *exc: object) -> None:
        if self.proc is None or self.log.closed:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        try:  # the workers it started, if any outlived it
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.log.close()


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


class Gate:
    """Forwards 127.0.0.1:<own port> to ``target_port`` while open; closed, it refuses."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def __enter__(self) -> Gate:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def close(self) -> None:
        """Stop listening and cut every open connection: the server is gone."""
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            for conn in self._conns:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                conn.close()
            self._conns.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


_early: list[MlflowServer] = []


def early(start: bool = False) -> MlflowServer | None:
    """The session's server: started now (``start``), or the one started earlier, or None."""
    if start and not _early:
        import tempfile

        root = Path(tempfile.mkdtemp(prefix="mlflow-server-"))
        atexit.register(shutil.rmtree, root, True)  # runs after the server's stop (LIFO)
        server = MlflowServer(root)
        server.start()
        _early.append(server)
    return _early[0] if _early else None
