"""``python -m pipeline.train --ray``: the same training, its workers started by Ray Train.

    python -m pipeline.train --config configs/x.yaml --ray [--workers 2] [--gpus-per-worker 1]

Ray Train's ``TensorflowTrainer`` starts ``--workers`` processes (each holding
``--gpus-per-worker`` GPUs, or one CPU), writes TF_CONFIG into each (its TensorFlow backend:
a cluster of workers, rank 0 first), and each calls the train stage's ``run`` (handed in by
``pipeline.train.stage.main``) with the config, so ``train.distribute: auto`` trains under
MultiWorkerMirroredStrategy and the chief (rank 0) writes ``models/<run>/`` exactly as a run
without Ray does (see distributed.py).

What Ray does not do here, and why:

- Metrics go to Ray with ``ray.train.report`` from a small Keras callback (every worker, every
  epoch, as Ray Train V2 requires), not through Ray's Keras callbacks, which are written for
  Keras 3 while transformers' TF models are tf-keras models.
- No Ray checkpoint: ``TensorflowCheckpoint`` cannot save a subclassed Keras model such as
  ``TFBertForSequenceClassification`` (ray#44804). The run directory (``save_pretrained``) is
  the model; resume works from the chief's work directory as on one machine.

The cluster: ``RAY_ADDRESS`` (set by ``ray start``/a job submission, or exported by the user)
names an existing one; without it a local instance with one CPU per worker is started and shut
down at the end. On several machines the project root must be the same shared path on each
(workers read the data and base model from it, and resume from the chief's work directory).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import tf_keras

from pipeline.config import Config, check_training_values
from pipeline.errors import PipelineError
from pipeline.fitting.callbacks import finished_record, training_key
from pipeline.io import read_json
from pipeline.paths import Paths, RunDir
from pipeline.tasks import task_for

logger = logging.getLogger("pipeline.train")

RAY_VERSION = "2.60.0"  # the version tested; its TensorFlow starter broke on another (ray#47464)


class ReportToRay(tf_keras.callbacks.Callback):
    """Each epoch's metrics to Ray Train (all workers call it: a report is a barrier)."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        import ray.train

        metrics = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, float | int)}
        ray.train.report({"epoch": epoch + 1, **metrics})


def train_worker(settings: dict[str, Any]) -> None:
    """One Ray Train worker: the ordinary train stage, TF_CONFIG already set by Ray."""
    import ray.train

    from pipeline.cli import setup_logging

    setup_logging()
    run = settings["run"]  # pipeline.train.stage.run (Ray pickles it by name)
    result = run(settings["cfg"], force=settings["force"], callbacks=[ReportToRay()])
    ray.train.report({"epochs_run": result.epochs_run, "run_dir": str(result.run_dir)})


def check_request(cfg: Config, workers: int, gpus_per_worker: float) -> None:
    """What can be refused before Ray starts: the strategy, the counts, the batch."""
    if cfg.train.distribute not in ("auto", "multi_worker"):
        raise PipelineError(
            f"--ray trains under MultiWorkerMirroredStrategy, but train.distribute is "
            f"{cfg.train.distribute!r}: set it to auto or multi_worker"
        )
    if workers < 1 or gpus_per_worker < 0:
        raise PipelineError(
            f"--workers must be at least 1 and --gpus-per-worker at least 0 (got {workers}, "
            f"{gpus_per_worker})"
        )
    replicas = workers * max(1, int(gpus_per_worker))
    if cfg.train.batch_size < replicas:
        raise PipelineError(
            f"train.batch_size {cfg.train.batch_size} is smaller than the {replicas} replicas "
            f"of --workers {workers}: the global batch is split across them"
        )


