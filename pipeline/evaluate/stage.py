"""Evaluate: a trained run on the test split (or any workbook/CSV) -> metrics, figures, report.

    python -m pipeline.evaluate --config configs/default.yaml                 # train.run_name
    python -m pipeline.evaluate --config configs/default.yaml --model sweep:demo
    python -m pipeline.evaluate --config X --model RUN --input new.xlsx --text-column 문장 \
        --label-column 감정

Predictions come from ``BatchedClassifier`` (length-sorted batches, few padded shapes), equal to
``TextClassificationPipeline`` one sentence at a time. Writes reports/<run>/: metrics.json,
classification_report.{txt,csv,json}, predictions.{parquet,xlsx}, figures/, report.md,
report.html and run.json, all at once (a failure leaves the previous report untouched); an
``--input`` file's report goes to reports/<run>/adhoc/<file stem>/ instead, so it never
replaces the held-out one (metrics.json says ``"split"`` or ``"input"``). A TF-IDF character
n-gram baseline is trained on the train split and reported beside the model; a model below it
on macro F1 is flagged at the top of the report and as ``below_baseline`` in metrics.json.
Major groups come from labels.json, completed from the data's group column. SIGTERM stops it
like Ctrl-C (exit code 130). Token classification (NER) writes its own report instead
(pipeline/tasks/ner/report.py: entity F1 beside a dictionary baseline); text generation has
its own body (pipeline/tasks/generation/: perplexity, samples).

Long because: the report's inputs are gathered in one visible sequence, which the task hooks
(other metrics for NER and generation) only precede.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.cli import add_config_args, run_cli, sigterm_as_interrupt
from pipeline.config import Config
from pipeline.data.labels import majority_groups
from pipeline.errors import PipelineError
from pipeline.evaluate import report
from pipeline.evaluate.baseline import CharNgramBaseline
from pipeline.evaluate.inputs import check_labels, read_input, read_split
from pipeline.evaluate.metrics import (
    SCORE_KEYS,
    class_report,
    most_confused,
    predictions_frame,
    score,
)
from pipeline.io import (
    atomic_dir,
    provenance,
    read_json,
    sha256_file,
    to_csv_as_text,
    to_excel_as_text,
    write_json,
    write_parquet,
)
from pipeline.model.batched_classifier import BatchedClassifier
from pipeline.model.loading import TF_WEIGHTS, load_trained, resolve_model_ref
from pipeline.paths import Paths
from pipeline.tasks import TextClassification, get_task

logger = logging.getLogger("pipeline.evaluate")

N_CONFUSED = 15
N_MISCLASSIFIED = 20
OLD_SPLIT_RULE = "unknown (the manifest predates split rules: stratified by label, per sentence)"


@dataclass(frozen=True)
class EvaluateResult:
    report_dir: Path
    metrics: dict[str, Any]
    n: int
    skipped_unknown: int


# --- I/O at the edges ---------------------------------------------------------------------------


def run_name_of(paths: Paths, run_dir: Path, fallback: str) -> str:
    """models/<a>/<b> -> "a/b", so a sweep trial's report nests like its run directory."""
    try:
        return run_dir.resolve().relative_to(paths.models.resolve()).as_posix()
    except ValueError:
        return fallback


