"""Which kind of model a checkpoint holds, read from its config's ``architectures``.

``TFAutoModelForCausalLM`` loads a BERT classifier run without complaint (as a BERT LM with a
random head) and ``TFAutoModelForSequenceClassification`` a GPT-2 run (with a random
classifier), so a run of the wrong task would be served, evaluated or published as garbage;
these checks name the mismatch instead. A config without ``architectures`` passes.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.errors import PipelineError

CAUSAL = ("LMHeadModel", "ForCausalLM")
CLASSIFIER = "ForSequenceClassification"


def architectures(source: str | Path) -> list[str]:
    from transformers import AutoConfig

    return list(AutoConfig.from_pretrained(str(source)).architectures or [])


def check_causal_lm(source: str | Path) -> None:
    """A ``PipelineError`` when ``source`` (run directory or Hub id) is not a causal LM."""
    arch = architectures(source)
    if arch and not any(a.endswith(CAUSAL) for a in arch):
        raise PipelineError(
            f"{source} holds a {', '.join(arch)}, not a causal language model: the "
            "text-generation task needs one (e.g. GPT2LMHeadModel); a run of another task "
            "goes with a config of its own task"
        )


def check_classifier(source: str | Path, flag: str) -> None:
    """A ``PipelineError`` naming ``flag`` when ``source`` is not a sequence classifier."""
    arch = architectures(source)
    if arch and not any(a.endswith(CLASSIFIER) for a in arch):
        raise PipelineError(
            f"{flag}: {source} holds a {', '.join(arch)}, not a text classifier "
            "(give a text-classification run)"
        )
