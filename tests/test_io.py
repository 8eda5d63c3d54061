"""pipeline.io: atomic writes, and the temporaries a killed writer leaves behind."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.io import atomic_dir, atomic_path, remove_stale_tmp, write_text


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "out.csv") as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "run") as tmp:
        (tmp / "a").write_text("half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_temporaries_of_dead_writers_are_removed_by_the_next_write(tmp_path: Path) -> None:
    gone = dead_pid()
    stale_file = tmp_path / f".out.csv.{gone}.abc123.tmp"
    stale_file.write_text("half")
    stale_dir = tmp_path / f".run.{gone}.xyz_9.tmp"
    (stale_dir / "sub").mkdir(parents=True)
    old_legacy = tmp_path / ".out.csv.k3j4h5g6.tmp"  # before pids were recorded, 2 days old
    old_legacy.write_text("half")
    two_days_ago = time.time() - 2 * 86400
    os.utime(old_legacy, (two_days_ago, two_days_ago))
    live = tmp_path / f".out.csv.{os.getpid()}.live01.tmp"  # a writer still at work
    live.write_text("in progress")
    new_legacy = tmp_path / ".out.csv.a1b2c3d4.tmp"  # recent: maybe someone's write
    new_legacy.write_text("in progress")
    other = tmp_path / f".out.csv.bak.{gone}.abc.tmp"  # another output's name
    other.write_text("x")

    write_text(tmp_path / "out.csv", "a,b\n")
    with atomic_dir(tmp_path / "run") as tmp:
        (tmp / "done").write_text("1")

    assert not stale_file.exists() and not stale_dir.exists() and not old_legacy.exists()
    assert live.exists() and new_legacy.exists() and other.exists()
    assert (tmp_path / "out.csv").read_text() == "a,b\n" and (tmp_path / "run" / "done").exists()
    assert remove_stale_tmp(tmp_path / "out.csv") == []  # nothing else is stale


def test_a_temporary_name_carries_the_writers_pid(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "x.json") as tmp:
        assert tmp.name.startswith(f".x.json.{os.getpid()}.") and tmp.name.endswith(".tmp")


def test_excel_output_keeps_formula_like_text_as_text(tmp_path: Path) -> None:
    """A sentence starting with '=' must not become a live formula in a written workbook."""
    import openpyxl
    import pandas as pd

    from pipeline.tables.outputs import to_excel_as_text

    evil = '=HYPERLINK("http://example.invalid/x","click")'
    df = pd.DataFrame({"text": [evil, "보통 문장", "+1 또는 -1"], "score": [0.5, 0.25, 1.0]})
    path = tmp_path / "out.xlsx"
    to_excel_as_text(df, path, sheet_name="predictions")
    sheet = openpyxl.load_workbook(path)["predictions"]
    cells = [sheet.cell(row=r, column=1) for r in range(2, 5)]
    assert [c.value for c in cells] == df["text"].tolist()
    assert all(c.data_type == "s" for c in cells)  # text, not "f" (formula)
    assert sheet.cell(row=2, column=2).value == 0.5  # numbers stay numbers
    assert pd.read_excel(path, engine="calamine")["text"].tolist() == df["text"].tolist()


def test_csv_output_keeps_formula_like_text_as_text(tmp_path: Path) -> None:
    """CSV has no cell types: text Excel would run (= + - @, tab, CR) gets a leading '."""
    import pandas as pd

    from pipeline.tables.outputs import to_csv_as_text

    df = pd.DataFrame(
        {"=label": ["=1+1", "+82 10", "-_-", "@me", "\r=x", "정상", "-3", "+1.5e3"],
         "n": [1, -2, 3, 4, 5, 6, 7, 8]},
        index=["=a", "b", "c", "d", "e", "f", "g", "h"],
    )  # fmt: skip
    to_csv_as_text(df, tmp_path / "o.csv", index=True)
    back = pd.read_csv(tmp_path / "o.csv", index_col=0, keep_default_na=False)
    assert back.columns.tolist() == ["'=label", "n"]
    assert back.index.tolist()[:2] == ["'=a", "b"]
    assert back["'=label"].tolist() == ["'=1+1", "'+82 10", "'-_-", "'@me", "'\r=x", "정상",
                                        "-3", "+1.5e3"]  # fmt: skip
    assert back["n"].tolist() == [1, -2, 3, 4, 5, 6, 7, 8]  # numbers stay numbers
    assert df.loc["=a", "=label"] == "=1+1"  # the frame given is not changed


def test_excel_output_refuses_a_cell_longer_than_excel_keeps(tmp_path: Path) -> None:
    """openpyxl cuts a cell over 32,767 characters with a warning only: refused, nothing written."""
    import pandas as pd
    import pytest

    from pipeline.errors import PipelineError
    from pipeline.tables.outputs import excel_too_long, to_excel_as_text

    long = "가" * 40_000
    df = pd.DataFrame(
        {"text": ["짧은 문장", long, "보통"], "entities": ["[]", "[]", long], "n": [1, 2, 3]}
    )
    assert excel_too_long(df) == {"text": [3], "entities": [4]}
    path = tmp_path / "out.xlsx"
    with pytest.raises(PipelineError) as exc:
        to_excel_as_text(df, path)
    assert str(exc.value) == (
        f"{path}: 2 cell(s) longer than Excel's limit of 32,767 characters (column 'text' row(s) "
        "3; column 'entities' row(s) 4) would be cut short; write a .csv or .parquet file instead"
    )
    assert list(tmp_path.iterdir()) == []
    ok = df.assign(text="x" * 32_767, entities="[]")  # exactly the limit is kept
    to_excel_as_text(ok, path)
    assert pd.read_excel(path, engine="calamine")["text"].str.len().tolist() == [32_767] * 3
