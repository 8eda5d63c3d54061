"""Trials that share the CPUs: thread pools sized to each trial's share, and Ray engine trial
processes at the sweep's own priority (not the niceness Ray gives its workers)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.sweep.runner import Runner
from pipeline.sweep.threads import VARIABLES, share_of_cores, thread_env


def test_thread_env_bounds_every_pool_to_the_trials_cpus() -> None:
    assert thread_env(1) == dict.fromkeys(VARIABLES, "1")
    assert thread_env(2.5) == dict.fromkeys(VARIABLES, "2")
    assert thread_env(0.5) == dict.fromkeys(VARIABLES, "1")  # never zero threads


def test_local_engine_bounds_threads_only_when_trials_share_the_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in VARIABLES:
        monkeypatch.delenv(key, raising=False)
    alone = Runner(1, tmp_path, 1)._env(0)
    assert not set(VARIABLES) & set(alone)  # parallel: 1 keeps TensorFlow's own sizing
    shared = Runner(2, tmp_path, 2)._env(1)
    assert {k: shared[k] for k in VARIABLES} == thread_env(share_of_cores(2))
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # set by the user: theirs wins
    assert Runner(2, tmp_path, 2)._env(0)["OMP_NUM_THREADS"] == "3"


CHILD = """
import os, subprocess, sys
from pipeline.sweep.ray_engine import _trial_process
os.nice(7)  # as a Ray worker is (RAY_worker_niceness)
code = "import os; print(os.getpriority(os.PRIO_PROCESS, 0))"
out = subprocess.run([sys.executable, "-c", code], preexec_fn=_trial_process(int(sys.argv[1])),
                     capture_output=True, text=True, check=True).stdout
print(out.strip())
"""


def test_ray_trial_process_runs_at_the_sweeps_priority() -> None:
    ray_engine = pytest.importorskip("pipeline.sweep.ray_engine")
    assert ray_engine is not None
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(mine)], capture_output=True, text=True, check=True
    ).stdout.strip()
    # lowering the niceness needs root (or RLIMIT_NICE); without it the process keeps Ray's
    assert int(out) == (mine if os.geteuid() == 0 else mine + 7)
