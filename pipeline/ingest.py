"""Ingest: Excel workbooks -> one row per sentence in data/interim/sentences.parquet.

    python -m pipeline.ingest --config configs/default.yaml

Every configured text column of every row becomes its own sentence with that row's label and
group (AI-Hub: 사람문장1..3 with 감정_소분류 and 감정_대분류) and where it came from (file, sheet,
Excel row, column). A spreadsheet with other columns needs only other ``ingest.text_columns``,
``ingest.label_column`` and ``ingest.group_column`` values. Text is NFC-normalized and its
whitespace collapsed. Blank text cells are skipped (an empty slot is no sentence); a label cell
that is blank stays empty and prepare drops and counts the row.

Numbers or dates in a text column follow ``ingest.non_text``: "convert" writes them as text
(42 -> "42", a date -> "2024-01-31") and logs how many; "reject" stops at the first one,
naming its file, sheet, column and row. Label and group cells are always converted (a
``rating`` column of numbers is a fine label).
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import logging
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from python_calamine import CalamineError

from pipeline.cli import add_config_args, run_cli
from pipeline.config import Config, IngestConfig
from pipeline.errors import PipelineError
from pipeline.io import provenance, write_json, write_parquet
from pipeline.paths import Paths

logger = logging.getLogger(__name__)

COLUMNS = ["text", "label", "group", "source_file", "source_sheet", "source_row", "source_column"]
HEADER_ROWS = 1  # pandas row 0 is Excel row 2: the header is row 1
ZIP_MAGIC = b"PK\x03\x04"  # .xlsx/.xlsm/.xlsb/.ods are zip files
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))


@dataclass(frozen=True)
class IngestResult:
    path: Path
    rows: int
    files: list[Path]
    seconds: float


# --- pure transforms ---------------------------------------------------------------------------


def normalize_text(text: str) -> str:
    """NFC, zero-width characters removed, every whitespace run -> one space, ends stripped."""
    return " ".join(unicodedata.normalize("NFC", text).translate(_INVISIBLE).split())


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


def sentences_from_sheet(
    frame: pd.DataFrame, cfg: IngestConfig, file: str, sheet: str
) -> tuple[pd.DataFrame, dict[str, int]]:
    """One row per non-blank text cell of ``frame`` (one sheet, header already applied).

    Returns the sentences and per-column counts of converted (non-text) cells. Raises
    PipelineError naming the column and sheet when a configured column is missing, or the
    cell when ``cfg.non_text == "reject"`` and a text cell holds a number or a date.
    """
    where = f"{file}, sheet {sheet!r}"
    header = {normalize_text(str(c)): c for c in frame.columns}
    wanted = [*cfg.text_columns, cfg.label_column]
    if cfg.group_column:
        wanted.append(cfg.group_column)
    missing = [c for c in wanted if c not in header]
    if missing:
        found = ", ".join(repr(c) for c in header) or "none"
        raise PipelineError(
            f"{where}: missing column(s) {', '.join(repr(c) for c in missing)} "
            f"(the sheet has: {found})"
        )

    def labels_of(column: str | None) -> list[str | None]:
        if column is None:
            return [None] * len(frame)
        values = frame[header[column]].tolist()
        return [None if is_blank(v) else normalize_text(cell_to_text(v)) or None for v in values]

    labels, groups = labels_of(cfg.label_column), labels_of(cfg.group_column)
    records: list[tuple[int, int, str]] = []  # (position, column index, text)
    converted: dict[str, int] = {}
    for ci, column in enumerate(cfg.text_columns):
        for pos, value in enumerate(frame[header[column]].tolist()):
            if is_blank(value):
                continue
            if not isinstance(value, str):
                if cfg.non_text == "reject":
                    raise PipelineError(
                        f"{where}, column {column!r}, row {pos + 1 + HEADER_ROWS}: "
                        f"{type(value).__name__} {cell_to_text(value)} in a text column "
                        "(set ingest.non_text: convert to read it as text)"
                    )
                converted[column] = converted.get(column, 0) + 1
            records.append((pos, ci, normalize_text(cell_to_text(value))))
    records.sort()  # row-major: a dialogue's sentences stay together, in column order
    out = pd.DataFrame(
        {
            "text": [t for _, _, t in records],
            "label": [labels[p] for p, _, _ in records],
            "group": [groups[p] for p, _, _ in records],
            "source_file": file,
            "source_sheet": sheet,
            "source_row": [p + 1 + HEADER_ROWS for p, _, _ in records],
            "source_column": [cfg.text_columns[c] for _, c, _ in records],
        },
        columns=COLUMNS,
    )
    out["source_row"] = out["source_row"].astype("int64")
    return out, converted


# --- I/O at the edges --------------------------------------------------------------------------


def resolve_files(paths: Paths, patterns: list[str]) -> list[Path]:
    """Config paths or globs -> existing files, in config order, globs sorted, no repeats."""
    files: list[Path] = []
    for pattern in patterns:
        path = paths.resolve(pattern)
        if path.is_file():
            matches = [path]
        elif glob.has_magic(pattern):
            matches = sorted(Path(p) for p in glob.glob(str(path)) if Path(p).is_file())
            if not matches:
                raise PipelineError(f"ingest.files: no file matches {pattern!r} (under {path})")
        elif path.is_dir():
            raise PipelineError(f"{path}: is a directory, not an Excel workbook")
        else:
            raise PipelineError(f"{path}: file not found (ingest.files entry {pattern!r})")
        files.extend(m for m in matches if m not in files)
    if not files:
        raise PipelineError("ingest.files is empty: name at least one workbook")
    return files


def open_workbook(path: Path) -> pd.ExcelFile:
    """Open with the calamine engine; say whether a failure is a non-workbook or a corrupt one."""
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic not in (ZIP_MAGIC, OLE_MAGIC):
        raise PipelineError(f"{path}: not an Excel workbook (expected an .xlsx file)")
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


def ingest_workbook(path: Path, cfg: IngestConfig) -> pd.DataFrame:
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
            out, converted = sentences_from_sheet(raw, cfg, path.name, sheet)
            logger.info(
                "%s, sheet %r: %d rows read -> %d sentences in %.2f s",
                path.name, sheet, len(raw), len(out), time.perf_counter() - start,
            )  # fmt: skip
            for column, n in converted.items():
                logger.warning(
                    "%s, sheet %r: %d number/date cell(s) in text column %r converted to text",
                    path.name, sheet, n, column,
                )  # fmt: skip
            frames.append(out)
    return pd.concat(frames, ignore_index=True)


def run(cfg: Config) -> IngestResult:
    started = time.time()
    paths = Paths.from_config(cfg)
    if cfg.ingest.sheets == []:
        raise PipelineError("ingest.sheets is empty: name the sheets to read, or null for all")
    files = resolve_files(paths, cfg.ingest.files)
    logger.info("ingesting %d workbook(s): %s", len(files), ", ".join(f.name for f in files))
    frames = []
    for i, path in enumerate(files, 1):
        logger.info("[%d/%d] reading %s (%.1f MB)", i, len(files), path, path.stat().st_size / 1e6)
        frames.append(ingest_workbook(path, cfg.ingest))
    sentences = pd.concat(frames, ignore_index=True)
    if sentences.empty:
        raise PipelineError(f"no sentences found in the text columns {cfg.ingest.text_columns}")
    # Everything is read and checked: only now touch the outputs.
    write_parquet(paths.sentences, sentences)
    record = provenance(cfg.to_dict(), {p.name: p for p in files}, started)
    write_json(paths.interim / "ingest.run.json", {"stage": "ingest", **record})
    seconds = time.time() - started
    logger.info("wrote %s: %d sentences in %.1f s", paths.sentences, len(sentences), seconds)
    return IngestResult(paths.sentences, len(sentences), files, seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_args(parser)

    def work(args: argparse.Namespace, cfg: Config) -> None:
        result = run(cfg)
        print(f"ingest: {result.rows} sentences from {len(result.files)} file(s) -> {result.path}")  # noqa: T201

    return run_cli(parser, work, argv)


if __name__ == "__main__":
    raise SystemExit(main())
