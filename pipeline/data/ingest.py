"""Ingest: Excel workbooks (or CSV/JSON) -> one row per sentence in data/interim/sentences.parquet.

    python -m pipeline.data.ingest --config configs/default.yaml

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

``ingest.unit: row`` makes one example per row instead (its non-blank text cells joined by
spaces: a whole dialogue), and ``ingest.template`` builds the text from columns, e.g.
``"{상황키워드} {성별} | {text}"`` ({text}: the sentence or the joined row). The column that
``split.group_column`` names (the dialogue id 번호) is carried along under its own name.

``.csv`` and ``.json`` files (a list of objects) are read like one sheet (files.py). With
``task: text-pair-classification`` each row gives one pair: ``ingest.text_pair_columns`` become
the ``text`` and ``text_pair`` columns (files.py).

Long because: every bad-input message of a workbook (file, sheet, header, column, row) lives
beside the reading it checks; split up, a reader would chase one sheet across files.
"""

from __future__ import annotations

import argparse
import glob
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from python_calamine import CalamineError

from pipeline.cli import add_config_args, run_cli
from pipeline.config import Config, IngestConfig
from pipeline.data.cells import (
    HEADER_ROWS,
    cell_to_text,
    header_text,
    is_blank,
    label_cell,
    log_folded,
    normalize_text,
    text_cell,
)
from pipeline.data.files import TEXT_FILES, pairs_from_sheet, read_text_file
from pipeline.data.sheets import settle_sheet, settle_workbook_sheet
from pipeline.errors import PipelineError
from pipeline.io import provenance, write_json, write_parquet
from pipeline.paths import Paths
from pipeline.spreadsheets import sheet_states
from pipeline.tasks import get_task

logger = logging.getLogger("pipeline.data.ingest")  # also when run as __main__

COLUMNS = ["text", "label", "group", "source_file", "source_sheet", "source_row", "source_column"]
ZIP_MAGIC = b"PK\x03\x04"  # .xlsx/.xlsm/.xlsb/.ods are zip files
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls


@dataclass(frozen=True)
class IngestResult:
    path: Path
    rows: int
    files: list[Path]
    seconds: float


# --- pure transforms ---------------------------------------------------------------------------


PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def template_columns(cfg: IngestConfig) -> list[str]:
    """The sheet columns ``cfg.template`` names ({text} is the example's own text, not a column).

    Raises PipelineError for a template without placeholders, with an empty one, or (unit
    sentence) without {text}.
    """
    if cfg.template is None:
        return []
    names = PLACEHOLDER.findall(cfg.template)
    if not names or any(not n.strip() for n in names):
        raise PipelineError(
            f"ingest.template {cfg.template!r}: name columns in braces, e.g. "
            "'{상황키워드} | {text}' (found no placeholder, or an empty one)"
        )
    if cfg.unit == "sentence" and "text" not in names:
        raise PipelineError(
            f"ingest.template {cfg.template!r} has no {{text}}: with ingest.unit: sentence every "
            "sentence of a row would get the same text (use unit: row, or add {text})"
        )
    return list(dict.fromkeys(n for n in names if n != "text"))


def check_columns(header: dict[str, Any], cfg: IngestConfig, keep: list[str], where: str) -> None:
    """Every column the config needs is in ``header``, or one error naming the first missing."""
    own = [*cfg.text_columns, cfg.label_column, *([cfg.group_column] if cfg.group_column else [])]
    needs = [("", own), (" named in ingest.template", template_columns(cfg)),
             (" named in split.group_column", keep)]  # fmt: skip
    for why, columns in needs:
        missing = [c for c in columns if c not in header]
        if missing:
            found = ", ".join(repr(c) for c in header) or "none"
            raise PipelineError(
                f"{where}: missing column(s) {', '.join(repr(c) for c in missing)}{why} "
                f"(the sheet has: {found})"
            )


