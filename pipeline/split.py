"""Split: stratified train/validation/test files with a fixed seed.

    python -m pipeline.split --config configs/default.yaml --set split.seed=1

Reads data/interim/dataset.parquet and labels.json (prepare) and writes
data/processed/{train,validation,test}.parquet, data/processed/manifest.json (rows, sha256 and
per-class counts of each split, the labels file's hash, and the config sections that made the
data) and data/processed/run.json (provenance).

Every class is split on its own: its rows are shuffled with ``split.seed`` and cut by
``split.ratios`` (largest-remainder rounding), so each class keeps its share in every split and
appears in each of them. A class needs ``ceil(0.5 / smallest ratio)`` rows (3 for 6:2:2) and at
least one per split; a smaller one stops with an error naming it and its count, unless
``split.drop_small_classes: true`` drops it (listed in the manifest). Texts are unique after
prepare, so no text is in two splits (checked). Rows keep the dataset's order within a split
and the files carry no timestamps: the same inputs and seed give byte-identical files.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
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

logger = logging.getLogger(__name__)


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


def small_classes(df: pd.DataFrame, ratios: list[float]) -> dict[str, int]:
    counts = df["label"].value_counts()
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


# --- I/O at the edges --------------------------------------------------------------------------


def run(cfg: Config) -> SplitResult:
    started = time.time()
    paths = Paths.from_config(cfg)
    split_cfg = cfg.split
    check_ratios(split_cfg.ratios)
    for path in (paths.dataset, paths.labels):
        if not path.is_file():
            raise PipelineError(f"{path} not found: run `python -m pipeline.prepare` first")
    df = pd.read_parquet(paths.dataset)
    id2label = read_json(paths.labels)["id2label"]
    repeated = df.loc[df["text"].duplicated(), "text"]
    if len(repeated):
        raise PipelineError(
            f"{paths.dataset}: {len(repeated)} text(s) occur more than once, e.g. "
            f"{repeated.iloc[0]!r}; re-run prepare, which de-duplicates"
        )

    small = small_classes(df, split_cfg.ratios)
    if small and not split_cfg.drop_small_classes:
        listed = ", ".join(
            f"{name!r} ({n} example{'s' if n != 1 else ''})" for name, n in small.items()
        )
        raise PipelineError(
            f"class(es) too small to appear in every split (need at least "
            f"{min_class_size(split_cfg.ratios)}): {listed}; add examples or set "
            "split.drop_small_classes: true"
        )
    if small:
        logger.warning("dropping %d small class(es): %s", len(small), small)
        df = df[~df["label"].isin(small.keys())].reset_index(drop=True)
    if df.empty:
        raise PipelineError(f"{paths.dataset}: no rows left to split")

    splits = stratified_split(df, split_cfg.ratios, split_cfg.seed)
    seen: set[str] = set()
    for frame in splits.values():  # prepare de-duplicated; a broken input must not leak
        texts = set(frame["text"])
        assert not texts & seen, "a text landed in two splits"
        seen |= texts

    entries = {}
    for name, frame in splits.items():
        path = paths.split_file(name)
        write_parquet(path, frame)
        counts = frame["label"].value_counts()
        entries[name] = {
            "path": path.relative_to(paths.root).as_posix(),
            "rows": len(frame),
            "sha256": sha256_file(path),
            "class_counts": {n: int(counts[n]) for n in id2label.values() if n in counts.index},
        }
        logger.info("%s: %d rows, %d classes -> %s", name, len(frame), len(counts), path)
    manifest = {
        "splits": entries,
        "labels": {
            "path": paths.labels.relative_to(paths.root).as_posix(),
            "sha256": sha256_file(paths.labels),
        },
        "dataset": {
            "path": paths.dataset.relative_to(paths.root).as_posix(),
            "sha256": sha256_file(paths.dataset),
            "rows": len(df) + sum(small.values()),
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
