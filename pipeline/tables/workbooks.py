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
from pipeline.tables.files import TEXT_FILES, needed_columns, read_text_file
from pipeline.tables.sentences import sentences_from_sheet, template_columns
from pipeline.tables.sheets import settle_sheet, settle_workbook_sheet
from pipeline.tables.spreadsheets import sheet_states

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
    text_columns: list[str] | None = None,
) -> pd.DataFrame:
    """Every configured sheet of a workbook (or a CSV/JSON file) -> the examples ``extract``
    reads from its rows. ``text_columns``: the task's text columns (the cells it reads besides
    the label, group, template and kept ones): a JSON object must have them, and a repeated
    header or a formula without a saved value among them is named (sheets.py)."""
    row_columns = [cfg.label_column, *([cfg.group_column] if cfg.group_column else []),
                   *template_columns(cfg), *(keep or [])]  # fmt: skip
    read = [*(text_columns or []), *row_columns]
    if path.suffix.lower() in TEXT_FILES:
        sheet, raw, first_row = read_text_file(path, needed_columns(cfg, text_columns), cfg)
        start = time.perf_counter()
        header = raw.attrs.get("header", list(raw.columns))
        raw = settle_sheet(raw, header, path.name, read, letters=False)
        out, converted = extract(raw, cfg, path.name, sheet, keep or [], first_row)
        _log_sheet(path, sheet, len(raw), out, converted, start)
        return out
    book = open_workbook(path)
    with book:
        frames = []
        for sheet in chosen_sheets(book, path, cfg):
            start = time.perf_counter()
            raw = read_sheet(book, path, sheet)
            where = f"{path.name}, sheet {sheet!r}"
            raw = settle_workbook_sheet(raw, path, book.book, sheet, where, read, row_columns)
            out, converted = extract(raw, cfg, path.name, sheet, keep or [])
            _log_sheet(path, sheet, len(raw), out, converted, start)
            frames.append(out)
    return pd.concat(frames, ignore_index=True)


def chosen_sheets(book: pd.ExcelFile, path: Path, cfg: IngestConfig) -> list[str]:
    """The sheets to read, in order: ``ingest.sheets``, or every visible sheet.

    Hidden sheets (often lookup tables or old versions) are skipped with a log line unless
    ``ingest.sheets`` names them; a workbook whose sheets are all hidden is an error.
    """
    names = book.sheet_names
    visible, hidden = sheet_states(book.book)
    if cfg.sheets is not None:
        absent = [s for s in cfg.sheets if s not in names]
        if absent:
            raise PipelineError(f"{path}: no sheet named {absent[0]!r} (sheets: {names})")
        for sheet in (s for s in cfg.sheets if s in hidden):
            logger.info("%s: reading hidden sheet %r (named in ingest.sheets)", path.name, sheet)
        return list(cfg.sheets)
    if hidden:
        logger.info(
            "%s: skipping hidden sheet(s) %s (name them in ingest.sheets to read them)",
            path.name, ", ".join(map(repr, hidden)),
        )  # fmt: skip
    if not visible:
        raise PipelineError(
            f"{path}: every sheet is hidden ({', '.join(map(repr, hidden))}); name the sheets "
            "to read in ingest.sheets"
        )
    return visible


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


def read_sentences(path: Path, cfg: IngestConfig, keep: list[str]) -> pd.DataFrame:
    """A workbook's (or CSV/JSON file's) sentences: the single-text tasks' ingest."""
    return read_book(path, cfg, sentences_from_sheet, keep, cfg.text_columns)
