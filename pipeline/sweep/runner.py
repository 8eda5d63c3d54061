"""Trial processes: each trial is ``python -m pipeline.train`` with its values as ``--set``.

At most ``parallel`` run at once. Each writes to its own log file; the sweep forwards the
epoch lines. Interrupting the sweep (Ctrl-C, SIGTERM) sends SIGTERM to the running trials,
which stop after saving nothing new: their last finished epoch is on disk and a rerun resumes.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.sweep.spec import Trial
from pipeline.sweep.threads import share_of_cores, thread_env

logger = logging.getLogger("pipeline.sweep")

PROGRESS = re.compile(r" pipeline\.[\w.]+: ((?:epoch \d+/\d+|resuming|early stopping).*)")


@dataclass(frozen=True)
class Job:
    index: int  # 1-based position among all trials
    trial: Trial
    key: str
    force: bool = False  # pass --force: replace a finished run of another config


@dataclass
class _Running:
    job: Job
    proc: subprocess.Popen
    log: Path
    offset: int  # where this attempt's output starts in the log
    seen: int  # how far the log has been forwarded


class Runner:
    """Starts trial processes, at most ``parallel`` at once, and watches their logs."""

    def __init__(self, parallel: int, log_dir: Path, n: int, poll_s: float = 0.2) -> None:
        self.parallel, self.log_dir, self.n, self.poll_s = parallel, log_dir, n, poll_s
        self.completed = False  # every job ran to its end (not interrupted)

    def run(self, jobs: list[Job], command: list[str], on_change: Any) -> None:
        """``on_change(job, None, None)`` at a start, ``(job, returncode, error)`` at the end."""
        pending, running = list(jobs), {}
        try:
            while pending or running:
                while pending and len(running) < self.parallel:
                    slot = min(set(range(self.parallel)) - set(running))
                    running[slot] = self._start(pending.pop(0), command, slot)
                    on_change(running[slot].job, None, None)
                for slot, r in list(running.items()):
                    rc = r.proc.poll()
                    self._forward(r)
                    if rc is not None:
                        del running[slot]
                        on_change(r.job, rc, None if rc == 0 else self._error(r, rc))
                time.sleep(self.poll_s if running else 0)
            self.completed = True
        finally:
            for r in running.values():  # interrupted: stop the trials; they resume on a rerun
                r.proc.send_signal(signal.SIGTERM)
            for r in running.values():
                try:
                    r.proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    r.proc.kill()

    def _start(self, job: Job, command: list[str], slot: int) -> _Running:
        t = job.trial
        args = [*command, "--set", f"train.run_name={json.dumps(t.cfg.train.run_name)}"]
        for key, value in t.values.items():
            args += ["--set", f"{key}={json.dumps(value)}"]
        args += ["--force"] if job.force else []
        log = self.log_dir / f"{t.name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(args)}\n")
            offset = fh.tell()
            proc = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, env=self._env(slot))
        values = ", ".join(f"{k}={v}" for k, v in t.values.items())
        logger.info("trial %d/%d %s (%s): started, log %s", job.index, self.n, t.name, values, log)
        return _Running(job, proc, log, offset, offset)

    def _env(self, slot: int) -> dict[str, str]:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        if self.parallel > 1:  # share the GPU(s): no process grabs all memory; spread over GPUs
            env["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"
            gpus = [g for g in env.get("CUDA_VISIBLE_DEVICES", "").split(",") if g.strip()]
            if len(gpus) > 1:
                env["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
            # share the cores too: each trial's thread pools sized to its share (threads.py)
            for key, value in thread_env(share_of_cores(self.parallel)).items():
                env.setdefault(key, value)
        return env

    def _forward(self, r: _Running) -> None:
        """Log the trial's epoch lines as they appear."""
        with open(r.log, "rb") as fh:
            fh.seek(r.seen)
            data = fh.read()
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits
        r.seen += len(complete)
        for line in complete.decode("utf-8", errors="replace").splitlines():
            if m := PROGRESS.search(line):
                logger.info("  %s: %s", r.job.trial.name, m.group(1))

    def _error(self, r: _Running, rc: int) -> str:
        return trial_error(r.log, r.offset, rc)


def trial_error(log: Path, offset: int, rc: int) -> str:
    """The train stage's ``error: ...`` line, else the last lines of the trial's output."""
    with open(log, "rb") as fh:
        fh.seek(offset)
        text = fh.read().decode("utf-8", errors="replace")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line.removeprefix("error: ") for line in lines if line.startswith("error: ")]
    how = f"killed by signal {-rc}" if rc < 0 else f"exit code {rc}"
    return errors[-1] if errors else f"{how}: {' | '.join(lines[-3:])}"
