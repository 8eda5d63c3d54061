"""Cells of a sheet as text: the normalization ingest applies to every text and label.

Shared by ingest (workbooks) and files.py (CSV, JSON, sentence pairs). The normalization itself
is pipeline/text.py's, the one serving uses too.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from pipeline.errors import PipelineError
from pipeline.text import normalize_label, normalize_text

__all__ = ["HEADER_ROWS", "cell_to_text", "header_text", "is_blank", "label_cell",
           "log_folded", "normalize_text", "text_cell"]  # fmt: skip

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
