"""Label sentences, or a whole sheet, with a trained model (the serve stage's command line).

    python -m pipeline.serve.predict "오늘 시험에 붙어서 너무 기뻐" [--model RUN|sweep:NAME|PATH]
    python -m pipeline.serve.predict --input sheet.xlsx --column 사람문장1 --output labeled.xlsx
    python -m pipeline.serve.predict --config configs/nli-demo.yaml "전제 문장" "가설 문장"
    python -m pipeline.serve.predict --config configs/nli-demo.yaml --input pairs.xlsx \
        --column premise --pair-column hypothesis --output labeled.xlsx [--ray --actors N]

The first form prints the top ``--top-k`` labels of each sentence (and the best one's major
group when known). The second reads an .xlsx, .csv or .parquet file, runs every non-empty cell
of ``--column`` through the model in batches (here, or on Ray: ray_predict.py), and writes the
table with ``predicted_label``, ``predicted_score``, ``predicted_group`` (when known) and
``top3`` added (NER: ``entities``); empty cells get none. The output appears when complete.
Every check of ``--input`` (read as ingest reads a sheet) and ``--output`` (never a file the
pipeline or the user keeps, never a read-only place) runs before the model loads; SIGTERM
stops it like Ctrl-C (exit 130, nothing written).

The model it loads and its answers: pipeline/serve/loaded.py (shared with the server).

Long because: each refusal of --input and --output sits beside the reading or writing it
guards, and they must all run before the model loads.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.cli import add_config_args, run_cli, sigterm_as_interrupt
from pipeline.config import Config
from pipeline.data import sheets
from pipeline.errors import PipelineError
from pipeline.io import atomic_path, to_csv_as_text, to_excel_as_text
from pipeline.model.loading import ModelRef, check_tokenizer_files
from pipeline.paths import Paths
from pipeline.serve.loaded import (
    batched_classifier,
    clean_text,
    load_model,
    resolve,
    text_problem,
    top_answers,
)
from pipeline.spreadsheets import header_row, read_csv
from pipeline.tasks import TASKS, get_task

logger = logging.getLogger("pipeline.serve.predict")

TABLE_SUFFIXES = (".xlsx", ".csv", ".parquet")
TOP3_COLUMN = "top3"


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
        df, _ = sheets.read_table(path, read, sheet=sheet, encoding=encoding, **options)
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


def label_table(
    df: pd.DataFrame,
    column: str,
    probs_of: Any,
    id2label: dict[int, str],
    groups: dict[str, str],
    pair_column: str | None = None,
) -> pd.DataFrame:
    """``df`` with the prediction columns added; ``probs_of(examples)`` runs the model.

    With ``pair_column`` each example is the pair (``column``, ``pair_column``) of a row, and
    a row with either cell empty gets no prediction."""
    texts: list[Any] = column_texts(df, column)
    if pair_column is not None:
        seconds = column_texts(df, pair_column)
        texts = [(a, b) if a and b else "" for a, b in zip(texts, seconds, strict=True)]
    rows = [i for i, t in enumerate(texts) if t]
    labels, scores, top3 = ([None] * len(df) for _ in range(3))
    if rows:
        answers = top_answers(probs_of([texts[i] for i in rows]), id2label, 3)
        for i, answer in zip(rows, answers, strict=True):
            labels[i], scores[i] = answer[0]["label"], round(answer[0]["score"], 4)
            top3[i] = ", ".join(f"{a['label']} ({a['score']:.3f})" for a in answer)
    out = df.assign(predicted_label=labels, predicted_score=scores)
    if groups:
        out["predicted_group"] = [groups.get(x) if x else None for x in labels]
    out[TOP3_COLUMN] = top3
    return out


def column_texts(df: pd.DataFrame, column: str) -> list[str]:
    """The cleaned cells of ``column`` ("" for empty ones); unencodable text is a PipelineError."""
    texts = [clean_text(str(v)) if _has_text(v) else "" for v in df[column]]
    for i, text in enumerate(texts):
        if problem := text_problem(text):
            raise PipelineError(f"row {i + 2} of column {column!r} {problem}: not valid text")
    return texts


def check_output(out: Path, source: Path, paths: Paths) -> None:
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
    if out.exists() and not written_by_predict(out):
        columns = " or ".join(sorted({t.output_column for t in TASKS.values()}))
        raise PipelineError(
            f"--output {out} exists and is not a table predict wrote (no {columns} column): it "
            "would be overwritten; remove it first or give another name"
        )
    check_writable(out)


def written_by_predict(path: Path) -> bool:
    """Whether ``path``'s header has a prediction column (a predict output may be replaced)."""
    outputs = {t.output_column for t in TASKS.values()}
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
    return bool(outputs & {str(n) for n in names})


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


def _has_text(value: Any) -> bool:
    return (
        value is not None
        and not (isinstance(value, float) and np.isnan(value))
        and bool(str(value).strip())
    )


