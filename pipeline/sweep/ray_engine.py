"""The sweep's Ray engine (``engine: ray``): each trial is a Ray Tune trial.

A trial runs exactly what the local engine runs (pipeline/sweep/runner.py): a
``python -m pipeline.train --set train.run_name=<sweep>/<trial> ...`` process, started by a
Tune function trainable that reserves ``resources_per_trial`` on the cluster. The process
writes ``models/<sweep>/<trial>/`` and its log under the project's paths, so the project
directory must be at the same path on every node (a shared filesystem; see docs/cluster.md).
Tune's own records go to ``reports/sweeps/<name>/ray/``.

The trainable reports each finished epoch (read from the run's work directory) to Tune, which
is what ``scheduler: asha`` decides on; a trial ASHA stops is recorded as ``stopped``. Start,
end and failure reach the sweep through a Tune callback in this process, which keeps
``trials.json`` and the results table exactly as the local engine does; resume is the sweep's
own (finished trials are never handed to Tune; interrupted ones resume in the train stage).
"""

from __future__ import annotations

import ctypes
import json
import logging
import math
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from ray.tune import Callback

from pipeline.io import read_json
from pipeline.paths import RunDir
from pipeline.ray_connect import ray_session
from pipeline.sweep.runner import Job, trial_error
from pipeline.sweep.spec import SweepConfig
from pipeline.sweep.threads import thread_env

logger = logging.getLogger("pipeline.sweep")

STOPPED = "stopped early by the ASHA scheduler"
POLL_S = 0.5  # how often a running trial's epochs are read and reported


def _die_with_parent() -> None:
    """In the trial process: SIGTERM when the Tune actor that started it dies (a trial that
    ASHA stops or a sweep that is interrupted), so the train stage stops as on Ctrl-C."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:  # not Linux: the process ends with its epoch loop instead
        pass


def _trial_process(nice: int | None) -> Any:
    """The trial process's setup (run in it before it starts): dies with its actor, and runs at
    the sweep's own priority. Ray starts its workers at niceness 15 (``RAY_worker_niceness``),
    which the train process would inherit: beside any other program on the node it then gets
    only a small share of its reserved CPUs. Where lowering the niceness is not allowed (not
    root, no ``RLIMIT_NICE``), it keeps Ray's."""

    def setup() -> None:
        _die_with_parent()
        if nice is not None:
            try:
                os.setpriority(os.PRIO_PROCESS, 0, nice)
            except OSError:
                pass

    return setup


def _history(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The epochs the trial's train run has finished (work dir while it runs, run dir after)."""
    state, done = Path(spec["work_state"]), Path(spec["history_csv"])
    try:
        if state.is_file():
            return read_json(state).get("history", [])
        if done.is_file():
            import pandas as pd

            return pd.read_csv(done).to_dict("records")
    except (OSError, ValueError):  # being replaced right now: read it next time
        pass
    return []


def _metrics(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("epoch", "val_accuracy", "val_loss") if k in row}


def trial_fn(config: dict[str, Any], specs: dict[str, dict[str, Any]]) -> None:
    """The Tune function trainable: one trial's train process, its epochs reported."""
    from ray import tune

    spec = specs[config["trial"]]
    env = dict(os.environ, PYTHONUNBUFFERED="1", **spec["env"])
    log = Path(spec["log"])
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(spec['args'])}\n")
        offset = fh.tell()
        proc = subprocess.Popen(
            spec["args"],
            cwd=spec["cwd"],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=_trial_process(spec.get("nice")),
        )
    reported, last = 0, {}
    try:
        while True:
            rc = proc.poll()
            rows = [_metrics(r) for r in _history(spec)]
            if rc is not None:  # ended: its last epoch goes with the end result, below
                last = rows[-1] if rows else last
                break
            # the last epoch waits for the end too: no scheduler stops a run that is saving
            rows = [r for r in rows if r.get("epoch") != spec["epochs"]]
            for last in rows[reported:]:
                tune.report(last)
            reported = max(reported, len(rows))
            try:  # wakes as soon as the process ends, not at the next poll
                proc.wait(timeout=POLL_S)
            except subprocess.TimeoutExpired:
                pass
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    error = None if rc == 0 else trial_error(log, offset, rc)
    final = {"epoch": 0, spec["metric"]: math.nan} | last
    tune.report(final | {"returncode": rc, "error": error})


