"""The kinds of model the pipeline trains, one package each, below the stages.

    from pipeline.tasks import task_for
    task = task_for(cfg)                 # cfg.task's Task, its config checked
    task.read_file(path, cfg.ingest, keep)
    spec = task.fit_spec(cfg, checkpoint, tokenizer, train_df, val_df, labels)

``classification/``: one sentence -> a label (the emotion classifier), and a pair of sentences
-> a label (NLI, KLUE-NLI). ``ner/``: a sentence -> its named entities (NER, KLUE-NER).
``generation/``: a prompt -> its continuation (a causal LM, KoGPT2). ``multilabel/``: a
sentence -> any number of labels (sigmoid per label, a threshold each). Every task fills the roles
of ``base.Task``; the stages ask them and never test a task's name. Adding a task is a package
here, a line in ``TASKS`` and its name in the config schema's list (docs/tasks.md).
"""

from __future__ import annotations

from pipeline.config import Config
from pipeline.errors import PipelineError
from pipeline.io import read_json
from pipeline.paths import Paths
from pipeline.tasks.base import Card, EvaluateRequest, Evaluation, Prepared, Task
from pipeline.tasks.classification import TextClassification, TextPairClassification
from pipeline.tasks.generation import TextGeneration
from pipeline.tasks.multilabel import MultiLabelClassification
from pipeline.tasks.ner import TokenClassification

TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        TextClassification(),
        TextPairClassification(),
        TokenClassification(),
        TextGeneration(),
        MultiLabelClassification(),
    )
}


def get_task(name: str) -> Task:
    """The task named ``name`` (a config's ``task``), or an error listing the known ones."""
    if name not in TASKS:
        raise PipelineError(f"unknown task {name!r} (known: {', '.join(TASKS)})")
    return TASKS[name]


def task_for(cfg: Config) -> Task:
    """The config's task, after it checked the config (one message naming the key)."""
    task = get_task(cfg.task)
    task.check_config(cfg)
    return task


PAST = {"ingest": "ingested", "prepare": "prepared", "split": "split"}


def check_split_task(cfg: Config, paths: Paths, stage: str = "split") -> None:
    """Refuse the data ``stage`` (ingest, prepare or split) wrote when its run.json records
    another task: the data stages last ran with another config (a generation run "evaluated"
    on NER sentences gave a test perplexity of 90515 without a word). Data without that record
    passes."""
    record = {
        "ingest": paths.interim / "ingest.run.json",
        "prepare": paths.interim / "prepare.run.json",
        "split": paths.processed / "run.json",
    }[stage]
    if not record.is_file():
        return
    data_task = (read_json(record).get("config") or {}).get("task")
    if data_task is not None and data_task != cfg.task:
        where = paths.processed if stage == "split" else paths.interim
        raise PipelineError(
            f"{where} was {PAST[stage]} for task {data_task}, not this config's {cfg.task}: "
            "rerun ingest, prepare and split with this config (`make data`)"
        )


__all__ = [
    "TASKS",
    "Card",
    "EvaluateRequest",
    "Evaluation",
    "Prepared",
    "Task",
    "check_split_task",
    "get_task",
    "task_for",
]
