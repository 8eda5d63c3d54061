"""A sweep on MLflow (tracking.enabled): a parent run, each trial's training run nested in it.

The parent run is named after the sweep; its id is kept in ``trials.json`` so a rerun of the
sweep continues it (``--overwrite`` starts a new one). Every trial process, whichever engine
starts it (local or Ray), gets ``--mlflow-parent <id>`` and the resolved tracking URI, and its
train stage opens its own run under the parent (pipeline/train/tracking.py). When the sweep
ends, the parent gets the results table, best.json and the figures as artifacts, the best
trial's value as a metric and its name and run id as tags; each finished trial's run is tagged
``best`` true or false.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.config import Config
from pipeline.paths import Paths, RunDir
from pipeline.tracking import Tracker, flatten, tracking_uri

logger = logging.getLogger("pipeline.sweep")

ARTIFACTS = ("results.csv", "results.md", "best.json", RunDir.RECORD, "figures")


def open_parent(tracker: Tracker, state: dict[str, Any], sweep: Any, base: Config) -> str | None:
    """The sweep's parent run: the one ``state`` (trials.json) names, else a new one."""
    run_id = tracker.find_run(state.get("mlflow_run_id"))
    if run_id:
        tracker.reopen(run_id)
        logger.info("continuing MLflow run %s", tracker.url(run_id))
        return run_id
    params = flatten(base.to_dict()) | {
        f"sweep.{k}": v
        for k, v in flatten({"metric": sweep.metric, "engine": sweep.engine}).items()
    }
    run_id = tracker.start_run(sweep.name, params, {"task": base.task, "sweep": sweep.name})
    state["mlflow_run_id"] = run_id
    return run_id


def trial_args(base: Config, parent: str | None) -> list[str]:
    """What each trial's command adds: the server this sweep tracks on, and the parent run."""
    uri = tracking_uri(base)
    return ["--set", f"tracking.uri={uri}", *(["--mlflow-parent", parent] if parent else [])]


def close_parent(
    tracker: Tracker, parent: str | None, out: Path, table: pd.DataFrame, paths: Paths,
    metric: str, completed: bool,
) -> None:  # fmt: skip
    """Results on the parent, the best trial marked, the parent ended (or killed)."""
    if not parent:
        return
    finished = table[table["status"] == "finished"]
    runs = {}
    for trial, run_dir in zip(finished["trial"], finished["run_dir"], strict=True):
        record = RunDir(paths.resolve(run_dir)).read(RunDir.RECORD)
        if run_id := record.get("mlflow", {}).get("run_id"):
            runs[trial] = run_id
    if not finished.empty:
        best = finished.iloc[0]
        tracker.log_metrics(parent, {f"best_{metric}": float(best[metric])})
        tracker.set_tags(
            parent, {"best_trial": best["trial"], "best_run_id": runs.get(best["trial"])}
        )
        for trial, run_id in runs.items():
            tracker.set_tags(run_id, {"best": str(trial == best["trial"]).lower()})
    tracker.log_files(parent, [out / name for name in ARTIFACTS])
    tracker.end_run(parent, "FINISHED" if completed else "KILLED")
