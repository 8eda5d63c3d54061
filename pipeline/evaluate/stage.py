"""Evaluate: a trained run on the test split (or any workbook/CSV) -> metrics, figures, report.

    python -m pipeline.evaluate --config configs/default.yaml                 # train.run_name
    python -m pipeline.evaluate --config configs/default.yaml --model sweep:demo
    python -m pipeline.evaluate --config X --model RUN --input new.xlsx --text-column 문장 \
        --label-column 감정
    python -m pipeline.evaluate --config configs/gen-demo.yaml --classifier demo

The stage resolves the run (a run name, ``sweep:<name>`` or a directory), names the report
after it (reports/<run>/, a sweep trial's nested as its run directory is) and asks the config's
task to score it (pipeline/tasks/*: a classifier's report against its two baselines, NER's
entity scores against a dictionary, generation's perplexity and samples). Everything is
computed first, then written at once: the task's files, metrics.json and run.json (provenance),
so a failure leaves the previous report untouched. An ``--input`` file's report goes to
reports/<run>/adhoc/<file stem>/, never replacing the held-out one, which keeps the ad-hoc
reports when it is rewritten. SIGTERM stops it like Ctrl-C (exit code 130).
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
from pipeline.io import atomic_dir, provenance, write_json
from pipeline.model.loading import resolve_model_ref
from pipeline.paths import Paths, RunDir
from pipeline.tasks import EvaluateRequest, check_split_task, task_for
from pipeline.tracking import Tracker, connect, metric_name, numbers

logger = logging.getLogger("pipeline.evaluate")


@dataclass(frozen=True)
class EvaluateResult:
    report_dir: Path
    metrics: dict[str, Any]
    n: int
    summary: str


def run_name_of(paths: Paths, run_dir: Path, fallback: str) -> str:
    """models/<a>/<b> -> "a/b", so a sweep trial's report nests like its run directory."""
    try:
        return run_dir.resolve().relative_to(paths.models.resolve()).as_posix()
    except ValueError:
        return fallback


def command_of(config_path: str | None, model_ref: str | None, name: str,
               input_file: str | Path | None, text_column: str | None,
               label_column: str | None) -> str:  # fmt: skip
    """The make command that writes this report again."""
    command = f"make evaluate CONFIG={config_path or '<config>'} MODEL={model_ref or name}"
    if input_file is not None:
        extra = f"--input {input_file}" + (f" --text-column {text_column}" if text_column else "")
        command += f' ARGS="{extra}' + (f' --label-column {label_column}"' if label_column else '"')
    return command


def run(
    cfg: Config,
    model_ref: str | None = None,
    input_file: str | Path | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    config_path: str | None = None,
    classifier: str | None = None,
) -> EvaluateResult:
    started = time.time()
    task = task_for(cfg)
    if (batch_size := cfg.evaluate.batch_size) < 1:
        raise PipelineError(f"evaluate.batch_size must be at least 1, got {batch_size}")
    paths = Paths.from_config(cfg)
    tracker = connect(cfg)  # tracking.enabled: an unreachable server stops here
    ref = resolve_model_ref(paths, cfg.train.run_name, model_ref)
    run_dir = RunDir(ref.run_dir)
    name = run_name_of(paths, run_dir.path, ref.name)
    data_path = None if input_file is None else paths.resolve(input_file)
    check_split_task(cfg, paths)  # --input too: the baselines learn from the train split
    if data_path is None and (text_column or label_column):
        raise PipelineError("--text-column and --label-column name columns of --input: give it")
    request = EvaluateRequest(
        cfg=cfg,
        paths=paths,
        ref=ref,
        name=name,
        run_info=run_dir.read(RunDir.RECORD),
        input_file=data_path,
        text_column=text_column,
        label_column=label_column,
        classifier=classifier,
        command=command_of(config_path, model_ref, name, input_file, text_column, label_column),
    )
    evaluation = task.evaluate(request)  # every check and every number before anything is written
    out_dir = (
        paths.report_dir(name)
        if data_path is None
        else paths.adhoc_report_dir(name, data_path.stem)
    )
    with atomic_dir(out_dir) as tmp:
        evaluation.write(tmp)
        write_json(tmp / RunDir.METRICS, evaluation.metrics)
        record = provenance(cfg.to_dict(), evaluation.inputs, started)
        record |= {"model": name, "model_dir": str(run_dir.path), **evaluation.record}
        write_json(tmp / RunDir.RECORD, record)
        if data_path is None and (out_dir / "adhoc").is_dir():  # keep the ad-hoc reports
            shutil.copytree(out_dir / "adhoc", tmp / "adhoc", copy_function=os.link)
    logger.info("report written to %s", out_dir / RunDir.REPORT)
    if tracker:
        where = cfg.evaluate.split if data_path is None else metric_name(data_path.stem)
        artifacts = "report" if data_path is None else f"report/adhoc/{where}"
        track(tracker, request.run_info, name, out_dir, numbers(evaluation.metrics, f"{where}_"),
              artifacts)  # fmt: skip
    return EvaluateResult(out_dir, evaluation.metrics, evaluation.n, evaluation.summary)


def track(tracker: Tracker, run_info: dict[str, Any], name: str, out_dir: Path,
          metrics: dict[str, float], artifacts: str) -> None:  # fmt: skip
    """The report on the MLflow run that trained the model (run.json's), else on a new run."""
    run_id = tracker.find_run(run_info.get("mlflow", {}).get("run_id"))
    new = run_id is None
    if new:
        logger.warning("%s has no MLflow run on %s (trained without tracking?): the report "
                       "goes to a new run", name, tracker.uri)  # fmt: skip
        run_id = tracker.start_run(f"evaluate {name}", tags={"model": name})
        if run_id is None:
            return
    tracker.log_metrics(run_id, metrics)
    report = ("report.md", "report.html", RunDir.METRICS, RunDir.RECORD, "figures")
    tracker.log_files(run_id, [out_dir / f for f in report], artifacts)
    if new:
        tracker.end_run(run_id)
    logger.info("report and %d metrics logged to MLflow run %s", len(metrics), tracker.url(run_id))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_args(parser)
    parser.add_argument("--model", help="run name, sweep:<name>, or run directory")
    parser.add_argument("--input", help="evaluate this .xlsx/.csv instead of the split")
    parser.add_argument("--text-column", help="column of --input holding the sentences")
    parser.add_argument("--label-column", help="column of --input holding the labels")
    parser.add_argument("--classifier", help="text-generation: a classifier run to check samples")
    add_backend_arg(parser)
    add_calibration_arg(parser)

    def work(args: argparse.Namespace, cfg: Config) -> None:
        cfg = with_calibration(with_backend(cfg, args.backend), args.no_calibration)
        res = run(cfg, args.model, args.input, args.text_column, args.label_column, args.config,
                  args.classifier)  # fmt: skip
        print(f"{res.summary}\nreport: {res.report_dir / RunDir.REPORT}")  # noqa: T201

    with sigterm_as_interrupt():  # nothing half-written is left
        return run_cli(parser, work, argv)


if __name__ == "__main__":
    raise SystemExit(main())
