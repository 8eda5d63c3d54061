"""Train: fine-tune a BERT classifier on the split files into ``models/<train.run_name>/``.

    python -m pipeline.train --config configs/default.yaml [--set train.epochs=5] [--force]

Reads data/processed/{train,validation}.parquet and data/interim/labels.json; tokenizes with
the base model's fast tokenizer (truncation at ``model.max_seq_len``, per-batch padding with
length buckets, see length_buckets.py); trains with Adam (constant rate) or AdamW (warmup +
linear decay), sparse cross-entropy on the logits, accuracy; early stopping on
``train.early_stopping``; keeps the best epoch's weights.

Progress lives in a hidden work directory (``models/.<run>.work/``, pipeline/fitting/callbacks.py)
updated at every epoch end, so an interrupted run (Ctrl-C, SIGTERM, even SIGKILL) resumes from
its last finished epoch when the same command runs again. The run directory itself appears in
one rename once training is over: save_pretrained model + tokenizer, labels.json, history.csv,
curves.png and run.json. A finished run with the same model/train config and data is skipped;
with a different one the stage refuses unless ``--force`` is given.

Across devices and machines (``train.distribute``, ``--ray``): see distributed.py and
ray_train.py; only the chief writes the run and work directories.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline import tensorboard, tracking
from pipeline.config import Config, check_training_values
from pipeline.errors import PipelineError
from pipeline.fitting import distributed, length_buckets
from pipeline.fitting.callbacks import (
    TrainState,
    fingerprint,
    finished_record,
    training_key,
    work_dir_for,
)
from pipeline.fitting.loop import fit
from pipeline.fitting.storage import holds_other_files, save_run
from pipeline.io import provenance, read_json, write_json
from pipeline.model.loading import max_positions
from pipeline.model.vocab_trim import trimmed_checkpoint
from pipeline.paths import Paths, RunDir
from pipeline.reporting import plot_curves
from pipeline.tasks import check_split_task, task_for
from pipeline.train.tracking import TrainTracking

logger = logging.getLogger("pipeline.train")

__all__ = ["TrainResult", "main", "run", "work_dir_for"]


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    best_epoch: int
    best_metric: float  # value of train.early_stopping.monitor at the best epoch
    stop_reason: str  # "early_stopping" | "max_epochs"
    epochs_run: int
    skipped: bool = False  # already trained with this config and data


def load_inputs(
    paths: Paths, columns: tuple[str, ...] = ("text",)
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Train and validation frames (the task's text ``columns``) and labels.json, checked."""
    needed = [paths.split_file("train"), paths.split_file("validation"), paths.labels]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        raise PipelineError(f"missing {', '.join(missing)}: run `make data` first")
    labels = read_json(paths.labels)
    id2label = {int(i): name for i, name in labels["id2label"].items()}
    frames = {}
    for split in ("train", "validation"):
        path = paths.split_file(split)
        try:
            df = pd.read_parquet(path, columns=[*columns, "label", "label_id"])
        except (KeyError, ValueError) as exc:  # pyarrow names the missing column
            raise PipelineError(
                f"{path}: lacks the columns {list(columns)} of this task ({exc}); rerun "
                "`make data` with this config"
            ) from exc
        for label_id, name in df[["label_id", "label"]].drop_duplicates().itertuples(index=False):
            if id2label.get(int(label_id)) != name:
                raise PipelineError(
                    f"{path}: label {name!r} has id {label_id}, but {paths.labels} maps "
                    f"{label_id} to {id2label.get(int(label_id))!r} (rerun `make data`)"
                )
        frames[split] = df
    return frames["train"], frames["validation"], labels


# --------------------------------------------------------------------------------------------
# The stage
# --------------------------------------------------------------------------------------------


