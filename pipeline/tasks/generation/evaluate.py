"""Evaluate a generation run: perplexity against baselines, seeded samples, their diversity.

    python -m pipeline.evaluate --config configs/gen-demo.yaml [--model RUN] [--classifier RUN]

The report (with the evaluate stage's metrics.json and run.json): report.md, samples.csv,
figures/curves.png.
Perplexity (token-level, pipeline/tasks/generation/data.py) on validation and test, for the
fine-tuned model, the base model before fine-tuning, and the bigram baseline
(metrics.py). Samples: every prompt of ``generate.prompts`` after every condition prefix, once
per seed of ``generate.seeds``, with the ``generate`` decoding settings: identical on every
run. With ``--classifier`` (a text-classification run of this project) each conditioned
sample's continuation is classified, and the report gives the share assigned to the requested
condition (its label, or the classifier label's major group when the condition is a group).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.config import Config
from pipeline.errors import PipelineError
from pipeline.io import read_json
from pipeline.model.loading import ModelRef, load_tokenizer, load_trained, resolve_model_ref
from pipeline.paths import Paths, RunDir
from pipeline.tasks.base import EvaluateRequest, Evaluation
from pipeline.tasks.generation import data, metrics, report, sampling
from pipeline.tasks.generation.arch import check_classifier
from pipeline.tasks.generation.train import load_causal_lm, sequences

logger = logging.getLogger("pipeline.evaluate")


def evaluate(req: EvaluateRequest) -> Evaluation:
    """Perplexities, baselines and samples of the run of ``req`` on the configured splits."""
    if req.input_file is not None:
        raise PipelineError(
            "--input: text generation is evaluated on the configured splits (perplexity and "
            "samples); give no --input"
        )
    cfg, paths, run = req.cfg, req.paths, RunDir(req.ref.run_dir)
    clf = _load_classifier(paths, req.classifier) if req.classifier else None
    frames = {}
    for split in ("train", "validation", "test"):
        path = paths.split_file(split)
        if not path.is_file():
            raise PipelineError(f"missing {path}: run `make data` first")
        frames[split] = pd.read_parquet(path, columns=["text", "label"])
    model, tokenizer = load_causal_lm(run.path), load_tokenizer(run.path)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    seqs = {k: sequences(cfg, tokenizer, df, cfg.model.max_seq_len) for k, df in frames.items()}
    bs = cfg.evaluate.batch_size
    ppl = {k: data.perplexity(model, seqs[k], bs, pad) for k in ("validation", "test")}
    base_lm = metrics.fit_baseline(seqs["train"], seqs["validation"], len(tokenizer))
    base_dir = Path(req.run_info.get("base_model", {}).get("resolved", "")) or None
    base_ppl = None
    if base_dir and (base_dir / "config.json").is_file():
        base_ppl = data.perplexity(load_causal_lm(base_dir), seqs["test"], bs, pad)
    labels = sorted(frames["train"]["label"].unique()) if cfg.generate.prefix else [None]
    samples = _samples(cfg, model, tokenizer, labels)
    conts = samples["continuation"].tolist()
    result: dict[str, Any] = {
        "model": req.name,
        "perplexity": {k: round(v, 4) for k, v in ppl.items()},
        "base_model_perplexity": {"test": round(base_ppl, 4) if base_ppl else None},
        "baseline": {
            "name": f"interpolated bigram LM (lambda {base_lm.lam}, chosen on validation)",
            "perplexity": {
                k: round(base_lm.perplexity(seqs[k]), 4) for k in ("validation", "test")
            },
        },
        "samples": {
            "n": len(samples),
            "distinct_1": round(metrics.distinct_n(conts, 1), 4),
            "distinct_2": round(metrics.distinct_n(conts, 2), 4),
            "repetition_rate": round(metrics.repetition_rate(conts), 4),
            "settings": sampling.defaults(cfg.generate),
        },
        "training_data": {
            "distinct_1": round(metrics.distinct_n(frames["test"]["text"].tolist(), 1), 4),
            "distinct_2": round(metrics.distinct_n(frames["test"]["text"].tolist(), 2), 4),
        },
        "condition_match": None,
    }
    if clf is not None and cfg.generate.prefix:
        samples, result["condition_match"] = _condition_match(samples, *clf)

    def write(out: Path) -> None:
        samples.to_csv(out / "samples.csv", index=False)
        report.write(out, result, samples, run.path)

    m = result
    return Evaluation(
        metrics=result,
        n=len(frames["test"]),
        write=write,
        inputs={k: paths.split_file(k) for k in frames} | {"model": run.weights},
        summary=f"{m['model']}: test perplexity {m['perplexity']['test']:.2f} "
        f"(bigram baseline {m['baseline']['perplexity']['test']:.2f}), "
        f"distinct-2 {m['samples']['distinct_2']:.3f} on {m['samples']['n']} samples",
        record={"classifier": req.classifier},
    )


def _samples(cfg: Config, model: Any, tokenizer: Any, labels: list[Any]) -> pd.DataFrame:
    """One row per (condition, prompt, seed): the generated text and its continuation."""
    from transformers import TextGenerationPipeline

    pipe = TextGenerationPipeline(model=model, tokenizer=tokenizer, framework="tf")
    gen = cfg.generate
    rows = []
    for label in labels:
        head = gen.prefix.format(label=label) if label is not None else ""
        for prompt in gen.prompts:
            for seed in gen.seeds:
                s = sampling.settings_from(
                    {"seed": seed}, sampling.defaults(gen), gen.max_new_tokens
                )
                text = sampling.generate(pipe, head + prompt, s)["generated_text"]
                cont = text[len(head) :] if text.startswith(head) else text
                rows.append(
                    {
                        "condition": label,
                        "prompt": head + prompt,
                        "seed": seed,
                        "generated_text": text,
                        "continuation": cont,
                    }
                )
    logger.info("generated %d samples", len(rows))
    return pd.DataFrame(rows)


def _load_classifier(paths: Paths, ref: str) -> tuple[Any, dict[str, str]]:
    """A text-classification run's pipeline and its label -> major group map."""
    from transformers import TextClassificationPipeline

    try:
        run = resolve_model_ref(paths, ref, ref)
    except PipelineError as exc:  # it speaks of --model; the flag given was --classifier
        raise PipelineError(str(exc).replace("--model ", "--classifier ", 1)) from None
    check_classifier(run.run_dir, f"--classifier {ref}")
    model, tokenizer = load_trained(ModelRef(run.name, run.run_dir))
    if not getattr(model.config, "id2label", None):
        raise PipelineError(f"--classifier {ref}: {run.run_dir} is not a classifier run")
    labels_file = RunDir(run.run_dir).labels
    groups = read_json(labels_file).get("label2group", {}) if labels_file.is_file() else {}
    pipe = TextClassificationPipeline(model=model, tokenizer=tokenizer, framework="tf")
    return pipe, groups


def _condition_match(
    samples: pd.DataFrame, pipe: Any, groups: dict[str, str]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    known = set(pipe.model.config.id2label.values()) | set(groups.values())
    missing = sorted(set(samples["condition"]) - known)
    if missing:
        raise PipelineError(
            f"--classifier: its labels and groups do not include the condition(s) {missing}"
        )
    texts = [t.strip() or "." for t in samples["continuation"]]
    predicted = [p["label"] for p in pipe(texts, truncation=True)]
    as_condition = [
        lab if cond in pipe.model.config.id2label.values() else groups.get(lab, lab)
        for lab, cond in zip(predicted, samples["condition"], strict=True)
    ]
    hits = [a == c for a, c in zip(as_condition, samples["condition"], strict=True)]
    samples = samples.assign(
        classifier_label=predicted, classifier_condition=as_condition, condition_matched=hits
    )
    n_cond = samples["condition"].nunique()
    per = samples.groupby("condition")["condition_matched"].mean().round(4).to_dict()
    share = round(sum(hits) / len(hits), 4)
    return samples, {"share": share, "chance": round(1 / n_cond, 4), "per_condition": per}
