"""Named-entity recognition: a sentence -> its entities (the task: task.py; docs/tasks.md)."""

from pipeline.tasks.ner.task import TokenClassification

__all__ = ["TokenClassification"]
