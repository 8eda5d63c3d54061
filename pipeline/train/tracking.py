"""One MLflow run per training run (tracking.enabled; the client: pipeline/tracking.py).

The run starts with the training (params: the resolved config, flattened; tags: the data
manifest's sha256s, the git commit, the task) and its id goes into the work directory's
``state.json`` at once, so a resumed training continues the same MLflow run, and into the
finished ``run.json`` (``"mlflow"``), where evaluate and publish find it. Each finished epoch's
history row (loss, accuracy, val_loss, val_accuracy, the task's own metric such as
val_entity_f1, learning_rate, epoch_seconds) is sent at that epoch's end, at step = epoch.
At the end, every epoch the server is still missing (it was away, or the process was killed
between an epoch and its send) is sent from the history, then the run directory's small files
(run.json, history.csv, curves.png, labels.json, config.json), the best epoch and its value
(``best_epoch``, ``best_val_accuracy``) and the run is marked finished.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pipeline.config import Config
from pipeline.fitting.callbacks import TrainState
from pipeline.io import git_commit, read_json
from pipeline.paths import Paths, RunDir
from pipeline.tracking import Tracker, flatten

logger = logging.getLogger("pipeline.train")

ARTIFACTS = (RunDir.RECORD, RunDir.HISTORY, RunDir.CURVES, RunDir.LABELS, RunDir.CONFIG)


def epoch_metrics(row: dict[str, Any]) -> dict[str, float]:
    """A history row as MLflow metrics: everything but the epoch (the step)."""
    names = {"seconds": "epoch_seconds"}
    return {names.get(k, k): float(v) for k, v in row.items() if k != "epoch" and v is not None}


class TrainTracking:
    """The MLflow run of one training: opened (or reopened) before fit, finished after save."""

    def __init__(self, tracker: Tracker, run_id: str | None, monitor: str) -> None:
        self.tracker, self.run_id, self.monitor = tracker, run_id, monitor

    @classmethod
    def open(
        cls, tracker: Tracker, cfg: Config, state: TrainState, work: Path, parent: str | None
    ) -> TrainTracking:
        """Reopen the run ``state`` names, else start one and record its id in ``work``."""
        run_id = tracker.find_run(state.mlflow_run_id)
        if run_id:
            tracker.reopen(run_id)
            logger.info("continuing MLflow run %s", tracker.url(run_id))
            return cls(tracker, run_id, cfg.train.early_stopping.monitor)
        if state.mlflow_run_id:
            logger.warning("MLflow run %s is not on %s: starting a new one",
                           state.mlflow_run_id, tracker.uri)  # fmt: skip
        paths = Paths.from_config(cfg)
        manifest = read_json(paths.manifest) if paths.manifest.is_file() else {}
        tags = {
            "task": cfg.task,
            "mlflow.source.git.commit": git_commit(),
            **{f"data.{k}_sha256": v for k, v in data_hashes(manifest).items()},
        }
        run_id = tracker.start_run(cfg.train.run_name, flatten(cfg.to_dict()), tags, parent)
        if run_id:
            state.mlflow_run_id = run_id
            state.save(work)  # before the first epoch: a resume finds it even then
        return cls(tracker, run_id, cfg.train.early_stopping.monitor)

    def callback(self, state: TrainState) -> Any:
        """A Keras callback sending each finished epoch (placed after the checkpoint's)."""
        import tf_keras

        tracking = self

        class SendEpoch(tf_keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                if tracking.run_id and state.history:
                    row = state.history[-1]
                    tracking.tracker.log_metrics(
                        tracking.run_id, epoch_metrics(row), int(row["epoch"])
                    )

        return SendEpoch()

    def record(self) -> dict[str, Any]:
        """run.json's ``"mlflow"`` entry (empty when no run could be started)."""
        return self.tracker.record(self.run_id) if self.run_id else {}

    def finish(self, run_dir: Path, state: TrainState) -> None:
        """Send what the server misses, the best epoch's values and the small files; end it."""
        if not self.run_id:
            return
        tracker, run_id = self.tracker, self.run_id
        failures = tracker.failures
        have = tracker.logged_steps(run_id, "loss")
        if have is not None:
            missing = [r for r in state.history if int(r["epoch"]) not in have]
            tracker.pending.clear()  # the history holds every buffered value
            for row in missing:
                tracker.log_metrics(run_id, epoch_metrics(row), int(row["epoch"]))
            if missing:
                logger.info("MLflow: sent %d epoch(s) it had missed", len(missing))
        best = {"best_epoch": state.best_epoch or 0, f"best_{self.monitor}": state.best_value}
        tracker.log_metrics(run_id, {k: v for k, v in best.items() if v is not None})
        tracker.set_tags(run_id, {"stop_reason": state.stop_reason})
        tracker.log_files(run_id, [run_dir / name for name in ARTIFACTS])
        tracker.end_run(run_id)
        if tracker.failures > failures or tracker.pending:
            logger.warning(
                "MLflow %s did not take everything of run %s (history.csv has every epoch); "
                "going on", tracker.uri, run_id,
            )  # fmt: skip

    def fail(self, status: str) -> None:
        if self.run_id:
            self.tracker.end_run(self.run_id, status)


def data_hashes(manifest: dict[str, Any]) -> dict[str, str]:
    """The split manifest's sha256 of each split and of the labels."""
    splits = manifest.get("splits", {})
    hashes = {name: part.get("sha256") for name, part in splits.items()}
    hashes["labels"] = manifest.get("labels", {}).get("sha256")
    return {k: v for k, v in hashes.items() if v}
