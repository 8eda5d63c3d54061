"""Label sentences, or a whole sheet, with a trained model (the serve stage's command line).

    python -m pipeline.serve.predict "오늘 시험에 붙어서 너무 기뻐" [--model RUN|sweep:NAME|PATH]
    python -m pipeline.serve.predict --input sheet.xlsx --column 사람문장1 --output labeled.xlsx
    python -m pipeline.serve.predict --config configs/nli-demo.yaml "전제 문장" "가설 문장"
    python -m pipeline.serve.predict --config configs/nli-demo.yaml --input pairs.xlsx \
        --column premise --pair-column hypothesis --output labeled.xlsx [--ray --actors N]

The first form prints the config's task's answers for each sentence: a classifier's top
``--top-k`` labels (and the best one's major group when known), NER's entities, generation's
continuation (``--param temperature=0.7 --param seed=1``: the API's parameters). The second
reads an .xlsx, .csv or .parquet file, runs every non-empty cell of ``--column`` through the
model in batches (here, or on Ray: ray_predict.py), and writes the table with the task's
columns added (a classifier's ``predicted_label``, ``predicted_score`` (calibrated unless
``--no-calibration``), ``predicted_group`` when known, ``predicted_unsure`` with a
``--min-score`` and ``top3``; NER's ``entities`` and ``entities_marked``); empty cells get none.
The output appears when complete. The answers are the task's labeller (pipeline/tasks/*).
Every check of ``--input`` (read as ingest reads a sheet) and ``--output`` (never a file the
pipeline or the user keeps, never a read-only place) runs before the model loads; SIGTERM
stops it like Ctrl-C (exit 130, nothing written).

Long because: each refusal of --input and --output sits beside the reading or writing it
guards, and they must all run before the model loads.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.cli import (
    add_backend_arg,
    add_calibration_arg,
    add_config_args,
    run_cli,
    sigterm_as_interrupt,
    with_backend,
    with_calibration,
)
from pipeline.config import Config
from pipeline.errors import PipelineError
from pipeline.inference.loaded import clean_text, column_texts, text_problem
from pipeline.io import atomic_path
from pipeline.paths import Paths
from pipeline.tables import sheets
from pipeline.tables.outputs import to_csv_as_text, to_excel_as_text
from pipeline.tables.spreadsheets import header_row, read_csv
from pipeline.tasks import task_for

logger = logging.getLogger("pipeline.serve.predict")

TABLE_SUFFIXES = (".xlsx", ".csv", ".parquet")


# --------------------------------------------------------------------------------------------
# Sheets
# --------------------------------------------------------------------------------------------


def read_table(
    path: Path,
    column: str,
    sheet: str | None = None,
    pair_column: str | None = None,
    encoding: str = "auto",
) -> pd.DataFrame:
    """An .xlsx sheet (the named one, else the first visible one), a .csv file (``encoding``:
    ingest.encoding) or a .parquet file that has ``column`` (and ``pair_column``, the second
    sentence of a pair task), checked as ingest checks a sheet (pipeline/data/sheets.py)."""
    check_input(path)
    read = [c for c in (column, pair_column) if c is not None]
    # blank lines stay rows, so the output lines up with the input row for row
    options: dict[str, Any] = {"dtype": object}
    if path.suffix.lower() == ".csv":
        options |= {"keep_default_na": False, "skip_blank_lines": False}
    try:
        df, _ = sheets.read_table(path, read, sheet=sheet, encoding=encoding, kept=True, **options)
    except PipelineError as exc:
        raise PipelineError(f"--input {exc}") from None
    for flag, name in (("--column", column), ("--pair-column", pair_column)):
        if name is not None and name not in df.columns:
            where = f"sheet {sheet!r} of {path}" if sheet else str(path)
            have = ", ".join(str(c) for c in df.columns) or "none"
            raise PipelineError(f"{flag} {name!r} not found in {where} (columns: {have})")
    return df


def check_input(path: Path) -> None:
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise PipelineError(f"--input {path}: use an .xlsx or .csv file (or .parquet)")
    if not path.is_file():
        raise PipelineError(f"--input {path}: file not found")


def check_output(out: Path, source: Path, paths: Paths, output_column: str) -> None:
    """Refuse an --output that would overwrite the input or a file predict did not write, lies
    where the pipeline keeps its own files (data/raw, data/interim, data/processed, models/,
    reports/), is a folder, or cannot be written: all before the model loads."""
    if out.suffix.lower() not in TABLE_SUFFIXES:
        raise PipelineError(f"--output {out}: use an .xlsx or .csv file name (or .parquet)")
    if out.is_dir():
        raise PipelineError(f"--output {out} is a directory: give a file name")
    if out.parent.exists() and not out.parent.is_dir():
        raise PipelineError(f"--output {out}: {out.parent} is a file, not a folder")
    target = out.resolve()
    if target == source.resolve() or (out.exists() and source.exists() and out.samefile(source)):
        raise PipelineError(f"--output {out} is the input file: it would be overwritten")
    raw = paths.raw.resolve()
    if target.is_relative_to(raw):
        raise PipelineError(f"--output {out} lies under {raw}: raw data is read-only")
    for area in (paths.interim, paths.processed, paths.models, paths.reports):
        if target.is_relative_to(area.resolve()):
            raise PipelineError(
                f"--output {out} lies under {area.resolve()}, where the pipeline writes its own "
                "files (a stage would read or replace it): write it elsewhere"
            )
    if out.exists() and not written_by_predict(out, output_column):
        raise PipelineError(
            f"--output {out} exists and is not a table predict wrote (no {output_column} "
            "column): it would be overwritten; remove it first or give another name"
        )
    check_writable(out)


def written_by_predict(path: Path, output_column: str) -> bool:
    """Whether ``path``'s header has the task's prediction column (a predict output may be
    replaced)."""
    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            names = pq.read_schema(path).names
        elif path.suffix.lower() == ".csv":
            names = list(read_csv(path, nrows=0)[0].columns)
        else:
            from python_calamine import load_workbook

            book = load_workbook(path)
            names = header_row(book, book.sheet_names[0]) if book.sheet_names else []
    except Exception:  # noqa: BLE001  (unreadable: not a table predict wrote)
        return False
    return output_column in {str(n) for n in names}


def check_writable(out: Path) -> None:
    """Create and remove a file where --output goes (or the nearest folder that exists, which
    the write would create the rest under): a read-only place fails now, not after the model
    labelled the whole sheet."""
    folder = out.absolute().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".predict-write-check.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise PipelineError(f"--output {out}: cannot write in {folder} ({exc.strerror})") from None


def write_table(path: Path, df: pd.DataFrame) -> None:
    """``df`` to ``path`` when complete (an .xlsx with a cell longer than Excel keeps is refused
    first, nothing written: tables.outputs.to_excel_as_text)."""
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".parquet":
            df.to_parquet(tmp, index=False, engine="pyarrow")
        elif path.suffix.lower() == ".csv":
            to_csv_as_text(df, tmp, encoding="utf-8-sig")  # BOM: Excel reads it as UTF-8
        else:
            to_excel_as_text(df, tmp, where=f"--output {path}")


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def label_file(args: argparse.Namespace, cfg: Config) -> None:
    out, source = Path(args.output), Path(args.input)
    check_input(source)  # a missing input is named first, even when the output exists
    labeller = task_for(cfg).labeller(cfg, args.model, args.batch_size)
    check_output(out, source, Paths.from_config(cfg), labeller.output_column)
    if args.batch_size < 1:
        raise PipelineError(f"--batch-size must be at least 1, got {args.batch_size}")
    labeller.check_columns(args.column, args.pair_column)
    # fails before loading
    df = read_table(source, args.column, args.sheet, args.pair_column, cfg.ingest.encoding)
    column_texts(df, args.column)
    if args.ray:  # the same answers from an actor pool on a Ray cluster (docs/cluster.md)
        from pipeline.serve.ray_predict import label_file_on_ray

        labeled, where = label_file_on_ray(args, cfg, df), " on Ray"
    else:
        from tqdm import tqdm

        with tqdm(desc="predict", unit="sent", mininterval=2) as bar:
            labeled = labeller.table(df, args.column, args.pair_column, bar.update)
        where = ""
    write_table(out, labeled)
    done = int(labeled[labeller.output_column].notna().sum())
    print(f"labeled {done} of {len(df)} rows ({len(df) - done} empty){where} -> {out}")  # noqa: T201


def label_sentences(args: argparse.Namespace, cfg: Config) -> None:
    """Print the answers for sentences (a pair task reads them two at a time)."""
    task = task_for(cfg)
    texts = [clean_text(t) for t in args.sentences]
    for i, text in enumerate(texts):
        if problem := text_problem(text):
            raise PipelineError(f"sentence {i + 1} {problem}: not valid text")
        if not text:
            raise PipelineError(f"sentence {i + 1} is empty")
    params = dict(parse_param(p) for p in args.param)
    if args.seed is not None:
        if params.get("seed", args.seed) != args.seed:
            raise PipelineError(f"--seed {args.seed} and --param seed={params['seed']}: give one")
        params["seed"] = args.seed
    labeller = task.labeller(cfg, args.model, args.batch_size)
    print(labeller.lines(texts, args.top_k, params))  # noqa: T201


def parse_param(item: str) -> tuple[str, Any]:
    """``--param temperature=0.7`` -> ("temperature", 0.7): a value is read as YAML."""
    import yaml

    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise PipelineError(f"--param {item!r} must look like name=value")
    try:
        return key.strip(), yaml.safe_load(text)
    except yaml.YAMLError:
        return key.strip(), text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_config_args(parser)
    parser.add_argument("sentences", nargs="*", help="sentences to label")
    parser.add_argument("--model", help="run name, sweep:<name>, run directory or Hub id")
    parser.add_argument("--top-k", type=int, default=5, help="labels to print per sentence")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a request parameter, as the API's parameters (generation: temperature=0.7, seed=1)",
    )
    parser.add_argument("--seed", type=int, help="sampling seed (generation): --param seed=N")
    parser.add_argument("--input", help="an .xlsx, .csv or .parquet file to label")
    parser.add_argument("--column", help="the column of --input holding the sentences")
    parser.add_argument(
        "--pair-column", help="pair task: the column of --input holding the second sentences"
    )
    parser.add_argument("--sheet", help="sheet of an .xlsx --input (default: the first)")
    parser.add_argument(
        "--output", help="where to write the labeled table (.xlsx, .csv or .parquet)"
    )
    parser.add_argument("--batch-size", type=int, default=64, help="sentences per model call")
    add_backend_arg(parser)
    add_calibration_arg(parser)
    parser.add_argument(
        "--min-score",
        type=float,
        help="mark answers whose best score is below this unsure (default: serve.min_score)",
    )
    parser.add_argument(
        "--ray", action="store_true", help="label --input with Ray Data (RAY_ADDRESS: a cluster)"
    )
    parser.add_argument("--actors", type=int, default=1, help="--ray: model copies (actors)")
    parser.add_argument(
        "--gpus-per-actor", type=float, default=0.0, help="--ray: GPUs each actor reserves"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()

    def work(args: argparse.Namespace, cfg: Config) -> None:
        cfg = with_calibration(with_backend(cfg, args.backend), args.no_calibration)
        if args.min_score is not None:
            if not 0 <= args.min_score <= 1:
                raise PipelineError(f"--min-score must be in [0, 1], got {args.min_score}")
            cfg = replace(cfg, serve=replace(cfg.serve, min_score=args.min_score))
        for flag, value in (("--top-k", args.top_k), ("--batch-size", args.batch_size)):
            if value < 1:
                raise PipelineError(f"{flag} must be at least 1, got {value}")
        if args.model is not None and not args.model.strip():
            raise PipelineError("--model is empty: give a run name, sweep:<name> or a path")
        if args.ray and not args.input:
            raise PipelineError("--ray labels a file: give --input FILE --column C --output F")
        if args.input:
            if args.sentences:
                raise PipelineError("give sentences or --input, not both")
            if not args.column or not args.output:
                raise PipelineError("--input needs --column NAME and --output FILE")
            if args.param or args.seed is not None:  # a sheet's answers take none: not ignored
                raise PipelineError(
                    "--param and --seed apply to sentences given on the command line, not to "
                    "--input"
                )
            label_file(args, cfg)
        elif args.sentences:
            label_sentences(args, cfg)
        else:
            raise PipelineError('nothing to label: give a sentence ("문장") or --input FILE')

    with sigterm_as_interrupt():  # exit 130, the output not written (--ray: Ray shut down)
        return run_cli(parser, work, argv)


if __name__ == "__main__":
    raise SystemExit(main())
