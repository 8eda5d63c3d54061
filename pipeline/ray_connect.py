"""Connect to Ray for the sweep's Ray engine and `predict --ray` (docs/cluster.md).

``ray_session()`` uses, in this order: a Ray instance this process already started (tests);
the cluster named by ``RAY_ADDRESS`` (``ray start --head`` prints it; ``auto`` finds a cluster
started on this machine); else a local instance bounded to this machine's CPUs, shut down when
the block ends. Workers find this project's ``pipeline`` package through PYTHONPATH (the
project directory must sit at the same path on every node: a shared filesystem).

A ``RAY_ADDRESS`` host:port that does not accept a connection within ``CONNECT_TIMEOUT_S`` is
one error line: ``ray.init`` itself would retry for minutes inside C++ code that no signal
interrupts. ``ray.init`` replaces the SIGTERM handler with one that exits 15; the caller's
handler (the commands' "SIGTERM stops it like Ctrl-C", exit 130) is put back once it returns.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.errors import PipelineError

logger = logging.getLogger("pipeline.ray")

PROJECT = Path(__file__).resolve().parents[1]  # holds the pipeline package
CONNECT_TIMEOUT_S = 5.0  # a cluster that does not answer a TCP connect in this time is down


def import_ray() -> Any:
    """The ray module, or one clear message when it is missing."""
    try:
        import ray
    except ImportError as exc:  # pragma: no cover (installed by make setup)
        raise PipelineError(
            "Ray is not installed: `make setup` installs it (ray[train,tune,data])"
        ) from exc
    return ray


def worker_env() -> dict[str, str]:
    """What every Ray worker needs: this project importable, tf-keras, quiet TensorFlow."""
    path = os.pathsep.join(p for p in (str(PROJECT), os.environ.get("PYTHONPATH", "")) if p)
    return {
        "PYTHONPATH": path,
        "TF_USE_LEGACY_KERAS": "1",
        "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }


@contextlib.contextmanager
def ray_session(num_cpus: int | None = None) -> Iterator[Any]:
    """Yield ``ray`` connected as the module docstring says; a local instance gets
    ``num_cpus`` CPUs (default: this machine's) and is shut down afterwards."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    runtime_env = {"env_vars": worker_env()}
    address = os.environ.get("RAY_ADDRESS")
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if main_thread else None
    try:
        if address:
            check_reachable(address)
            ctx = ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
            where = f"the Ray cluster at {address}"
        else:
            cpus = num_cpus or os.cpu_count() or 1
            ctx = ray.init(
                address="local",  # a new instance, never another program's on this machine
                num_cpus=cpus,
                runtime_env=runtime_env,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
            where = f"a local Ray instance ({cpus} CPUs)"
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise PipelineError(f"cannot connect to Ray ({address or 'local'}): {exc}") from exc
    except SystemExit as exc:  # Ray's own SIGTERM handler fired while ray.init ran
        if exc.code == signal.SIGTERM:
            raise KeyboardInterrupt from None
        raise
    finally:
        if callable(previous):  # a handler of ours (SIGTERM -> KeyboardInterrupt): keep it
            signal.signal(signal.SIGTERM, previous)
    dashboard = getattr(ctx, "dashboard_url", None)
    resources = ray.cluster_resources()
    logger.info(
        "on %s: %g CPUs, %g GPUs%s",
        where,
        resources.get("CPU", 0),
        resources.get("GPU", 0),
        f", dashboard http://{dashboard}" if dashboard else "",
    )
    try:
        yield ray
    finally:
        ray.shutdown()


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """A TCP connection to ``address`` (host:port, or ray://host:port) within ``timeout``
    seconds, or one PipelineError saying why; "auto", "local" and forms without a port pass."""
    target = address.removeprefix("ray://").rstrip("/")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto", "local": Ray resolves them itself, quickly
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        why = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise PipelineError(
            f"cannot reach the Ray cluster at {address} (RAY_ADDRESS): {why} within "
            f"{timeout:g} s; start it with `ray start --head`, or unset RAY_ADDRESS to run on "
            "a local Ray instance"
        ) from None


def check_actor_fits(ray: Any, gpus: float, what: str) -> None:
    """Refuse an actor (or worker) needing ``gpus`` GPUs and one CPU that no live node of the
    cluster can hold: Ray would keep it pending, and the command would wait forever."""
    if gpus <= 0:
        return
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    if not any(r.get("GPU", 0) >= gpus and r.get("CPU", 0) >= 1 for r in nodes):
        most = max((r.get("GPU", 0) for r in nodes), default=0)
        raise PipelineError(
            f"{what} {gpus:g}: no node of this Ray cluster has {gpus:g} GPU(s) "
            f"(the most on one node: {most:g}), so the work would wait forever; "
            f"use {what} 0 to run on CPUs"
        )
