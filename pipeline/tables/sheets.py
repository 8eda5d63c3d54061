"""One sheet of a workbook, or a CSV, read and checked the way ingest reads it.

Ingest (every configured sheet), ``predict --input`` and ``evaluate --input`` share these, so a
file that ingest refuses or reads differently is refused or read the same way by the others:

- ``settle_sheet``: a read column whose header is written twice, or whose cells hold formulas
  never calculated (they read as empty), is an error naming the cells; merged cells of a
  row's label, group or tag columns fill down (logged); merged text is read once (logged).
- ``read_table``: a .csv (any encoding of spreadsheets.py, logged), .parquet, or one sheet
  of a workbook (the named one, else the first visible one: hidden sheets are logged), with
  ``settle_sheet`` applied and a numeric header (2024) found by its text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.errors import PipelineError
from pipeline.tables.cells import header_text, is_blank
from pipeline.tables.spreadsheets import (
    Cell,
    Range,
    cell_name,
    column_letter,
    range_name,
    read_csv,
    sheet_cells,
    sheet_states,
)
from pipeline.text import normalize_text

logger = logging.getLogger("pipeline.data")


def settle_sheet(
    frame: pd.DataFrame,
    header: list[Any],
    where: str,
    read: Iterable[str],
    fill: Iterable[str] = (),
    merged: Iterable[Range] = (),
    uncalculated: Iterable[Cell] = (),
    letters: bool = True,
    kept: bool = False,
) -> pd.DataFrame:
    """Check the cells of ``read`` columns that pandas shows wrongly, and fill merged ones.

    ``frame`` is a sheet read with its header (header: that row as written; merged ranges and
    formula cells without a saved value in sheet coordinates, row 0 = the header). Raises
    PipelineError naming the columns and cells when a ``read`` column's header is written twice
    (pandas would silently read the first) or holds formulas never calculated (they read as
    empty). A merged range in a ``fill`` column (a row's label, group or tag) gives its value to
    every row it covers, logged; one in another ``read`` column (a sentence) is read once, in its
    first row, logged. ``kept``: the caller writes every column back out (predict), so formulas
    never calculated in the other columns (empty in its output) are logged as a warning.
    Returns ``frame``, or a filled copy.
    """
    names = [header_text(v) if not is_blank(v) else "" for v in header]
    read, fill = set(read), set(fill)

    def col(j: int) -> str:
        return column_letter(j) if letters else str(j + 1)

    for name in sorted(read):
        at = [j for j, n in enumerate(names) if n == name]
        if len(at) > 1:
            raise PipelineError(
                f"{where}: {len(at)} columns are headed {name!r} ({' and '.join(map(col, at))}): "
                "rename all but one, so it is clear which to read"
            )
    uncalculated = list(uncalculated)
    bad = [(r, c) for r, c in uncalculated if 0 < r and c < len(names) and names[c] in read]
    others = [(r, c) for r, c in uncalculated if 0 < r and (r, c) not in bad]
    if kept and others:
        columns = ", ".join(
            repr(names[c]) if c < len(names) and names[c] else col(c)
            for c in dict.fromkeys(c for _, c in sorted(others, key=lambda rc: rc[1]))
        )
        cells = _some([cell_name(r, c) for r, c in sorted(others)])
        logger.warning(
            "%s: %d formula cell(s) in column(s) %s have no saved value (%s): the file was "
            "written by a program that does not calculate formulas, so they are empty in the "
            "output; open it in Excel or LibreOffice and save it to keep their values",
            where, len(others), columns, cells,
        )  # fmt: skip
    if bad:
        columns = ", ".join(repr(n) for n in dict.fromkeys(names[c] for _, c in bad))
        cells = ", ".join(cell_name(r, c) for r, c in sorted(bad)[:5]) + (" ..." * (len(bad) > 5))
        raise PipelineError(
            f"{where}: {len(bad)} formula cell(s) in column(s) {columns} have no saved value "
            f"({cells}): the file was written by a program that does not calculate formulas, so "
            "they read as empty; open it in Excel or LibreOffice, save it, and run again"
        )
    filled: dict[str, list[str]] = {}
    once: dict[str, list[str]] = {}
    out = frame
    for (r0, c0), (r1, c1) in sorted(merged):
        if r0 < 1 or (r1 == r0 and c1 == c0):
            continue  # a merge within the header row, or of one cell
        for c in range(c0, min(c1, len(names) - 1, frame.shape[1] - 1) + 1):
            if names[c] in fill:
                if out is frame:
                    out = frame.copy()
                value = frame.iat[r0 - 1, c0] if c0 < frame.shape[1] else None
                for r in range(r0, min(r1, frame.shape[0]) + 1):
                    if is_blank(out.iat[r - 1, c]):
                        out.iat[r - 1, c] = value
                filled.setdefault(names[c], []).append(range_name(((r0, c0), (r1, c1))))
            elif names[c] in read and r1 > r0:
                once.setdefault(names[c], []).append(range_name(((r0, c0), (r1, c1))))
    for name, ranges in filled.items():
        logger.info(
            "%s: merged cells %s of column %r filled down: each row of a merged range gets its "
            "value", where, _some(ranges), name,
        )  # fmt: skip
    for name, ranges in once.items():
        logger.info(
            "%s: merged cells %s of column %r read once, in the first row of each (the rows "
            "below are empty)", where, _some(ranges), name,
        )  # fmt: skip
    return out


def settle_workbook_sheet(
    frame: pd.DataFrame, path: Path, book: Any, sheet: str, where: str,
    read: Iterable[str], fill: Iterable[str] = (), kept: bool = False,
) -> pd.DataFrame:  # fmt: skip
    """``settle_sheet`` for ``sheet`` of the workbook at ``path`` (``book``: its calamine
    workbook), ``frame`` being that sheet as pandas read it."""
    merged, uncalculated = sheet_cells(path, sheet, book)
    header = written_header(frame.columns)
    return settle_sheet(frame, header, where, read, fill, merged, uncalculated, kept=kept)


_MANGLED = re.compile(r"^(.*)\.(\d+)$")


def written_header(columns: Iterable[Any]) -> list[Any]:
    """A sheet's header as written, from the column labels pandas gave it: pandas renames a
    second "X" in the header row to "X.1" (a third to "X.2"), taken back here. A header cell
    really written "X.1" after an "X" reads as a second "X" (an error only for a column read).
    """
    out: list[Any] = []
    for label in columns:
        match = _MANGLED.match(label) if isinstance(label, str) else None
        base = match.group(1) if match else None
        if base is not None and any(header_text(p) == header_text(base) for p in out):
            out.append(base)
        else:
            out.append(label)
    return out


def _some(items: list[str], n: int = 5) -> str:
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


def find_column(columns: Iterable[Any], name: str) -> Any | None:
    """The column headed ``name``: that very label, else the one whose header reads as ``name``
    (a number cell 2024 is the column ``--column 2024``); None when there is none."""
    columns = list(columns)
    if name in columns:
        return name
    wanted = normalize_text(name)
    return next((c for c in columns if not is_blank(c) and header_text(c) == wanted), None)


def read_table(
    path: Path,
    read: list[str],
    fill: Iterable[str] = (),
    sheet: str | None = None,
    encoding: str = "auto",
    kept: bool = False,
    **pandas_options: Any,
) -> tuple[pd.DataFrame, str]:
    """(the table, where: "file" or "file, sheet 'S'") of a .csv, .parquet or workbook file.

    ``read``: the columns the caller will read (checked by ``settle_sheet``, and renamed to
    the name given when their header is a number); ``fill``: those of them that fill down when
    merged; ``kept``: every column is written back out (settle_sheet). ``pandas_options``
    go to ``pd.read_csv`` / ``pd.read_excel``. Raises PipelineError
    naming the file (and sheet) for anything it cannot read as a table.
    """
    suffix = path.suffix.lower()
    where = path.name
    try:
        if suffix == ".parquet":
            frame = pd.read_parquet(path)
        elif suffix == ".csv":
            frame, used, header = read_csv(path, encoding, **pandas_options)
            logger.info("%s: read as %s text", path.name, used)
            frame = settle_sheet(frame, header, where, read, letters=False)
        else:
            with pd.ExcelFile(path, engine="calamine") as book:
                name = _chosen_sheet(book, path, sheet)
                where = f"{path.name}, sheet {name!r}"
                frame = pd.read_excel(book, sheet_name=name, **pandas_options)
                frame = settle_workbook_sheet(
                    frame, path, book.book, name, where, read, fill, kept=kept
                )
    except PipelineError:
        raise
    except Exception as exc:  # noqa: BLE001  (pandas/calamine raise many types for bad files)
        raise PipelineError(f"{path}: cannot read it: {exc}") from exc
    found = {c: find_column(frame.columns, c) for c in read}
    renamed = {f: c for c, f in found.items() if f is not None and f != c}
    return (frame.rename(columns=renamed) if renamed else frame), where


def _chosen_sheet(book: pd.ExcelFile, path: Path, sheet: str | None) -> str:
    """``sheet``, or the first visible sheet (hidden ones before it are logged)."""
    if sheet is not None:
        if sheet not in book.sheet_names:
            raise PipelineError(f"{path}: no sheet named {sheet!r} (sheets: {book.sheet_names})")
        return sheet
    visible, hidden = sheet_states(book.book)
    if not visible:
        raise PipelineError(f"{path}: every sheet is hidden ({', '.join(map(repr, hidden))})")
    skipped = book.sheet_names[: book.sheet_names.index(visible[0])]
    if skipped:
        logger.info(
            "%s: reading sheet %r, the first visible one (hidden: %s; --sheet NAME reads one)",
            path.name, visible[0], ", ".join(map(repr, skipped)),
        )  # fmt: skip
    return visible[0]
