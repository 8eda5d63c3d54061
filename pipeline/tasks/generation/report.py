"""report.md of a generation run: verdict, perplexity table, diversity, the samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.io import write_text
from pipeline.reporting import curves_figure, md_escape, md_table


def verdict(m: dict[str, Any]) -> str:
    ours, base = m["perplexity"]["test"], m["baseline"]["perplexity"]["test"]
    if ours < base:
        return (
            f"The fine-tuned model's test perplexity **{ours:.2f}** is below the bigram "
            f"baseline's **{base:.2f}** ({base / ours:.1f}x lower)."
        )
    return (
        f"**Warning: the fine-tuned model's test perplexity {ours:.2f} is not below the "
        f"bigram baseline's {base:.2f}**: it has not learned more than word-pair statistics."
    )


def render(m: dict[str, Any], samples: pd.DataFrame, has_curves: bool) -> str:
    ppl, base, s = m["perplexity"], m["baseline"], m["samples"]
    rows = [
        [f"fine-tuned ({m['model']})", ppl["validation"], ppl["test"]],
        ["base model, before fine-tuning", None, m["base_model_perplexity"]["test"]],
        [f"baseline: {base['name']}", base["perplexity"]["validation"], base["perplexity"]["test"]],
    ]
    lines = [
        f"# Generation report: {md_escape(m['model'])}",
        "",
        verdict(m),
        "",
        "## Perplexity (per token, lower is better)",
        "",
        md_table(rows, ["model", "validation", "test"]),
        "",
        "## Samples",
        "",
        f"{s['n']} generations, one per prompt, condition and seed (identical on every run); "
        f"settings: {md_escape(str(s['settings']))}.",
        "",
        md_table(
            [
                ["samples", s["distinct_1"], s["distinct_2"], s["repetition_rate"]],
                [
                    "test sentences (reference)",
                    m["training_data"]["distinct_1"],
                    m["training_data"]["distinct_2"],
                    None,
                ],
            ],
            ["", "distinct-1", "distinct-2", "repetition rate"],
        ),
        "",
    ]
    cm = m.get("condition_match")
    if cm:
        lines += [
            f"The classifier assigns **{cm['share']:.1%}** of the conditioned samples to the "
            f"requested condition (chance: {cm['chance']:.1%}).",
            "",
            md_table([[k, v] for k, v in cm["per_condition"].items()], ["condition", "share"]),
            "",
        ]
    cols = ["condition", "seed", "generated_text"] + (["classifier_label"] if cm else [])
    lines += [md_table(samples[cols].fillna("").to_numpy().tolist(), cols), ""]
    if has_curves:
        lines += ["## Training curves", "", "![curves](figures/curves.png)", ""]
    return "\n".join(lines)


def write(out: Path, m: dict[str, Any], samples: pd.DataFrame, run_dir: Path) -> None:
    (out / "figures").mkdir(exist_ok=True)
    has_curves = curves_figure(out / "figures" / "curves.png", run_dir)
    write_text(out / "report.md", render(m, samples, has_curves))
