"""A classifier's calibration: the temperature fitted after training, and the report's section.

- ``fit_calibration`` (the tasks' ``calibrate`` role, called by train): the validation split's
  logits through the batched forward, one temperature minimising their NLL -> the run's
  calibration.json (pipeline/calibration.py has the arithmetic).
- ``evaluated`` (evaluate): the scores the report shows (calibrated unless serve.calibration is
  off) and metrics.json's ``calibration``: ECE (15 bins) and NLL of the evaluated sentences
  before and after the temperature, both reliability tables, and the coverage curve of the
  shown scores (how many sentences a ``serve.min_score`` answers and how accurately).
- ``write_figures`` and ``markdown``: the reliability diagram (before vs after), the
  coverage/accuracy curve and the report's "Calibration" section.

Dividing the logits by a positive temperature keeps each row's order: no label, accuracy or
F1 changes. A multi-label task can reuse ``evaluated``, ``write_figures`` and ``markdown`` with
its sigmoid calibration: the reliability tables then pool every (sentence, label) score.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline import calibration as cal
from pipeline.calibration import Calibration
from pipeline.config import Config
from pipeline.model.batched_classifier import BatchedClassifier, softmax
from pipeline.plots import pyplot
from pipeline.reporting import md_table

logger = logging.getLogger("pipeline.calibration")

TARGETS = (0.8, 0.9, 0.95)  # accuracies the report names the smallest min_score for
RELIABILITY_PNG = "reliability.png"
COVERAGE_PNG = "coverage.png"


def fit_calibration(task: Any, cfg: Config, model: Any, tokenizer: Any,
                    val_df: pd.DataFrame) -> Calibration | None:  # fmt: skip
    """The temperature minimising the trained model's NLL on the validation split (its
    ``label_id`` column); None (logged) without validation sentences."""
    if val_df.empty:
        logger.warning("no validation sentences: the run's scores are not calibrated")
        return None
    clf = BatchedClassifier(
        model, tokenizer, cfg.model.max_seq_len, cfg.evaluate.batch_size, task.encode
    )
    logits = clf.predict_logits(task.examples(val_df))
    y = val_df["label_id"].to_numpy()
    temperature = cal.fit_temperature(logits, y)
    before, after = cal.nll(logits, y), cal.nll(logits, y, temperature)
    logger.info(
        "calibration: temperature %.4f on %d validation sentences, NLL %.4f -> %.4f",
        temperature, len(y), before, after,
    )  # fmt: skip
    return Calibration(
        temperature=round(temperature, 6),
        kind="softmax",
        n=len(y),
        nll_raw=round(before, 6),
        nll_calibrated=round(cal.nll(logits, y, round(temperature, 6)), 6),
    )


@dataclass(frozen=True)
class Evaluated:
    """The scores a report shows and what metrics.json says about their calibration."""

    probs: np.ndarray  # softmax(logits / T) with T the run's temperature when applied, else 1
    metrics: dict[str, Any]


def evaluated(logits: np.ndarray, y_true: np.ndarray, calibration: Calibration | None,
              applied: bool, kind: cal.Kind = "softmax") -> Evaluated:  # fmt: skip
    """The shown scores and the calibration metrics of ``logits`` against ``y_true``.

    ``calibration``: the run's (None: it has none, the scores are raw); ``applied``:
    serve.calibration (false: the report shows the raw scores and still measures both).
    ``kind`` (a run's calibration says its own): softmax, ``y_true`` label ids, each top score
    against right or wrong, and the coverage curve; sigmoid (multi-label), ``y_true`` 0/1 rows,
    every (sentence, label) score against its truth, no coverage curve."""
    logits = np.asarray(logits, dtype=np.float32)
    kind = calibration.kind if calibration else kind
    t = calibration.temperature if calibration else 1.0
    if kind == "sigmoid":
        raw, scaled = cal.scaled_probs(logits, 1.0, kind), cal.scaled_probs(logits, t, kind)
    else:
        raw, scaled = softmax(logits), softmax(logits / np.float32(t))
    shown = scaled if applied else raw

    def measured(probs: np.ndarray, temperature: float) -> dict[str, Any]:
        if kind == "sigmoid":
            conf, ok = probs.ravel(), np.asarray(y_true, dtype=np.float64).ravel()
        else:
            conf, ok = cal.confidence(probs), cal.correct(probs, y_true)
        return {
            "ece": round(cal.ece(conf, ok), 6),
            "nll": round(cal.nll(logits, y_true, temperature, kind), 6),
            "mean_confidence": round(float(conf.mean()), 6),
            "reliability": _rounded(cal.reliability(conf, ok)),
        }

    before = measured(raw, 1.0)
    after = measured(scaled, t) if calibration else None
    coverage = (
        []
        if kind == "sigmoid"
        else cal.coverage_curve(cal.confidence(shown), cal.correct(shown, y_true))
    )
    metrics = {
        "kind": kind,
        "temperature": t if calibration else None,
        "fit_on": calibration.fit_on if calibration else None,
        "applied": bool(calibration and applied),
        "bins": cal.BINS,
        "ece_raw": before["ece"],
        "ece_calibrated": after and after["ece"],
        "nll_raw": before["nll"],
        "nll_calibrated": after and after["nll"],
        "mean_confidence_raw": before["mean_confidence"],
        "mean_confidence_calibrated": after and after["mean_confidence"],
        "coverage": [_rounded(row) for row in coverage],
        "reliability": {"raw": before["reliability"], "calibrated": after and after["reliability"]},
    }
    return Evaluated(shown, metrics)


def _rounded(tree: dict[str, Any]) -> dict[str, Any]:
    def r(v: Any) -> Any:
        return round(v, 6) if isinstance(v, float) else v

    return {k: [r(x) for x in v] if isinstance(v, list) else r(v) for k, v in tree.items()}


def smallest_min_score(coverage: list[dict[str, Any]], target: float) -> dict[str, Any] | None:
    """The coverage row of the smallest min_score whose answers reach ``target`` accuracy."""
    for row in coverage:
        if row["accuracy"] is not None and row["accuracy"] >= target:
            return row
    return None


# --- figures ------------------------------------------------------------------------------


def write_figures(fig_dir: Path, metrics: dict[str, Any], model: str,
                  min_score: float = 0.0) -> list[tuple[str, str]]:  # fmt: skip
    """reliability.png and (softmax) coverage.png under ``fig_dir``; their (title, file) for the
    report."""
    plot_reliability(fig_dir / RELIABILITY_PNG, metrics, model)
    figures = [("reliability diagram, before and after calibration", RELIABILITY_PNG)]
    if metrics["coverage"]:
        plot_coverage(fig_dir / COVERAGE_PNG, metrics, model, min_score)
        figures.append(("coverage and accuracy by min_score", COVERAGE_PNG))
    return figures


def plot_reliability(path: Path, metrics: dict[str, Any], model: str) -> None:
    """Per confidence bin, the share of right answers against the mean confidence: raw and
    calibrated side by side (a perfectly calibrated model lies on the diagonal)."""
    plt = pyplot()
    tables = [("raw", metrics["reliability"]["raw"], metrics["ece_raw"])]
    if metrics["reliability"]["calibrated"] is not None:
        title = f"calibrated (T = {metrics['temperature']:.3g})"
        tables.append((title, metrics["reliability"]["calibrated"], metrics["ece_calibrated"]))
    fig, axes = plt.subplots(1, len(tables), figsize=(5 * len(tables), 4.6), squeeze=False)
    for ax, (title, table, ece) in zip(axes[0], tables, strict=True):
        edges = np.asarray(table["edges"])
        count = np.asarray(table["count"])
        width = np.diff(edges)
        shown = count > 0
        ax.bar(edges[:-1][shown], np.asarray(table["accuracy"])[shown], width=width[shown],
               align="edge", edgecolor="black", linewidth=0.5, label="accuracy")  # fmt: skip
        ax.bar(edges[:-1][shown], np.asarray(table["confidence"])[shown], width=width[shown],
               align="edge", fill=False, edgecolor="red", hatch="//", linewidth=0.5,
               label="mean confidence")  # fmt: skip
        ax.plot([0, 1], [0, 1], color="gray", linestyle="--", linewidth=0.8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        sigmoid = metrics["kind"] == "sigmoid"  # every label's score against its truth
        ax.set_xlabel("score" if sigmoid else "confidence (top score)")
        ax.set_ylabel("share true" if sigmoid else "accuracy")
        ax.set_title(f"{title}: ECE {ece:.3f}")
        share = ax.twinx()  # how many answers each bin holds
        share.plot((edges[:-1] + edges[1:]) / 2, count / max(count.sum(), 1), color="tab:green",
                   marker=".", linewidth=0.8, label="share of sentences")  # fmt: skip
        share.set_ylim(0, 1)
        share.set_ylabel("share of sentences", color="tab:green")
        handles = ax.get_legend_handles_labels()[0] + share.get_legend_handles_labels()[0]
        ax.legend(handles, [h.get_label() for h in handles], fontsize=8, loc="upper left")
    fig.suptitle(f"reliability ({metrics['bins']} bins), {model}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_coverage(path: Path, metrics: dict[str, Any], model: str, min_score: float) -> None:
    """Share of sentences answered and accuracy of those answers, by min_score."""
    plt = pyplot()
    rows = metrics["coverage"]
    cut = [r["min_score"] for r in rows]
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    ax.plot(cut, [r["coverage"] for r in rows], marker=".", label="share answered")
    acc = [np.nan if r["accuracy"] is None else r["accuracy"] for r in rows]
    ax.plot(cut, acc, marker=".", label="accuracy of the answered")
    if min_score > 0:
        ax.axvline(min_score, color="red", linestyle="--", linewidth=0.8, label="serve.min_score")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("min_score (best score at least)")
    ax.set_ylabel("share")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    scores = "calibrated" if metrics["applied"] else "raw"
    ax.set_title(f"coverage and accuracy ({scores} scores), {model}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# --- report section -----------------------------------------------------------------------


def markdown(metrics: dict[str, Any], n: int, min_score: float = 0.0) -> list[str]:
    """The report's "Calibration" section (docs/evaluate.md says how to read it)."""
    m = metrics
    out = ["## Calibration", ""]
    if m["temperature"] is None:
        out += [
            "This run has no calibration.json (trained before calibration existed): the scores "
            "are the raw softmax. Train it again (`make train ARGS=--force`) to fit a "
            "temperature on the validation split.",
            "",
        ]
    else:
        shown = "calibrated" if m["applied"] else "raw (`--no-calibration`)"
        out += [
            f"The run's logits are divided by the temperature T = {m['temperature']:.4g} fitted "
            f"on the {m['fit_on']} split after training (calibration.json). It changes how sure "
            "the scores look, never which label is first: the accuracy and F1 above are the "
            f"same either way. The scores in this report are {shown}.",
            "",
        ]
    rows = [
        [f"ECE ({m['bins']} bins)", m["ece_raw"], m["ece_calibrated"]],
        ["NLL", m["nll_raw"], m["nll_calibrated"]],
        [
            "mean score" if m["kind"] == "sigmoid" else "mean top score",
            m["mean_confidence_raw"],
            m["mean_confidence_calibrated"],
        ],
    ]
    header = ["on these sentences", "raw", "calibrated"]
    if m["temperature"] is None:
        rows, header = [r[:2] for r in rows], header[:2]
    out += [md_table(rows, header), ""]
    if m["nll_calibrated"] is not None and m["nll_calibrated"] > m["nll_raw"]:
        out += [
            "On these sentences the temperature did not lower the NLL: the model was already "
            "about as well calibrated as the validation split can tell (or that split is too "
            "small to fit T). Compare on a larger labelled file (`--input`); "
            "`serve.calibration: false` keeps the raw scores.",
            "",
        ]
    if not m["coverage"]:
        return out
    coverage = [
        [f"{r['min_score']:g}", round(r["coverage"] * n), f"{r['coverage']:.1%}", r["accuracy"]]
        for r in m["coverage"]
    ]
    out += [
        "### Coverage by min_score",
        "",
        "With `serve.min_score` (predict `--min-score`) an answer whose best score is below it "
        "is marked unsure. Share of these sentences answered at each value, and the accuracy "
        "of those answers:",
        "",
        md_table(coverage, ["min_score", "answered", "share", "accuracy of the answered"]),
        "",
    ]
    for target in TARGETS:
        row = smallest_min_score(m["coverage"], target)
        if row is None:
            out.append(f"- accuracy {target:.0%}: no min_score in the table reaches it")
        else:
            out.append(
                f"- accuracy {target:.0%}: min_score {row['min_score']:g} "
                f"(answers {row['coverage']:.1%} of the sentences)"
            )
    if min_score > 0:
        out.append(f"- the config's serve.min_score is {min_score:g}")
    return [*out, ""]
