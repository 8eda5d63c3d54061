"""Multi-label data: label cells -> label sets, the label table, counts and co-occurrence.

Two layouts (docs/tasks.md):

- one label column holding several labels, ``prepare.label_separator`` between them
  (``기쁨, 설렘``). A label that itself holds the separator (``당황, 놀람``) is matched whole
  against the label table's names: at each place the longest known name that ends at a
  separator (or the cell's end) wins, so ``기쁨, 당황, 놀람`` reads as 기쁨 and 당황, 놀람;
- one 0/1 column per label (``ingest.label_columns``, named as the labels): ingest stores the
  set in a ``labels`` column (JSON), so no separator is involved.

Prepare stores ``labels`` (a JSON list of names in label-table order) for every row, and as
``label`` the set's key (the names joined by `` + ``): what the prepare stage numbers and
split reports; the label names themselves go to labels.json's ``labels``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.config import IngestConfig, PrepareConfig
from pipeline.errors import PipelineError
from pipeline.paths import Paths
from pipeline.tables.cells import is_blank
from pipeline.tables.sentences import sentences_from_sheet
from pipeline.tables.workbooks import read_book
from pipeline.text import normalize_text

PROBLEM_TYPE = "multi_label_classification"  # transformers: a sigmoid per label, BCE
SET_JOIN = " + "  # the key of a label set (the stored ``label``)
TRUE, FALSE = {"1", "1.0", "true", "yes", "y", "o"}, {"0", "0.0", "false", "no", "n", "x", ""}


class UnknownLabel(ValueError):
    """A piece of a label cell that is no known label name."""


def split_cell(cell: str, separator: str, known: list[str]) -> list[str]:
    """The labels of ``cell`` in its order, each at most once; ``known`` names matched whole
    (longest first), so a name holding the separator stays one label. Raises UnknownLabel."""
    names = sorted(known, key=len, reverse=True)
    out: list[str] = []
    rest = cell.strip()
    while rest:
        if rest.startswith(separator):  # an empty piece (",," or a leading separator)
            rest = rest[len(separator) :].lstrip()
            continue
        for name in names:
            tail = rest[len(name) :].lstrip() if rest.startswith(name) else None
            if tail is not None and (not tail or tail.startswith(separator)):
                break
        else:
            raise UnknownLabel(rest.split(separator, 1)[0].strip())
        if name not in out:
            out.append(name)
        rest = tail[len(separator) :].lstrip() if tail else ""
    return out


def pieces(cells: pd.Series, separator: str) -> list[str]:
    """Every separator-delimited piece of the cells (the label names without a table)."""
    found = {p.strip() for cell in cells for p in str(cell).split(separator)}
    return sorted(found - {""})


def read_file(path: Path, cfg: IngestConfig, keep: list[str]) -> pd.DataFrame:
    """Ingest: a workbook's sentences with their label cell, or with ``ingest.label_columns``
    their 0/1 columns read into ``labels`` (JSON) and ``label`` (the names joined)."""
    columns = cfg.label_columns
    if not columns:
        return read_book(path, cfg, sentences_from_sheet, keep, cfg.text_columns)
    one = replace(cfg, label_column=columns[0])
    frame = read_book(path, one, sentences_from_sheet, [*keep, *columns[1:]], cfg.text_columns)
    raw = {columns[0]: frame["label"], **{c: frame[c] for c in columns[1:]}}
    sets: list[list[str]] = [[] for _ in range(len(frame))]
    for name, values in raw.items():
        for i, value in enumerate(values.tolist()):
            text = "" if is_blank(value) else normalize_text(str(value)).lower()
            if text in TRUE:
                sets[i].append(name)
            elif text not in FALSE:
                r = frame.iloc[i]
                raise PipelineError(
                    f"{r['source_file']}, sheet {r['source_sheet']!r}, row {r['source_row']}: "
                    f"column {name!r} must be 0 or 1 (ingest.label_columns), got {value!r}"
                )
    out = frame.drop(columns=columns[1:])
    out["label"] = [SET_JOIN.join(s) for s in sets]
    out["labels"] = [json.dumps(s, ensure_ascii=False) for s in sets]
    return out


def read_table(path: Path, cfg: PrepareConfig) -> list[str]:
    """The label table's names in id order (columns prepare.label_name_column and _id_column)."""
    if not path.is_file():
        raise PipelineError(f"{path}: label table not found (prepare.label_table)")
    sheet = cfg.label_table_sheet if cfg.label_table_sheet is not None else 0
    try:
        table = pd.read_excel(path, sheet_name=sheet, engine="calamine", dtype=object)
    except (ValueError, OSError) as exc:
        raise PipelineError(f"{path}: cannot read the label table ({exc})") from exc
    header = {normalize_text(str(c)): c for c in table.columns}
    for column in (cfg.label_name_column, cfg.label_id_column):
        if column not in header:
            raise PipelineError(f"{path.name}: missing column {column!r} (has: {list(header)})")
    rows = [
        (normalize_text(str(n)), i, pos + 2)
        for pos, (n, i) in enumerate(
            zip(table[header[cfg.label_name_column]], table[header[cfg.label_id_column]],
                strict=True)
        )
        if not is_blank(n)
    ]  # fmt: skip
    try:
        ids = [int(i) for _, i, _ in rows]
    except (TypeError, ValueError) as exc:
        raise PipelineError(f"{path.name}: {cfg.label_id_column!r} must be integers") from exc
    names = [n for n, _, _ in rows]
    if sorted(ids) != list(range(len(ids))) or len(set(names)) != len(names):
        raise PipelineError(
            f"{path.name}: every label once, ids 0..{len(ids) - 1} without gaps (got names "
            f"{names}, ids {ids})"
        )
    return [n for _, n in sorted(zip(ids, names, strict=True))]


