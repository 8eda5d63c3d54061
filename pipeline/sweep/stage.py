"""Sweep: many train runs over a grid of config values; a results table, plots and the best run.

    python -m pipeline.sweep --sweep configs/sweeps/demo.yaml [--set train.epochs=2] [--overwrite]
    make sweep SWEEP=configs/sweeps/lr-batch.yaml

A sweep file names a base config and the values to try (dotted config keys):

    name: lr-batch                      # reports/sweeps/<name>/, models/<name>/<trial>/
    base: configs/aihub-emotion.yaml
    overrides: {train.epochs: 10}       # applied to the base for every trial (optional)
    grids:                              # every combination within each grid; several grids add up
      - {train.learning_rate: [5.0e-3, 1.0e-3], train.batch_size: [64]}
    trials:                             # explicit trials (optional, besides or instead of grids)
      - {train.learning_rate: 3.0e-5, train.optimizer: adamw}
    metric: val_accuracy                # picks the best trial (val_loss: lowest wins)
    parallel: 1                         # trials running at once, each its own process
    engine: local                       # or ray: Ray Tune trials (pipeline/sweep/ray_engine.py)

Each trial is an ordinary ``python -m pipeline.train`` process with ``train.run_name`` set to
``<sweep>/<trial>``; its output goes to ``reports/sweeps/<name>/logs/<trial>.log``. The state
file ``trials.json`` keys every trial by a hash of its model/train config and the data
manifest's hashes: a rerun skips finished trials, resumes interrupted ones (train picks up after
the last finished epoch) and retries failed ones. Results: ``results.csv``, ``results.md``,
``figures/*.png``, ``best.json`` (see docs/contracts.md), ``run.json`` and ``tensorboard/``
(``tensorboard --logdir reports/sweeps/<name>``: the trials side by side in the HPARAMS tab).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.cli import add_config_args, setup_logging, sigterm_as_interrupt
from pipeline.config import Config, load_config
from pipeline.errors import PipelineError
from pipeline.io import read_json, write_json
from pipeline.paths import Paths, RunDir
from pipeline.sweep.report import (
    remove_tensorboard_trial,
    trial_result,
    write_results,
    write_tensorboard_config,
    write_tensorboard_trial,
)
from pipeline.sweep.runner import Job, Runner
from pipeline.sweep.spec import SweepConfig, Trial, expand, load_sweep, trial_name
from pipeline.sweep.tracking import close_parent, open_parent, trial_args
from pipeline.tensorboard import logdir_of
from pipeline.tracking import connect

__all__ = ["SweepConfig", "Trial", "expand", "load_sweep", "main", "run", "trial_key", "trial_name"]

logger = logging.getLogger("pipeline.sweep")


def data_hashes(paths: Paths) -> dict[str, Any]:
    """The split manifest's hashes of what training reads (train, validation, labels)."""
    if not paths.manifest.is_file():
        raise PipelineError(f"missing {paths.manifest}: run `make data` first")
    manifest = read_json(paths.manifest)
    splits = manifest.get("splits", {})
    return {
        "train": splits.get("train", {}).get("sha256"),
        "validation": splits.get("validation", {}).get("sha256"),
        "labels": manifest.get("labels", {}).get("sha256"),
    }


def trial_key(cfg_dict: dict[str, Any], data: dict[str, Any]) -> str:
    """What decides a trial's weights: its model and train sections plus the data hashes."""
    body = {"model": cfg_dict["model"], "train": cfg_dict["train"], "data": data}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def load_state(path: Path, trials: list[Trial], overwrite: bool) -> dict[str, Any]:
    """trials.json of an earlier run of this sweep; different axes are refused."""
    axes = [{"trial": t.name, "values": t.values} for t in trials]
    axes = json.loads(json.dumps(axes))  # as it reads back from the file
    if overwrite or not path.is_file():
        return {"axes": axes, "trials": {}}
    state = read_json(path)
    if state.get("axes") != axes:
        old = ", ".join(a["trial"] for a in state.get("axes", []))
        raise PipelineError(
            f"{path.parent.name}: a sweep of this name already ran with other trials ({old}); "
            "choose another name, or pass --overwrite to retrain every trial"
        )
    return state


def plan(
    trials: list[Trial], state: dict[str, Any], data: dict[str, Any], paths: Paths, overwrite: bool
) -> list[Job]:
    """The trials to run: all but those finished with the same key (and still on disk)."""
    jobs, n = [], len(trials)
    for i, t in enumerate(trials, 1):
        key = trial_key(t.cfg.to_dict(), data)
        entry = state["trials"].get(t.name)
        finished = RunDir(paths.run_dir(t.cfg.train.run_name)).record
        if entry and entry["status"] == "finished" and entry["key"] == key and finished.is_file():
            logger.info("trial %d/%d %s: finished earlier with this config and data: skipped",
                        i, n, t.name)  # fmt: skip
            continue
        if entry and entry["status"] == "stopped" and entry["key"] == key:
            logger.info("trial %d/%d %s: stopped early by the scheduler before: skipped", i, n,
                        t.name)  # fmt: skip
            continue
        changed = bool(entry and entry["key"] != key)
        if changed:
            logger.info("trial %d/%d %s: config or data changed: training anew", i, n, t.name)
        elif entry and entry["status"] != "finished":
            logger.info("trial %d/%d %s: was %s: running it again", i, n, t.name, entry["status"])
        # --force: a trial whose config or data changed replaces its old run directory.
        jobs.append(Job(i, t, key, force=overwrite or changed))
        if entry and entry["status"] == "finished":  # its run is outdated or gone
            entry["status"] = "pending"
    return jobs


