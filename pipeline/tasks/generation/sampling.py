"""Decoding settings (checked against their ranges) and seeded generation.

The settings are the Hugging Face Inference API's text-generation ``parameters``; the API,
the generate command and evaluate's samples all go through ``settings_from`` and ``generate``.
A bad value is a ``PipelineError`` naming the parameter and its allowed range (the API turns
it into a 422, the command into exit 2). With ``do_sample`` the ``seed`` makes the sampling
stateless (TensorFlow's ``generate(seed=[seed, 0])``), so a fixed seed gives the same text on
every run; without a seed the server draws one. Prompts are NFC-normalized (as ingest wrote
the training text); ``min_new_tokens`` goes to TF generate as ``min_length``, the only form
it honours.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from pipeline.errors import PipelineError
from pipeline.inference.loaded import clean_text

MAX_SEED = 2**31 - 1
# Below this a temperature is greedy anyway, and logits divided by it overflow float32 (a
# subnormal 5e-324 made the sampler draw a token id past the vocabulary).
MIN_TEMPERATURE = 1e-6
# Parameters the Inference API's clients may send that change nothing here.
IGNORED = {"stream": False, "decoder_input_details": False}
# Accepted either way: a stream's last event always carries the details.
EITHER = {"details"}


@dataclass(frozen=True)
class Settings:
    """One generation's settings: the config's ``generate`` values (``defaults``), updated by a
    request's parameters; the three below are the request's own."""

    max_new_tokens: int
    do_sample: bool
    temperature: float
    top_p: float
    top_k: int
    repetition_penalty: float
    no_repeat_ngram_size: int
    min_new_tokens: int = 0
    seed: int | None = None
    return_full_text: bool = True


def defaults(gen: Any) -> dict[str, Any]:
    """The settings the config's ``generate`` section gives (requests may change them)."""
    keys = (
        "max_new_tokens",
        "do_sample",
        "temperature",
        "top_p",
        "top_k",
        "repetition_penalty",
        "no_repeat_ngram_size",
    )
    return {k: getattr(gen, k) for k in keys}


def ranges(cap: int) -> dict[str, str]:
    """Each parameter's allowed values, as error messages and the page show them."""
    return {
        "max_new_tokens": f"an integer in [1, {cap}]",
        "min_new_tokens": "an integer in [0, max_new_tokens]",
        "do_sample": "true or false",
        "temperature": "a number in (0, 10] (0 too without do_sample)",
        "top_p": "a number in (0, 1]",
        "top_k": "an integer in [0, 1000] (0: no top-k filter)",
        "repetition_penalty": "a number in [1, 10]",
        "no_repeat_ngram_size": "an integer in [0, 10] (0: off)",
        "seed": f"an integer in [0, {MAX_SEED}]",
        "return_full_text": "true or false",
    }


def _check(name: str, value: Any, kind: type, ok: bool, cap: int) -> None:
    wrong_type = isinstance(value, bool) != (kind is bool) or not isinstance(
        value, (int, float) if kind is float else kind
    )
    if wrong_type or not ok:
        raise PipelineError(f"{name} must be {ranges(cap)[name]}, got {value!r}")


def settings_from(params: dict[str, Any], base: dict[str, Any], cap: int) -> Settings:
    """``base`` updated with ``params``, every value checked; an unknown name is an error."""
    unknown = sorted(set(params) - set(ranges(cap)) - set(IGNORED) - EITHER)
    if unknown:
        raise PipelineError(
            f"unknown parameter(s) {', '.join(unknown)} (known: {', '.join(ranges(cap))})"
        )
    for name, fine in IGNORED.items():
        if name in params and params[name] not in (None, fine):
            raise PipelineError(f"{name} must be {str(fine).lower()}: not supported here")
    for name in EITHER:
        if params.get(name) not in (None, True, False):
            raise PipelineError(f"{name} must be true or false, got {params[name]!r}")
    merged = {**base, **{k: v for k, v in params.items() if k in ranges(cap) and v is not None}}
    s = Settings(**merged)
    checks = (
        ("max_new_tokens", int, lambda v: 1 <= v <= cap),
        ("min_new_tokens", int, lambda v: 0 <= v <= s.max_new_tokens),
        ("do_sample", bool, lambda v: True),
        ("temperature", float, lambda v: 0 < v <= 10 or (v == 0 and not s.do_sample)),
        ("top_p", float, lambda v: 0 < v <= 1),
        ("top_k", int, lambda v: 0 <= v <= 1000),
        ("repetition_penalty", float, lambda v: 1 <= v <= 10),
        ("no_repeat_ngram_size", int, lambda v: 0 <= v <= 10),
        ("return_full_text", bool, lambda v: True),
    )
    for name, kind, ok in checks:
        value = getattr(s, name)
        _check(name, value, kind, isinstance(value, bool | int | float) and ok(value), cap)
    if s.seed is not None:
        _check("seed", s.seed, int, isinstance(s.seed, int) and 0 <= s.seed <= MAX_SEED, cap)
    # JSON's and --param's 2 is an int: transformers' TF logits processors take floats only.
    return replace(
        s, **{name: float(getattr(s, name)) for name, kind, _ in checks if kind is float}
    )


