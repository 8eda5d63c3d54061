"""Storage checks of a training run: before the first epoch, and when saving the run.

A full disk or an unwritable ``models/`` becomes one message naming the place, never a
half-written run directory (the weights stay in the work directory for a rerun).
"""

from __future__ import annotations

import errno
import shutil
import tempfile
from pathlib import Path
from typing import Any

from pipeline.errors import PipelineError
from pipeline.io import atomic_dir
from pipeline.paths import RunDir


def holds_other_files(run_dir: Path) -> bool:
    """``run_dir`` exists and is no train run (no run.json), so replacing it would lose data."""
    if not run_dir.exists() or RunDir(run_dir).record.is_file():
        return False
    return not run_dir.is_dir() or any(run_dir.iterdir())


def check_storage(work: Path, weight_bytes: int) -> None:
    """Before the first epoch: the work directory can be written and its disk has room.

    Needs about 3x the weights: one checkpoint holds the weights and Adam's two moments.
    """
    models = work.parent
    try:
        work.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=work):
            pass
    except OSError as exc:
        raise PipelineError(
            f"cannot write to {work} ({exc.strerror or exc}): {models} must be a writable "
            "directory (remove or move what is in the way, or set root to another place)"
        ) from None
    free, needed = shutil.disk_usage(work).free, 3 * weight_bytes
    if free < needed:
        raise PipelineError(
            f"{models} has {free / 1e6:.1f} MB free, but training needs about "
            f"{needed / 1e6:.1f} MB for its checkpoints (3x the {weight_bytes / 1e6:.1f} MB of "
            "weights): free disk space there, or set root to another disk"
        )


def save_run(run_dir: Path, work: Path, write: Any) -> None:
    """Write the run directory with ``write(tmp)``; a storage fault becomes one message."""
    try:
        with atomic_dir(run_dir) as tmp:
            write(tmp)
    except OSError as exc:
        reason = exc.strerror or (errno.errorcode.get(exc.errno or 0)) or str(exc)
        raise PipelineError(
            f"could not save the trained model to {run_dir}: {reason}; free disk space on "
            f"{run_dir.parent} (or make it writable) and rerun the same command: the trained "
            f"weights are kept in {work}"
        ) from None
