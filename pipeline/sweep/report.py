"""A sweep's outputs: the results table, best.json, the figures, run.json and TensorBoard.

Reads what each trial's train run wrote (``models/<sweep>/<trial>/run.json`` and
``history.csv``) and the sweep's ``trials.json``; never the test split. Figures: see
pipeline/sweep/plots.py; the TensorBoard files (HParams): see pipeline/tensorboard.py.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.config import get_dotted
from pipeline.io import atomic_dir, atomic_path, provenance, read_json, write_json, write_text
from pipeline.paths import Paths, RunDir
from pipeline.tensorboard import logdir_of, write_history, write_hparams, write_hparams_config

COLUMNS = [
    "status",
    "best_epoch",
    "val_accuracy",
    "val_loss",
    "epochs_run",
    "stop_reason",
    "seconds",
    "error",
    "run_dir",
]
# The metrics of each trial in TensorBoard's HParams table: {column: its title there}.
TENSORBOARD_METRICS = {
    "val_accuracy": "val_accuracy (best epoch)",
    "val_loss": "val_loss (best epoch)",
    "best_epoch": "best epoch",
    "epochs_run": "epochs run",
}


def trial_result(run_dir: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """The columns of one finished trial (metrics at its best epoch) and its history."""
    record = read_json(RunDir(run_dir).record)
    history = pd.read_csv(RunDir(run_dir).history)
    at_best = history.loc[history["epoch"] == record["best_epoch"]].iloc[0]
    row = {
        "best_epoch": int(record["best_epoch"]),
        "val_accuracy": float(at_best["val_accuracy"]),
        "val_loss": float(at_best["val_loss"]),
        "epochs_run": int(record["epochs_run"]),
        "stop_reason": record["stop_reason"],
        "seconds": round(float(history["seconds"].sum()), 1),  # every epoch, resumed ones too
    }
    if "val_entity_f1" in history:  # a NER run's early-stopping metric
        row["val_entity_f1"] = float(at_best["val_entity_f1"])
    return row, history


def axes_of(trials: list) -> list[str]:
    """Every dotted key some trial sets, in the order the sweep file names them."""
    return list(dict.fromkeys(k for t in trials for k in t.values))


def results_table(trials: list, state: dict[str, Any], paths: Paths, metric: str) -> tuple:
    """(table sorted best first, {trial: history}) for ``trials`` (pipeline.sweep.Trial)."""
    axes = axes_of(trials)
    rows, histories = [], {}
    for t in trials:
        entry = state["trials"].get(t.name) or {"status": "pending", "error": None}
        run_dir = paths.run_dir(t.cfg.train.run_name)
        row: dict[str, Any] = {"trial": t.name} | {k: get_dotted(t.cfg, k) for k in axes}
        row |= {"status": entry["status"], "error": entry.get("error")}
        row["run_dir"] = str(run_dir.relative_to(paths.root))
        if entry["status"] == "finished":
            values, histories[t.name] = trial_result(run_dir)
            row |= values
        rows.append(row)
    extra = [] if metric in COLUMNS else [metric]  # val_entity_f1 (NER)
    table = pd.DataFrame(rows, columns=["trial", *axes, *COLUMNS, *extra])
    table = table.sort_values(metric, ascending=metric == "val_loss", na_position="last")
    return table.reset_index(drop=True), histories


def markdown(table: pd.DataFrame) -> str:
    def cell(v: Any) -> str:
        if v is None or (isinstance(v, float) and pd.isna(v)):
            return ""
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def best_record(table: pd.DataFrame, metric: str) -> dict[str, Any] | None:
    """best.json: the finished trial with the best validation metric (table is sorted)."""
    finished = table[table["status"] == "finished"]
    if finished.empty:
        return None
    top = finished.iloc[0]
    run_dir = top["run_dir"]
    run = run_dir.removeprefix("models/")
    return {"run": run, "run_dir": run_dir, "metric": metric, "value": float(top[metric])}


def write_results(
    sweep: Any, trials: list, state: dict, paths: Paths, started: float, done: bool
) -> pd.DataFrame:
    """results.csv/.md now; once every trial has run also best.json, figures and run.json."""
    out = paths.sweep_dir(sweep.name)
    table, histories = results_table(trials, state, paths, sweep.metric)
    with atomic_path(out / "results.csv") as tmp:
        table.to_csv(tmp, index=False)
    best = best_record(table, sweep.metric)
    lines = [
        f"# Sweep {sweep.name}\n",
        f"{len(trials)} trials, ranked by {sweep.metric} at "
        "each trial's best epoch (validation split).\n",
    ]
    if best:
        lines.append(f"Best: **{best['run']}**, {sweep.metric} {best['value']:.4f}.\n")
    write_text(out / "results.md", "\n".join(lines) + "\n" + markdown(table))
    if not done:
        return table
    axes = [k for k in table.columns[1 : -len(COLUMNS)] if len(set(map(repr, table[k]))) > 1]
    best_trial = table["trial"].iloc[0] if best else None
    from pipeline.sweep.plots import plot_all

    figures = plot_all(table, histories, axes, sweep.metric, best_trial, out / "figures")
    (out / "best.json").unlink(missing_ok=True)
    if best:
        write_json(out / "best.json", best)
    record = provenance(
        {"sweep": dataclasses.asdict(sweep)},
        {"manifest": paths.manifest},
        started,
    )
    record |= {"trials": table[["trial", "status"]].to_dict("records"), "best": best}
    record["figures"] = [str(f.relative_to(out)) for f in figures]
    record["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    write_json(out / RunDir.RECORD, record)
    return table


# --------------------------------------------------------------------------------------------
# TensorBoard: reports/sweeps/<name>/tensorboard/, `tensorboard --logdir` that folder
# --------------------------------------------------------------------------------------------


def write_tensorboard_config(out: Path, trials: list) -> None:
    """The HParams experiment (every axis with its values, the metrics); the folders of
    trials that are no longer in the sweep are removed."""
    logdir = logdir_of(out)
    names = {t.name for t in trials}
    for old in logdir.iterdir() if logdir.is_dir() else []:
        if old.is_dir() and old.name not in names and not old.name.startswith("."):
            shutil.rmtree(old)
    domains = {k: [get_dotted(t.cfg, k) for t in trials] for k in axes_of(trials)}
    write_hparams_config(logdir, domains, TENSORBOARD_METRICS)


def write_tensorboard_trial(out: Path, trial: Any, trials: list, paths: Paths) -> None:
    """A finished trial's folder: its axis values, metrics at the best epoch, and curves."""
    row, history = trial_result(paths.run_dir(trial.cfg.train.run_name))
    hparams = {k: get_dotted(trial.cfg, k) for k in axes_of(trials)}
    metrics = {k: row[k] for k in TENSORBOARD_METRICS}
    with atomic_dir(logdir_of(out) / trial.name) as tmp:
        write_hparams(tmp, hparams, metrics, trial_id=trial.name)
        write_history(tmp, history.to_dict("records"))


def remove_tensorboard_trial(out: Path, trial: Any) -> None:
    """A trial that runs again shows nothing until it has finished."""
    shutil.rmtree(logdir_of(out) / trial.name, ignore_errors=True)
