"""What evaluate reads: the test split, or any workbook/CSV with a text and a label column.

Every bad input is one message naming the file, column or row; labels the model does not
know are checked against its label set.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import PipelineError
from pipeline.paths import Paths
from pipeline.tables.cells import label_cell
from pipeline.tables.sheets import read_table
from pipeline.text import normalize_text  # as ingest stores sentences: a raw sheet scores the same

logger = logging.getLogger("pipeline.evaluate")


def pick_text_column(df: pd.DataFrame, label_column: str, where: str) -> str:
    """The one text-like column besides the label; several (or none) is an error."""
    candidates = [
        c
        for c in df.columns
        if c != label_column
        and (s := df[c].dropna()).size
        and s.map(lambda v: isinstance(v, str)).mean() > 0.9
    ]
    if len(candidates) != 1:
        found = ", ".join(map(str, candidates)) or "none"
        raise PipelineError(
            f"{where}: cannot tell which column holds the sentences (text-like columns: {found}); "
            "name it with --text-column"
        )
    return str(candidates[0])


def check_labels(
    labels: pd.Series, label2id: dict[str, int], policy: str, where: str
) -> np.ndarray:
    """Mask of rows whose label the model knows; unknown labels stop unless ``policy`` is skip."""
    known = labels.isin(list(label2id)).to_numpy()
    if not known.all():
        unknown = sorted(set(labels[~known]))
        shown = ", ".join(map(repr, unknown[:10])) + (" ..." if len(unknown) > 10 else "")
        if policy == "error":
            raise PipelineError(
                f"{where}: {int((~known).sum())} sentence(s) have label(s) the model does not "
                f"know: {shown} (set evaluate.unknown_labels=skip to drop them)"
            )
        logger.warning("skipping %d sentence(s) with unknown labels %s", (~known).sum(), shown)
    return known


def read_split(paths: Paths, split: str) -> tuple[pd.DataFrame, Path]:
    path = paths.split_file(split)
    if not path.is_file():
        raise PipelineError(f"{path} not found (run `make data` first)")
    return pd.read_parquet(path), path


def read_input(
    path: Path,
    text_column: str | None,
    label_column: str,
    group_column: str | None = None,
    pair_column: str | None = None,
    encoding: str = "auto",
) -> pd.DataFrame:
    """A workbook's first visible sheet or a CSV (``encoding``: ingest.encoding) as (text,
    label) rows, read as ingest reads a sheet (pipeline/tables/sheets.py: formula cells without
    a value and repeated headers refused, merged label cells filled down); blank sentences are
    dropped.

    When the file has ``group_column`` (ingest.group_column), it comes along as ``group``;
    ``pair_column`` (a pair task's second sentence) comes along as ``text_pair``.
    """
    if not path.is_file():
        raise PipelineError(f"--input {path}: file not found")
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".xlsm", ".xls", ".csv"):
        raise PipelineError(f"--input {path}: expected .xlsx or .csv, got {suffix!r}")
    read = [c for c in (text_column, label_column, pair_column, group_column) if c]
    fill = [c for c in (label_column, group_column) if c]
    try:
        raw, where = read_table(path, read, fill, encoding=encoding)
    except PipelineError as exc:
        raise PipelineError(f"--input {exc}") from None
    if label_column not in raw.columns:
        cols = ", ".join(map(str, raw.columns)) or "none"
        raise PipelineError(f"{where}: no label column {label_column!r} (columns: {cols})")
    text_column = text_column or pick_text_column(raw, label_column, where)
    if text_column not in raw.columns:
        cols = ", ".join(map(str, raw.columns))
        raise PipelineError(f"{where}: no text column {text_column!r} (columns: {cols})")
    text = raw[text_column].map(lambda v: normalize_text(str(v)) if pd.notna(v) else "")
    frame = pd.DataFrame({"text": text, "label": raw[label_column], "source_row": raw.index + 2})
    if pair_column is not None:
        if pair_column not in raw.columns:
            cols = ", ".join(map(str, raw.columns))
            raise PipelineError(f"{where}: no pair column {pair_column!r} (columns: {cols})")
        frame["text_pair"] = raw[pair_column].map(
            lambda v: normalize_text(str(v)) if pd.notna(v) else ""
        )
        frame.loc[frame["text_pair"] == "", "text"] = ""  # a pair with an empty side: dropped
    if group_column and group_column in raw.columns and group_column != text_column:
        frame["group"] = [label_cell(v) for v in raw[group_column]]
    frame = frame[frame["text"] != ""]
    missing = frame["label"].isna()
    if missing.any():
        row = int(frame.loc[missing, "source_row"].iloc[0])
        raise PipelineError(f"{where}: row {row} has a sentence but no {label_column!r}")
    # label names as ingest reads them (NFKC: a full-width ＰＯＳ is the model's POS)
    labels = [label_cell(v) or "" for v in frame["label"]]
    return frame.assign(label=labels).reset_index(drop=True)
