"""Where a training job runs: the tf.distribute strategy, the workers, and who writes files.

``train.distribute`` picks the strategy (docs/cluster.md):

- ``auto`` (default): ``multi_worker`` when TF_CONFIG names a cluster of several workers (Ray
  Train sets it), else ``mirrored`` when TensorFlow sees several GPUs, else ``none``;
- ``none``: TensorFlow's default strategy, one device (the first GPU, or the CPU);
- ``mirrored``: MirroredStrategy over all local GPUs (over the logical CPU devices when there is
  no GPU: how the tests run two replicas on one CPU);
- ``multi_worker``: MultiWorkerMirroredStrategy over the workers TF_CONFIG names (this process
  alone without it). TF_CONFIG is read here, before the strategy is created, as TF requires.

The batches: ``train.batch_size`` is the global batch. Every worker builds the same sequence of
global batches (same seed and epoch, see length_buckets.py), cuts each into as many near-equal
slices as there are replicas (``np.array_split``) and keeps its own replicas' slices; the
per-worker datasets come in through ``distribute_datasets_from_function``, whose elements go
to the worker's local replicas in turn. So a step trains on exactly the examples a one-device
step would, and Keras' loss (each replica's mean / replicas, gradients summed) equals the
global batch's mean when the slices are equal (batch_size divisible by the replicas). tf.data's
auto-sharding cannot do this: the batches come from a Python generator (no files to shard),
and sharding by element would hand whole batches to workers, changing the batches.

Only the chief (task ``chief``, or worker 0 when there is none) writes the run directory and
the work directory; the other workers checkpoint into a temporary directory (TF needs every
worker to save) that they delete at the end.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.errors import PipelineError

logger = logging.getLogger(__name__)

STRATEGY_NAMES = {
    "none": "default strategy",
    "mirrored": "MirroredStrategy",
    "multi_worker": "MultiWorkerMirroredStrategy",
}

# (first replica of this worker, its number of replicas, all replicas): the slices it keeps
Shard = tuple[int, int, int]


def tf_config() -> dict[str, Any]:
    """TF_CONFIG as a dict ({} when unset), checked: a cluster of workers and this task."""
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return {}
    try:
        config = json.loads(raw)
        cluster, task = config["cluster"], config["task"]
        kind, index = task["type"], int(task["index"])
        tasks = cluster[kind]
    except (ValueError, KeyError, TypeError) as exc:
        raise PipelineError(
            f"TF_CONFIG is not a TensorFlow cluster spec ({exc!r}): it needs "
            '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": i}}'
        ) from None
    unknown = set(cluster) - {"chief", "worker"}
    if unknown or kind not in ("chief", "worker") or not 0 <= index < len(tasks):
        raise PipelineError(
            f"TF_CONFIG: training runs on 'chief' and 'worker' tasks only (got cluster "
            f"{sorted(cluster)}, task {kind} {index})"
        )
    return config


def cluster_workers(config: dict[str, Any]) -> int:
    """How many processes the TF_CONFIG cluster has (chief + workers); 1 without one."""
    cluster = config.get("cluster", {})
    return max(1, len(cluster.get("chief", [])) + len(cluster.get("worker", [])))


def resolve(setting: str, gpus: int, workers: int) -> str:
    """``train.distribute`` with ``auto`` decided; several TF_CONFIG workers need multi_worker."""
    if setting == "auto":
        return "multi_worker" if workers > 1 else "mirrored" if gpus > 1 else "none"
    if workers > 1 and setting != "multi_worker":
        raise PipelineError(
            f"TF_CONFIG names a cluster of {workers} workers but train.distribute is "
            f"{setting!r}: each process would train its own copy and write the same run; set "
            "train.distribute to multi_worker (or auto), or unset TF_CONFIG"
        )
    return setting


def is_chief(config: dict[str, Any]) -> bool:
    """The chief writes the outputs: task ``chief``, or worker 0 of a cluster without one."""
    if not config:
        return True
    task, cluster = config["task"], config["cluster"]
    if "chief" in cluster:
        return task["type"] == "chief"
    return task["type"] == "worker" and int(task["index"]) == 0


@dataclass(frozen=True)
class Role:
    """This process's part in a training job, known before TensorFlow starts."""

    strategy: str  # "multi_worker", "none", "mirrored", or "auto" (one process: GPUs decide)
    workers: int
    index: int  # this worker's place in the cluster (0 = the chief)
    chief: bool


def role(setting: str) -> Role:
    """Who this process is, from ``train.distribute`` and TF_CONFIG (GPUs are not looked at)."""
    config = tf_config()
    workers = cluster_workers(config)
    if setting == "auto" and workers == 1:  # none or mirrored (decided by the GPUs): one process
        return Role("auto", 1, 0, True)
    strategy = resolve(setting, 0, workers)
    if strategy != "multi_worker":
        return Role(strategy, 1, 0, True)
    chief = is_chief(config)
    index = 0
    if config:
        task = config["task"]
        before = len(config["cluster"].get("chief", [])) if task["type"] == "worker" else 0
        index = before + int(task["index"])
    return Role(strategy, workers, index, chief)