def worker_env() -> dict[str, str]:
    """Environment for the workers: this checkout's ``pipeline`` first, legacy Keras."""
    root = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    env = {"PYTHONPATH": path, "TF_USE_LEGACY_KERAS": "1"}
    for name in ("HF_HUB_OFFLINE", "HF_HOME", "TF_CPP_MIN_LOG_LEVEL"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def worker_error(exc: BaseException) -> PipelineError | None:
    """The PipelineError a worker raised, found in what Ray raises on the driver."""
    seen: list[BaseException] = []
    todo: list[Any] = [exc]
    while todo:
        e = todo.pop()
        if not isinstance(e, BaseException) or e in seen:
            continue
        seen.append(e)
        if isinstance(e, PipelineError):
            return e
        todo += [e.__cause__, e.__context__, getattr(e, "cause", None)]
        todo += list(getattr(e, "worker_failures", {}).values())
    return None


def run(
    cfg: Config,
    train: Callable[..., Any],
    force: bool = False,
    workers: int = 2,
    gpus_per_worker: float = 0,
) -> dict[str, Any]:
    """Train ``cfg`` on ``workers`` Ray workers with ``train`` (the stage's ``run``).

    Returns the TrainResult fields, read from the run.json the chief wrote (Ray Train V2
    keeps reported metrics only with checkpoints, and this stage reports none).
    """
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.tensorflow import TensorflowTrainer

    check_training_values(cfg)
    check_request(cfg, workers, gpus_per_worker)
    if ray.__version__ != RAY_VERSION:
        logger.warning("Ray %s: this stage is tested with Ray %s", ray.__version__, RAY_VERSION)
    paths = Paths.from_config(cfg)
    run_dir = paths.run_dir(cfg.train.run_name)
    needed = [paths.split_file("train"), paths.split_file("validation"), paths.labels]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        raise PipelineError(f"missing {', '.join(missing)}: run `make data` first")
    key = training_key(cfg, paths, task_for(cfg).training_key(cfg))
    done = None if force else finished_record(run_dir, key)
    if done:  # the workers would skip it too: no need to start them
        logger.info("%s is already trained with this config and data: skipping", run_dir)
        return fields(run_dir, done, skipped=True)
    connect = not ray.is_initialized()  # else the caller's Ray session is used and kept
    local = connect and not os.environ.get("RAY_ADDRESS")
    if connect:  # RAY_ADDRESS: that cluster; else a local instance with one CPU per worker
        bounded = {"num_cpus": workers, "include_dashboard": False} if local else {}
        env = {"env_vars": worker_env()}
        ray.init(runtime_env=env, logging_level=logging.WARNING, **bounded)
    per_worker = {"CPU": 1.0} | ({"GPU": gpus_per_worker} if gpus_per_worker else {})
    name = "train-" + cfg.train.run_name.replace("/", "--") + time.strftime("-%Y%m%d-%H%M%S")
    logger.info("Ray Train: %d workers, %s each (%s)", workers, per_worker, name)
    trainer = TensorflowTrainer(
        train_worker,
        # the root resolved here: the workers run in Ray's working directory, not this one
        train_loop_config={"cfg": replace(cfg, root=str(paths.root)), "force": force, "run": train},
        scaling_config=ScalingConfig(
            num_workers=workers, use_gpu=bool(gpus_per_worker), resources_per_worker=per_worker
        ),
        run_config=RunConfig(name=name, storage_path=str(paths.models / ".ray")),
    )
    try:
        result = trainer.fit()
    except Exception as exc:
        cause = worker_error(exc)
        if cause is not None:
            raise PipelineError(str(cause)) from None
        raise
    finally:
        if connect:
            ray.shutdown()
    logger.info("Ray Train run %s finished in %s", name, result.path)
    return fields(run_dir, read_json(RunDir(run_dir).record), skipped=False)


def fields(run_dir: Path, record: dict[str, Any], skipped: bool) -> dict[str, Any]:
    """TrainResult's fields from a finished run's run.json."""
    return {
        "run_dir": run_dir,
        "best_epoch": record["best_epoch"],
        "best_metric": record["best_metric"]["value"],
        "stop_reason": record["stop_reason"],
        "epochs_run": record["epochs_run"],
        "skipped": skipped,
    }
