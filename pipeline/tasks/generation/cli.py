"""Generate from a trained run on the command line (the generation task's predict).

    python -m pipeline.tasks.generation --config configs/gen-demo.yaml "[기쁨] 오늘" \
        [--model RUN] [--max-new-tokens 24] [--temperature 0.9] [--top-p 0.95] [--top-k 50]
        [--repetition-penalty 1.2] [--no-repeat-ngram-size 3] [--greedy] [--seed 0]

Prints one generated text per prompt. Settings not given take the config's ``generate``
values; a bad one (or an empty prompt, or one longer than the context) exits 2 naming it,
with the same ranges as the API. ``make generate ARGS='"[기쁨] 오늘" --seed 1'``.
"""

from __future__ import annotations

import argparse
from typing import Any

from pipeline.config import Config
from pipeline.errors import PipelineError
from pipeline.model.loading import resolve_model_ref
from pipeline.paths import Paths
from pipeline.tasks.generation import sampling
from pipeline.tasks.generation.arch import check_causal_lm

FLAGS = (
    "max_new_tokens",
    "min_new_tokens",
    "temperature",
    "top_p",
    "top_k",
    "repetition_penalty",
    "no_repeat_ngram_size",
    "seed",
)


def build_parser() -> argparse.ArgumentParser:
    from pipeline.cli import add_config_args

    parser = argparse.ArgumentParser(description="Continue prompts with a trained generation run.")
    add_config_args(parser)
    parser.add_argument("prompts", nargs="+", help="prompt texts")
    parser.add_argument("--model", help="run name, sweep:<name>, run directory or Hub id")
    for name in FLAGS:
        kind = float if name in ("temperature", "top_p", "repetition_penalty") else int
        parser.add_argument("--" + name.replace("_", "-"), dest=name, type=kind)
    parser.add_argument("--greedy", action="store_true", help="no sampling (do_sample false)")
    return parser


def run(args: argparse.Namespace, cfg: Config) -> list[str]:
    from transformers import AutoTokenizer, TextGenerationPipeline, TFAutoModelForCausalLM

    if cfg.task != "text-generation":
        raise PipelineError(f"the generate command needs task text-generation, not {cfg.task!r}")
    params: dict[str, Any] = {k: getattr(args, k) for k in FLAGS if getattr(args, k) is not None}
    if args.greedy:
        params["do_sample"] = False
    gen = cfg.generate
    settings = sampling.settings_from(params, sampling.defaults(gen), gen.max_new_tokens_cap)
    ref = resolve_model_ref(Paths.from_config(cfg), cfg.train.run_name, args.model, True)
    check_causal_lm(ref.source)
    model = TFAutoModelForCausalLM.from_pretrained(ref.source)
    tokenizer = AutoTokenizer.from_pretrained(ref.source, use_fast=True)
    context = int(getattr(model.config, "n_positions", 0) or model.config.max_position_embeddings)
    for prompt in args.prompts:
        sampling.check_prompt(tokenizer, prompt, settings.max_new_tokens, context)
    pipe = TextGenerationPipeline(model=model, tokenizer=tokenizer, framework="tf")
    return [sampling.generate(pipe, p, settings)["generated_text"] for p in args.prompts]


def main(argv: list[str] | None = None) -> int:
    from pipeline.cli import run_cli

    def work(args: argparse.Namespace, cfg: Config) -> None:
        for text in run(args, cfg):
            print(text)  # noqa: T201

    return run_cli(build_parser(), work, argv)
