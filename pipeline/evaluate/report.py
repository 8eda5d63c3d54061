"""The evaluation report: figures, report.md, and report.html with the figures inlined.

Everything here is a function of its inputs: no timestamps, no timings, so evaluating the same
run twice writes the same report.md (times live in run.json only).

Long because: report.md and report.html are one document in two forms; their sections are
written side by side.
"""

from __future__ import annotations

import base64
import html
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import markdown
import numpy as np
import pandas as pd
import yaml
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from pipeline.io import package_versions, write_text
from pipeline.plots import pyplot


@dataclass(frozen=True)
class ReportInputs:
    model: str  # run name (models/<model>)
    model_dir: Path
    metrics: dict[str, Any]
    baseline: dict[str, Any] | None  # evaluate.score() of the baseline, or None
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


def curves_figure(path: Path, run_dir: Path) -> bool:
    """The run's curves.png, or one drawn from its history.csv; False if the run has neither."""
    if (run_dir / "curves.png").is_file():
        shutil.copyfile(run_dir / "curves.png", path)
        return True
    if not (run_dir / "history.csv").is_file():
        return False
    plt = pyplot()
    hist = pd.read_csv(run_dir / "history.csv")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        for col in (metric, f"val_{metric}"):
            if col in hist:
                ax.plot(hist["epoch"], hist[col], marker="o", label=col)
        ax.set_xlabel("epoch")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


# --- markdown -----------------------------------------------------------------------------------


# Markdown that text from the data could use to make a link or an image in report.html
# (raw HTML is off in the converter, see render_html): backslash-escaped in table cells.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]!|])")


def md_escape(text: str) -> str:
    """``text`` (a sentence, a label name) as literal Markdown text: one line, no markup."""
    return _MD_SPECIAL.sub(r"\\\1", text.replace("\r", " ").replace("\n", " "))


def md_table(rows: list[list[Any]], header: list[str]) -> str:
    def cell(v: Any) -> str:
        return f"{v:.4f}" if isinstance(v, float) else ("" if v is None else md_escape(str(v)))

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def frame_table(df: pd.DataFrame) -> str:
    return md_table(df.to_numpy().tolist(), [str(c) for c in df.columns]) if len(df) else "(none)"


METRIC_ROWS = [
    ("accuracy", "accuracy"),
    ("macro precision", "macro_precision"),
    ("macro recall", "macro_recall"),
    ("macro F1", "macro_f1"),
    ("weighted precision", "weighted_precision"),
    ("weighted recall", "weighted_recall"),
    ("weighted F1", "weighted_f1"),
]


def results_table(metrics: dict[str, Any], baseline: dict[str, Any] | None) -> str:
    base = baseline or {}
    rows = [[title, metrics[key], base.get(key)] for title, key in METRIC_ROWS]
    for k, v in metrics["top_k_accuracy"].items():
        rows.append([f"top-{k} accuracy", v, base.get("top_k_accuracy", {}).get(k)])
    if metrics["group_accuracy"] is not None or base.get("group_accuracy") is not None:
        rows.append(["major-group accuracy", metrics["group_accuracy"], base.get("group_accuracy")])
    return md_table(rows, ["metric", f"BERT ({metrics['model']})", "baseline (TF-IDF char + LR)"])


def below_baseline_note(metrics: dict[str, Any], baseline: dict[str, Any] | None) -> list[str]:
    """The verdict that opens the report: a warning when the model loses to the baseline."""
    if baseline is None:
        return []
    if not metrics.get("below_baseline"):
        return [
            f"The model's macro F1 ({metrics['macro_f1']:.4f}) is at or above the TF-IDF "
            f"baseline's ({baseline['macro_f1']:.4f}) on the same sentences.",
            "",
        ]
    return [
        f"> **Below the baseline:** the model's macro F1 ({metrics['macro_f1']:.4f}) is lower "
        f"than the TF-IDF baseline's ({baseline['macro_f1']:.4f}) on the same sentences.",
        "",
    ]


def device() -> str:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = [
            tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus
        ]
        return "GPU: " + ", ".join(names)
    model = "unknown CPU"
    if Path("/proc/cpuinfo").is_file():
        found = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        model = found.group(1).strip() if found else model
    return f"CPU: {model} ({os.cpu_count()} logical cores)"


def render_markdown(inp: ReportInputs, figures: list[tuple[str, str]]) -> str:
    m, info = inp.metrics, inp.run_info
    out = [f"# Evaluation of `{inp.model}`", "", *below_baseline_note(m, inp.baseline)]
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
    out += ["", "## Results", "", results_table(m, inp.baseline), ""]
    if m["group_accuracy"] is None:
        out += ["No major-group accuracy: the data has no group column.", ""]
    if inp.baseline is None:
        out += ["No baseline: the project has no train split to fit it on.", ""]
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


HTML_STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 6px}"
    "img{max-width:100%}pre{background:#f5f5f5;padding:1em;overflow-x:auto}"
)


def render_html(md: str, figures_dir: Path, title: str) -> str:
    """report.md as one self-contained page: the figures become base64 data URIs."""
    converter = markdown.Markdown(extensions=["tables", "fenced_code"])
    # No raw HTML: a sentence or label like <script>...</script> is shown, never run; and no
    # autolinks: <https://...> or <a@b.c> in a sentence is shown as text, never a live link.
    converter.preprocessors.deregister("html_block")
    for pattern in ("html", "autolink", "automail"):
        converter.inlinePatterns.deregister(pattern)
    body = converter.convert(md)

    def inline(match: re.Match) -> str:
        data = base64.b64encode((figures_dir / match.group(1)).read_bytes()).decode("ascii")
        return f'src="data:image/png;base64,{data}"'

    body = re.sub(r'src="figures/([^"]+\.png)"', inline, body)
    return (
        f'<!DOCTYPE html>\n<html lang="ko"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        f"<style>{HTML_STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )


def write_report(out_dir: Path, inp: ReportInputs) -> Path:
    """figures/*.png, report.md and report.html under ``out_dir``; returns report.md's path."""
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    plot_confusion(fig_dir / "confusion_matrix.png", inp)
    plot_per_class_f1(fig_dir / "per_class_f1.png", inp)
    figures = [("confusion matrix", "confusion_matrix.png"), ("F1 per label", "per_class_f1.png")]
    if curves_figure(fig_dir / "curves.png", inp.model_dir):
        figures.append(("training curves", "curves.png"))
    md = render_markdown(inp, figures)
    write_text(out_dir / "report.md", md)
    write_text(out_dir / "report.html", render_html(md, fig_dir, f"Evaluation of {inp.model}"))
    return out_dir / "report.md"
