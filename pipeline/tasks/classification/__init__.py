"""Classification: one sentence (or a pair) -> one of N labels, ``TFBertForSequenceClassification``.

task.py: the two tasks; fit.py and probe.py: what the fit loop trains (a head started from a
linear probe with ``train.head_init: probe``); calibrated.py: the temperature fitted on the
validation split after training and the report's calibration section; evaluate.py,
metrics.py, inputs.py, report.py: the report against the TF-IDF (baseline.py) and
frozen-encoder (embedding_baseline.py) baselines; serve.py: requests, answers and predict's
columns; card.py: the model card.
"""

from pipeline.tasks.classification.task import TextClassification, TextPairClassification

__all__ = ["TextClassification", "TextPairClassification"]