def run(
    sweep: SweepConfig,
    base: Config,
    base_config: str,
    base_overrides: list[str] | None = None,
    overwrite: bool = False,
    where: str = "sweep",
) -> pd.DataFrame:
    """Run the trials that are not finished; write the results. Returns the results table."""
    started = time.time()
    paths = Paths.from_config(base)
    tracker = connect(base)  # tracking.enabled: an unreachable server stops the sweep here
    trials = expand(sweep, base, where)
    data = data_hashes(paths)
    out = paths.sweep_dir(sweep.name)
    if RunDir(paths.run_dir(sweep.name)).record.is_file():
        raise PipelineError(
            f"{where}: name {sweep.name!r} is taken by the train run {paths.run_dir(sweep.name)}: "
            "trials would land inside it; choose another name"
        )
    state = load_state(out / "trials.json", trials, overwrite)
    n = len(trials)
    logger.info("sweep %s: %d trials from %s, metric %s", sweep.name, n, base_config, sweep.metric)

    jobs = plan(trials, state, data, paths, overwrite)
    parent = open_parent(tracker, state, sweep, base) if tracker else None
    write_json(out / "trials.json", state)
    write_tensorboard_config(out, trials)
    for t in trials:  # finished earlier: its TensorBoard folder, if it has none yet
        done = state["trials"].get(t.name, {}).get("status") == "finished"
        if done and not (logdir_of(out) / t.name).is_dir():
            write_tensorboard_trial(out, t, trials, paths)

    command = [sys.executable, "-m", "pipeline.train", "--config", base_config]
    for item in [
        *(base_overrides or []),
        *(f"{k}={json.dumps(v)}" for k, v in sweep.overrides.items()),
    ]:
        command += ["--set", item]
    command += trial_args(base, parent) if tracker else []
    best: list[Any] = []

    def on_change(job: Job, rc: int | None, error: str | None, stopped: bool = False) -> None:
        status = "running" if rc is None else "finished" if rc == 0 else "failed"
        status = "stopped" if stopped else status  # the Ray engine's ASHA scheduler ended it
        state["trials"][job.trial.name] = {"key": job.key, "status": status, "error": error}
        write_json(out / "trials.json", state)
        if rc is None:
            remove_tensorboard_trial(out, job.trial)
        elif rc == 0:
            write_tensorboard_trial(out, job.trial, trials, paths)
        if rc is not None:
            _report(paths, sweep.metric, job, n, error, best)
            write_results(sweep, trials, state, paths, started, done=False)  # the table so far

    runner = Runner(sweep.parallel, out / "logs", n) if sweep.engine == "local" else None
    if runner is None:  # engine: ray (docs/cluster.md)
        try:
            from pipeline.sweep.ray_engine import RayRunner
        except ImportError as exc:
            raise PipelineError(f"{where}: engine: ray needs Ray Tune (`make setup`)") from exc
        runner = RayRunner(sweep, out, n)
    try:
        runner.run(jobs, command, on_change)
    finally:  # interrupted too: the table shows what is done so far
        table = write_results(sweep, trials, state, paths, started, done=runner.completed)
        if tracker:
            close_parent(tracker, parent, out, table, paths, sweep.metric, runner.completed)
    if not (table["status"] == "finished").any():
        raise PipelineError(f"no trial of sweep {sweep.name} finished: see {out / 'results.md'}")
    return table


def _report(paths: Paths, metric: str, job: Job, n: int, error: str | None, best: list) -> None:
    """Progress line of a trial that ended, with the running best."""
    t = job.trial
    if error is not None and is_scheduler_stop(error):
        logger.info("trial %d/%d %s: %s", job.index, n, t.name, error)
        return
    if error is not None:
        logger.warning("trial %d/%d %s: failed: %s", job.index, n, t.name, error)
        return
    row, _ = trial_result(paths.run_dir(t.cfg.train.run_name))
    value = row[metric]
    if not best or (value < best[1] if metric == "val_loss" else value > best[1]):
        best[:] = [t.name, value]
    logger.info(
        "trial %d/%d %s: finished, best epoch %d, %s %.4f (best so far: %s %.4f)",
        *(job.index, n, t.name, row["best_epoch"], metric, value, *best),
    )


def is_scheduler_stop(error: str) -> bool:
    """An error text that is the Ray engine's scheduler stopping a poor trial (not a failure)."""
    return error.startswith("stopped early by the ")


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the trials of a sweep file.")
    parser.add_argument("--sweep", required=True, help="sweep file, e.g. configs/sweeps/demo.yaml")
    add_config_args(parser, default=None, config_help="base config (default: the sweep's base)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an earlier sweep of this name"
    )
    args = parser.parse_args(argv)
    setup_logging()

    try:
        with sigterm_as_interrupt():  # stops the running trials; a rerun resumes them
            sweep = load_sweep(args.sweep)
            base_config = args.config or sweep.base
            base = load_config(base_config, args.overrides)
            table = run(sweep, base, base_config, args.overrides, args.overwrite, args.sweep)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)  # noqa: T201
        return 130
    top = table.iloc[0]
    failed = int((table["status"] == "failed").sum())
    print(  # noqa: T201
        f"sweep {sweep.name}: {len(table)} trials ({failed} failed); best {top['trial']} "
        f"{sweep.metric} {top[sweep.metric]:.4f}; results in "
        f"{Paths.from_config(base).sweep_dir(sweep.name)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
