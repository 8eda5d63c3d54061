"""Cells of a sheet as text: the normalization ingest applies to every text and label.

Shared by ingest (workbooks) and files.py (CSV, JSON, sentence pairs). The normalization itself
is pipeline/text.py's, the one serving uses too.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

import pandas as pd

from pipeline.errors import PipelineError
from pipeline.tables import Cell, Range, cell_name, column_letter, range_name
from pipeline.text import normalize_label, normalize_text

__all__ = ["HEADER_ROWS", "cell_to_text", "header_text", "is_blank", "label_cell",
           "log_folded", "normalize_text", "settle_sheet", "text_cell"]  # fmt: skip

logger = logging.getLogger("pipeline.data")

HEADER_ROWS = 1  # pandas row 0 is Excel row 2: the header is row 1


def is_blank(value: Any) -> bool:
    """An empty cell: None, NaN or "" (whitespace-only text is not blank: it is empty text)."""
    return value is None or value == "" or (isinstance(value, float) and value != value)


def cell_to_text(value: Any) -> str:
    """A non-blank cell as text: dates in ISO form, whole numbers without '.0'."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        midnight = value.hour == value.minute == value.second == value.microsecond == 0
        return value.date().isoformat() if midnight else value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def text_cell(value: Any, place: str, reject: bool, converted: dict[str, int], column: str) -> str:
    """A non-blank cell of a text column as normalized text.

    A number or date is converted to text and counted in ``converted[column]``, or, with
    ``reject`` (``ingest.non_text: reject``), refused naming ``place`` (file, column, row).
    """
    if not isinstance(value, str):
        if reject:
            raise PipelineError(
                f"{place}: {type(value).__name__} {cell_to_text(value)} in a text column "
                "(set ingest.non_text: convert to read it as text)"
            )
        converted[column] = converted.get(column, 0) + 1
    return normalize_text(cell_to_text(value))


def header_text(value: Any) -> str:
    """A header cell as the name a config or ``--column`` gives: 2024 (a number) -> "2024"."""
    return normalize_text(cell_to_text(value))


def label_cell(value: Any, folded: dict[str, str] | None = None) -> str | None:
    """A label or group cell as its name (``normalize_label``: NFKC), None when blank.

    A name that NFKC changed (``ＰＯＳ`` -> ``POS``) is recorded in ``folded`` for the log.
    """
    if is_blank(value):
        return None
    written = normalize_text(cell_to_text(value))
    name = normalize_label(written)
    if folded is not None and name != written:
        folded[written] = name
    return name or None


def log_folded(where: str, folded: dict[str, str]) -> None:
    """One log line for the label names NFKC changed (full-width and half-width: one class)."""
    if folded:
        shown = ", ".join(f"{a!r} -> {b!r}" for a, b in list(folded.items())[:5])
        more = f" and {len(folded) - 5} more" if len(folded) > 5 else ""
        logger.info(
            "%s: label name(s) in full-width or other compatibility forms read as one class "
            "with their plain form (NFKC): %s%s", where, shown, more,
        )  # fmt: skip


def settle_sheet(
    frame: pd.DataFrame,
    header: list[Any],
    where: str,
    read: Iterable[str],
    fill: Iterable[str] = (),
    merged: Iterable[Range] = (),
    uncalculated: Iterable[Cell] = (),
    letters: bool = True,
) -> pd.DataFrame:
    """Check the cells of ``read`` columns that pandas shows wrongly, and fill merged ones.

    ``frame`` is a sheet read with its header (header: that row as written; merged ranges and
    formula cells without a saved value in sheet coordinates, row 0 = the header). Raises
    PipelineError naming the columns and cells when a ``read`` column's header is written twice
    (pandas would silently read the first) or holds formulas never calculated (they read as
    empty). A merged range in a ``fill`` column (a row's label, group or tag) gives its value to
    every row it covers, logged; one in another ``read`` column (a sentence) is read once, in its
    first row, logged. Returns ``frame``, or a filled copy.
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
    bad = [(r, c) for r, c in uncalculated if 0 < r and c < len(names) and names[c] in read]
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


def _some(items: list[str], n: int = 5) -> str:
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")