def run(
    cfg: Config,
    force: bool = False,
    callbacks: Sequence[Any] = (),
    mlflow_parent: str | None = None,
) -> TrainResult:
    """Train into models/<run>/; ``callbacks`` (Keras) join the fit loop's own; the MLflow run
    (tracking.enabled) nests under ``mlflow_parent`` when given (a sweep's run)."""
    started = time.time()
    check_training_values(cfg)
    role = distributed.role(cfg.train.distribute)  # TF_CONFIG: which worker this process is
    tracker = tracking.connect(cfg) if role.chief else None  # an unreachable server stops here
    paths = Paths.from_config(cfg)
    run_dir, es = paths.run_dir(cfg.train.run_name), cfg.train.early_stopping
    work = work_dir_for(run_dir)
    task = task_for(cfg)
    check_split_task(cfg, paths)
    train_df, val_df, labels = load_inputs(paths, (*task.columns, *task.stored_columns))
    if holds_other_files(run_dir):
        raise PipelineError(
            f"{run_dir} exists but holds no train run (no run.json; a sweep's trials, say), "
            "and training would replace it: choose another train.run_name"
        )
    inside = next((p for p in run_dir.parents if RunDir(p).record.is_file()), None)
    if inside is not None and paths.models in inside.parents:
        raise PipelineError(
            f"train.run_name {cfg.train.run_name!r} would put a run inside the finished run "
            f"{inside}: choose a name that is not under another run"
        )
    key = training_key(cfg, paths, task.training_key(cfg))
    record = None if force else finished_record(run_dir, key)
    if record:
        logger.info("%s is already trained with this config and data: skipping", run_dir)
        if role.chief:
            shutil.rmtree(work, ignore_errors=True)  # left by a kill between rename and cleanup
        best = record["best_metric"]["value"]
        return TrainResult(
            run_dir, record["best_epoch"], best, record["stop_reason"], record["epochs_run"], True
        )
    checkpoint = task.base_checkpoint(cfg, paths, train_df)
    if cfg.model.trim_vocab:
        texts = task.texts([*task.examples(train_df), *task.examples(val_df)])
        checkpoint = trimmed_checkpoint(checkpoint, texts, paths.base_models)
    if cfg.model.max_seq_len > max_positions(checkpoint):
        raise PipelineError(
            f"model.max_seq_len {cfg.model.max_seq_len} exceeds the {max_positions(checkpoint)} "
            f"position embeddings of {cfg.model.name_or_path}"
        )
    if force and role.chief:
        shutil.rmtree(work, ignore_errors=True)
    state = None if force and not role.chief else TrainState.load(work)
    if state and state.fingerprint != fingerprint(key):
        raise PipelineError(
            f"{work} holds an unfinished run with a different config or data; rerun with "
            "--force to start over, or set a new train.run_name"
        )
    resumed_from = state.epochs_done if state else 0
    state = state or TrainState(fingerprint=fingerprint(key))

    tokenizer = task.load_tokenizer(cfg, checkpoint)
    ids, _ = task.encode(tokenizer, task.examples(train_df), None)  # untruncated
    lengths = np.array([len(x) for x in ids], dtype=np.int64)
    token_stats = length_buckets.token_length_stats(lengths, cfg.model.max_seq_len)
    logger.info("train token lengths: %s", token_stats)
    spec = task.fit_spec(cfg, checkpoint, tokenizer, train_df, val_df, labels)
    if not role.chief:  # resumes from the chief's work directory, checkpoints into a temporary one
        mine = Path(tempfile.mkdtemp(prefix=f"{run_dir.name}.worker{role.index}-"))
        try:
            fit(cfg, spec, state, mine, work, callbacks)
        finally:
            shutil.rmtree(mine, ignore_errors=True)
        logger.info("worker %d done: the chief writes %s", role.index, run_dir)
        best = (state.best_epoch or 0, state.best_value or 0.0, state.stop_reason or "")
        return TrainResult(run_dir, *best, state.epochs_done)
    tracked = TrainTracking.open(tracker, cfg, state, work, mlflow_parent) if tracker else None
    try:
        send = [tracked.callback(state)] if tracked else []
        model, placement = fit(cfg, spec, state, work, None, [*send, *callbacks])
    except BaseException as exc:
        if tracked:
            tracked.fail("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise

    record = provenance(
        cfg.to_dict(),
        {"train": paths.split_file("train"), "validation": paths.split_file("validation")}
        | {"labels": paths.labels},
        started,
    )
    manifest = read_json(paths.manifest) if paths.manifest.is_file() else {}
    calibration = task.calibrate(cfg, model, tokenizer, val_df, labels)
    record.update(
        status="finished",
        run_name=cfg.train.run_name,
        base_model={"name_or_path": cfg.model.name_or_path, "resolved": str(checkpoint)},
        training_key=key,
        head_probe=state.head_probe,
        best_epoch=state.best_epoch,
        best_metric={"name": es.monitor, "value": state.best_value},
        stop_reason=state.stop_reason,
        epochs_run=state.epochs_done,
        resumed_from_epoch=resumed_from,
        train_seconds=round(state.train_seconds, 3),
        train_samples_per_s=round(len(train_df) * state.epochs_done / state.train_seconds, 2),
        token_lengths=token_stats,
        data={k: manifest.get(k) for k in ("splits", "labels")},
        device=placement.device,
        distribute=placement.record(),
        **task.run_record(cfg, model, tokenizer, val_df),
        **({"calibration": calibration.to_dict()} if calibration else {}),
        **({"mlflow": tracked.record()} if tracked else {}),
    )
    history = pd.DataFrame(state.history)

    def write(tmp: Path) -> None:
        tmp.chmod(0o755)
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        run = RunDir(tmp)
        write_json(run.labels, task.run_labels(labels))  # NER: the tags the model predicts
        if calibration:
            write_json(run.calibration, calibration.to_dict())
        history.to_csv(run.history, index=False)
        tensorboard.write_history(tensorboard.logdir_of(tmp), state.history)
        plot_curves(history, state.best_epoch, run.curves, cfg.train.run_name)
        write_json(run.record, record)

    save_run(run_dir, work, write)
    shutil.rmtree(work, ignore_errors=True)
    if tracked:
        tracked.finish(run_dir, state)
    logger.info(
        "wrote %s: best epoch %d, %s %.4f (%s)",
        *(run_dir, state.best_epoch, es.monitor, state.best_value, state.stop_reason),
    )
    return TrainResult(
        run_dir, state.best_epoch, state.best_value, state.stop_reason, state.epochs_done
    )


def main(argv: list[str] | None = None) -> int:
    from pipeline.cli import add_config_args, run_cli, sigterm_as_interrupt

    parser = argparse.ArgumentParser(description="Fine-tune the classifier into models/<run>/.")
    add_config_args(parser)
    parser.add_argument("--force", action="store_true", help="retrain even if already finished")
    parser.add_argument("--ray", action="store_true", help="train on Ray Train workers")
    parser.add_argument("--workers", type=int, help="Ray workers (with --ray; default 2)")
    parser.add_argument("--gpus-per-worker", type=float, help="GPUs of each Ray worker (--ray)")
    parser.add_argument("--mlflow-parent", help="MLflow run id to nest this run under (sweeps)")

    def work(args: argparse.Namespace, cfg: Config) -> None:
        if not args.ray and (args.workers, args.gpus_per_worker) != (None, None):
            raise PipelineError("--workers and --gpus-per-worker go with --ray")
        if args.ray:
            from pipeline.train import ray_train

            workers = 2 if args.workers is None else args.workers
            gpus = 0.0 if args.gpus_per_worker is None else args.gpus_per_worker
            fields = ray_train.run(cfg, run, args.force, workers, gpus)
            result = TrainResult(**fields)
        else:
            result = run(cfg, force=args.force, mlflow_parent=args.mlflow_parent)
        verb = "already trained" if result.skipped else "trained"
        print(  # noqa: T201
            f"{verb}: {result.run_dir} (best epoch {result.best_epoch}, "
            f"{cfg.train.early_stopping.monitor} {result.best_metric:.4f}, {result.stop_reason})"
        )

    with sigterm_as_interrupt():  # the last finished epoch is on disk; rerun to resume
        return run_cli(parser, work, argv)


if __name__ == "__main__":
    raise SystemExit(main())
