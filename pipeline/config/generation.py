"""The ``generate:`` section: what the text-generation task adds (docs/tasks.md).

Kept apart from schema.py so that file stays short; ``Config.generate`` holds it.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field

from pipeline.errors import PipelineError

DEFAULT_PROMPTS = ["오늘", "친구가", "요즘 회사에서"]


@dataclass(frozen=True)
class GenerateConfig:
    # Condition prefix put before every sentence, {label} being the row's label (the ingest
    # label column, e.g. 감정_대분류): "[{label}] " lets generation be steered by it; null
    # trains on the sentences alone (the label is then only used to stratify the split).
    prefix: str | None = "[{label}] "
    # Special tokens set on the base tokenizer (KoGPT2's model card: bos/eos </s>, unk <unk>,
    # pad <pad>, mask <mask>); null keeps the tokenizer's own.
    special_tokens: dict[str, str] | None = None
    # Evaluate's sample prompts (with a prefix, each is tried after every label's prefix).
    prompts: list[str] = field(default_factory=lambda: list(DEFAULT_PROMPTS))
    # Evaluate's sampling seeds: one generation per prompt and seed, identical across runs.
    seeds: list[int] = field(default_factory=lambda: [0, 1])
    # Decoding settings of evaluate's samples and of serve requests that do not set them.
    max_new_tokens: int = 24
    do_sample: bool = True
    temperature: float = 0.9
    top_p: float = 0.95
    top_k: int = 50
    repetition_penalty: float = 1.2
    no_repeat_ngram_size: int = 3
    # serve: the most new tokens one request may ask for.
    max_new_tokens_cap: int = 128
    # serve: seconds a request may wait and generate; later it gets 503 (a queued one never runs).
    timeout_s: float = 30.0
    # serve: requests waiting for the model (one generates at a time); more get 503.
    queue_size: int = 8

    def __post_init__(self) -> None:
        if self.prefix is not None:
            _check_prefix(self.prefix)
        for key in ("max_new_tokens", "max_new_tokens_cap", "queue_size"):
            if getattr(self, key) < 1:
                raise PipelineError(f"generate.{key} must be at least 1, got {getattr(self, key)}")
        if self.max_new_tokens > self.max_new_tokens_cap:
            raise PipelineError(
                f"generate.max_new_tokens {self.max_new_tokens} exceeds "
                f"generate.max_new_tokens_cap {self.max_new_tokens_cap}"
            )
        if not self.prompts or not self.seeds:
            raise PipelineError("generate.prompts and generate.seeds must not be empty")
        if not 0 < self.timeout_s <= 3600:
            raise PipelineError(f"generate.timeout_s must be in (0, 3600], got {self.timeout_s}")


def _check_prefix(prefix: str) -> None:
    """``prefix`` must hold ``{label}`` and no other placeholder (``{{``/``}}``: literal braces)."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(prefix) if f is not None]
    except ValueError as exc:  # an unmatched brace
        raise PipelineError(
            f"generate.prefix {prefix!r}: {exc} (write a literal brace as {{{{ or }}}})"
        ) from None
    other = sorted({f for f in fields if f != "label"})
    if other:
        raise PipelineError(
            f"generate.prefix {prefix!r} has unknown placeholder(s) "
            f"{', '.join('{' + f + '}' for f in other)}: only {{label}} is filled in"
        )
    if "label" not in fields:
        raise PipelineError(f"generate.prefix must contain {{label}}, got {prefix!r}")
