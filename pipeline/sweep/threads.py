"""How many threads a trial process may use when trials share the machine's CPUs.

TensorFlow sizes its intra-op and inter-op pools, and OpenMP (oneDNN) its own, to every core
of the machine. Two trials at once on two cores then run four or more busy threads that take
the cores from each other. A trial that was given ``n`` CPUs (the Ray engine's
``resources_per_trial.cpu``; the local engine's share of the cores when ``parallel`` > 1) gets
pools of ``n`` threads instead. A single trial at a time keeps TensorFlow's own sizing.
"""

from __future__ import annotations

import os

VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS")


def thread_env(cpus: float) -> dict[str, str]:
    """The environment that bounds a trial process to ``cpus`` threads (at least one)."""
    n = str(max(1, int(cpus)))
    return dict.fromkeys(VARIABLES, n)


def share_of_cores(parallel: int) -> int:
    """The cores each of ``parallel`` trials gets on this machine (at least one)."""
    return max(1, (os.cpu_count() or 1) // parallel)
