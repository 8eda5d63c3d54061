"""What differs between the kinds of model the pipeline trains: one module per task.

    from pipeline.tasks import get_task
    task = get_task(cfg.task)          # cfg.task: "text-classification" (default) or ...
    task.columns                       # the text columns a stored row has: ("text",) ...
    ids, types = task.encode(tokenizer, task.examples(df), max_seq_len)

``text_classification.py``: one sentence -> a label (the emotion classifier).
``text_pair_classification.py``: a pair of sentences -> a label (NLI, KLUE-NLI).
``text_generation.py``: a prompt -> its continuation (a causal LM; pipeline/tasks/generation/).
``token_classification.py``: a sentence -> its named entities (NER, KLUE-NER; pipeline/tasks/ner/).
The stages ask the task object for these pieces; adding a task is a module plus a line in
``TASKS`` (docs/tasks.md).
"""

from __future__ import annotations

from pipeline.errors import PipelineError
from pipeline.tasks.text_classification import TextClassification
from pipeline.tasks.text_generation import TextGeneration
from pipeline.tasks.text_pair_classification import TextPairClassification
from pipeline.tasks.token_classification import TokenClassification

TASKS: dict[str, TextClassification] = {
    task.name: task
    for task in (
        TextClassification(),
        TextPairClassification(),
        TokenClassification(),
        TextGeneration(),
    )
}


def get_task(name: str) -> TextClassification:
    """The task named ``name`` (the config's ``task``), or an error listing the known ones."""
    if name not in TASKS:
        raise PipelineError(f"unknown task {name!r} (known: {', '.join(TASKS)})")
    return TASKS[name]


__all__ = [
    "TASKS",
    "TextClassification",
    "TextGeneration",
    "TextPairClassification",
    "TokenClassification",
    "get_task",
]
