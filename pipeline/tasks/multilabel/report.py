"""The multi-label report's figures and report.md (docs/evaluate.md says how to read them),
with the "Backends" table when the run has an ONNX export (backends.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.reporting import md_escape, md_table
from pipeline.tasks.multilabel.backends import backends_markdown

N_WRONG = 15


def _save(fig: Any, path: Path) -> None:
    from pipeline.plots import pyplot

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    pyplot().close(fig)


def write_figures(out: Path, m: dict[str, Any], names: list[str]) -> None:
    """per_label_f1.png (model vs baseline), label_count.png (true vs predicted labels per
    sentence), reliability.png (per-label scores before and after the temperature)."""
    from pipeline.plots import pyplot

    plt = pyplot()
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(1.6 + 0.8 * len(names), 3.6))
    model = [m["per_label"][n]["f1"] for n in names]
    ax.bar(x - 0.2, model, 0.4, label="model")
    if m.get("baseline"):
        ax.bar(x + 0.2, [m["baseline"]["per_label"][n]["f1"] for n in names], 0.4,
               label=m["baseline"]["name"])  # fmt: skip
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("F1 (per-label thresholds)")
    ax.set_title("레이블별 F1 (per-label F1)")
    ax.legend(loc="lower right", fontsize=8)
    _save(fig, out / "per_label_f1.png")

    counts = m["label_count"]
    ks = sorted({int(k) for side in counts.values() for k in side})
    fig, ax = plt.subplots(figsize=(4.8, 3.2))
    xs = np.arange(len(ks))
    ax.bar(xs - 0.2, [counts["true"].get(str(k), 0) for k in ks], 0.4, label="true")
    ax.bar(xs + 0.2, [counts["predicted"].get(str(k), 0) for k in ks], 0.4, label="predicted")
    ax.set_xticks(xs, [str(k) for k in ks])
    ax.set_xlabel("labels per sentence")
    ax.set_ylabel("sentences")
    ax.set_title("문장당 레이블 수 (label count)")
    ax.legend(fontsize=8)
    _save(fig, out / "label_count.png")

    fig, ax = plt.subplots(figsize=(4.4, 4.0))
    ax.plot([0, 1], [0, 1], color="gray", linestyle=":", linewidth=1)
    cal = m["calibration"]
    for side in ("raw", "calibrated"):
        r = cal[side]["reliability"]
        keep = np.asarray(r["count"]) > 0
        ax.plot(np.asarray(r["confidence"])[keep], np.asarray(r["accuracy"])[keep], marker="o",
                label=f"{side} (ECE {cal[side]['ece']:.3f})")  # fmt: skip
    ax.set_xlabel("score (per label)")
    ax.set_ylabel("share positive")
    ax.set_title(f"신뢰도 (reliability), T = {cal['temperature']:.2f}")
    ax.legend(fontsize=8)
    _save(fig, out / "reliability.png")


def _f(x: Any) -> str:
    return f"{x:.4f}" if isinstance(x, float) else str(x)


def markdown(name: str, m: dict[str, Any], names: list[str], preds: pd.DataFrame,
             command: str) -> str:  # fmt: skip
    b = m.get("baseline") or {}
    keys = [("micro F1", "micro_f1"), ("macro F1", "macro_f1"), ("samples F1", "samples_f1"),
            ("micro precision", "micro_precision"), ("micro recall", "micro_recall"),
            ("subset accuracy", "accuracy"), ("Hamming loss", "hamming_loss")]  # fmt: skip
    verdict = (
        f"**below the {b.get('name')} baseline**"
        if m["below_baseline"]
        else f"above the {b.get('name')} baseline on micro and macro F1"
        if b
        else "no baseline (train or validation split missing)"
    )
    rows = [[label, _f(m[k]), _f(m["at_0.5"][k]), _f(b.get(k, ""))] for label, k in keys]
    per_label = [
        [md_escape(n), _f(m["thresholds"][n]), *(_f(m["per_label"][n][k]) for k in
         ("precision", "recall", "f1")), m["per_label"][n]["support"],
         m["per_label"][n]["predicted"], _f(b["per_label"][n]["f1"]) if b else ""]
        for n in names
    ]  # fmt: skip
    cal = m["calibration"]
    count = m["label_count"]
    ks = sorted({int(k) for side in count.values() for k in side})
    wrong = preds[~preds["exact"]].head(N_WRONG)
    lines = [
        f"# Multi-label report: {name}",
        "",
        f"{m['n']} sentences ({m.get('split', m.get('input'))}); the model is {verdict}. "
        f"Each label is chosen when its calibrated score reaches its threshold (tuned on the "
        f"validation split); `at 0.5` is the same model at one threshold of 0.5.",
        "",
        md_table(rows, ["metric", "model (tuned thresholds)", "model at 0.5", "baseline"]),
        "",
        "## Per label",
        "",
        md_table(
            per_label,
            [
                "label",
                "threshold",
                "precision",
                "recall",
                "F1",
                "support",
                "predicted",
                "baseline F1",
            ],
        ),  # fmt: skip
        "",
        "![per-label F1](figures/per_label_f1.png)",
        "",
        "## Labels per sentence",
        "",
        md_table(
            [[side, *(count[side].get(str(k), 0) for k in ks)] for side in count],
            ["", *(str(k) for k in ks)],
        ),  # fmt: skip
        "",
        "![label count](figures/label_count.png)",
        "",
        "## Calibration",
        "",
        f"One temperature T = {cal['temperature']:.3f} divides every logit (fitted on the "
        "validation split). Over every (sentence, label) score of this split:",
        "",
        md_table(
            [[s, _f(cal[s]["ece"]), _f(cal[s]["nll"])] for s in ("raw", "calibrated")],
            ["scores", "ECE (15 bins)", "NLL (mean BCE)"],
        ),  # fmt: skip
        "",
        "![reliability](figures/reliability.png)",
        "",
        *_validation_lines(m.get("thresholds_on_validation") or {}),
        *backends_markdown(m.get("backends") or [], m.get("backend", "tf")),
        f"## Sentences not exactly right (first {len(wrong)})",
        "",
        md_table(
            [
                [md_escape(r.text), md_escape(r.labels), md_escape(r.predicted)]
                for r in wrong.itertuples()
            ],
            ["text", "true", "predicted"],
        ),  # fmt: skip
        "",
        f"Reproduce: `{command}`",
        "",
    ]
    return "\n".join(lines)


def _validation_lines(v: dict[str, float]) -> list[str]:
    """The thresholds against one of 0.5 on the validation split they were tuned on."""
    if not v:
        return []
    rows = [[a, _f(v[f"{a}_f1_tuned"]), _f(v[f"{a}_f1_at_0.5"])] for a in ("micro", "macro")]
    return [
        "On the validation split the thresholds were tuned on (train, calibration.json):",
        "",
        md_table(rows, ["F1", "tuned thresholds", "one threshold of 0.5"]),
        "",
    ]
