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
columns added (a classifier's ``predicted_label``, ``predicted_score``, ``predicted_group``
when known and ``top3``; NER's ``entities`` and ``entities_marked``); empty cells get none.
The output appears when complete. The answers are the task's labeller (pipeline/tasks/*).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.cli import add_config_args, run_cli
from pipeline.config import Config
from pipeline.errors import PipelineError
from pipeline.inference.loaded import clean_text, column_texts, text_problem
from pipeline.io import atomic_path, to_excel_as_text
from pipeline.paths import Paths
from pipeline.tasks import task_for

logger = logging.getLogger("pipeline.serve.predict")

TABLE_SUFFIXES = (".xlsx", ".csv", ".parquet")


# --------------------------------------------------------------------------------------------
# Sheets
# --------------------------------------------------------------------------------------------


def read_table(
    path: Path, column: str, sheet: str | None = None, pair_column: str | None = None
) -> pd.DataFrame:
    """An .xlsx sheet (first one unless named) or a .csv file that has ``column`` (and
    ``pair_column``, the second sentence of a pair task)."""
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise PipelineError(f"--input {path}: use an .xlsx or .csv file (or .parquet)")
    if not path.is_file():
        raise PipelineError(f"--input {path}: file not found")
    try:
        if path.suffix.lower() == ".parquet":
            df = pd.read_parquet(path)
        elif path.suffix.lower() == ".csv":
            # blank lines stay rows, so the output lines up with the input row for row
            kw = {"dtype": object, "keep_default_na": False, "skip_blank_lines": False}
            df = pd.read_csv(path, encoding="utf-8-sig", **kw)
        else:
            df = pd.read_excel(path, sheet_name=sheet or 0, dtype=object, engine="calamine")
    except Exception as exc:  # noqa: BLE001  (pandas/calamine raise many types for bad files)
        raise PipelineError(f"--input {path}: cannot read it: {exc}") from exc
    for flag, name in (("--column", column), ("--pair-column", pair_column)):
        if name is not None and name not in df.columns:
            where = f"sheet {sheet!r} of {path}" if sheet else str(path)
            have = ", ".join(str(c) for c in df.columns) or "none"
            raise PipelineError(f"{flag} {name!r} not found in {where} (columns: {have})")
    return df


def check_output(out: Path, source: Path, paths: Paths) -> None:
    """Refuse an --output that would overwrite the input, write under data/raw/, or is a folder."""
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


def write_table(path: Path, df: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".parquet":
            df.to_parquet(tmp, index=False, engine="pyarrow")
        elif path.suffix.lower() == ".csv":
            df.to_csv(tmp, index=False, encoding="utf-8-sig")  # BOM: Excel reads it as UTF-8
        else:
            to_excel_as_text(df, tmp)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def label_file(args: argparse.Namespace, cfg: Config) -> None:
    out, source = Path(args.output), Path(args.input)
    check_output(out, source, Paths.from_config(cfg))
    if args.batch_size < 1:
        raise PipelineError(f"--batch-size must be at least 1, got {args.batch_size}")
    labeller = task_for(cfg).labeller(cfg, args.model, args.batch_size)
    labeller.check_columns(args.column, args.pair_column)
    df = read_table(source, args.column, args.sheet, args.pair_column)  # fails before loading
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
            label_file(args, cfg)
        elif args.sentences:
            label_sentences(args, cfg)
        else:
            raise PipelineError('nothing to label: give a sentence ("문장") or --input FILE')

    return run_cli(parser, work, argv)


if __name__ == "__main__":
    raise SystemExit(main())
