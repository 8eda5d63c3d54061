"""Multi-label classification: one sentence -> any number of labels (task.py)."""

from pipeline.tasks.multilabel.task import MultiLabelClassification

__all__ = ["MultiLabelClassification"]
