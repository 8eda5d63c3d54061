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

import numpy as np
import pandas as pd

from pipeline.errors import PipelineError

logger = logging.getLogger(__name__)

TRACKED_PACKAGES = (
    "tensorflow",
    "tf-keras",
    "transformers",
    "tokenizers",
    "huggingface-hub",
    "scikit-learn",
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


# Excel keeps at most this many characters in a cell; openpyxl (through pandas) cuts a longer
# one with only a warning, which breaks e.g. NER's ``entities`` JSON of a long sentence.
EXCEL_CELL_LIMIT = 32_767


def excel_too_long(df: pd.DataFrame) -> dict[str, list[int]]:
    """The cells of ``df`` longer than Excel keeps: column name -> sheet row numbers (as the
    user sees them: the header is row 1, the first data row is 2)."""
    out: dict[str, list[int]] = {}
    for j in range(df.shape[1]):
        column = df.iloc[:, j]
        if column.dtype != object and not isinstance(column.dtype, pd.StringDtype):
            continue
        lengths = column.map(lambda v: len(v) if isinstance(v, str) else 0)
        rows = [int(i) + 2 for i in np.flatnonzero(lengths.to_numpy() > EXCEL_CELL_LIMIT)]
        if rows:
            out[str(df.columns[j])] = rows
    return out


def check_excel_cells(df: pd.DataFrame, where: str) -> None:
    """Raise PipelineError naming the columns and rows of ``df`` that Excel would cut."""
    bad = excel_too_long(df)
    if not bad:
        return
    n = sum(len(rows) for rows in bad.values())
    cells = "; ".join(
        f"column {name!r} row(s) {', '.join(map(str, rows[:5]))}{' ...' * (len(rows) > 5)}"
        for name, rows in bad.items()
    )
    raise PipelineError(
        f"{where}: {n} cell(s) longer than Excel's limit of {EXCEL_CELL_LIMIT:,} characters "
        f"({cells}) would be cut short; write a .csv or .parquet file instead"
    )


def to_excel_as_text(
    df: pd.DataFrame, path: Path, sheet_name: str = "Sheet1", where: str | None = None
) -> None:
    """``df`` as an .xlsx sheet whose text cells stay text.

    openpyxl stores a string that starts with ``=`` as a formula, so a sentence such as
    ``=HYPERLINK("http://...")`` from a workbook would come back as a live formula in the
    predictions a person opens in Excel. Every such cell is written as a string instead.
    A cell longer than Excel keeps (32,767 characters) is refused before anything is written
    (PipelineError naming ``where``, default ``path``, the columns and the rows).
    """
    check_excel_cells(df, where or str(path))
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        df.to_excel(writer, index=False, sheet_name=sheet_name)
        for row in writer.sheets[sheet_name].iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    cell.data_type = "s"


# What Excel (and LibreOffice) read as the start of a formula in a CSV cell: =, +, -, @, and a
# tab or carriage return before them. A plain number such as -3 or +1.5 stays a number.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def csv_safe(value: Any) -> Any:
    """``value`` as a CSV cell Excel shows as text: ``'`` before text it would run as a formula."""
    if (
        isinstance(value, str)
        and value.startswith(_FORMULA_START)
        and not _PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


def to_csv_as_text(
    df: pd.DataFrame, path: Path, index: bool = False, encoding: str = "utf-8"
) -> None:
    """``df`` as a CSV whose text cells stay text when the file is opened in a spreadsheet.

    A sentence such as ``=HYPERLINK("http://...")`` or ``+cmd|' /C calc'!A0`` from a workbook
    would run as a formula in Excel (CSV injection); every text cell, header and index label
    that starts with =, +, -, @, a tab or a carriage return (and is not a plain number) gets a
    leading ``'``, the mark spreadsheets use for "this is text". Lines end in CRLF (RFC 4180),
    so a cell holding a carriage return is quoted and stays one cell. ``df`` is not changed.
    """
    safe = df.rename(columns=csv_safe)
    for column in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[column]):
            safe[column] = safe[column].map(csv_safe)
    if index:
        safe.index = safe.index.map(csv_safe)
    safe.to_csv(path, index=index, encoding=encoding, lineterminator="\r\n")


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