def run(
    cfg: Config,
    model_ref: str | None = None,
    input_file: str | Path | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    config_path: str | None = None,
) -> EvaluateResult:
    started = time.time()
    if (batch_size := cfg.evaluate.batch_size) < 1:
        raise PipelineError(f"evaluate.batch_size must be at least 1, got {batch_size}")
    task = get_task(cfg.task)  # a task with other metrics (NER) writes its own report:
    if own := task.evaluate(cfg, model_ref, input_file, text_column, label_column, config_path):
        return own
    paths = Paths.from_config(cfg)
    ref = resolve_model_ref(paths, cfg.train.run_name, model_ref)
    run_dir = ref.run_dir
    name = run_name_of(paths, run_dir, ref.name)
    run_info = read_json(run_dir / "run.json") if (run_dir / "run.json").is_file() else {}
    labels_file = run_dir / "labels.json" if (run_dir / "labels.json").is_file() else paths.labels
    label2group = read_json(labels_file).get("label2group", {}) if labels_file.is_file() else {}
    manifest = read_json(paths.manifest) if paths.manifest.is_file() else None

    if input_file is not None:
        data_path = paths.resolve(input_file)
        label_column = label_column or cfg.ingest.label_column
        first, pair = cfg.ingest.text_pair_columns or [text_column, None]  # pair task: both
        text_column, group = text_column or first, cfg.ingest.group_column
        data = read_input(data_path, text_column, label_column, group, pair, cfg.ingest.encoding)
        where: dict[str, Any] = {"input": shown_path(paths, data_path)}
        out_dir = paths.adhoc_report_dir(name, data_path.stem)
    else:
        data, data_path = read_split(paths, cfg.evaluate.split)
        where = {"split": cfg.evaluate.split}
        out_dir = paths.report_dir(name)
    if data.empty:
        raise PipelineError(f"{data_path}: no sentences to evaluate")
    label2group = complete_groups(label2group, [data, train_groups(paths)])

    id2label = read_json(run_dir / "config.json").get("id2label", {})
    names = [id2label[str(i)] for i in range(len(id2label))]
    label2id = {n: i for i, n in enumerate(names)}
    known = check_labels(data["label"], label2id, cfg.evaluate.unknown_labels, str(data_path))
    skipped = int((~known).sum())
    data = data[known].reset_index(drop=True)
    if data.empty:
        raise PipelineError(f"{data_path}: no sentence left after skipping unknown labels")
    y_true = data["label"].map(label2id).to_numpy()

    model, tokenizer = load_trained(ref, task.auto_model)
    from tqdm import tqdm

    max_seq_len = run_info.get("config", {}).get("model", {}).get("max_seq_len")
    max_seq_len = int(max_seq_len or cfg.model.max_seq_len)
    clf = BatchedClassifier(model, tokenizer, max_seq_len, cfg.evaluate.batch_size, task.encode)
    t0 = time.perf_counter()
    with tqdm(total=len(data), desc="predict", unit="sent", mininterval=2) as bar:
        probs = clf.predict_proba(task.examples(data), progress=bar.update)
    predict_s = time.perf_counter() - t0
    logger.info("predicted %d sentences in %.1fs", len(data), predict_s)

    scores = score(y_true, probs, names, label2group)
    metrics: dict[str, Any] = {**where, "n": len(data)}
    metrics |= {k: scores[k] for k in SCORE_KEYS}  # the order of docs/contracts.md
    text_report, dict_report = class_report(y_true, probs.argmax(axis=1), names)
    baseline = fit_baseline(paths, data, label2id, names, label2group, task)
    metrics["baseline"] = baseline and {
        "name": CharNgramBaseline.name,
        **{
            k: baseline[k]
            for k in ("accuracy", "macro_f1", "weighted_f1", "top_k_accuracy", "group_accuracy")
        },
    }
    metrics["below_baseline"] = baseline and metrics["macro_f1"] < baseline["macro_f1"]
    if metrics["below_baseline"]:
        logger.warning(
            "the model's macro F1 %.4f is below the TF-IDF baseline's %.4f",
            metrics["macro_f1"], baseline["macro_f1"],
        )  # fmt: skip
    metrics["data"] = {"split_sha256": sha256_file(data_path)}
    if input_file is None:
        metrics["data"]["split_rule"] = (manifest or {}).get("rule", OLD_SPLIT_RULE)
    metrics["model"] = name
    preds = predictions_frame(data, probs, names)
    wrong = preds[~preds["correct"]]
    command = f"make evaluate CONFIG={config_path or '<config>'} MODEL={model_ref or name}"
    if input_file is not None:
        extra = f"--input {input_file}" + (f" --text-column {text_column}" if text_column else "")
        command += f' ARGS="{extra}' + (f' --label-column {label_column}"' if label_column else '"')

    with atomic_dir(out_dir) as tmp:
        write_json(tmp / "metrics.json", metrics)
        (tmp / "classification_report.txt").write_text(text_report, encoding="utf-8")
        write_json(tmp / "classification_report.json", dict_report)
        report_csv = tmp / "classification_report.csv"  # label names from the data: as text
        to_csv_as_text(pd.DataFrame(dict_report).T, report_csv, index=True)
        write_parquet(tmp / "predictions.parquet", preds)
        to_excel_as_text(preds, tmp / "predictions.xlsx", sheet_name="predictions")
        report.write_report(
            tmp,
            report.ReportInputs(
                model=name,
                model_dir=run_dir,
                metrics=metrics,
                baseline=baseline,
                names=names,
                label2group=label2group,
                y_true=y_true,
                y_pred=probs.argmax(axis=1),
                class_report=text_report,
                confused=most_confused(y_true, probs.argmax(axis=1), names, N_CONFUSED),
                misclassified=wrong.sample(n=min(N_MISCLASSIFIED, len(wrong)), random_state=0),
                config=cfg.to_dict(),
                manifest=manifest if input_file is None else None,
                run_info=run_info,
                sweep_results=sweep_results(paths, run_dir),
                skipped_unknown=skipped,
                command=command,
            ),
        )
        inputs = {"data": data_path, "model": run_dir / TF_WEIGHTS}
        record = provenance(cfg.to_dict(), inputs, started)
        record |= {"model": name, "model_dir": str(run_dir), "skipped_unknown_labels": skipped}
        record |= {"sentences_per_s": round(len(data) / predict_s, 1), "predict_s": predict_s}
        write_json(tmp / "run.json", record)
        if input_file is None and (out_dir / "adhoc").is_dir():  # keep the ad-hoc reports
            shutil.copytree(out_dir / "adhoc", tmp / "adhoc", copy_function=os.link)
    logger.info("report written to %s", out_dir / "report.md")
    return EvaluateResult(out_dir, metrics, len(data), skipped)