@dataclass(frozen=True)
class Placement:
    """The strategy a run trains under, and what run.json records about it."""

    strategy: Any  # a tf.distribute.Strategy
    name: str  # "none" | "mirrored" | "multi_worker"
    replicas: int
    workers: int
    device: str  # for the log and run.json's "device"

    def record(self) -> dict[str, Any]:
        return {
            "strategy": STRATEGY_NAMES[self.name],
            "setting": self.name,
            "replicas": self.replicas,
            "workers": self.workers,
        }


def setup(setting: str, mixed_precision: bool) -> Placement:
    """Create the strategy ``setting`` asks for; mixed precision on GPU only."""
    import tensorflow as tf
    import tf_keras

    config = tf_config()  # before the strategy: MultiWorkerMirroredStrategy reads it
    workers = cluster_workers(config)
    gpus = tf.config.list_physical_devices("GPU")
    if mixed_precision and gpus:
        tf_keras.mixed_precision.set_global_policy("mixed_float16")
    elif mixed_precision:
        logger.info("train.mixed_precision is ignored on CPU")
    name = resolve(setting, len(gpus), workers)
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        kind = f"{len(gpus)} GPUs" if len(gpus) > 1 else f"GPU: {details.get('device_name', 'GPU')}"
    else:
        kind = "CPU"
    if name == "none":
        return Placement(tf.distribute.get_strategy(), name, 1, 1, kind)
    if name == "mirrored":
        devices = None if gpus else [d.name for d in tf.config.list_logical_devices("CPU")]
        strategy = tf.distribute.MirroredStrategy(devices)
        if not gpus:
            kind = f"{len(devices or [])} CPU devices"
    else:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    n = int(strategy.num_replicas_in_sync)
    plural = "s" if workers > 1 else ""
    device = f"{kind} ({STRATEGY_NAMES[name]}, {n} replicas, {workers} worker{plural})"
    return Placement(strategy, name, n, workers, device)


def check_batch(batch_size: int, replicas: int) -> None:
    """Every replica needs examples; uneven slices change the loss weighting slightly."""
    if batch_size < replicas:
        raise PipelineError(
            f"train.batch_size {batch_size} is smaller than the {replicas} replicas training "
            "it: the global batch is split across replicas, so raise train.batch_size"
        )
    if batch_size % replicas:
        logger.warning(
            "train.batch_size %d is not a multiple of the %d replicas: slices differ by one "
            "example, and the loss weights their examples slightly unevenly",
            batch_size,
            replicas,
        )


def distribute(placement: Placement, build: Callable[[Shard | None], Any]) -> Any:
    """The dataset ``build(shard)`` makes, spread over the replicas (as is on one device).

    Keras keeps one iterator of a distributed dataset for all epochs, so it repeats (each pass
    asks the generator for a new epoch) and ``fit`` gets the steps (see ``steps``).
    """
    if placement.name == "none":
        return build(None)
    replicas = placement.replicas

    def per_worker(context: Any) -> Any:  # tf.distribute.InputContext, once per worker
        local = replicas // context.num_input_pipelines
        return build((context.input_pipeline_id * local, local, replicas)).repeat()

    return placement.strategy.distribute_datasets_from_function(per_worker)


def steps(placement: Placement, n: int) -> int | None:
    """``n`` steps for Keras where a distributed dataset needs them (None: it counts itself)."""
    return None if placement.name == "none" else n


def barrier(placement: Placement) -> None:
    """Wait for every worker (one all-reduce): a worker that leaves early strands the others.

    Without it the chief could exit while another worker's fit still ends its last epoch,
    which then waits for the lost chief until the coordination service gives up on it.
    """
    if placement.name != "multi_worker":
        return
    import tensorflow as tf

    strategy = placement.strategy
    ones = strategy.run(lambda: tf.constant(1.0))
    strategy.reduce(tf.distribute.ReduceOp.SUM, ones, axis=None)


def check_same(placement: Placement, value: int, message: str) -> None:
    """Stop every worker with ``message`` unless all of them hold the same ``value``.

    All equal exactly when n * sum(x^2) == sum(x)^2 over the n replicas (two all-reduces).
    """
    if placement.name != "multi_worker":
        return
    import tensorflow as tf

    strategy, x = placement.strategy, float(value)
    sums = strategy.run(lambda: tf.constant([1.0, x, x * x], tf.float64))
    n, total, squares = strategy.reduce(tf.distribute.ReduceOp.SUM, sums, axis=None).numpy()
    if abs(n * squares - total * total) > 1e-6 * max(1.0, total * total):
        raise PipelineError(message)
