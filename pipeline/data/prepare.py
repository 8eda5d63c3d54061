"""Prepare: clean the sentences and give every label its integer id.

    python -m pipeline.data.prepare --config configs/default.yaml

Reads data/interim/sentences.parquet (ingest) and writes data/interim/dataset.parquet (the same
columns plus ``label_id``), data/interim/labels.json (id -> name in id order, and each label's
major group) and data/interim/prepare_report.json (rows in, dropped per reason, conflicts,
rows out, per-class counts).

Steps, in order: drop rows with empty text, then rows with an empty label; count sentences
that occur with more than one label; de-duplicate on the text, keeping the first occurrence;
join the label table (``prepare.label_table``, an Excel sheet of name -> id). A label in the
data that the table lacks stops with an error listing all of them; so do duplicate names or
ids in the table and ids that are not 0..n-1. With ``label_table: null`` the table is derived
from the data: the label names sorted by major group (each label's most common group), then by
name, ids 0..n-1 (by name alone when the data has no groups); the log and the report say so.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
from python_calamine import CalamineError

from pipeline.cli import add_config_args, run_cli
from pipeline.config import Config, PrepareConfig
from pipeline.errors import PipelineError
from pipeline.io import provenance, write_json, write_parquet
from pipeline.paths import Paths
from pipeline.tables.cells import header_text, label_cell, log_folded
from pipeline.tables.labels import majority_groups
from pipeline.tasks import check_split_task, task_for
from pipeline.tasks.base import LabelNames

logger = logging.getLogger("pipeline.data.prepare")  # also when run as __main__

MAX_EXAMPLES = 10  # conflicting sentences quoted in the report


@dataclass(frozen=True)
class PrepareResult:
    path: Path
    rows_in: int
    rows_out: int
    labels: int
    report: dict[str, Any]


# --- pure transforms ---------------------------------------------------------------------------


def _blank(series: pd.Series) -> pd.Series:
    return series.isna() | (series.astype("string").str.strip() == "")


def drop_empty_and_duplicates(
    df: pd.DataFrame,
    columns: tuple[str, ...] = ("text",),
    blank_label: Callable[[pd.Series], pd.Series] = _blank,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Drop empty text, then empty labels, then repeated texts (first kept). Input untouched.

    ``columns`` are the task's text columns (a pair: text, text_pair): a row with any of them
    empty is dropped, and rows repeat when all of them are equal. Returns the kept rows and a
    summary: per-reason drop counts and the texts found with more than one label (counted
    before de-duplication, since that is where they disagree). ``blank_label``: the task's.
    """
    empty_text = pd.concat([_blank(df[c]) for c in columns], axis=1).any(axis=1)
    empty_label = ~empty_text & blank_label(df["label"])
    kept = df[~(empty_text | empty_label)]
    keys = pd.Series(list(zip(*(kept[c] for c in columns), strict=True)), index=kept.index)
    keys = keys if len(columns) > 1 else kept["text"]
    labels_per_text = kept.groupby(keys, sort=False)["label"].unique()
    conflicts = labels_per_text[labels_per_text.map(len) > 1]
    duplicate = kept.duplicated(subset=list(columns), keep="first")
    summary = {
        "dropped": {
            "empty_text": int(empty_text.sum()),
            "empty_label": int(empty_label.sum()),
            "duplicate_text": int(duplicate.sum()),
        },
        "conflicting_texts": len(conflicts),
        "conflict_examples": [
            {
                "text": text if isinstance(text, str) else list(text),
                "labels": [str(x) for x in labels],
            }
            for text, labels in conflicts.head(MAX_EXAMPLES).items()
        ],
    }
    return kept[~duplicate].reset_index(drop=True), summary


def derive_label_table(
    labels: pd.Series, label2group: dict[str, str] | None = None
) -> dict[str, int]:
    """Ids 0..n-1 for the label names, sorted by major group then name (labels without a
    group last); by name alone when ``label2group`` is empty."""
    groups = label2group or {}
    names = sorted(labels.dropna().unique(), key=lambda n: (n not in groups, groups.get(n, ""), n))
    return {name: i for i, name in enumerate(names)}


