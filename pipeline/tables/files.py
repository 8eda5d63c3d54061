"""Ingest's other inputs: CSV and JSON files, and rows holding a sentence pair.

``read_text_file`` reads a ``.csv`` (a header row; UTF-8, UTF-16 or cp949: ``ingest.encoding``,
pipeline/tables/spreadsheets.py) or a ``.json`` file (a list of objects, the KLUE-NLI layout
``[{"premise", "hypothesis", "gold_label"}, ...]``) into one frame, as ingest reads one sheet
of a workbook. ``pairs_from_sheet`` turns the rows of such a frame (or a sheet) into sentence
pairs for the text-pair-classification task: the two ``ingest.text_pair_columns`` become
``text`` and ``text_pair``. Every bad input is one message naming the file and the row
(object) or column.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.config import IngestConfig
from pipeline.errors import PipelineError
from pipeline.tables.cells import (
    cell_to_text,
    header_text,
    is_blank,
    label_cell,
    log_folded,
    normalize_text,
    text_cell,
)
from pipeline.tables.spreadsheets import read_csv

logger = logging.getLogger("pipeline.data.ingest")

TEXT_FILES = (".csv", ".json")
PAIR_COLUMNS = ["text", "text_pair", "label", "group", "source_file", "source_sheet",
                "source_row", "source_column"]  # fmt: skip


def needed_columns(cfg: IngestConfig, text: list[str] | None) -> list[str]:
    """The columns a row must have: the ``text`` columns, the label and the group."""
    return [*(text or []), cfg.label_column, *([cfg.group_column] if cfg.group_column else [])]


def read_text_file(path: Path, keys: list[str], cfg: IngestConfig) -> tuple[str, pd.DataFrame, int]:
    """A CSV or JSON file as (sheet name "csv"/"json", frame of objects, first row's number).

    Rows count as in the file: a CSV's first data row is line 2 (the header is line 1), a JSON
    list's first object is object 1; every object must have ``keys``. Raises PipelineError
    naming the file (and object).
    """
    if path.suffix.lower() == ".csv":
        try:
            frame, used, header = read_csv(path, cfg.encoding, dtype=object, keep_default_na=False)
        except pd.errors.EmptyDataError:
            raise PipelineError(f"{path}: the CSV file is empty (no header row)") from None
        logger.info("%s: read as %s text (ingest.encoding: %s)", path.name, used, cfg.encoding)
        if frame.empty:
            raise PipelineError(f"{path.name}: the CSV file has a header but no rows")
        frame.attrs["header"] = header  # as written: pandas renames a repeated name "name.1"
        return "csv", frame, 2
    try:
        items = json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PipelineError(f"{path}: not valid UTF-8 JSON ({exc})") from exc
    if not isinstance(items, list) or not items:
        raise PipelineError(
            f"{path}: expected a non-empty JSON list of objects like "
            f'{{"premise": ..., "hypothesis": ..., "gold_label": ...}}, got {_kind(items)}'
        )
    for i, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise PipelineError(f"{path.name}, object {i}: expected an object, got {_kind(item)}")
        missing = [k for k in keys if k not in item]
        if missing:
            raise PipelineError(
                f"{path.name}, object {i}: missing key(s) {', '.join(map(repr, missing))} "
                f"(it has: {', '.join(map(repr, item)) or 'none'})"
            )
    return "json", pd.DataFrame(items, dtype=object), 1


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "an empty list" if not value else "a list"
    return {dict: "an object", str: "text", type(None): "null"}.get(type(value), "a number")


def pairs_from_sheet(
    frame: pd.DataFrame,
    cfg: IngestConfig,
    file: str,
    sheet: str,
    keep: list[str] | tuple[str, ...] = (),
    first_row: int = 2,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """One sentence pair per row: ``text`` and ``text_pair`` from ``cfg.text_pair_columns``.

    A blank side stays "" (prepare drops and counts the row). Numbers or dates in a text
    column follow ``cfg.non_text``. Returns the pairs and per-column counts of converted cells.
    """
    if cfg.template is not None or cfg.unit != "sentence":
        raise PipelineError(
            "ingest.template and ingest.unit: row apply to single-text tasks; a pair task "
            "reads its two ingest.text_pair_columns as they are"
        )
    where = f"{file}" + ("" if sheet in ("csv", "json") else f", sheet {sheet!r}")
    row_word = "object" if sheet == "json" else "row"
    header = {header_text(c): c for c in frame.columns}
    missing = [c for c in [*needed_columns(cfg, cfg.text_pair_columns), *keep] if c not in header]
    if missing:
        found = ", ".join(repr(c) for c in header) or "none"
        raise PipelineError(
            f"{where}: missing column(s) {', '.join(map(repr, missing))} (it has: {found})"
        )
    converted: dict[str, int] = {}
    sides = []
    for column in cfg.text_pair_columns or []:
        texts = []
        for pos, value in enumerate(frame[header[column]].tolist()):
            if is_blank(value):
                texts.append("")
                continue
            place = f"{where}, column {column!r}, {row_word} {pos + first_row}"
            reject = cfg.non_text == "reject"
            texts.append(text_cell(value, place, reject, converted, column))
        sides.append(texts)

    def labels_of(column: str | None) -> list[str | None]:
        if column is None:
            return [None] * len(frame)
        values = frame[header[column]].tolist()
        return [None if is_blank(v) else normalize_text(cell_to_text(v)) or None for v in values]

    folded: dict[str, str] = {}  # label and group names NFKC changed (ingest logs them)
    names = {
        key: [None] * len(frame) if column is None else
        [label_cell(v, folded) for v in frame[header[column]].tolist()]
        for key, column in (("label", cfg.label_column), ("group", cfg.group_column))
    }  # fmt: skip
    log_folded(where, folded)
    out = pd.DataFrame(
        {
            "text": sides[0],
            "text_pair": sides[1],
            "label": names["label"],
            "group": names["group"],
            "source_file": file,
            "source_sheet": sheet,
            "source_row": [pos + first_row for pos in range(len(frame))],
            "source_column": "+".join(cfg.text_pair_columns or []),
        },
        columns=PAIR_COLUMNS,
    )
    for column in keep:
        out[column] = labels_of(column)
    out["source_row"] = out["source_row"].astype("int64")
    return out, converted
