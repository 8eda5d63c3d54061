"""Reading a workbook (every configured sheet) or a CSV/JSON file into examples.

``read_book(path, cfg, extract, keep)`` opens an .xlsx (calamine) or a .csv/.json file
(files.py), reads every sheet of ``ingest.sheets`` and hands each one to ``extract``, the task's
reader of a sheet's rows (sentences.py, files.pairs_from_sheet, NER's marked sentences). Each
failure is one message naming the file and sheet: not a workbook, corrupt, no such sheet, an
empty sheet.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from python_calamine import CalamineError

from pipeline.config import IngestConfig
from pipeline.errors import PipelineError
from pipeline.tables.files import TEXT_FILES, read_text_file

logger = logging.getLogger("pipeline.data.ingest")

ZIP_MAGIC = b"PK\x03\x04"  # .xlsx/.xlsm/.xlsb/.ods are zip files
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls

# (sheet frame, cfg, file name, sheet name, kept columns, first row) -> (examples, converted)
Extract = Callable[..., tuple[pd.DataFrame, dict[str, int]]]


def open_workbook(path: Path) -> pd.ExcelFile:
    """Open with the calamine engine; say whether a failure is a non-workbook or a corrupt one."""
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic not in (ZIP_MAGIC, OLE_MAGIC):
        raise PipelineError(
            f"{path}: not an Excel workbook (expected an .xlsx file, or a .csv or .json one)"
        )
    try:
        return pd.ExcelFile(path, engine="calamine")
    except (CalamineError, ValueError, OSError) as exc:
        raise PipelineError(f"{path}: corrupt or unreadable workbook ({exc})") from exc


def read_sheet(book: pd.ExcelFile, path: Path, sheet: str) -> pd.DataFrame:
    try:
        # keep_default_na=False: a sentence "NA" or "None" is text, not a missing value.
        frame = pd.read_excel(book, sheet_name=sheet, dtype=object, keep_default_na=False)
    except (CalamineError, ValueError, OSError) as exc:
        raise PipelineError(f"{path}, sheet {sheet!r}: corrupt or unreadable ({exc})") from exc
    if frame.columns.empty:
        raise PipelineError(f"{path.name}, sheet {sheet!r}: the sheet is empty (no header row)")
    if frame.empty:
        raise PipelineError(f"{path.name}, sheet {sheet!r}: the sheet has a header but no rows")
    return frame


def read_book(
    path: Path,
    cfg: IngestConfig,
    extract: Extract,
    keep: list[str] | None = None,
    needed: list[str] | None = None,
) -> pd.DataFrame:
    """Every configured sheet of a workbook (or a CSV/JSON file) -> the examples ``extract``
    reads from its rows. ``needed``: the keys every object of a JSON file must have."""
    if path.suffix.lower() in TEXT_FILES:
        sheet, raw, first_row = read_text_file(path, needed or [])
        start = time.perf_counter()
        out, converted = extract(raw, cfg, path.name, sheet, keep or [], first_row)
        _log_sheet(path, sheet, len(raw), out, converted, start)
        return out
    book = open_workbook(path)
    with book:
        names = book.sheet_names
        sheets = names if cfg.sheets is None else cfg.sheets
        absent = [s for s in sheets if s not in names]
        if absent:
            raise PipelineError(f"{path}: no sheet named {absent[0]!r} (sheets: {names})")
        frames = []
        for sheet in sheets:
            start = time.perf_counter()
            raw = read_sheet(book, path, sheet)
            out, converted = extract(raw, cfg, path.name, sheet, keep or [])
            _log_sheet(path, sheet, len(raw), out, converted, start)
            frames.append(out)
    return pd.concat(frames, ignore_index=True)


def _log_sheet(
    path: Path, sheet: str, rows: int, out: pd.DataFrame, converted: dict[str, int], start: float
) -> None:
    logger.info(
        "%s, sheet %r: %d rows read -> %d examples in %.2f s",
        path.name, sheet, rows, len(out), time.perf_counter() - start,
    )  # fmt: skip
    for column, n in converted.items():
        logger.warning(
            "%s, sheet %r: %d number/date cell(s) in text column %r converted to text",
            path.name, sheet, n, column,
        )  # fmt: skip
