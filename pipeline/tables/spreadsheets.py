"""Tables people hand the pipeline: CSV in the encodings Korean Excel saves, and what a workbook
holds that pandas does not show (hidden sheets, merged cells, formulas never calculated).

Shared by ingest (pipeline/data), ``predict --input`` and ``evaluate --input``, so a file reads
the same way everywhere.

- ``read_csv``: UTF-8 (with or without BOM), UTF-16 with a BOM, or cp949/EUC-KR (what Excel on
  Korean Windows saves as "CSV"); ``encoding="auto"`` picks the first that fits, in that order,
  and returns which one it used, for the log.
- ``sheet_states``: the visible and the hidden sheets of a workbook, in workbook order.
- ``sheet_cells``: the merged ranges and the formula cells without a saved value, as cell
  coordinates (0-based, the header is row 0), so a caller can name the cells: a merged cell
  holds its value only in its first cell, and a formula written by a program that does not
  calculate (openpyxl, a script) has no saved value at all, so both read as empty.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import re
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any
from xml.etree import ElementTree

import pandas as pd
from python_calamine import SheetVisibleEnum

from pipeline.errors import PipelineError

logger = logging.getLogger("pipeline.tables.spreadsheets")

# The values of ingest.encoding: "auto" tries the others in this order (EUC-KR is a subset of
# cp949, Microsoft's extension of it, so cp949 reads both).
ENCODINGS = ("auto", "utf-8", "utf-16", "cp949", "euc-kr")
_CODEC = {"utf-8": "utf-8-sig", "utf-16": "utf-16", "cp949": "cp949", "euc-kr": "euc-kr"}

Cell = tuple[int, int]  # (row, column), 0-based; row 0 is the header row
Range = tuple[Cell, Cell]  # first and last cell of a merged range


# --- CSV -------------------------------------------------------------------------------------


def decode(data: bytes, encoding: str, where: str) -> tuple[str, str]:
    """``data`` as text and the encoding it was read in (``encoding`` or, for "auto", found)."""
    if encoding not in ENCODINGS:
        raise PipelineError(
            f"{where}: unknown encoding {encoding!r} (one of {', '.join(ENCODINGS)})"
        )
    if encoding != "auto":
        try:
            return data.decode(_CODEC[encoding]), encoding
        except UnicodeDecodeError as exc:
            raise PipelineError(
                f"{where}: not {encoding} text (byte {exc.start}: {data[exc.start]:#04x}); "
                "set ingest.encoding to the file's encoding, or auto"
            ) from None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    if b"\x00" in data:  # NUL bytes in a text file: UTF-16 saved without a BOM
        raise PipelineError(
            f"{where}: holds NUL bytes but no UTF-16 byte-order mark; save it as CSV UTF-8 "
            "(or UTF-16 with a BOM)"
        )
    try:
        return data.decode("cp949"), "cp949"
    except UnicodeDecodeError:
        raise PipelineError(
            f"{where}: neither UTF-8 (byte {first_bad}: {data[first_bad]:#04x}), UTF-16 with a "
            "BOM, nor cp949/EUC-KR text; save it as CSV UTF-8 or set ingest.encoding"
        ) from None


def read_csv(
    path: Path, encoding: str = "auto", **kwargs: Any
) -> tuple[pd.DataFrame, str, list[str]]:
    """``pd.read_csv`` (``kwargs``) of ``path`` decoded as ``encoding``: the frame, the encoding
    used and the header row as written (pandas renames a repeated name to "name.1").

    Raises PipelineError naming the file for an undecodable or unparsable file; an empty one
    (no header) raises ``pd.errors.EmptyDataError`` for the caller to word.
    """
    text, used = decode(Path(path).read_bytes(), encoding, str(path))
    try:
        frame = pd.read_csv(io.StringIO(text), **kwargs)
    except pd.errors.EmptyDataError:
        raise
    except (pd.errors.ParserError, ValueError) as exc:
        raise PipelineError(f"{path}: not a readable CSV file ({exc})") from exc
    header = next(csv.reader(io.StringIO(text)), [])
    return frame, used, header


# --- workbooks -------------------------------------------------------------------------------


def sheet_states(book: Any) -> tuple[list[str], list[str]]:
    """(visible, hidden) sheet names of a calamine workbook, each in workbook order."""
    visible, hidden = [], []
    for meta in book.sheets_metadata:
        shown = meta.visible == SheetVisibleEnum.Visible
        (visible if shown else hidden).append(meta.name)
    return visible, hidden


def header_row(book: Any, sheet: str) -> list[Any]:
    """The first row of ``sheet`` (a calamine workbook's) as written."""
    rows = book.get_sheet_by_name(sheet).to_python(skip_empty_area=False, nrows=1)
    return list(rows[0]) if rows else []


_FORMULA = re.compile(rb"<(?:\w+:)?f[\s/>]")
_MERGE = re.compile(rb'<(?:\w+:)?mergeCell\b[^>]*?\bref="([A-Z]+[0-9]+):([A-Z]+[0-9]+)"')
_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_CHUNK = 1 << 22


def sheet_cells(path: Path, sheet: str, book: Any = None) -> tuple[list[Range], list[Cell]]:
    """(merged ranges, formula cells without a saved value) of ``sheet``, sorted.

    Read from the sheet's XML in an .xlsx/.xlsm, streamed in chunks: one pass over a 50,000-row
    sheet takes a fraction of a second, where asking calamine would parse the sheet again. A
    legacy .xls (not a zip) gets its merged ranges from calamine's ``book`` and no formulas.

    Excel saves each formula's last result beside it; a workbook written by a program that does
    not calculate (openpyxl, a script) has the formula alone, and every reader that does not
    calculate, calamine included, sees an empty cell. A formula whose saved result is empty
    text (``t="str"``) was calculated and is not listed.
    """
    if not zipfile.is_zipfile(path):
        ranges = book.get_sheet_by_name(sheet).merged_cell_ranges if book is not None else None
        return sorted(tuple(r) for r in ranges or []), []
    merged: set[Range] = set()
    formulas = False
    try:
        with zipfile.ZipFile(path) as z:
            part = _sheet_part(z, sheet)
            if part is None:
                return [], []
            with z.open(part) as fh:
                tail = b""
                while chunk := fh.read(_CHUNK):
                    data = tail + chunk  # the tail: a tag cut between two chunks
                    formulas = formulas or _FORMULA.search(data) is not None
                    if b"mergeCell" in data:
                        merged.update(
                            (cell_coordinates(a.decode()), cell_coordinates(b.decode()))
                            for a, b in _MERGE.findall(data)
                        )
                    tail = data[-512:]
            uncalculated = _uncalculated(z, part) if formulas else []
    except (zipfile.BadZipFile, KeyError, OSError, ElementTree.ParseError):
        return [], []  # calamine read it: whatever this cannot parse is not ours to refuse
    return sorted(r for r in merged if r[0][0] >= 0 and r[1][0] >= 0), uncalculated


def _uncalculated(z: zipfile.ZipFile, part: str) -> list[Cell]:
    """Cells of the sheet XML ``part`` with a formula (``<f>``) and no saved value (``<v>``)."""
    found = []
    with z.open(part) as fh:
        for _, elem in ElementTree.iterparse(fh):
            if elem.tag.rsplit("}", 1)[-1] != "c":
                continue
            children = {child.tag.rsplit("}", 1)[-1]: child for child in elem}
            value = children.get("v")
            if "f" in children and (value is None or not value.text) and elem.get("t") != "str":
                found.append(cell_coordinates(elem.get("r", "")))
            elem.clear()
    return sorted(c for c in found if c[0] >= 0)


def _sheet_part(z: zipfile.ZipFile, sheet: str) -> str | None:
    """The zip member holding ``sheet``'s cells, from xl/workbook.xml and its relationships."""
    book = ElementTree.fromstring(z.read("xl/workbook.xml"))
    rid = next(
        (s.get(f"{_REL}id") for s in book.iter(f"{_MAIN}sheet") if s.get("name") == sheet), None
    )
    rels = ElementTree.fromstring(z.read("xl/_rels/workbook.xml.rels"))
    target = next((r.get("Target") for r in rels.iter(f"{_PKG}Relationship")
                   if r.get("Id") == rid), None)  # fmt: skip
    if rid is None or target is None:
        return None
    if target.startswith("/"):
        return target.lstrip("/")
    return str(PurePosixPath("xl") / target)


def cell_coordinates(ref: str) -> Cell:
    """ "C4" -> (3, 2); (-1, -1) for a reference it cannot read."""
    match = re.fullmatch(r"\$?([A-Z]+)\$?(\d+)", ref)
    if not match:
        return (-1, -1)
    col = 0
    for ch in match.group(1):
        col = col * 26 + ord(ch) - 64
    return (int(match.group(2)) - 1, col - 1)


def cell_name(row: int, col: int) -> str:
    """(3, 2) -> "C4": the name Excel shows for a 0-based cell."""
    return f"{column_letter(col)}{row + 1}"


def column_letter(col: int) -> str:
    """0 -> "A", 26 -> "AA"."""
    letters = ""
    col += 1
    while col:
        col, rest = divmod(col - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def range_name(cells: Range) -> str:
    """((1, 1), (3, 1)) -> "B2:B4"."""
    return f"{cell_name(*cells[0])}:{cell_name(*cells[1])}"
