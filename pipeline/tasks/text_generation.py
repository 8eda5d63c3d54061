"""Text generation: a causal language model (GPT-2, KoGPT2) continues a prompt.

An example is one sentence, stored in ``text``; its ``label`` (the ingest label column, e.g.
감정_대분류) becomes a condition prefix ``generate.prefix`` (``"[기쁨] "``) when that is set.
The model is ``TFAutoModelForCausalLM`` (``tiny:gpt2``: a tiny random GPT-2 built by code for
offline use, pipeline/tasks/generation/tiny.py); the stages that differ from classification
hand their bodies to this object: train's base model, tokenizer and loop, evaluate (perplexity,
samples, distinct-n, the condition check), serve (``TextGenerationPipeline``, the Inference
API's text-generation shape, generate.html), publish's card pieces. The pieces live in
pipeline/tasks/generation/.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.errors import PipelineError
from pipeline.tasks.text_classification import Encoded, TextClassification

EXAMPLE = "[기쁨] 오늘"


class TextGeneration(TextClassification):
    name = "text-generation"
    page = "generate.html"
    example_inputs = EXAMPLE
    warm_up = (EXAMPLE,)
    inputs_schema = {"type": "string"}
    card = {
        "what": "A Korean causal language model (GPT-2) fine-tuned to write sentences, "
        "optionally steered by an emotion prefix such as `[기쁨] `",
        "tags": ["tensorflow", "gpt2", "text-generation", "korean"],
        "task_name": "Text generation",
        "example": EXAMPLE,
        "widget": [{"text": EXAMPLE}],
        "pipeline_tag": "text-generation",
    }

    def encode(self, tokenizer: Any, examples: Sequence[Any], max_len: int | None) -> Encoded:
        from pipeline.tasks.generation.data import encode

        return encode(tokenizer, examples, max_len), None

    def examples(self, df: pd.DataFrame) -> list[Any]:
        return df["text"].tolist()

    # --- the stage bodies and pieces that differ from classification ------------------------

    def base_checkpoint(self, cfg: Any, paths: Any, train_df: pd.DataFrame) -> Path | None:
        from pipeline.tasks.generation import data, tiny

        name = cfg.model.name_or_path
        if name != tiny.SCHEME and name.strip().lower().startswith("tiny:"):
            raise PipelineError(
                f"model.name_or_path {name!r}: the only tiny model is {tiny.SCHEME!r} "
                "(a Hub id or a local directory otherwise)"
            )
        if name != tiny.SCHEME:
            return None
        texts = data.with_prefix(
            train_df["text"].tolist(), train_df["label"].tolist(), cfg.generate.prefix
        )
        return tiny.build_tiny_gpt2(texts, paths.base_models)

    def load_tokenizer(self, cfg: Any, checkpoint: Path) -> Any:
        from transformers import AutoTokenizer

        special = cfg.generate.special_tokens or {}
        return AutoTokenizer.from_pretrained(str(checkpoint), use_fast=True, **special)

    def train_model(
        self,
        cfg: Any,
        checkpoint: Path,
        tokenizer: Any,
        train_df: pd.DataFrame,
        val_df: pd.DataFrame,
        state: Any,
        work: Path,
    ) -> tuple[Any, str] | None:
        from pipeline.tasks.generation.train import fit

        return fit(cfg, checkpoint, tokenizer, train_df, val_df, state, work)

    def run_record(self, cfg: Any, model: Any, tokenizer: Any, val_df: pd.DataFrame) -> dict:
        from pipeline.tasks.generation.train import validation_perplexity

        return {
            "validation_perplexity": round(validation_perplexity(cfg, model, tokenizer, val_df), 4)
        }

    def evaluate_stage(self, cfg: Any, model_ref: str | None, classifier: str | None) -> Any:
        from pipeline.tasks.generation.evaluate import run

        return run(cfg, model_ref, classifier)

    def serve_app(self, cfg: Any, ref: Any) -> tuple[Any, Any] | None:
        from pipeline.tasks.generation.serve import GenerationService, create_app

        service = GenerationService(cfg, ref)
        return create_app(service), service

    def publish_card(
        self, cfg: Any, run_name: str, repo_id: str, record: dict, force: bool
    ) -> tuple[str, list[tuple[str, Path]]] | None:
        from pipeline.paths import Paths
        from pipeline.tasks.generation import card

        trained_as = record.get("config", {}).get("task", "text-generation" if not record else None)
        if trained_as != self.name:
            raise PipelineError(
                f"run {run_name!r} was trained for task {trained_as or 'text-classification'!r} "
                f"(its run.json), not {self.name!r}: publish it with its own config"
            )
        report_dir = Paths.from_config(cfg).report_dir(run_name)
        metrics, samples = card.read_report(report_dir, run_name, force)
        name = cfg.publish.base_model or record.get("base_model", {}).get("name_or_path")
        base = name if name and "/" in name and not name.startswith((".", "/")) else None
        text = card.build(cfg, repo_id, run_name, record, metrics, samples, base)
        extra = [(f, report_dir / f) for f in ("metrics.json", "samples.csv") if metrics]
        gen_config = Paths.from_config(cfg).run_dir(run_name) / "generation_config.json"
        extra += [(gen_config.name, gen_config)] if gen_config.is_file() else []
        return text, extra
