"""A sweep's figures (Hangul-capable matplotlib from pipeline.plots), written atomically.

- ``<metric>_vs_<axis>.png``: each finished trial's metric at its best epoch against one axis,
  one line per combination of the other varying axes; log scale for learning rates and other
  positive values spanning a factor of 8 or more;
- ``curves_<axis>.png``: val_accuracy and val_loss per epoch of the trials along that axis,
  overlaid, the best epoch of each starred. The trials drawn are the largest set in which only
  this axis changes (for two one-axis sweeps: exactly one of them); all trials when none has two.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.io import atomic_path
from pipeline.sweep.spec import ALIASES, format_value


def plot_all(
    table: pd.DataFrame,
    histories: dict[str, pd.DataFrame],
    axes: list[str],
    metric: str,
    best_trial: str | None,
    fig_dir: Path,
) -> list[Path]:
    """Both figures for every varying axis; returns the files written."""
    finished = table[table["status"] == "finished"]
    if finished.empty:
        return []
    written = []
    for axis in axes:
        written.append(plot_metric_vs_axis(finished, axis, axes, metric, fig_dir))
        trials = slice_along(finished, axis, axes, best_trial)
        written.append(plot_curves(finished, histories, trials, axis, best_trial, fig_dir))
    return written


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _label(axis: str, value: Any) -> str:
    last = axis.rsplit(".", 1)[-1]
    return f"{ALIASES.get(last, last)}={format_value(value)}"


def _numeric(values: pd.Series) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def slice_along(table: pd.DataFrame, axis: str, axes: list[str], best: str | None) -> list[str]:
    """Trials of the largest group in which only ``axis`` varies (ties: the best's group)."""
    others = [a for a in axes if a != axis]
    if not others:
        return table["trial"].tolist()
    groups: dict[str, list[str]] = {}
    for _, row in table.iterrows():
        groups.setdefault(_key([row[a] for a in others]), []).append(row["trial"])
    ranked = sorted(groups.values(), key=lambda g: (len(g), best in g), reverse=True)
    return ranked[0] if len(ranked[0]) > 1 else table["trial"].tolist()


def plot_metric_vs_axis(
    table: pd.DataFrame, axis: str, axes: list[str], metric: str, fig_dir: Path
) -> Path:
    from pipeline.plots import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    others = [a for a in axes if a != axis]
    numeric = _numeric(table[axis])
    groups: dict[str, pd.DataFrame] = {}
    for _, row in table.iterrows():
        groups.setdefault(_key([row[a] for a in others]), []).append(row)  # type: ignore[arg-type]
    for rows in groups.values():
        frame = pd.DataFrame(rows)
        if numeric:
            frame = frame.sort_values(axis)
        x = frame[axis] if numeric else frame[axis].astype(str)
        label = ", ".join(_label(a, frame.iloc[0][a]) for a in others) or None
        ax.plot(x, frame[metric], "o-", label=label)
    values = sorted(set(table[axis])) if numeric else []
    if numeric:
        wide = min(values) > 0 and max(values) / min(values) >= 8
        if wide or (axis.endswith("learning_rate") and min(values) > 0):
            ax.set_xscale("log", base=2 if all(isinstance(v, int) for v in values) else 10)
            ax.minorticks_off()
        rotation = 45 if len(values) > 5 else 0
        ax.set_xticks(values, [format_value(v) for v in values], rotation=rotation)
    ax.set_xlabel(axis)
    ax.set_ylabel(f"best-epoch {metric}")
    ax.set_title(f"{metric} (검증) vs {axis.rsplit('.', 1)[-1]}")
    ax.grid(True, alpha=0.3)
    if len(groups) > 1:
        ax.legend(fontsize="small")
    return _save(fig, fig_dir / f"{metric}_vs_{axis.rsplit('.', 1)[-1]}.png")


def plot_curves(
    table: pd.DataFrame,
    histories: dict[str, pd.DataFrame],
    trials: list[str],
    axis: str,
    best_trial: str | None,
    fig_dir: Path,
) -> Path:
    from matplotlib.ticker import MaxNLocator

    from pipeline.plots import pyplot

    plt = pyplot()
    fig, (acc, loss) = plt.subplots(1, 2, figsize=(12, 4.5))
    rows = table.set_index("trial").loc[trials]
    if _numeric(rows[axis]):
        rows = rows.sort_values(axis)
    colors = plt.get_cmap("viridis")
    for n, (trial, row) in enumerate(rows.iterrows()):
        history = histories[trial]
        color = colors(n / max(len(rows) - 1, 1))
        label = _label(axis, row[axis]) if len(trials) < len(table) else str(trial)
        width = 2.5 if trial == best_trial else 1.2
        at_best = history["epoch"] == row["best_epoch"]
        for ax, col in ((acc, "val_accuracy"), (loss, "val_loss")):
            ax.plot(history["epoch"], history[col], "o-", color=color, lw=width, ms=3, label=label)
            ax.plot(
                history.loc[at_best, "epoch"], history.loc[at_best, col], "*", color=color, ms=12
            )
    for ax, col, title in ((acc, "val_accuracy", "검증 정확도"), (loss, "val_loss", "검증 손실")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(col)
        ax.set_title(f"{title} ({col}) by {axis.rsplit('.', 1)[-1]}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
    acc.legend(fontsize="small")
    fig.tight_layout()
    return _save(fig, fig_dir / f"curves_{axis.rsplit('.', 1)[-1]}.png")


def _save(fig: Any, path: Path) -> Path:
    from pipeline.plots import pyplot

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    pyplot().close(fig)
    return path