def sentences_from_sheet(
    frame: pd.DataFrame,
    cfg: IngestConfig,
    file: str,
    sheet: str,
    keep: list[str] | tuple[str, ...] = (),
    first_row: int = 1 + HEADER_ROWS,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """One row per non-blank text cell (``cfg.unit`` sentence) or per row with text (row).

    ``frame`` is one sheet, header already applied. The text is ``cfg.template`` filled in
    ({text}: the sentence, or the row's text cells joined by spaces); ``keep`` columns are
    carried along under their own names. Returns the examples and per-column counts of
    converted (non-text) cells. Raises PipelineError naming the column and sheet when a
    column is missing, or the cell when ``cfg.non_text == "reject"`` and a text cell holds a
    number or a date.
    """
    where = f"{file}, sheet {sheet!r}"
    header = {header_text(c): c for c in frame.columns}
    keep = list(keep)
    check_columns(header, cfg, keep, where)

    def labels_of(column: str | None) -> list[str | None]:
        if column is None:
            return [None] * len(frame)
        values = frame[header[column]].tolist()
        return [None if is_blank(v) else normalize_text(cell_to_text(v)) or None for v in values]

    folded: dict[str, str] = {}  # label and group names NFKC changed
    labels, groups = (
        [None] * len(frame) if column is None else
        [label_cell(v, folded) for v in frame[header[column]].tolist()]
        for column in (cfg.label_column, cfg.group_column)
    )  # fmt: skip
    log_folded(where, folded)
    tags = {c: labels_of(c) for c in template_columns(cfg)}
    records: list[tuple[int, int, str]] = []  # (position, column index, text)
    converted: dict[str, int] = {}
    for ci, column in enumerate(cfg.text_columns):
        for pos, value in enumerate(frame[header[column]].tolist()):
            if is_blank(value):
                continue
            place = f"{where}, column {column!r}, row {pos + first_row}"
            text = text_cell(value, place, cfg.non_text == "reject", converted, column)
            records.append((pos, ci, text))
    records.sort()  # row-major: a dialogue's sentences stay together, in column order
    if cfg.unit == "row":  # one example per row: its non-blank text cells, joined
        by_row: dict[int, list[tuple[int, str]]] = {}
        for pos, ci, text in records:
            by_row.setdefault(pos, []).append((ci, text))
        examples = [
            (pos, "+".join(cfg.text_columns[ci] for ci, _ in cells),
             " ".join(t for _, t in cells if t))
            for pos, cells in by_row.items()
        ]  # fmt: skip
    else:
        examples = [(pos, cfg.text_columns[ci], text) for pos, ci, text in records]

    def render(pos: int, text: str) -> str:
        if cfg.template is None or not text:  # empty text stays empty: prepare counts it
            return text
        fill = lambda m: text if m.group(1) == "text" else tags[m.group(1)][pos] or ""  # noqa: E731
        return normalize_text(PLACEHOLDER.sub(fill, cfg.template))

    out = pd.DataFrame(
        {
            "text": [render(p, t) for p, _, t in examples],
            "label": [labels[p] for p, _, _ in examples],
            "group": [groups[p] for p, _, _ in examples],
            "source_file": file,
            "source_sheet": sheet,
            "source_row": [p + first_row for p, _, _ in examples],
            "source_column": [c for _, c, _ in examples],
        },
        columns=COLUMNS,
    )
    for column in keep:
        values = labels_of(column)
        out[column] = [values[p] for p, _, _ in examples]
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


def kept_columns(cfg: Config) -> list[str]:
    """Columns ingest carries along for split.group_column (none for null, "row" or its own)."""
    column = cfg.split.group_column
    return [] if column is None or column == "row" or column in COLUMNS else [column]


def ingest_workbook(
    path: Path, cfg: IngestConfig, keep: list[str] | None = None, extract: Any = None
) -> pd.DataFrame:
    """Every configured sheet of a workbook (or a CSV/JSON file) -> examples (or pairs).

    ``extract``: the task's reader of a sheet's rows (NER: marked sentences), None: below."""
    # A pair task reads two columns per row (files.py); every other task, text cells.
    default = pairs_from_sheet if cfg.text_pair_columns else sentences_from_sheet
    extract = extract or default
    row_columns = [cfg.label_column, *([cfg.group_column] if cfg.group_column else []),
                   *template_columns(cfg), *(keep or [])]  # fmt: skip
    read = [*(cfg.text_pair_columns or cfg.text_columns), *row_columns]
    if path.suffix.lower() in TEXT_FILES:
        sheet, raw, first_row = read_text_file(path, cfg)
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


def run(cfg: Config) -> IngestResult:
    started = time.time()
    paths = Paths.from_config(cfg)
    if cfg.ingest.sheets == []:
        raise PipelineError("ingest.sheets is empty: name the sheets to read, or null for all")
    template_columns(cfg.ingest)  # a bad template stops before any file is read
    keep = kept_columns(cfg)
    files = resolve_files(paths, cfg.ingest.files)
    logger.info(
        "one example per %s%s%s", cfg.ingest.unit,
        f", text from template {cfg.ingest.template!r}" if cfg.ingest.template else "",
        f", keeping column {keep[0]!r} for split.group_column" if keep else "",
    )  # fmt: skip
    logger.info("ingesting %d workbook(s): %s", len(files), ", ".join(f.name for f in files))
    frames = []
    task = get_task(cfg.task)
    for i, path in enumerate(files, 1):
        logger.info("[%d/%d] reading %s (%.1f MB)", i, len(files), path, path.stat().st_size / 1e6)
        own = task.read_file(path, cfg.ingest)  # NER: .txt and .tsv files; None: a workbook
        frames.append(own if own is not None else
                      ingest_workbook(path, cfg.ingest, keep, task.extractor))  # fmt: skip
    sentences = pd.concat(frames, ignore_index=True)
    if sentences.empty:
        columns = cfg.ingest.text_pair_columns or cfg.ingest.text_columns
        raise PipelineError(f"no sentences found in the text columns {columns}")
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
        what = "sentences" if cfg.ingest.unit == "sentence" else "rows (one example each)"
        what = "pairs" if cfg.ingest.text_pair_columns else what
        print(f"ingest: {result.rows} {what} from {len(result.files)} file(s) -> {result.path}")  # noqa: T201

    return run_cli(parser, work, argv)


if __name__ == "__main__":
    raise SystemExit(main())
