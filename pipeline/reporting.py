"""What every task's report and card share: Markdown tables, the self-contained HTML page, the
training curves figure and a line naming the machine.

Text from the data (sentences, label names) goes through ``md_escape`` so it can never become a
link, an image or a table break; ``render_html`` turns a report.md into one page with its
figures inlined and raw HTML off.
"""

from __future__ import annotations

import base64
import html
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.paths import RunDir
from pipeline.plots import pyplot

# History columns that are not metrics (pipeline/fitting/callbacks.py writes them).
NOT_METRICS = ("epoch", "learning_rate", "seconds")
TITLES = {"loss": "손실 (loss)", "accuracy": "정확도 (accuracy)"}


def plot_curves(history: pd.DataFrame, best_epoch: int | None, path: Path, title: str) -> None:
    """One panel per metric of the history (loss first), train and validation, the best epoch
    marked: whatever the task's metrics are (accuracy, entity F1, next-token accuracy)."""
    from matplotlib.ticker import MaxNLocator

    trained = [c for c in history.columns if c not in NOT_METRICS and not c.startswith("val_")]
    alone = [c for c in history.columns if c.startswith("val_") and c[4:] not in trained]
    panels = [(m, [m, f"val_{m}"]) for m in trained] + [(c, [c]) for c in alone]
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, (metric, columns) in zip(axes[0], panels, strict=True):
        for column in columns:
            if column in history:
                side = "검증" if column.startswith("val_") else "학습"
                ax.plot(history["epoch"], history[column], "o-", label=f"{side} {column}")
        if best_epoch is not None:
            ax.axvline(best_epoch, color="grey", linestyle="--", label=f"최적 epoch {best_epoch}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(TITLES.get(metric, metric))
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def curves_figure(path: Path, run_dir: Path) -> bool:
    """The run's curves.png, or one drawn from its history.csv; False if the run has neither."""
    run = RunDir(run_dir)
    if run.curves.is_file():
        shutil.copyfile(run.curves, path)
        return True
    if not run.history.is_file():
        return False
    plot_curves(pd.read_csv(run.history), None, path, run_dir.name)
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


def backends_section(rows: list[dict[str, Any]], main: str,
                     columns: list[tuple[str, str, str]]) -> list[str]:  # fmt: skip
    """The report's "Backends" section: one row per backend (tf, onnx, onnx-int8; ``main``
    marked as the one reported above) with ``columns`` (key, header, format spec); nothing
    when there is only TF (the run has no ONNX export)."""
    if len(rows) < 2:
        return []
    table = md_table(
        [[r["backend"] + (" (reported above)" if r["backend"] == main else ""),
          *(format(r[key], spec) for key, _, spec in columns)] for r in rows],
        ["backend", *(header for _, header, _ in columns)],
    )  # fmt: skip
    return [
        "## Backends",
        "",
        "The same sentences on TensorFlow and on the run's ONNX export (`make export`, "
        "docs/onnx.md). metrics.json's `backends` also holds each one's sentences/s in this "
        "one pass; the speed comparison is `make bench`'s (reports/bench/onnx.json).",
        "",
        table,
        "",
    ]


def frame_table(df: pd.DataFrame) -> str:
    return md_table(df.to_numpy().tolist(), [str(c) for c in df.columns]) if len(df) else "(none)"


def device() -> str:
    """The accelerator or CPU the numbers were measured on, in one line."""
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


# --- html ---------------------------------------------------------------------------------------

HTML_STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 6px}"
    "img{max-width:100%}pre{background:#f5f5f5;padding:1em;overflow-x:auto}"
)


def render_html(md: str, figures_dir: Path, title: str) -> str:
    """report.md as one self-contained page: the figures become base64 data URIs."""
    import markdown

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