def prepare_frame(kept: pd.DataFrame, cfg: PrepareConfig, paths: Paths
                  ) -> tuple[pd.DataFrame, dict[str, Any]]:  # fmt: skip
    """Every row's label set (``labels``, JSON, in label order) and its key (``label``);
    labels.json's ``labels`` (id -> name), counts and co-occurrence. An unknown label stops
    with the file, sheet and row."""
    from_columns = "labels" in kept.columns and kept["labels"].notna().all()
    if cfg.label_table is not None:
        names, source = read_table(paths.resolve(cfg.label_table), cfg), cfg.label_table
    elif from_columns:
        names = sorted({n for v in kept["labels"] for n in json.loads(v)})
        source = "derived from the data (ingest.label_columns)"
    else:
        names = pieces(kept["label"], cfg.label_separator)
        source = f"derived from the data (pieces between {cfg.label_separator!r})"
    order = {n: i for i, n in enumerate(names)}
    sets = []
    for row in kept.itertuples(index=False):
        try:
            found = (
                json.loads(row.labels)
                if from_columns
                else split_cell(str(row.label), cfg.label_separator, names)
            )
            missing = [n for n in found if n not in order]
            if missing:
                raise UnknownLabel(missing[0])
        except UnknownLabel as exc:
            raise PipelineError(
                f"{row.source_file}, sheet {row.source_sheet!r}, row {row.source_row}: label "
                f"{exc.args[0]!r} is not in the label table ({source}: {', '.join(names)}); "
                f"labels are separated by {cfg.label_separator!r} (prepare.label_separator)"
            ) from None
        if not found:  # prepare drops label cells of only separators (Task.blank_labels)
            raise PipelineError(
                f"{row.source_file}, sheet {row.source_sheet!r}, row {row.source_row}: label "
                f"cell {row.label!r} holds no label"
            )
        sets.append(sorted(found, key=order.__getitem__))
    matrix = multi_hot(sets, names)
    counts = matrix.sum(axis=0).astype(int)
    together = (matrix.T @ matrix).astype(int)
    stats = {
        "labels": {str(i): n for i, n in enumerate(names)},
        "label_source": str(source),
        "label_counts": {n: int(c) for n, c in zip(names, counts, strict=True)},
        "labels_per_example": {
            str(k): int(v) for k, v in sorted(pd.Series(matrix.sum(axis=1)).value_counts().items())
        },
        "cooccurrence": {
            a: {b: int(together[i, j]) for j, b in enumerate(names)} for i, a in enumerate(names)
        },  # fmt: skip
    }
    frame = kept.assign(
        label=[SET_JOIN.join(s) for s in sets],
        labels=[json.dumps(s, ensure_ascii=False) for s in sets],
    )
    return frame, stats


def multi_hot(sets: list[list[str]], names: list[str]) -> np.ndarray:
    """(n, len(names)) 0/1 int32: row i has a 1 for each label of ``sets[i]``."""
    at = {n: j for j, n in enumerate(names)}
    out = np.zeros((len(sets), len(names)), dtype=np.int32)
    for i, labels in enumerate(sets):
        for name in labels:
            out[i, at[name]] = 1
    return out


def label_sets(df: pd.DataFrame) -> list[list[str]]:
    """The stored rows' label sets (the ``labels`` column)."""
    return [json.loads(v) for v in df["labels"]]


def run_names(labels: dict[str, Any]) -> list[str]:
    """The label names in id order from labels.json (prepare's or the run's)."""
    table = labels.get("labels") or labels["id2label"]
    return [table[str(i)] for i in range(len(table))]