def check_prompt(tokenizer: Any, prompt: Any, max_new_tokens: int, context: int) -> int:
    """The prompt's token count; an error when it is empty or leaves no room to generate."""
    if not isinstance(prompt, str):
        raise PipelineError(f"inputs must be the prompt text, got {type(prompt).__name__}")
    if not clean_text(prompt):
        raise PipelineError(
            "inputs: the prompt is empty or only whitespace (zero-width and control characters "
            "count as whitespace): give at least one character"
        )
    n = len(tokenizer(unicodedata.normalize("NFC", prompt))["input_ids"])  # as the pipeline
    if n + max_new_tokens > context:
        raise PipelineError(
            f"inputs: the prompt has {n} tokens; with max_new_tokens {max_new_tokens} that "
            f"exceeds the model's context of {context} tokens (prompt at most "
            f"{max(context - max_new_tokens, 0)} tokens)"
        )
    return n


def generate(
    pipe: Any, prompt: str, s: Settings, logits_processor: list | None = None, tensors: bool = False
) -> dict[str, Any]:
    """One generation through ``TextGenerationPipeline``: ``{"generated_text", "seed"}``.

    ``logits_processor``: extra TF processors run each step (stream.py's token hook);
    ``tensors``: also ``"token_ids"``, the whole sequence, prompt included (the pipeline's
    own steps are run one by one so that the text is exactly what it would answer)."""
    kwargs: dict[str, Any] = {
        "max_new_tokens": s.max_new_tokens,
        "do_sample": s.do_sample,
        "return_full_text": s.return_full_text,
        "repetition_penalty": s.repetition_penalty,
        "no_repeat_ngram_size": s.no_repeat_ngram_size,
    }
    prompt = unicodedata.normalize("NFC", prompt)  # as ingest wrote the training text
    if s.min_new_tokens:  # TF generate ignores min_new_tokens; min_length counts the prompt
        kwargs["min_length"] = len(pipe.tokenizer(prompt)["input_ids"]) + s.min_new_tokens
    seed = s.seed
    if s.do_sample:
        seed = seed if seed is not None else random.SystemRandom().randint(0, MAX_SEED)
        temperature = max(s.temperature, MIN_TEMPERATURE)
        kwargs.update(temperature=temperature, top_p=s.top_p, top_k=s.top_k, seed=[seed, 0])
    if logits_processor:
        from transformers.generation.tf_logits_process import TFLogitsProcessorList

        kwargs["logits_processor"] = TFLogitsProcessorList(logits_processor)
    if not tensors:
        out = pipe(prompt, **kwargs)
        return {"generated_text": out[0]["generated_text"], "seed": seed}
    pre, forward, post = pipe._sanitize_parameters(**kwargs)  # what pipe(...) does, in steps
    model_inputs = pipe.preprocess(prompt, **{**pipe._preprocess_params, **pre})
    outputs = pipe.forward(model_inputs, **{**pipe._forward_params, **forward})
    ids = np.asarray(outputs["generated_sequence"]).reshape(-1)
    text = pipe.postprocess(outputs, **{**pipe._postprocess_params, **post})[0]["generated_text"]
    return {"generated_text": text, "seed": seed, "token_ids": ids.tolist()}


def as_dict(s: Settings) -> dict[str, Any]:
    return asdict(s)
