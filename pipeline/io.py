"""Atomic writes, hashes and provenance records shared by every stage.

Outputs are written next to their final place under a temporary name and renamed, so a
crash or a bad input never leaves a half-written file that a later stage could mistake for
a good one. The temporary name is hidden and carries the writer's pid
(``.<name>.<pid>.<random>.tmp``); one left behind by a killed process is removed by the next
write of the same output once that pid is gone (or, for names without a pid, after a day).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

logger = logging.getLogger(__name__)

TRACKED_PACKAGES = (
    "tensorflow",
    "tf-keras",
    "transformers",
    "tokenizers",
    "huggingface-hub",
    "scikit-learn",
    "onnxruntime",
    "onnx",
    "tf2onnx",
    "pandas",
    "numpy",
    "openpyxl",
    "python-calamine",
)


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp/mkdtemp create private (0600/0700) entries; outputs get the modes a plain open() or
# mkdir() would give them, so other users and services can read the data, models and reports.
_UMASK = _read_umask()


# A temporary name left by a writer that no longer runs: removed by the next writer.
LEGACY_TMP_AGE_S = 24 * 3600


def _tmp_prefix(final: Path) -> str:
    return f".{final.name}.{os.getpid()}."


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except OSError:  # it exists but belongs to someone else
        return True
    return True


def remove_stale_tmp(final: Path) -> list[Path]:
    """Remove the hidden temporaries of ``final`` whose writer is gone; returns what it removed.

    ``.<name>.<pid>.<random>.tmp`` goes when no process has that pid (on this machine);
    ``.<name>.<random>.tmp`` (written before pids were recorded) when a day old. A live writer's
    temporary is never touched.
    """
    final = Path(final)
    pattern = re.compile(rf"^\.{re.escape(final.name)}\.(?:(\d+)\.)?[^.]+\.tmp$")
    removed = []
    try:
        entries = list(final.parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if not match:
            continue
        try:
            if match.group(1) is not None:
                stale = not _pid_alive(int(match.group(1)))
            else:
                stale = time.time() - entry.lstat().st_mtime > LEGACY_TMP_AGE_S
            if not stale:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError:
            continue  # another writer cleaned it first, or it is not ours to remove
        logger.info("removed %s, left by an interrupted write", entry)
        removed.append(entry)
    return removed


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it into place only if the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_tmp(final)
    fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=_tmp_prefix(final), suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, final)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary directory beside ``final``; it replaces ``final`` only on success."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_tmp(final)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=_tmp_prefix(final), suffix=".tmp"))
    tmp.chmod(0o777 & ~_UMASK)
    try:
        yield tmp
        if final.exists():
            old = final.with_name(f".{final.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def to_json(obj: Any) -> str:
    """Stable JSON: sorted keys are not used, so the writer's order (id order) is kept."""
    return json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n"


def write_json(path: Path, obj: Any) -> None:
    write_text(path, to_json(obj))


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_parquet(path: Path, df: pd.DataFrame) -> None:
    """Parquet with a fixed layout so the same frame gives byte-identical files."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False, engine="pyarrow", compression="zstd")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_commit(cwd: Path | None = None) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def provenance(cfg_dict: dict[str, Any], inputs: dict[str, Path], started: float) -> dict[str, Any]:
    """The ``run.json`` body every output directory carries: config, inputs, code, time.

    Input hashes and the config make the record reproducible; the time fields are the only
    ones that differ between two runs of the same stage.
    """
    return {
        "config": cfg_dict,
        "inputs": {name: {"path": str(p), "sha256": sha256_file(p)} for name, p in inputs.items()},
        "versions": package_versions(),
        "git_commit": git_commit(),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "duration_s": round(time.time() - started, 3),
    }
