"""The model card of a generation run: ``pipeline_tag: text-generation``, perplexity in the
``model-index``, the perplexity table against the baselines and sample generations.

The generation task's card role (publish asks it through the task); reads the run's
evaluation report (reports/<run>/metrics.json and samples.csv), written by evaluate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.errors import PipelineError
from pipeline.io import read_json
from pipeline.paths import RunDir
from pipeline.reporting import md_table
from pipeline.tasks.base import Card

N_SAMPLES = 8


def read_report(report_dir: Path, run_name: str, force: bool) -> tuple[dict | None, pd.DataFrame]:
    """metrics.json and samples.csv of the run's report (None, empty with ``force``)."""
    path = report_dir / RunDir.METRICS
    if not path.is_file():
        if force:
            return None, pd.DataFrame()
        raise PipelineError(
            f"no evaluation report {path}: run `make evaluate MODEL={run_name}` first, "
            "or pass --force to publish without metrics"
        )
    metrics = read_json(path)
    if metrics.get("model") != run_name or "perplexity" not in metrics:
        raise PipelineError(f"{path}: not a generation report of {run_name}")
    samples = report_dir / "samples.csv"
    return metrics, pd.read_csv(samples) if samples.is_file() else pd.DataFrame()


def metadata(cfg: Any, repo_id: str, metrics: dict | None, base_model: str | None) -> str:
    from huggingface_hub import EvalResult, ModelCardData

    results = None
    if metrics:
        results = [
            EvalResult(
                task_type="text-generation",
                task_name="Text generation",
                dataset_type=(cfg.publish.datasets or ["custom"])[0],
                dataset_name=cfg.publish.dataset_name or ", ".join(cfg.ingest.files),
                dataset_split="test",
                metric_type="perplexity",
                metric_name="Perplexity",
                metric_value=float(metrics["perplexity"]["test"]),
            )
        ]
    data = ModelCardData(
        language="ko",
        license=cfg.publish.license,
        library_name="transformers",
        pipeline_tag="text-generation",
        tags=["tensorflow", "gpt2", "text-generation", "korean"],
        widget=[{"text": "[기쁨] 오늘" if cfg.generate.prefix else "오늘"}],
        base_model=base_model,
        datasets=list(cfg.publish.datasets) or None,
        metrics=["perplexity"] if metrics else None,
        model_name=repo_id.split("/")[-1] if results else None,
        eval_results=results,
    )
    return data.to_yaml()


def build(
    cfg: Any,
    repo_id: str,
    run_name: str,
    record: dict,
    metrics: dict | None,
    samples: pd.DataFrame,
    base_model: str | None,
) -> str:
    """README.md: YAML metadata, then what it is, data, training, evaluation, samples, usage."""
    base = base_model or record.get("base_model", {}).get("name_or_path") or "a GPT-2 checkpoint"
    prefix = cfg.generate.prefix
    cond = (
        f" Each training sentence was prefixed by its `{cfg.ingest.label_column}` as "
        f"`{prefix.format(label='…')}`, so a prompt starting that way steers the output."
        if prefix
        else ""
    )
    lines = [
        f"# {repo_id.split('/')[-1]}",
        "",
        f"A Korean causal language model: `TFGPT2LMHeadModel` (TensorFlow) fine-tuned from "
        f"`{base}` on {cfg.publish.dataset_name or ', '.join(cfg.ingest.files)}.{cond} Built by "
        f"the korean-emotion-bert pipeline, training run `{run_name}`.",
        "",
        "## Training",
        "",
        f"Causal-LM loss on length-bucketed sequences (padding left out of the loss), early "
        f"stopping on validation loss: best epoch {record.get('best_epoch')} of "
        f"{record.get('epochs_run')}, validation perplexity "
        f"{record.get('validation_perplexity')}.",
        "",
    ]
    if metrics:
        ppl, b = metrics["perplexity"], metrics["baseline"]
        rows = [
            ["this model", ppl["validation"], ppl["test"]],
            ["base model, before fine-tuning", None, metrics["base_model_perplexity"]["test"]],
            [b["name"], b["perplexity"]["validation"], b["perplexity"]["test"]],
        ]
        s = metrics["samples"]
        lines += [
            "## Evaluation",
            "",
            "Per-token perplexity (lower is better):",
            "",
            md_table(rows, ["model", "validation", "test"]),
            "",
            f"Samples: distinct-1 {s['distinct_1']}, distinct-2 {s['distinct_2']}, "
            f"repetition rate {s['repetition_rate']} ({s['n']} generations).",
            "",
        ]
        if metrics.get("condition_match"):
            lines += [
                f"An emotion classifier assigns {metrics['condition_match']['share']:.1%} "
                "of the conditioned samples to the requested emotion.",
                "",
            ]
    if len(samples):
        shown = samples.head(N_SAMPLES)[["seed", "generated_text"]].to_numpy().tolist()
        lines += ["## Sample generations", "", md_table(shown, ["seed", "text"]), ""]
    lines += [
        "## Usage",
        "",
        "```python",
        "from transformers import AutoTokenizer, TFAutoModelForCausalLM, TextGenerationPipeline",
        "",
        f'model = TFAutoModelForCausalLM.from_pretrained("{repo_id}")',
        f'tokenizer = AutoTokenizer.from_pretrained("{repo_id}")',
        'pipe = TextGenerationPipeline(model=model, tokenizer=tokenizer, framework="tf")',
        f'print(pipe("{"[기쁨] 오늘" if prefix else "오늘"}", max_new_tokens=24, do_sample=True, '
        "top_p=0.95, seed=[0, 0]))",
        "```",
        "",
        "## Limitations",
        "",
        "Trained on a small corpus of short dialogue sentences; it writes sentences of that "
        "kind and may produce ungrammatical or inappropriate text. Not for factual use.",
        "",
    ]
    return f"---\n{metadata(cfg, repo_id, metrics, base_model)}\n---\n\n" + "\n".join(lines)


def card(cfg: Any, ref: Any, repo_id: str, record: dict, force: bool, task_name: str) -> Card:
    """The card of a generation run, with the report files it shows."""
    from pipeline.paths import Paths

    trained_as = record.get("config", {}).get("task", task_name if not record else None)
    if trained_as != task_name:
        raise PipelineError(
            f"run {ref.name!r} was trained for task {trained_as or 'text-classification'!r} "
            f"(its run.json), not {task_name!r}: publish it with its own config"
        )
    report_dir = Paths.from_config(cfg).report_dir(ref.name)
    metrics, samples = read_report(report_dir, ref.name, force)
    name = cfg.publish.base_model or record.get("base_model", {}).get("name_or_path")
    base = name if name and "/" in name and not name.startswith((".", "/")) else None
    text = build(cfg, repo_id, ref.name, record, metrics, samples, base)
    files = [(f, report_dir / f) for f in (RunDir.METRICS, "samples.csv") if metrics]
    return Card(text, files, None)
