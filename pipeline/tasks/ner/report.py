"""The NER report's pieces: the character-level type confusion figure and report.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.reporting import backends_section
from pipeline.tasks.ner.metrics import char_types


def confusion_figure(texts: list, gold: list, pred: list, types: list[str], path: Path) -> None:
    from pipeline.plots import pyplot

    names = [*types, "O"]
    at = {n: i for i, n in enumerate(names)}
    matrix = np.zeros((len(names), len(names)), dtype=np.int64)
    for text, g, p in zip(texts, gold, pred, strict=True):
        for a, b in zip(char_types(text, g), char_types(text, p), strict=True):
            matrix[at[a], at[b]] += 1
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * len(names), 0.8 + 0.7 * len(names)))
    share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(
                j,
                i,
                str(matrix[i, j]),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if share[i, j] > 0.5 else "black",
            )
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("예측 (predicted type, per character)")
    ax.set_ylabel("정답 (true type)")
    ax.set_title("개체 유형 혼동 행렬 (characters)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def markdown(name: str, m: dict[str, Any], types: list[str], worst: pd.DataFrame) -> str:
    b = m["baseline"]
    verdict = (
        "**below the dictionary baseline**"
        if m["below_baseline"]
        else "above the dictionary baseline"
    )
    lines = [
        f"# NER report: {name}",
        "",
        f"{m['n']} sentences, {m['entities']} entities ({m.get('split', m.get('input'))}). "
        f"Entity F1 {m['entity_f1']:.4f} vs {b['entity_f1']:.4f} for the baseline "
        f"({b['name']}): {verdict}. With this tokenizer no model can pass "
        f"{m['tokenizer_ceiling_f1']:.4f}: the gold entities themselves, turned into word-piece "
        "tags and back, lose that much where a piece runs past an entity's end (docs/tasks.md).",
        "",
        "| metric | model | baseline |",
        "|---|---:|---:|",
    ]
    for key in ("entity_f1", "entity_precision", "entity_recall", "macro_f1", "accuracy"):
        lines.append(f"| {key} | {m[key]:.4f} | {b[key]:.4f} |")
    lines += [
        "",
        "## Per type (exact span and type)",
        "",
        "| type | precision | recall | F1 | support | baseline F1 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for t in types:
        r, rb = m["per_type"][t], b["per_type"][t]
        lines.append(
            f"| {t} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | "
            f"{r['support']} | {rb['f1']:.3f} |"
        )
    lines += _backend_lines(m.get("backends") or [], m.get("backend", "tf"))
    lines += [
        "",
        "![confusion matrix](figures/confusion_matrix.png)",
        "",
        "## Worst sentences (most entity errors)",
        "",
        "| errors | gold | predicted |",
        "|---:|---|---|",
    ]
    for r in worst.itertuples():
        lines.append(
            f"| {r.errors} | {r.gold_marked.replace('|', '/')} | "
            f"{r.predicted_marked.replace('|', '/')} |"
        )
    return "\n".join(lines) + "\n"


def _backend_lines(rows: list[dict[str, Any]], main: str) -> list[str]:
    """The run's backends side by side (TF, ONNX fp32, int8; nothing without an export)."""
    columns = [("entity_f1", "entity F1", ".4f"), ("macro_f1", "macro F1", ".4f"),
               ("sentences_as_tf", "sentences as TF", ".1%")]  # fmt: skip
    section = backends_section(rows, main, columns)
    return ["", *section[:-1]] if section else []
