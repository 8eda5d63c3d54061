"""Serve a trained model: a web page and the Hugging Face Inference API's JSON shape.

    python -m pipeline.serve --config configs/default.yaml [--model RUN|sweep:NAME|PATH|HUB_ID]
                             [--host 127.0.0.1] [--port 8000] [--backend tf|onnx|onnx-int8]
                             [--no-calibration] [--set serve.min_score=0.5]

This module checks the ``serve:`` values, binds the socket before the model loads (a busy port
fails at once) and runs uvicorn. SIGTERM (what a container runtime or systemd sends) drains:
the socket stops accepting, the requests and micro-batches in flight get ``serve.drain_s`` to
finish, and the command exits 0; Ctrl-C does the same and exits 130. The app itself (routes,
hardening, the model's background load) is pipeline/serve/app.py.
"""

from __future__ import annotations

import argparse
import errno
import logging
import signal
import socket
import threading
from typing import Any

from fastapi import FastAPI

from pipeline.cli import (
    add_backend_arg,
    add_calibration_arg,
    add_config_args,
    run_cli,
    with_backend,
    with_calibration,
)
from pipeline.config import Config
from pipeline.errors import PipelineError
from pipeline.serve.app import PAGE_CSP, create_app
from pipeline.serve.models import build_servers
from pipeline.serve.protocol import bounded_h11

logger = logging.getLogger("pipeline.serve")


def listen_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` for uvicorn; a busy or bad address is a PipelineError."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except (OSError, OverflowError) as exc:
        sock.close()
        reason = getattr(exc, "strerror", None) or str(exc)
        if getattr(exc, "errno", None) == errno.EADDRINUSE:
            reason += " (another server is using it: stop it, or choose another --port)"
        raise PipelineError(f"cannot listen on {host}:{port}: {reason}") from None
    sock.set_inheritable(True)
    return sock


def server_config(app: FastAPI, cfg: Config, **kwargs: Any) -> Any:
    """uvicorn's config for ``app``: no logging setup and no access log of its own (the app's
    is pipeline/serve/access.py); a connection idle for ``serve.keep_alive_s`` is closed
    (before its first request too), a request head or body slower than ``serve.body_timeout_s``
    gets 408 (pipeline/serve/protocol.py, the app); a shutdown waits ``serve.drain_s`` for the
    requests in flight."""
    import uvicorn

    http = bounded_h11(PAGE_CSP, cfg.serve.body_timeout_s)
    kwargs = {"access_log": False, "timeout_graceful_shutdown": cfg.serve.drain_s, **kwargs}
    keep_alive = cfg.serve.keep_alive_s
    return uvicorn.Config(app, log_config=None, timeout_keep_alive=keep_alive, http=http, **kwargs)


def _drained(signum: int, frame: Any) -> None:
    """SIGTERM as uvicorn raises it again after its graceful shutdown: the drain is done."""
    logger.info("drained after SIGTERM: exiting")


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(description="Serve a trained model: web page + JSON API.")
    add_config_args(parser)
    parser.add_argument(
        "--model",
        action="append",
        help="run name, sweep:<name>, run directory or Hub id; NAME=REF (repeatable) serves "
        "several models, the first at /predict, each at /models/NAME/predict",
    )
    parser.add_argument("--host", help="address to bind (default: serve.host)")
    parser.add_argument("--port", type=int, help="port (default: serve.port)")
    add_backend_arg(parser)
    add_calibration_arg(parser)

    def work(args: argparse.Namespace, cfg: Config) -> None:
        cfg = with_calibration(with_backend(cfg, args.backend), args.no_calibration)
        # the serve section's values were checked when the config loaded (ServeConfig)
        # the model side, the task's: a missing run fails here, before anything starts
        services = build_servers(cfg, args.model)
        service, *_ = services.values()
        host = args.host or cfg.serve.host
        port = cfg.serve.port if args.port is None else args.port
        sock = listen_socket(host, port)  # so does a busy port, before the model loads
        more = {name: s for name, s in services.items() if s is not service}
        app = create_app(service, more)
        server = uvicorn.Server(server_config(app, cfg, host=host, port=port))
        for each in services.values():
            each.on_failure = lambda: setattr(server, "should_exit", True)
        for name, each in services.items():
            logger.info("serving %s as %s on http://%s:%d", each.ref.source, name, host, port)
        logger.info("API docs: http://%s:%d/docs", host, port)
        # uvicorn shuts down gracefully on SIGINT/SIGTERM (stops accepting, waits up to
        # serve.drain_s for the requests in flight; the app's shutdown then ends the batcher),
        # then raises the signal again under the handler found before it started: this one
        # makes SIGTERM a normal end (0); Ctrl-C stays an interruption (130).
        previous = signal.getsignal(signal.SIGTERM) or signal.SIG_DFL
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _drained)
        try:
            server.run(sockets=[sock])
        finally:
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, previous)
        failed = [each.error for each in services.values() if each.error]
        if failed:
            raise PipelineError("; ".join(failed))

    return run_cli(parser, work, argv)


if __name__ == "__main__":
    raise SystemExit(main())
