"""Split: stratified train/validation/test files with a fixed seed.

    python -m pipeline.data.split --config configs/default.yaml --set split.seed=1

Reads data/interim/dataset.parquet and labels.json (prepare) and writes
data/processed/{train,validation,test}.parquet, data/processed/manifest.json (rows, sha256 and
per-class counts of each split, the labels file's hash, and the config sections that made the
data) and data/processed/run.json (provenance).

Every class is split on its own: its rows are shuffled with ``split.seed`` and cut by
``split.ratios`` (largest-remainder rounding), so each class keeps its share in every split and
appears in each of them. A class needs ``ceil(0.5 / smallest ratio)`` rows (3 for 6:2:2) and at
least one per split; a smaller one stops with an error naming it and its count, unless
``split.drop_small_classes: true`` drops it (listed in the manifest). Texts are unique after
prepare, so no text is in two splits (checked).

Rows with several labels (the task's ``split_labels``: multi-label classification's label sets)
are split by iterative stratification instead (pipeline/stratify.py, Sechidis et al. 2011): the
rarest label's rows first, each to the split that lacks most of it, so every label with at
least 3 rows lands in every split; the size check counts each label's rows.

``split.group_column`` keeps groups whole instead: every sentence of a dialogue (the column's
value, e.g. 번호, or "row": the source file, sheet and row) lands in one split, the groups
assigned greedily so that each class keeps its share as far as the groups allow; a class then
needs that many groups rather than rows. The manifest's ``rule`` says which rule made the files.

Rows keep the dataset's order within a split and the files carry no timestamps: the same
inputs and seed give byte-identical files.

Long because: the two split rules (per sentence, per group) and the manifest that records them
read best together.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.cli import add_config_args, run_cli
from pipeline.config import Config
from pipeline.errors import PipelineError
from pipeline.io import provenance, read_json, sha256_file, write_json, write_parquet
from pipeline.paths import SPLITS, Paths
from pipeline.stratify import iterative_split
from pipeline.tasks import check_split_task, task_for

logger = logging.getLogger("pipeline.data.split")  # also when run as __main__


@dataclass(frozen=True)
class SplitResult:
    manifest_path: Path
    manifest: dict[str, Any]


# --- pure transforms ---------------------------------------------------------------------------


def check_ratios(ratios: list[float]) -> None:
    if len(ratios) != len(SPLITS) or any(r <= 0 for r in ratios) or abs(sum(ratios) - 1) > 1e-6:
        raise PipelineError(
            f"split.ratios must be {len(SPLITS)} positive numbers summing to 1 "
            f"({'/'.join(SPLITS)}), got {ratios}"
        )


def min_class_size(ratios: list[float]) -> int:
    """Smallest class that gives every split at least one row by its share (n * r >= 0.5)."""
    return max(len(ratios), math.ceil(0.5 / min(ratios) - 1e-9))


def allocate(n: int, ratios: list[float], turn: int = 0) -> list[int]:
    """Cut ``n`` rows by ``ratios``: floors, the remainder to the largest fractions, >= 1 each.

    Equal fractions (validation and test at 0.2 each) take turns by ``turn``'s parity, so
    neither split is always the one rounded up.
    """
    exact = [n * r for r in ratios]
    counts = [math.floor(x) for x in exact]
    order = 1 if turn % 2 == 0 else -1
    by_fraction = sorted(range(len(ratios)), key=lambda i: (counts[i] - exact[i], order * i))
    for i in by_fraction[: n - sum(counts)]:
        counts[i] += 1
    for i in range(len(counts)):  # a tiny share rounded to 0: borrow from the largest split
        if counts[i] == 0:
            counts[counts.index(max(counts))] -= 1
            counts[i] = 1
    return counts


def small_classes(
    df: pd.DataFrame,
    ratios: list[float],
    groups: pd.Series | None = None,
    sets: list[list[str]] | None = None,
    expected: list[str] | tuple[str, ...] = (),
) -> dict[str, int]:
    """Classes with fewer rows (or, with ``groups``, fewer groups) than every split needs;
    ``sets``: each row's labels (a row counts once for each of them), else its ``label``;
    ``expected``: classes that count as small with 0 rows when no row has them."""
    if groups is None:
        counted = Counter(x for s in sets for x in s) if sets else None
        counts = pd.Series(counted) if counted else df["label"].value_counts()
        absent = [c for c in expected if c not in counts.index]
        counts = pd.concat([counts, pd.Series(0, index=absent)]) if absent else counts
    else:
        counts = pd.DataFrame({"label": df["label"], "g": groups}).groupby("label")["g"].nunique()
    return {name: int(n) for name, n in sorted(counts.items()) if n < min_class_size(ratios)}


def stratified_split(df: pd.DataFrame, ratios: list[float], seed: int) -> dict[str, pd.DataFrame]:
    """Per class: shuffle with ``seed``, cut by ``ratios``. Rows keep ``df``'s order per split."""
    rng = np.random.default_rng(seed)
    assigned = np.empty(len(df), dtype=np.int64)
    for turn, (_, positions) in enumerate(sorted(df.groupby("label_id").indices.items())):
        counts = allocate(len(positions), ratios, turn)
        shuffled = rng.permutation(positions)
        for split_index, part in enumerate(np.split(shuffled, np.cumsum(counts)[:-1])):
            assigned[part] = split_index
    return {name: df[assigned == i].reset_index(drop=True) for i, name in enumerate(SPLITS)}


