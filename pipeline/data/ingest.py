"""Ingest: Excel workbooks (or CSV/JSON, or a task's own files) -> data/interim/sentences.parquet.

    python -m pipeline.data.ingest --config configs/default.yaml

Resolves ``ingest.files`` (paths or globs), hands each file to the config's task, which reads
its examples (pipeline/tasks/: one sentence per text cell for the classifiers and generation,
pipeline/tables/sentences.py; a pair per row for NLI; marked sentences, .txt or KLUE's .tsv for
NER), and writes them all at once with where they came from (file, sheet, row, column).
Text is NFC-normalized and its whitespace collapsed (pipeline/tables/cells.py). The column
``split.group_column`` names (the dialogue id 번호) is carried along under its own name.
Every bad input stops the stage with one message naming the file, sheet, column and row, and
nothing is written.
"""

from __future__ import annotations

import argparse
import glob
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.cli import add_config_args, run_cli
from pipeline.config import Config
from pipeline.errors import PipelineError
from pipeline.io import provenance, write_json, write_parquet
from pipeline.paths import Paths
from pipeline.tables.sentences import COLUMNS
from pipeline.tasks import task_for

logger = logging.getLogger("pipeline.data.ingest")  # also when run as __main__


@dataclass(frozen=True)
class IngestResult:
    path: Path
    rows: int
    files: list[Path]
    seconds: float


def resolve_files(paths: Paths, patterns: list[str]) -> list[Path]:
    """Config paths or globs -> existing files, in config order, globs sorted, no repeats."""
    files: list[Path] = []
    for pattern in patterns:
        path = paths.resolve(pattern)
        if path.is_file():
            matches = [path]
        elif glob.has_magic(pattern):
            matches = sorted(Path(p) for p in glob.glob(str(path)) if Path(p).is_file())
            if not matches:
                raise PipelineError(f"ingest.files: no file matches {pattern!r} (under {path})")
        elif path.is_dir():
            raise PipelineError(f"{path}: is a directory, not an Excel workbook")
        else:
            raise PipelineError(f"{path}: file not found (ingest.files entry {pattern!r})")
        files.extend(m for m in matches if m not in files)
    if not files:
        raise PipelineError("ingest.files is empty: name at least one workbook")
    return files


def kept_columns(cfg: Config) -> list[str]:
    """Columns ingest carries along for split.group_column (none for null, "row" or its own)."""
    column = cfg.split.group_column
    return [] if column is None or column == "row" or column in COLUMNS else [column]


def run(cfg: Config) -> IngestResult:
    started = time.time()
    task = task_for(cfg)  # the task's own config checks (templates, pair columns) come first
    paths = Paths.from_config(cfg)
    if cfg.ingest.sheets == []:
        raise PipelineError("ingest.sheets is empty: name the sheets to read, or null for all")
    keep = kept_columns(cfg)
    files = resolve_files(paths, cfg.ingest.files)
    logger.info(
        "one example per %s%s%s", cfg.ingest.unit,
        f", text from template {cfg.ingest.template!r}" if cfg.ingest.template else "",
        f", keeping column {keep[0]!r} for split.group_column" if keep else "",
    )  # fmt: skip
    logger.info("ingesting %d workbook(s): %s", len(files), ", ".join(f.name for f in files))
    frames = []
    for i, path in enumerate(files, 1):
        logger.info("[%d/%d] reading %s (%.1f MB)", i, len(files), path, path.stat().st_size / 1e6)
        frames.append(task.read_file(path, cfg.ingest, keep))
    sentences = pd.concat(frames, ignore_index=True)
    if sentences.empty:
        raise PipelineError(f"no {task.example_word(cfg.ingest)} found in {task.name}'s columns")
    # Everything is read and checked: only now touch the outputs.
    write_parquet(paths.sentences, sentences)
    record = provenance(cfg.to_dict(), {p.name: p for p in files}, started)
    write_json(paths.interim / "ingest.run.json", {"stage": "ingest", **record})
    seconds = time.time() - started
    logger.info("wrote %s: %d sentences in %.1f s", paths.sentences, len(sentences), seconds)
    return IngestResult(paths.sentences, len(sentences), files, seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_args(parser)

    def work(args: argparse.Namespace, cfg: Config) -> None:
        result = run(cfg)
        what = task_for(cfg).example_word(cfg.ingest)
        print(f"ingest: {result.rows} {what} from {len(result.files)} file(s) -> {result.path}")  # noqa: T201

    return run_cli(parser, work, argv)


if __name__ == "__main__":
    raise SystemExit(main())
