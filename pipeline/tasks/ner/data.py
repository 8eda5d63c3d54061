"""NER data: marked sentences from sheets and text files -> text, entity spans and a stratum.

A stored row has ``text`` (the plain sentence), ``entities`` (JSON ``[[start, end, type], ...]``)
and ``label``: the sorted set of the sentence's entity types joined by "+" ("O": none). Prepare
and split use that ``label`` as they use a classifier's: split stratifies on it, so each split
gets its share of sentences with people, places, dates, ...; prepare merges the rarest sets
(fewer than ``MIN_STRATUM`` sentences) into ``RARE`` so that every stratum can be split.

Readers: a sheet (Excel, CSV, JSON) whose ``ingest.text_columns`` hold marked sentences;
a ``.txt`` file, one marked sentence per line; KLUE-NER's character-BIO ``.tsv``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.config import IngestConfig, PrepareConfig
from pipeline.errors import PipelineError
from pipeline.paths import Paths
from pipeline.tables.cells import HEADER_ROWS, is_blank, normalize_text, text_cell
from pipeline.tasks.ner.align import bio_tags
from pipeline.tasks.ner.markup import (
    Span,
    parse_markup,
    read_char_bio,
    render_markup,
    spans_from_json,
    spans_to_json,
    strip_spans,
)

COLUMNS = [
    "text",
    "entities",
    "label",
    "group",
    "source_file",
    "source_sheet",
    "source_row",
    "source_column",
]
NONE = "O"  # the stratum of sentences without entities
RARE = "기타"  # the stratum of merged rare type sets
MIN_STRATUM = 5


def stratum(spans: Sequence[Span]) -> str:
    return "+".join(sorted({t for _, _, t in spans})) or NONE


def row(marked: str, types: list[str] | None, where: str) -> tuple[str, str, str]:
    """(text, entities JSON, stratum) of one marked sentence, NFC and whitespace-collapsed."""
    text, spans = parse_markup(normalize_text(marked), types, where)
    text, spans = collapse_spaces(text, strip_spans(text, spans))
    return text, spans_to_json(spans), stratum(spans)


def collapse_spaces(text: str, spans: list[Span]) -> tuple[str, list[Span]]:
    """Space runs made by markup (``a < 부산:LC>``) -> one space, ends stripped; spans follow.

    ``spans`` start and end on non-spaces (``strip_spans``)."""
    out: list[str] = []
    new_at: list[int] = []  # new_at[i]: the position of text[i] in the collapsed text
    for ch in text:
        new_at.append(len(out))
        if ch != " " or (out and out[-1] != " "):
            out.append(ch)
    collapsed = "".join(out).rstrip(" ")
    return collapsed, [(new_at[s], new_at[e - 1] + 1, t) for s, e, t in spans]


def _frame(rows: list[tuple[str, str, str, int, str]], file: str, sheet: str) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "text": [r[0] for r in rows],
            "entities": [r[1] for r in rows],
            "label": [r[2] for r in rows],
            "group": None,
            "source_file": file,
            "source_sheet": sheet,
            "source_row": [r[3] for r in rows],
            "source_column": [r[4] for r in rows],
        },
        columns=COLUMNS,
    )
    out["source_row"] = out["source_row"].astype("int64")
    return out


def sentences_from_sheet(
    frame: pd.DataFrame,
    cfg: IngestConfig,
    file: str,
    sheet: str,
    keep: list[str] | tuple[str, ...] = (),
    first_row: int = 1 + HEADER_ROWS,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """One example per non-blank marked cell of ``cfg.text_columns``; errors name the cell."""
    where = file + ("" if sheet in ("csv", "json") else f", sheet {sheet!r}")
    header = {normalize_text(str(c)): c for c in frame.columns}
    missing = [c for c in [*cfg.text_columns, *keep] if c not in header]
    if missing:
        raise PipelineError(
            f"{where}: missing column(s) {', '.join(map(repr, missing))} "
            f"(it has: {', '.join(map(repr, header)) or 'none'})"
        )
    converted: dict[str, int] = {}
    rows = []
    for column in cfg.text_columns:
        for pos, value in enumerate(frame[header[column]].tolist()):
            if is_blank(value):
                continue
            place = f"{where}, column {column!r}, row {pos + first_row}"
            marked = text_cell(value, place, cfg.non_text == "reject", converted, column)
            rows.append((*row(marked, cfg.entity_types, place), pos + first_row, column))
    rows.sort(key=lambda r: r[3])
    return _frame(rows, file, sheet), converted


def read_file(path: Path, cfg: IngestConfig) -> pd.DataFrame | None:
    """A ``.txt`` (marked sentences, one per line) or KLUE ``.tsv`` file; None for others."""
    suffix = path.suffix.lower()
    if suffix == ".txt":
        try:
            # "\n" only (str.splitlines also breaks at U+2028, U+0085, ...: line numbers would
            # not be an editor's); "\r" is whitespace to normalize_text.
            lines = path.read_text(encoding="utf-8-sig").split("\n")
        except UnicodeDecodeError as exc:
            raise PipelineError(f"{path}: not UTF-8 text ({exc})") from exc
        rows = [
            (*row(line, cfg.entity_types, f"{path.name}, line {n}"), n, "line")
            for n, line in enumerate(lines, 1)
            if line.strip()
        ]
        if not rows:
            raise PipelineError(f"{path}: no sentences (the file is empty or only blank lines)")
        return _frame(rows, path.name, "txt")
    if suffix == ".tsv":
        rows = []
        for n, text, spans in read_char_bio(path, cfg.entity_types):
            where = f"{path.name}, line {n}"
            rows.append((*row(render_markup(text, spans), cfg.entity_types, where), n, "char"))
        if not rows:
            raise PipelineError(
                f"{path}: no sentences (empty, or only '## ' comments and blank lines; "
                "expected char<TAB>tag lines)"
            )
        return _frame(rows, path.name, "tsv")
    return None


def entity_types(df: pd.DataFrame) -> list[str]:
    return sorted({t for value in df["entities"] for _, _, t in spans_from_json(value)})


def read_type_table(path: Path, cfg: PrepareConfig) -> list[str]:
    """The entity types of a label table (column ``prepare.label_name_column``)."""
    if not path.is_file():
        raise PipelineError(f"{path}: label table not found (prepare.label_table)")
    try:
        if path.suffix.lower() == ".csv":
            table = pd.read_csv(path, dtype=object, encoding="utf-8-sig")
        else:
            sheet = cfg.label_table_sheet if cfg.label_table_sheet is not None else 0
            table = pd.read_excel(path, sheet_name=sheet, engine="calamine", dtype=object)
    except (ValueError, OSError) as exc:
        raise PipelineError(f"{path}: cannot read the label table ({exc})") from exc
    header = {normalize_text(str(c)): c for c in table.columns}
    if cfg.label_name_column not in header:
        raise PipelineError(
            f"{path.name}: missing column {cfg.label_name_column!r} (has: {list(header)})"
        )
    names = [
        normalize_text(str(v)) for v in table[header[cfg.label_name_column]] if not is_blank(v)
    ]
    if not names:
        raise PipelineError(f"{path.name}: the label table lists no entity types")
    return sorted(set(names))


def prepare_frame(
    kept: pd.DataFrame, cfg: PrepareConfig, paths: Paths
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Rare strata merged; the BIO tags over the table's (or the data's) entity types."""
    found = entity_types(kept)
    if cfg.label_table is None:
        types, source = found, "derived from the data"
    else:
        table = paths.resolve(cfg.label_table)
        types, source = read_type_table(table, cfg), str(table)
        unknown = sorted(set(found) - set(types))
        if unknown:
            first = next(
                r
                for r in kept.itertuples()
                if {t for _, _, t in spans_from_json(r.entities)} & set(unknown)
            )
            raise PipelineError(
                f"entity type(s) {', '.join(unknown)} in the data are not in {table.name} "
                f"(first: {first.source_file}, row {first.source_row})"
            )
    if not types:
        raise PipelineError("no entities in the data: nothing to learn (check the markup)")
    counts = kept["label"].value_counts()
    rare = set(counts[counts < MIN_STRATUM].index)
    label = kept["label"].where(~kept["label"].isin(rare), RARE)
    if (label == RARE).sum() and (label == RARE).sum() < MIN_STRATUM:
        label = label.replace(RARE, counts.index[0])  # too few even together: the largest set
    tags = bio_tags(types)
    extra = {
        "tags": {str(i): t for i, t in enumerate(tags)},
        "entity_types": types,
        "entity_type_source": source,
    }
    return kept.assign(label=label), extra