def shown_path(paths: Paths, path: Path) -> str:
    """``path`` relative to the project root when it lies under it, else as given."""
    try:
        return path.resolve().relative_to(paths.root).as_posix()
    except ValueError:
        return str(path)


def train_groups(paths: Paths) -> pd.DataFrame:
    """The train split's label and group columns (empty when it is missing or has no groups)."""
    path = paths.split_file("train")
    if not path.is_file():
        return pd.DataFrame(columns=["label", "group"])
    frame = pd.read_parquet(path)
    return frame[["label", "group"]] if "group" in frame.columns else frame[["label"]]


def complete_groups(label2group: dict[str, str], frames: list[pd.DataFrame]) -> dict[str, str]:
    """``label2group`` with the labels it lacks filled in from the data's group column (each
    label's most common group, as prepare does), so group accuracy does not depend on the
    label table or labels.json having a group for every label."""
    with_groups = [f for f in frames if "group" in f.columns]
    found = majority_groups(pd.concat(with_groups)) if with_groups else {}
    return {**{k: v for k, v in found.items() if k not in label2group}, **label2group}


def fit_baseline(
    paths: Paths,
    data: pd.DataFrame,
    label2id: dict[str, int],
    names: list[str],
    label2group: dict[str, str],
    task: TextClassification,
) -> dict[str, Any] | None:
    """TF-IDF char n-gram baseline on the task's ``baseline_text`` (pairs: ``a [SEP] b``),
    fitted on the train split, scored on ``data``."""
    train_path = paths.split_file("train")
    if not train_path.is_file():
        logger.warning("no %s: the report has no baseline", train_path)
        return None
    train = pd.read_parquet(train_path, columns=[*task.columns, "label"])
    train = train[train["label"].isin(list(label2id))]
    if train["label"].nunique() < 2:
        logger.warning("train split has fewer than 2 known labels: no baseline")
        return None
    t0 = time.perf_counter()
    y = train["label"].map(label2id).tolist()
    clf = CharNgramBaseline().fit(task.baseline_text(task.examples(train)), y)
    probs = clf.predict_proba_for(task.baseline_text(task.examples(data)), range(len(names)))
    logger.info("baseline fitted and scored in %.1fs", time.perf_counter() - t0)
    y_true = data["label"].map(label2id).to_numpy()
    return score(y_true, probs, names, label2group)


def sweep_results(paths: Paths, run_dir: Path) -> str | None:
    """results.md of the sweep a run belongs to (models/<sweep>/<trial>), if there is one."""
    parent = run_dir.resolve().parent
    if parent == paths.models.resolve():
        return None
    results = paths.sweep_dir(parent.name) / "results.md"
    return results.read_text(encoding="utf-8") if results.is_file() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_args(parser)
    parser.add_argument("--model", help="run name, sweep:<name>, or run directory")
    parser.add_argument("--input", help="evaluate this .xlsx/.csv instead of the split")
    parser.add_argument("--text-column", help="column of --input holding the sentences")
    parser.add_argument("--label-column", help="column of --input holding the labels")
    parser.add_argument("--classifier", help="text-generation: a classifier run to check samples")

    def work(args: argparse.Namespace, cfg: Config) -> None:
        if (gen := get_task(cfg.task).evaluate_stage(cfg, args.model, args.classifier)) is not None:
            return print(gen.summary)  # noqa: T201  (a task with its own evaluation: generation)
        res = run(cfg, args.model, args.input, args.text_column, args.label_column, args.config)
        m = res.metrics
        line = get_task(cfg.task).evaluate_summary(m, res.n)
        if line is not None:
            print(f"{line}\nreport: {res.report_dir / 'report.md'}")  # noqa: T201
            return
        print(  # noqa: T201
            f"{m['model']}: accuracy {m['accuracy']:.4f}, macro F1 {m['macro_f1']:.4f}, "
            f"top-3 {m['top_k_accuracy']['3']:.4f} on {res.n} sentences\n"
            f"report: {res.report_dir / 'report.md'}"
        )

    with sigterm_as_interrupt():  # nothing half-written is left
        return run_cli(parser, work, argv)


if __name__ == "__main__":
    raise SystemExit(main())
