"""Cells of a sheet as text: the normalization ingest applies to every text and label.

Shared by ingest (workbooks) and files.py (CSV, JSON, sentence pairs).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Any

from pipeline.errors import PipelineError

HEADER_ROWS = 1  # pandas row 0 is Excel row 2: the header is row 1
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))


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
