"""Connect to Ray for the sweep's Ray engine and `predict --ray` (docs/cluster.md).

``ray_session()`` uses, in this order: a Ray instance this process already started (tests);
the cluster named by ``RAY_ADDRESS`` (``ray start --head`` prints it; ``auto`` finds a cluster
started on this machine); else a local instance bounded to this machine's CPUs, shut down when
the block ends. Workers find this project's ``pipeline`` package through PYTHONPATH (the
project directory must sit at the same path on every node: a shared filesystem).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.errors import PipelineError

logger = logging.getLogger("pipeline.ray")

PROJECT = Path(__file__).resolve().parents[1]  # holds the pipeline package


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
    try:
        if address:
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