class RayRunner:
    """Runs the jobs as Tune trials; ``on_change`` as the local Runner calls it."""

    def __init__(self, sweep: SweepConfig, out: Path, n: int) -> None:
        self.sweep, self.out, self.n = sweep, out, n
        self.completed = False

    def specs(self, jobs: list[Job], command: list[str]) -> dict[str, dict[str, Any]]:
        from pipeline.paths import Paths

        res = self.sweep.resources_per_trial
        env = thread_env(res.cpu) if res.gpu == 0 else {}  # its CPUs, no more threads
        if 0 < res.gpu < 1:  # trials share a GPU: none takes all its memory
            env["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"
        nice = os.getpriority(os.PRIO_PROCESS, 0) if hasattr(os, "getpriority") else None
        specs = {}
        for job in jobs:
            t = job.trial
            args = [*command, "--set", f"train.run_name={json.dumps(t.cfg.train.run_name)}"]
            for key, value in t.values.items():
                args += ["--set", f"{key}={json.dumps(value)}"]
            run_dir = Paths.from_config(t.cfg).run_dir(t.cfg.train.run_name).resolve()
            specs[t.name] = {
                "args": args + (["--force"] if job.force else []),
                "cwd": os.getcwd(),
                "env": env,
                "log": str((self.out / "logs" / f"{t.name}.log").resolve()),
                # the train stage's work directory (pipeline.fitting.callbacks.work_dir_for)
                "work_state": str(run_dir.with_name(f".{run_dir.name}.work") / "state.json"),
                "history_csv": str(RunDir(run_dir).history),
                "metric": self.sweep.metric,
                "epochs": t.cfg.train.epochs,
                "nice": nice,
            }
        return specs

    def run(self, jobs: list[Job], command: list[str], on_change: Any) -> None:
        if not jobs:  # everything finished earlier: no cluster needed
            self.completed = True
            return
        os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"  # Ctrl-C/SIGTERM stop the sweep as usual
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # no tables on stdout: the sweep logs
        with ray_session() as ray:
            self._fit(ray, jobs, command, on_change)
        self.completed = True

    def _fit(self, ray: Any, jobs: list[Job], command: list[str], on_change: Any) -> None:
        from ray import tune

        by_name = {j.trial.name: j for j in jobs}
        res = self.sweep.resources_per_trial
        trainable = tune.with_resources(
            tune.with_parameters(trial_fn, specs=self.specs(jobs, command)),
            {"cpu": res.cpu, "gpu": res.gpu},
        )
        mode = "min" if self.sweep.metric == "val_loss" else "max"
        scheduler = None
        if self.sweep.scheduler == "asha":
            from ray.tune.schedulers import ASHAScheduler

            epochs = max(j.trial.cfg.train.epochs for j in jobs)
            scheduler = ASHAScheduler(time_attr="epoch", max_t=max(epochs, 1), grace_period=1)
        tuner = tune.Tuner(
            trainable,
            param_space={"trial": tune.grid_search(list(by_name))},
            tune_config=tune.TuneConfig(
                metric=self.sweep.metric,
                mode=mode,
                scheduler=scheduler,
                # a trial that ended hands its actor to the next (saves a worker start); with
                # ASHA every trial gets its own, ended with it (and so its train process)
                reuse_actors=scheduler is None,
                trial_name_creator=lambda t: t.config["trial"],
                trial_dirname_creator=lambda t: t.config["trial"],
            ),
            run_config=tune.RunConfig(
                name="tune",
                storage_path=str((self.out / "ray").resolve()),
                verbose=0,
                callbacks=[_Events(by_name, on_change, self.n)],
                failure_config=tune.FailureConfig(max_failures=0),
            ),
        )
        logger.info(
            "sweep %s on Ray: %d trials, each with %g CPU / %g GPU%s",
            *(self.sweep.name, len(jobs), res.cpu, res.gpu),
            ", ASHA scheduler" if scheduler else "",
        )
        tuner.fit()


def paths_of(job: Job) -> Path:
    """The trial's run directory."""
    from pipeline.paths import Paths

    cfg = job.trial.cfg
    return Paths.from_config(cfg).run_dir(cfg.train.run_name)


class _Events(Callback):
    """Tune's trial events, turned into the sweep's ``on_change`` calls (in the driver)."""

    def __init__(self, jobs: dict[str, Job], on_change: Any, n: int) -> None:
        self.jobs, self.on_change, self.n = jobs, on_change, n

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        job = self.jobs[trial.config["trial"]]
        values = ", ".join(f"{k}={v}" for k, v in job.trial.values.items())
        logger.info("trial %d/%d %s (%s): started on Ray", job.index, self.n, job.trial.name,
                    values)  # fmt: skip
        self.on_change(job, None, None)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:  # fmt: skip
        if "returncode" not in result and result.get("epoch"):
            shown = ", ".join(f"{k} {result[k]:.4f}" for k in ("val_accuracy", "val_loss"))
            logger.info("  %s: epoch %d: %s", trial.config["trial"], result["epoch"], shown)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        job = self.jobs[trial.config["trial"]]
        last = trial.last_result or {}
        if "returncode" in last:
            rc = int(last["returncode"])
            self.on_change(job, rc, None if rc == 0 else last.get("error"))
        elif RunDir(paths_of(job)).record.is_file():  # stopped as it ended: it finished
            self.on_change(job, 0, None)
        else:  # the scheduler stopped it after some epoch
            epoch = last.get("epoch", 0)
            self.on_change(job, -int(signal.SIGTERM), f"{STOPPED} after epoch {epoch}", True)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        job = self.jobs[trial.config["trial"]]
        self.on_change(job, 1, f"Ray trial error: {trial.error_file or 'see the Ray logs'}")
