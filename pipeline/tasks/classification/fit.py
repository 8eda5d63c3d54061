"""What the fit loop trains for a classifier: ``TFBertForSequenceClassification`` on label ids.

Sparse cross-entropy on the logits (label-smoothed when ``train.label_smoothing`` > 0),
accuracy, ``train.class_weights`` balanced weights, and with ``train.head_init: probe`` the
head started from a linear probe of the frozen encoder (probe.py).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.config import Config
from pipeline.errors import PipelineError
from pipeline.fitting.loop import Examples, FitSpec
from pipeline.fitting.optimizer import balanced_class_weights, make_loss
from pipeline.io import read_json
from pipeline.model.loading import load_base_classifier, pooler_is_pretrained

logger = logging.getLogger("pipeline.train")


def classifier_spec(
    task: Any,
    cfg: Config,
    checkpoint: Path,
    tokenizer: Any,
    train_df: pd.DataFrame,
    val_df: pd.DataFrame,
    labels: dict[str, Any],
) -> FitSpec:
    """The fit spec of a (single or pair) classifier: ``task`` encodes the examples."""
    import tf_keras

    t, max_len = cfg.train, cfg.model.max_seq_len
    model_type = read_json(checkpoint / "config.json").get("model_type")
    if t.head_init == "probe" and model_type != "bert":  # probe.py reads model.bert.pooler
        raise PipelineError(
            f"train.head_init: probe sets a BERT model's pooler and classifier; "
            f"{cfg.model.name_or_path} is a {model_type!r} model: set train.head_init to random"
        )
    id2label = {int(i): name for i, name in labels["id2label"].items()}
    train = Examples(*task.encode(tokenizer, task.examples(train_df), max_len),
                     train_df["label_id"].to_numpy())  # fmt: skip
    val = Examples(*task.encode(tokenizer, task.examples(val_df), max_len),
                   val_df["label_id"].to_numpy())  # fmt: skip
    weights = None
    if t.class_weights == "balanced":
        weights = balanced_class_weights(train.targets, len(id2label))
        logger.info("class weights (balanced): %s", np.round(weights, 3).tolist())
    pad_id = tokenizer.pad_token_id or 0

    def start(model: Any) -> dict[str, Any] | None:
        if t.head_init != "probe":
            return None
        from pipeline.tasks.classification.probe import init_probe_head

        new_pooler = not pooler_is_pretrained(checkpoint)
        return init_probe_head(model, train, val, max_len, pad_id, new_pooler)

    return FitSpec(
        train=train,
        val=val,
        build_model=lambda: load_base_classifier(checkpoint, id2label),
        loss=make_loss(t.label_smoothing),
        metrics=lambda: [tf_keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        pad_id=pad_id,
        class_weight=weights,
        start=start,
    )