def check_label_table(table: pd.DataFrame, where: str) -> dict[str, int]:
    """``table`` has columns name, id, row (Excel row). Returns name -> id, or raises."""
    problems = []
    for column in ("name", "id"):
        repeated = table[table[column].duplicated(keep=False)]
        for value, rows in repeated.groupby(column, sort=True)["row"]:
            problems.append(f"duplicate {column} {value!r} on rows {', '.join(map(str, rows))}")
    if problems:
        raise PipelineError(f"{where}: " + "; ".join(problems))
    ids = sorted(table["id"])
    if ids != list(range(len(ids))):
        gaps = sorted(set(range(len(ids))) - set(ids))
        raise PipelineError(
            f"{where}: ids must be 0..{len(ids) - 1} (one per label, no gaps); "
            f"missing {gaps[:10]}, out of range {[i for i in ids if i >= len(ids)][:10]}"
        )
    return dict(zip(table["name"], table["id"], strict=True))


def join_labels(df: pd.DataFrame, name2id: dict[str, int], where: str) -> pd.DataFrame:
    """Add ``label_id``; every label must be in the table (all missing ones are listed)."""
    unknown = df.loc[~df["label"].isin(name2id.keys()), "label"].value_counts()
    if len(unknown):
        listed = ", ".join(
            f"{name!r} ({n} row{'s' if n != 1 else ''})" for name, n in sorted(unknown.items())
        )
        first = df.loc[~df["label"].isin(name2id.keys())].iloc[0]
        at = (
            f" (first: {first['source_file']}, row {first['source_row']})"
            if {"source_file", "source_row"} <= set(df.columns)
            else ""
        )
        raise PipelineError(f"{len(unknown)} label(s) in the data are not in {where}: {listed}{at}")
    return df.assign(label_id=df["label"].map(name2id).astype("int64"))


def label_groups(df: pd.DataFrame, id2label: dict[int, str]) -> dict[str, str]:
    """Each label's most common group in the data (ties: the alphabetically first); may be {}."""
    best = majority_groups(df)
    return {name: best[name] for name in id2label.values() if name in best}


# --- I/O at the edges --------------------------------------------------------------------------


def _norm(value: Any) -> str:
    """A header cell as text (2024 -> "2024"), normalized as ingest reads headers."""
    return header_text(value)


def _as_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def read_label_table(path: Path, cfg: PrepareConfig) -> pd.DataFrame:
    """The Excel label table as columns name, id, row; bad cells are errors naming the row."""
    if not path.is_file():
        raise PipelineError(f"{path}: label table not found (prepare.label_table)")
    sheet = cfg.label_table_sheet if cfg.label_table_sheet is not None else 0
    try:
        raw = pd.read_excel(path, sheet_name=sheet, engine="calamine", dtype=object)
    except (CalamineError, ValueError, OSError) as exc:
        raise PipelineError(f"{path}: cannot read the label table ({exc})") from exc
    named = cfg.label_table_sheet
    where = f"{path.name}, " + (f"sheet {named!r}" if named is not None else "first sheet")
    header = {_norm(c): c for c in raw.columns}
    for column in (cfg.label_name_column, cfg.label_id_column):
        if column not in header:
            raise PipelineError(f"{where}: missing column {column!r} (has: {list(header)})")
    names, ids, rows = [], [], []
    folded: dict[str, str] = {}  # names NFKC changed, as ingest folds the data's labels
    for pos, (name, ident) in enumerate(
        zip(raw[header[cfg.label_name_column]], raw[header[cfg.label_id_column]], strict=True)
    ):
        row = pos + 2  # Excel row; the header is row 1
        if pd.isna(name) and pd.isna(ident):
            continue  # a blank row
        if pd.isna(name) or not (label := label_cell(name, folded)):
            raise PipelineError(f"{where}, row {row}: empty {cfg.label_name_column!r}")
        if _as_id(ident) is None:
            raise PipelineError(
                f"{where}, row {row}: {cfg.label_id_column!r} must be an integer, got {ident!r}"
            )
        names.append(label)
        ids.append(_as_id(ident))
        rows.append(row)
    if not names:
        raise PipelineError(f"{where}: the label table has no rows")
    log_folded(where, folded)
    return pd.DataFrame({"name": names, "id": ids, "row": rows})