def group_keys(df: pd.DataFrame, column: str) -> pd.Series:
    """The group of each row: ``column``'s value, or for "row" the source file, sheet and row."""
    if column == "row":
        parts = [df["source_file"], df["source_sheet"], df["source_row"]]
        return parts[0].astype(str) + "\x1f" + parts[1].astype(str) + "\x1f" + parts[2].astype(str)
    return df[column].astype(str)


def grouped_split(
    df: pd.DataFrame, groups: pd.Series, ratios: list[float], seed: int
) -> dict[str, pd.DataFrame]:
    """Whole groups to splits, stratified by label as far as the groups allow.

    Greedy: groups in a seeded random order, larger ones first; each goes to the split that
    still lacks most of its labels (so a class with a group per split is in every split), then
    to the one whose labels are furthest below their share (rows missing once half the group
    is in, over the target rows, summed over the group's labels), then to the split furthest
    below its share overall, then to a seeded coin. The same data, ratios and seed give the
    same assignment. Rows keep ``df``'s order per split.
    """
    rng = np.random.default_rng(seed)
    codes, uniques = pd.factorize(groups, sort=True)
    labels = df["label_id"].to_numpy()
    order = rng.permutation(len(uniques))
    sizes = np.bincount(codes, minlength=len(uniques))
    order = order[np.argsort(-sizes[order], kind="stable")]
    by_code = np.argsort(codes, kind="stable")
    members = np.split(by_code, np.cumsum(sizes)[:-1])  # rows of each group, in df order
    label_totals = Counter(labels.tolist())
    ratio = np.asarray(ratios)
    target = {lab: ratio * n for lab, n in label_totals.items()}
    have = {lab: np.zeros(len(ratios)) for lab in label_totals}
    total_target, total_have = ratio * len(df), np.zeros(len(ratios))
    assigned = np.empty(len(df), dtype=np.int64)
    for g in order:
        rows = members[g]
        counts = Counter(labels[rows].tolist())
        absent = sum((have[lab] == 0) * 1 for lab in counts)
        need = sum(n * (target[lab] - have[lab] - n / 2) / target[lab] for lab, n in counts.items())
        overall = (total_target - total_have) / total_target
        coin = rng.random(len(ratios))
        best = max(range(len(ratios)), key=lambda s: (absent[s], need[s], overall[s], coin[s]))
        assigned[rows] = best
        for lab, n in counts.items():
            have[lab][best] += n
        total_have[best] += len(rows)
    return {name: df[assigned == i].reset_index(drop=True) for i, name in enumerate(SPLITS)}


def split_rule(group_column: str | None, label_sets: bool = False) -> str:
    """The rule in words, for the manifest and the evaluate report."""
    if group_column is None and label_sets:
        return (
            "stratified iteratively on label sets (Sechidis et al. 2011), sentence by sentence "
            "(split.group_column: null)"
        )
    if group_column is None:
        return "stratified by label, sentence by sentence (split.group_column: null)"
    unit = "source row" if group_column == "row" else f"value of column {group_column!r}"
    return (
        f"stratified by label, whole groups (split.group_column: {group_column}, "
        f"one group per {unit})"
    )


# --- I/O at the edges --------------------------------------------------------------------------


def check_groups(df: pd.DataFrame, column: str, where: Path) -> pd.Series:
    """The group key of each row; a missing column or a row without a value is an error."""
    needed = ["source_file", "source_sheet", "source_row"] if column == "row" else [column]
    absent = [c for c in needed if c not in df.columns]
    if absent:
        raise PipelineError(
            f"split.group_column {column!r}: {where.name} has no column {absent[0]!r} "
            f"(columns: {', '.join(map(str, df.columns))}); ingest keeps the column "
            "split.group_column names: re-run ingest and prepare with this config"
        )
    if column != "row":
        blank = df[column].isna() | (df[column].astype(str).str.strip() == "")
        if blank.any():
            first = df[blank].iloc[0]
            raise PipelineError(
                f"split.group_column {column!r}: {int(blank.sum())} row(s) have no value, e.g. "
                f"{first.get('source_file')}, sheet {first.get('source_sheet')!r}, row "
                f"{first.get('source_row')}"
            )
    return group_keys(df, column)


