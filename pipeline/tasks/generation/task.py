"""Text generation: a causal language model (GPT-2, KoGPT2) continues a prompt.

An example is one sentence, stored in ``text``; its ``label`` (the ingest label column, e.g.
감정_대분류) becomes a condition prefix ``generate.prefix`` (``"[기쁨] "``) when that is set.
The model is ``TFAutoModelForCausalLM`` (``tiny:gpt2``: a tiny random GPT-2 built by code for
offline use, tiny.py), trained by the one fit loop on its own causal-LM loss (train.py: the
fit spec). Its other roles live beside this file: evaluate.py (perplexity against a bigram
baseline, seeded samples, distinct-n, the condition check), serve.py (the Inference API's
text-generation shape behind the one web app, one generation at a time; predict's lines),
card.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.config import Config, IngestConfig, PrepareConfig
from pipeline.errors import PipelineError
from pipeline.model.loading import ModelRef, resolve_base_model
from pipeline.paths import Paths
from pipeline.tables.sentences import template_columns
from pipeline.tables.workbooks import read_sentences
from pipeline.tasks.base import Card, Encoded, EvaluateRequest, Evaluation, Prepared, Task

EXAMPLE = "[기쁨] 오늘"


class TextGeneration(Task):
    name = "text-generation"
    auto_model = "TFAutoModelForCausalLM"
    onnx_refusal = (
        "is not exported to ONNX: a causal LM is worth it only with its past key/values in "
        "the graph, which this export does not write (docs/onnx.md)"
    )

    def check_config(self, cfg: Config) -> None:
        super().check_config(cfg)
        t = cfg.train
        if t.label_smoothing or t.class_weights != "none" or t.head_init != "random":
            raise PipelineError(
                "task text-generation: train.label_smoothing, train.class_weights and "
                "train.head_init apply to classifiers; set them to 0, none and random"
            )
        if cfg.ingest.text_pair_columns is not None:
            raise PipelineError(
                f"ingest.text_pair_columns is set but task is {cfg.task!r}: remove it"
            )
        template_columns(cfg.ingest)
        check_decoding(cfg)

    # --- data -----------------------------------------------------------------------------

    def read_file(self, path: Path, cfg: IngestConfig, keep: list[str]) -> pd.DataFrame:
        return read_sentences(path, cfg, keep)

    def prepare(self, kept: pd.DataFrame, cfg: PrepareConfig, paths: Paths) -> Prepared:
        table = None if cfg.label_table is None else paths.resolve(cfg.label_table)
        return Prepared(kept, {}, table)  # the label: the condition (and split's strata)

    def encode(self, tokenizer: Any, examples: Sequence[Any], max_len: int | None) -> Encoded:
        from pipeline.tasks.generation.data import encode

        return encode(tokenizer, examples, max_len), None

    # --- fit ------------------------------------------------------------------------------

    def base_checkpoint(self, cfg: Config, paths: Paths, train_df: pd.DataFrame) -> Path:
        from pipeline.tasks.generation import data, tiny

        name = cfg.model.name_or_path
        if name != tiny.SCHEME and name.strip().lower().startswith("tiny:"):
            raise PipelineError(
                f"model.name_or_path {name!r}: the only tiny model is {tiny.SCHEME!r} "
                "(a Hub id or a local directory otherwise)"
            )
        if name != tiny.SCHEME:
            return resolve_base_model(name, paths)
        texts = data.with_prefix(
            train_df["text"].tolist(), train_df["label"].tolist(), cfg.generate.prefix
        )
        return tiny.build_tiny_gpt2(texts, paths.base_models)

    def load_tokenizer(self, cfg: Config, checkpoint: Path) -> Any:
        from transformers import AutoTokenizer

        special = cfg.generate.special_tokens or {}
        return AutoTokenizer.from_pretrained(
            str(checkpoint), use_fast=True, fix_mistral_regex=False, **special
        )

    def fit_spec(self, cfg: Config, checkpoint: Path, tokenizer: Any, train_df: pd.DataFrame,
                 val_df: pd.DataFrame, labels: dict[str, Any]) -> Any:  # fmt: skip
        from pipeline.tasks.generation.train import lm_spec

        return lm_spec(cfg, checkpoint, tokenizer, train_df, val_df)

    def training_key(self, cfg: Config) -> dict[str, Any]:
        """The condition prefix and special tokens shape the sequences the model learns."""
        raw = cfg.to_dict()["generate"]
        return {"generate": {k: raw[k] for k in ("prefix", "special_tokens")}}

    def run_record(self, cfg: Config, model: Any, tokenizer: Any, val_df: pd.DataFrame) -> dict:
        from pipeline.tasks.generation.train import validation_perplexity

        return {
            "validation_perplexity": round(validation_perplexity(cfg, model, tokenizer, val_df), 4)
        }

    # --- evaluate, serve, publish ---------------------------------------------------------

    def evaluate(self, request: EvaluateRequest) -> Evaluation:
        from pipeline.tasks.generation.evaluate import evaluate

        return evaluate(request)

    def server(self, cfg: Config, ref: ModelRef) -> Any:
        from pipeline.tasks.generation.serve import GenerationServer

        return GenerationServer(cfg, ref)

    def labeller(self, cfg: Config, model: str | None, batch_size: int) -> Any:
        from pipeline.tasks.generation.serve import GenerationLabeller

        return GenerationLabeller(self, cfg, model, batch_size)

    def card(self, cfg: Config, ref: ModelRef, repo_id: str, record: dict[str, Any],
             force: bool) -> Card:  # fmt: skip
        from pipeline.tasks.generation.card import card

        return card(cfg, ref, repo_id, record, force, self.name)


def check_decoding(cfg: Config) -> None:
    """The generate section's decoding defaults and seeds, in the ranges the API allows, so a
    bad one stops every stage naming its key (not the server's warm-up, or evaluate's samples)."""
    from pipeline.tasks.generation import sampling

    gen = cfg.generate
    try:
        sampling.settings_from({}, sampling.defaults(gen), gen.max_new_tokens_cap)
    except PipelineError as exc:
        raise PipelineError(f"generate.{exc}") from None
    for seed in gen.seeds:
        if (
            isinstance(seed, bool)
            or not isinstance(seed, int)
            or not 0 <= seed <= sampling.MAX_SEED
        ):
            raise PipelineError(
                f"generate.seeds: each must be an integer in [0, {sampling.MAX_SEED}], got {seed!r}"
            )
