"""The evaluation report: figures, report.md, and report.html with the figures inlined.

Everything here is a function of its inputs: no timestamps, no timings, so evaluating the same
run twice writes the same report.md (times live in run.json only).

Long because: report.md and report.html are one document in two forms; their sections are
written side by side.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from pipeline.io import package_versions, write_text
from pipeline.plots import pyplot
from pipeline.reporting import (
    curves_figure,
    device,
    frame_table,
    md_escape,
    md_table,
    render_html,
)
from pipeline.tasks.classification import calibrated
from pipeline.tasks.classification.backends import backends_markdown


@dataclass(frozen=True)
class ReportInputs:
    model: str  # run name (models/<model>)
    model_dir: Path
    metrics: dict[str, Any]
    baseline: dict[str, Any] | None  # evaluate.score() of the TF-IDF baseline, or None
    embedding_baseline: dict[str, Any] | None  # of the frozen-encoder baseline, or None
    names: list[str]  # label names in id order
    label2group: dict[str, str]
    y_true: np.ndarray
    y_pred: np.ndarray
    class_report: str
    confused: pd.DataFrame
    misclassified: pd.DataFrame
    config: dict[str, Any]
    manifest: dict[str, Any] | None
    run_info: dict[str, Any]  # the run's run.json ({} if absent)
    sweep_results: str | None  # results.md of the sweep the run came from
    skipped_unknown: int
    command: str
    run_backend: str = "tf"  # what produced the scores above (serve.backend)
    min_score: float = 0.0  # serve.min_score, marked on the coverage figure


# --- figures ------------------------------------------------------------------------------------


def group_order(names: list[str], label2group: dict[str, str]) -> tuple[list[int], list[str]]:
    """Label ids ordered by major group (groups in order of first appearance), and their groups."""
    groups = [label2group.get(n, "") for n in names]
    rank = {g: i for i, g in enumerate(dict.fromkeys(groups))}
    order = sorted(range(len(names)), key=lambda i: (rank[groups[i]], i))
    return order, [groups[i] for i in order]


def plot_confusion(path: Path, inp: ReportInputs) -> None:
    """Row-normalized confusion matrix, labels grouped by major group with boundary lines."""
    plt = pyplot()
    order, groups = group_order(inp.names, inp.label2group)
    n = len(order)
    cm = confusion_matrix(inp.y_true, inp.y_pred, labels=order, normalize="true")
    size = max(6.0, 0.3 * n + 3)
    font = 7 if n > 30 else 9
    fig, ax = plt.subplots(figsize=(size, size * 0.92))
    im = ax.imshow(cm, cmap="Blues", vmin=0, vmax=1)
    ticks = [inp.names[i] for i in order]
    ax.set_xticks(range(n), ticks, rotation=90, fontsize=font)
    ax.set_yticks(range(n), ticks, fontsize=font)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 15:
        for (r, c), v in np.ndenumerate(cm):
            if v >= 0.005:
                color = "white" if v > 0.5 else "black"
                ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=font, color=color)
    if any(groups):
        starts = [i for i in range(n) if i == 0 or groups[i] != groups[i - 1]]
        for s in starts[1:]:
            ax.axhline(s - 0.5, color="red", linewidth=0.8)
            ax.axvline(s - 0.5, color="red", linewidth=0.8)
        for s, e in zip(starts, [*starts[1:], n], strict=True):
            ax.text((s + e - 1) / 2, -0.9, groups[s], ha="center", va="bottom", fontsize=font + 3)
    fig.colorbar(im, ax=ax, fraction=0.03, pad=0.02, shrink=0.6, label="share of the true label")
    ax.set_title(f"confusion matrix (row-normalized), {inp.model}", pad=24)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_per_class_f1(path: Path, inp: ReportInputs) -> None:
    """Horizontal bars of F1 per label, sorted, colored by major group."""
    plt = pyplot()
    ids = np.arange(len(inp.names))
    _, _, f1, _ = precision_recall_fscore_support(
        inp.y_true, inp.y_pred, labels=ids, average=None, zero_division=0
    )
    order = np.argsort(f1, kind="stable")
    groups = [inp.label2group.get(inp.names[i], "") for i in order]
    palette = {g: plt.cm.tab10(i % 10) for i, g in enumerate(dict.fromkeys(sorted(groups)))}
    fig, ax = plt.subplots(figsize=(8, max(3.0, 0.22 * len(ids) + 1.2)))
    ax.barh(range(len(ids)), f1[order], color=[palette[g] for g in groups])
    ax.set_yticks(
        range(len(ids)), [inp.names[i] for i in order], fontsize=7 if len(ids) > 30 else 9
    )
    ax.set_xlim(0, 1)
    ax.set_xlabel("F1")
    ax.axvline(float(np.mean(f1)), color="black", linestyle="--", linewidth=0.8, label="macro F1")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for g, c in palette.items() if g]
    ax.legend(
        [*handles, ax.lines[0]],
        [*[g for g in palette if g], "macro F1"],
        fontsize=8,
        loc="lower right",
    )
    ax.set_title(f"F1 per label, {inp.model}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


METRIC_ROWS = [
    ("accuracy", "accuracy"),
    ("macro precision", "macro_precision"),
    ("macro recall", "macro_recall"),
    ("macro F1", "macro_f1"),
    ("weighted precision", "weighted_precision"),
    ("weighted recall", "weighted_recall"),
    ("weighted F1", "weighted_f1"),
]


def results_table(metrics: dict[str, Any], baselines: list[dict[str, Any] | None]) -> str:
    """The model's scores beside each baseline's (a missing baseline has no column)."""
    titles = [t for t, b in zip(BASELINE_TITLES, baselines, strict=True) if b is not None]
    bases = [b for b in baselines if b is not None]
    rows = [[title, metrics[key], *(b.get(key) for b in bases)] for title, key in METRIC_ROWS]
    for k, v in metrics["top_k_accuracy"].items():
        rows.append([f"top-{k} accuracy", v, *(b.get("top_k_accuracy", {}).get(k) for b in bases)])
    if metrics["group_accuracy"] is not None or any(b.get("group_accuracy") for b in bases):
        group = [b.get("group_accuracy") for b in bases]
        rows.append(["major-group accuracy", metrics["group_accuracy"], *group])
    return md_table(rows, ["metric", f"BERT ({metrics['model']})", *titles])


BASELINE_TITLES = ["TF-IDF char + LR", "frozen encoder + LR"]


def below_baseline_note(
    metrics: dict[str, Any], baselines: list[dict[str, Any] | None]
) -> list[str]:
    """The verdict that opens the report: a warning when the model loses to a baseline."""
    named = [
        f"the {title} baseline's ({b['macro_f1']:.4f})"
        for title, b in zip(BASELINE_TITLES, baselines, strict=True)
        if b is not None
    ]
    if not named:
        return []
    f1 = metrics["macro_f1"]
    if not metrics.get("below_baseline"):
        return [f"The model's macro F1 ({f1:.4f}) is at or above {' and '.join(named)}.", ""]
    below = [
        f"the {title} baseline's ({b['macro_f1']:.4f})"
        for title, b in zip(BASELINE_TITLES, baselines, strict=True)
        if b is not None and f1 < b["macro_f1"]
    ]
    return [
        f"> **Below the baseline:** the model's macro F1 ({f1:.4f}) is lower than "
        f"{' and '.join(below)} on the same sentences.",
        "",
    ]


def render_markdown(inp: ReportInputs, figures: list[tuple[str, str]]) -> str:
    m, info = inp.metrics, inp.run_info
    baselines = [inp.baseline, inp.embedding_baseline]
    out = [f"# Evaluation of `{inp.model}`", "", *below_baseline_note(m, baselines)]
    if "split" in m:
        evaluated = f"the held-out **{m['split']}** split"
    else:
        evaluated = f"the ad-hoc input **{md_escape(m['input'])}** (not a held-out split)"
    out.append(f"Model `models/{inp.model}`, evaluated on {evaluated} ({m['n']} sentences).")
    if rule := m["data"].get("split_rule"):
        out.append(f"Split rule: {md_escape(rule)}.")
    if inp.skipped_unknown:
        out.append(
            f"{inp.skipped_unknown} sentence(s) with labels the model does not know skipped."
        )
    out += ["", "## Results", "", results_table(m, baselines), ""]
    if m["group_accuracy"] is None:
        out += ["No major-group accuracy: the data has no group column.", ""]
    if inp.baseline is None:
        out += ["No baseline: the project has no train split to fit it on.", ""]
    if emb := inp.embedding_baseline:
        prefix = f", input prefix `{emb['prefix']}`" if emb["prefix"] else ""
        out += [
            f"The frozen-encoder baseline reads each sentence with the untouched base model "
            f"`{md_escape(emb['encoder'])}` (mean of the last hidden states, L2-normalised"
            f"{prefix}) and fits a logistic regression on the train split (C = {emb['C']:g}, "
            "chosen on validation macro F1); the TF-IDF one fits character 1-3-grams.",
            "",
        ]
    elif inp.baseline is not None:
        out += [
            "No frozen-encoder baseline: the base model or the validation split is not at hand.",
            "",
        ]
    out += backends_markdown(m.get("backends") or [], inp.run_backend)
    if "calibration" in m:
        out += calibrated.markdown(m["calibration"], m["n"], inp.min_score)
    out += ["## Figures", ""] + [f"![{title}](figures/{f})\n" for title, f in figures]
    if info:
        keys = ("status", "epochs_run", "best_epoch", "best_metric", "stop_reason")
        rows = [[k, info.get(k)] for k in keys]
        if isinstance(best := info.get("best_metric"), dict):
            value = best.get("value")
            value = f"{value:.4f}" if isinstance(value, float) else value
            rows[3][1] = f"{best.get('name')} = {value}"
        out += ["## Training run", "", md_table(rows, ["", ""]), ""]
        if lengths := info.get("token_lengths"):
            out += ["### Token lengths (training data)", ""]
            values = [f"{v:g}" if isinstance(v, float) else v for v in lengths.values()]
            out += [md_table([values], list(lengths)), ""]
    if inp.sweep_results:
        body = re.sub(r"^(#+)", r"##\1", inp.sweep_results.strip(), flags=re.M)
        out += ["## Sweep results", "", body, ""]
    out += ["## Most confused label pairs", "", frame_table(inp.confused), ""]
    pair = ["text_pair"] if "text_pair" in inp.misclassified.columns else []  # a pair task
    cols = ["text", *pair, "label", "predicted", "score"]
    out += ["## Misclassified sentences (a fixed sample)", "", frame_table(inp.misclassified[cols])]
    out += ["", "## Classification report", "", "```text", inp.class_report.rstrip(), "```", ""]
    if inp.manifest:
        rows = [[s, v.get("rows"), v.get("sha256")] for s, v in inp.manifest["splits"].items()]
        if lab := inp.manifest.get("labels"):
            rows.append(["labels.json", None, lab.get("sha256")])
        out += ["## Data", "", md_table(rows, ["file", "rows", "sha256"]), ""]
    out += ["evaluated file sha256: `" + m["data"]["split_sha256"] + "`", ""]
    versions = [[k, v] for k, v in package_versions().items()]
    out += [
        "## Environment",
        "",
        f"Device: {device()}",
        "",
        md_table(versions, ["package", "version"]),
    ]
    config = yaml.safe_dump(inp.config, allow_unicode=True, sort_keys=False).rstrip()
    out += ["", "## Config", "", "```yaml", config, "```", ""]
    out += ["## Reproduce", "", "```sh", inp.command, "```", ""]
    return "\n".join(out)


def write_report(out_dir: Path, inp: ReportInputs) -> Path:
    """figures/*.png, report.md and report.html under ``out_dir``; returns report.md's path."""
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    plot_confusion(fig_dir / "confusion_matrix.png", inp)
    plot_per_class_f1(fig_dir / "per_class_f1.png", inp)
    figures = [("confusion matrix", "confusion_matrix.png"), ("F1 per label", "per_class_f1.png")]
    if "calibration" in inp.metrics:
        calibration = inp.metrics["calibration"]
        figures += calibrated.write_figures(fig_dir, calibration, inp.model, inp.min_score)
    if curves_figure(fig_dir / "curves.png", inp.model_dir):
        figures.append(("training curves", "curves.png"))
    md = render_markdown(inp, figures)
    write_text(out_dir / "report.md", md)
    write_text(out_dir / "report.html", render_html(md, fig_dir, f"Evaluation of {inp.model}"))
    return out_dir / "report.md"