def run(cfg: Config) -> SplitResult:
    started = time.time()
    paths = Paths.from_config(cfg)
    split_cfg = cfg.split
    check_ratios(split_cfg.ratios)
    for path in (paths.dataset, paths.labels):
        if not path.is_file():
            raise PipelineError(f"{path} not found: run `python -m pipeline.data.prepare` first")
    check_split_task(cfg, paths, "prepare")  # prepared for another task: not split as this one
    df = pd.read_parquet(paths.dataset)
    prepared = read_json(paths.labels)
    id2label = prepared["id2label"]
    task = task_for(cfg)
    columns = list(task.columns)  # a pair task: (text, text_pair) is the unit
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise PipelineError(
            f"{paths.dataset}: no column(s) {missing} for task {cfg.task!r}; re-run ingest and "
            "prepare with this config"
        )
    repeated = df.loc[df.duplicated(subset=columns), columns]
    if len(repeated):
        raise PipelineError(
            f"{paths.dataset}: {len(repeated)} text(s) occur more than once, e.g. "
            f"{tuple(repeated.iloc[0]) if len(columns) > 1 else repeated.iloc[0, 0]!r}; re-run "
            "prepare, which de-duplicates"
        )

    group_column = split_cfg.group_column
    groups = None if group_column is None else check_groups(df, group_column, paths.dataset)
    sets = task.split_labels(df)  # each row's labels: one, or a multi-label set
    small = small_classes(df, split_cfg.ratios, groups, sets, task.split_classes(prepared))
    rows_in = len(df)
    unit = "example" if groups is None else "group"
    if small and not split_cfg.drop_small_classes:
        listed = ", ".join(
            f"{name!r} ({n} {unit}{'s' if n != 1 else ''})" for name, n in small.items()
        )
        raise PipelineError(
            f"class(es) too small to appear in every split (need at least "
            f"{min_class_size(split_cfg.ratios)}): {listed}; add examples or set "
            "split.drop_small_classes: true"
        )
    if small:
        logger.warning(
            "dropping %d small class(es) and their %s: %s; their ids stay in %s (the label "
            "table numbers the model's outputs), so the model keeps an output for each that it "
            "never sees in training", len(small), f"{unit}s", small, paths.labels.name,
        )  # fmt: skip
        keep = pd.Series([not set(s) & small.keys() for s in sets], index=df.index)
        df = df[keep].reset_index(drop=True)
        sets = task.split_labels(df)
        groups = None if groups is None else groups[keep.to_numpy()].reset_index(drop=True)
    if df.empty:
        raise PipelineError(f"{paths.dataset}: no rows left to split")

    label_sets = any(len(s) != 1 for s in sets)
    rule = split_rule(group_column, label_sets)
    logger.info("split rule: %s", rule)
    if groups is None and label_sets:
        parts = iterative_split(sets, split_cfg.ratios, split_cfg.seed)
        splits = {name: df[parts == i].reset_index(drop=True) for i, name in enumerate(SPLITS)}
    elif groups is None:
        splits = stratified_split(df, split_cfg.ratios, split_cfg.seed)
    else:
        splits = grouped_split(df, groups, split_cfg.ratios, split_cfg.seed)
    seen: set[tuple] = set()
    seen_groups: set[str] = set()
    for frame in splits.values():  # prepare de-duplicated; a broken input must not leak
        texts = set(frame[columns].itertuples(index=False, name=None))
        assert not texts & seen, "a text (pair) landed in two splits"
        seen |= texts
        if group_column is not None:
            keys = set(group_keys(frame, group_column))
            assert not keys & seen_groups, "a group landed in two splits"
            seen_groups |= keys

    entries = {}
    for name, frame in splits.items():
        path = paths.split_file(name)
        write_parquet(path, frame)
        counts = Counter(x for s in task.split_labels(frame) for x in s)
        order = [n for n in id2label.values() if n in counts] + sorted(
            set(counts) - set(id2label.values())
        )  # a multi-label task's label names are not prepare's label sets
        entries[name] = {
            "path": path.relative_to(paths.root).as_posix(),
            "rows": len(frame),
            "sha256": sha256_file(path),
            "class_counts": {n: int(counts[n]) for n in order},
        }
        logger.info("%s: %d rows, %d classes -> %s", name, len(frame), len(counts), path)
    manifest = {
        "rule": rule,
        "group_column": group_column,
        "splits": entries,
        "labels": {
            "path": paths.labels.relative_to(paths.root).as_posix(),
            "sha256": sha256_file(paths.labels),
        },
        "dataset": {
            "path": paths.dataset.relative_to(paths.root).as_posix(),
            "sha256": sha256_file(paths.dataset),
            "rows": rows_in,
        },
        "dropped_classes": small,
        "config": {"ingest": cfg.to_dict()["ingest"], "prepare": cfg.to_dict()["prepare"],
                   "split": cfg.to_dict()["split"]},
    }  # fmt: skip
    record = provenance(cfg.to_dict(), {"dataset": paths.dataset, "labels": paths.labels}, started)
    write_json(paths.processed / "run.json", {"stage": "split", **record})
    write_json(paths.manifest, manifest)  # last: its presence says the split is complete
    return SplitResult(paths.manifest, manifest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_args(parser)

    def work(args: argparse.Namespace, cfg: Config) -> None:
        result = run(cfg)
        sizes = ", ".join(f"{k} {v['rows']}" for k, v in result.manifest["splits"].items())
        print(f"split: {sizes} -> {result.manifest_path}")  # noqa: T201

    return run_cli(parser, work, argv)


if __name__ == "__main__":
    raise SystemExit(main())
