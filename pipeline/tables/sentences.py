"""One example per text cell (or per row) of a sheet: the single-text tasks' reader of rows.

Every configured text column of every row becomes its own sentence with that row's label and
group (AI-Hub: 사람문장1..3 with 감정_소분류 and 감정_대분류) and where it came from (file, sheet,
Excel row, column). ``ingest.unit: row`` makes one example per row instead (its non-blank text
cells joined by spaces: a whole dialogue), and ``ingest.template`` builds the text from
columns, e.g. ``"{상황키워드} {성별} | {text}"``. Numbers or dates in a text column follow
``ingest.non_text``. The columns ``keep`` names (split.group_column) are carried along.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from pipeline.config import IngestConfig
from pipeline.errors import PipelineError
from pipeline.tables.cells import (
    HEADER_ROWS,
    cell_to_text,
    header_text,
    is_blank,
    label_cell,
    log_folded,
    normalize_text,
    text_cell,
)

COLUMNS = ["text", "label", "group", "source_file", "source_sheet", "source_row", "source_column"]

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
    label_columns = list(cfg.label_columns or [])  # multi-label 0/1 columns: not kept columns
    label = [] if label_columns else [cfg.label_column]
    own = [*cfg.text_columns, *label, *([cfg.group_column] if cfg.group_column else [])]
    needs = [
        ("", own),
        (" named in ingest.label_columns", label_columns),
        (" named in ingest.template", template_columns(cfg)),
        (" named in split.group_column", [c for c in keep if c not in label_columns]),
    ]
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