def write_table(path: Path, df: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".parquet":
            df.to_parquet(tmp, index=False, engine="pyarrow")
        elif path.suffix.lower() == ".csv":
            to_csv_as_text(df, tmp, encoding="utf-8-sig")  # BOM: Excel reads it as UTF-8
        else:
            to_excel_as_text(df, tmp)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def label_file(args: argparse.Namespace, cfg: Config) -> None:
    out, source = Path(args.output), Path(args.input)
    check_input(source)  # a missing input is named first, even when the output exists
    check_output(out, source, Paths.from_config(cfg))
    if args.batch_size < 1:
        raise PipelineError(f"--batch-size must be at least 1, got {args.batch_size}")
    task = get_task(cfg.task)
    if args.pair_column is None and len(task.columns) > 1:
        raise PipelineError(f"task {cfg.task}: --input needs --pair-column (the second sentence)")
    if args.pair_column is not None and len(task.columns) == 1:
        raise PipelineError(f"--pair-column needs a pair task (the config's task is {cfg.task})")
    # fails before loading
    df = read_table(source, args.column, args.sheet, args.pair_column, cfg.ingest.encoding)
    column_texts(df, args.column)
    if args.ray:  # the same answers from an actor pool on a Ray cluster (docs/cluster.md)
        from pipeline.serve.ray_predict import label_file_on_ray

        labeled, where = label_file_on_ray(args, cfg, df, label_table), " on Ray"
    else:
        labeled, where = label_here(args, cfg, df), ""
    write_table(out, labeled)
    done = int(labeled[task.output_column].notna().sum())
    print(f"labeled {done} of {len(df)} rows ({len(df) - done} empty){where} -> {out}")  # noqa: T201


def label_here(args: argparse.Namespace, cfg: Config, df: pd.DataFrame) -> pd.DataFrame:
    """predict --input in this process: the classifier's label columns (NER: entities)."""
    from tqdm import tqdm

    task = get_task(cfg.task)
    loaded = load_model(cfg, checked_ref(cfg, args.model), task.auto_model)
    clf = batched_classifier(loaded, args.batch_size, task.encode)

    def probs_of(texts: list[str]) -> np.ndarray:
        with tqdm(total=len(texts), desc="predict", unit="sent") as bar:
            return clf.predict_proba(texts, progress=bar.update)

    # NER: an entities column; None: the label columns
    labeled = task.annotate_table(df, args.column, loaded, args.batch_size)
    if labeled is None:
        labeled = label_table(
            df, args.column, probs_of, loaded.id2label, loaded.label2group, args.pair_column
        )
    return labeled


def checked_ref(cfg: Config, model: str | None) -> ModelRef:
    """``--model`` resolved, and a run directory's tokenizer files there (before loading)."""
    ref = resolve(cfg, model)
    check_tokenizer_files(ref)
    return ref


def label_sentences(args: argparse.Namespace, cfg: Config) -> None:
    """Print the top-k labels of each sentence; a pair task reads them two at a time."""
    task = get_task(cfg.task)
    texts = [clean_text(t) for t in args.sentences]
    for i, text in enumerate(texts):
        if problem := text_problem(text):
            raise PipelineError(f"sentence {i + 1} {problem}: not valid text")
        if not text:
            raise PipelineError(f"sentence {i + 1} is empty")
    n = len(task.columns)
    if len(texts) % n:
        raise PipelineError(
            f"task {cfg.task} reads sentences {n} at a time ({', '.join(task.columns)}); "
            f"got {len(texts)}"
        )
    examples = texts if n == 1 else [tuple(texts[i : i + n]) for i in range(0, len(texts), n)]
    loaded = load_model(cfg, checked_ref(cfg, args.model), task.auto_model)
    k = min(max(1, args.top_k), len(loaded.id2label))
    if (own := task.print_answers(examples, loaded, k)) is not None:  # NER: the entities
        print(own)  # noqa: T201
        return
    clf = batched_classifier(loaded, 64, task.encode)
    answers = top_answers(clf.predict_proba(examples), loaded.id2label, k)
    texts = [task.show(e) for e in examples]
    width = max(_width(a["label"]) for answer in answers for a in answer)
    lines = []
    for text, answer in zip(texts, answers, strict=True):
        group = loaded.label2group.get(answer[0]["label"])
        lines.append(text + (f"  [{group}]" if group else ""))
        lines += [
            f"  {r}. {a['label']}{' ' * (width - _width(a['label']))}  {a['score']:.3f}"
            for r, a in enumerate(answer, 1)
        ]
    print("\n".join(lines))  # noqa: T201


def _width(text: str) -> int:
    """Terminal columns of ``text``: Hangul and other wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_config_args(parser)
    parser.add_argument("sentences", nargs="*", help="sentences to label")
    parser.add_argument("--model", help="run name, sweep:<name>, run directory or Hub id")
    parser.add_argument("--top-k", type=int, default=5, help="emotions to print per sentence")
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

    with sigterm_as_interrupt():  # exit 130, the output not written (--ray: Ray shut down)
        return run_cli(parser, work, argv)


if __name__ == "__main__":
    raise SystemExit(main())
