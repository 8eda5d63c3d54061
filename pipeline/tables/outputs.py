"""Tables the pipeline writes for people: .xlsx and .csv outputs that open in a spreadsheet as
they were meant (text stays text, nothing cut short).

- ``to_excel_as_text``: an .xlsx sheet whose text cells stay text (no formulas), refusing a cell
  longer than Excel keeps (``check_excel_cells``) before anything is written.
- ``to_csv_as_text``: a CSV safe from formula injection when opened in Excel.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.errors import PipelineError

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