def run(cfg: Config) -> PrepareResult:
    started = time.time()
    paths = Paths.from_config(cfg)
    if not paths.sentences.is_file():
        raise PipelineError(
            f"{paths.sentences} not found: run `python -m pipeline.data.ingest` first"
        )
    check_split_task(cfg, paths, "ingest")
    sentences = pd.read_parquet(paths.sentences)
    logger.info("read %d sentences from %s", len(sentences), paths.sentences)

    task = task_for(cfg)
    blank = partial(task.blank_labels, cfg=cfg.prepare)  # the task's empty label cells
    kept, summary = drop_empty_and_duplicates(sentences, task.columns, blank)
    logger.info(
        "dropped %s; %d conflicting texts", summary["dropped"], summary["conflicting_texts"]
    )
    # NER: label is the sentence's set of entity types (split's strata), the tags go in extra
    prepared = task.prepare(kept, cfg.prepare, paths)
    kept, extra = prepared.frame, prepared.extra_labels
    inputs = {"sentences": paths.sentences, **prepared.inputs}
    if prepared.label_table is None:
        groups = majority_groups(kept)
        name2id = derive_label_table(kept["label"], groups)
        order = "major group, then name" if groups else "name"
        table_source = f"derived from the data (sorted by {order})"
        logger.info(prepared.derived_log, len(name2id), table_source, paths.labels)
    else:
        table_path = prepared.label_table
        table = read_label_table(table_path, cfg.prepare)
        name2id, table_source = check_label_table(table, table_path.name), str(table_path)
        inputs["label_table"] = table_path
    dataset = join_labels(kept, name2id, table_source)
    id2label = {i: name for name, i in sorted(name2id.items(), key=lambda kv: kv[1])}
    counts = dataset["label"].value_counts()
    default = LabelNames({n: int(counts.get(n, 0)) for n in id2label.values()}, table_source)
    names = prepared.names or default  # multi-label: the names, not the sets numbered here
    unused = [name for name, n in names.counts.items() if not n]
    if unused:
        logger.warning("%d label(s) in the table have no sentences: %s", len(unused), unused)

    labels = {
        "id2label": {str(i): name for i, name in id2label.items()},
        "label2group": label_groups(dataset, id2label),
        **extra,
    }
    report = {
        "rows_in": len(sentences),
        **summary,
        "rows_out": len(dataset),
        "label_table": names.source,
        "labels": len(names.counts),
        "labels_without_rows": unused,
        "class_counts": {name: int(counts.get(name, 0)) for name in id2label.values()},
    }
    # Everything is checked: only now write, dataset last (make's target).
    write_json(paths.labels, labels)
    write_json(paths.prepare_report, report)
    write_json(paths.interim / "prepare.run.json", {"stage": "prepare", **provenance(
        cfg.to_dict(), inputs, started)})  # fmt: skip
    write_parquet(paths.dataset, dataset)
    logger.info("wrote %s: %d rows, %d labels", paths.dataset, len(dataset), report["labels"])
    return PrepareResult(paths.dataset, len(sentences), len(dataset), report["labels"], report)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_args(parser)

    def work(args: argparse.Namespace, cfg: Config) -> None:
        r = run(cfg)
        d = r.report["dropped"]
        print(  # noqa: T201
            f"prepare: {r.rows_in} rows in, {r.rows_out} out ({d['empty_text']} empty text, "
            f"{d['empty_label']} empty label, {d['duplicate_text']} duplicates, "
            f"{r.report['conflicting_texts']} conflicting), {r.labels} labels "
            f"({r.report['label_table']}) -> {r.path}"
        )

    return run_cli(parser, work, argv)


if __name__ == "__main__":
    raise SystemExit(main())
