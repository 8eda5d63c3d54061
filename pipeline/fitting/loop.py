"""The training loop: seeds, devices, datasets, the compiled model and Keras ``fit``.

Resumes from the work directory's last finished epoch (see pipeline/fitting/callbacks.py) and
returns the best epoch's weights. The strategy (one device, several GPUs, several workers)
comes from pipeline/fitting/distributed.py.
"""

from __future__ import annotations

import logging
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.config import Config
from pipeline.errors import PipelineError
from pipeline.fitting import distributed, length_buckets
from pipeline.fitting.callbacks import (
    EpochCheckpoint,
    EpochSeed,
    TrainState,
    clean_stale_checkpoints,
    seeded_dropout,
)
from pipeline.fitting.optimizer import (
    balanced_class_weights,
    build_optimizer,
    current_lr,
    is_head,
    make_optimizer,
    use_head_optimizer,
)
from pipeline.fitting.storage import check_storage
from pipeline.model.loading import load_base_classifier, pooler_is_pretrained
from pipeline.tasks import get_task

logger = logging.getLogger("pipeline.train")


def seed_everything(seed: int, deterministic: bool) -> None:
    import tensorflow as tf
    import tf_keras

    random.seed(seed)
    np.random.seed(seed)
    tf_keras.utils.set_random_seed(seed)  # Python, NumPy and TF together
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def fit(
    cfg: Config,
    checkpoint: Path,
    tokenizer: Any,
    train_df: pd.DataFrame,
    val_df: pd.DataFrame,
    labels: dict[str, Any],
    state: TrainState,
    work: Path,
    resume_from: Path | None = None,
    extra_callbacks: Sequence[Any] = (),
) -> tuple[Any, distributed.Placement]:
    """Train (or resume) until early stopping or max epochs; return the best model, placement.

    Checkpoints go to ``work``; a resumed state's checkpoint is read from ``resume_from``
    (default ``work``: a non-chief worker resumes from the chief's work directory).
    """
    import tensorflow as tf
    import tf_keras

    placement = distributed.setup(cfg.train.distribute, cfg.train.mixed_precision)  # first
    seed_everything(cfg.train.seed, cfg.train.deterministic)
    strategy, device = placement.strategy, placement.device
    max_len, bs = cfg.model.max_seq_len, cfg.train.batch_size
    distributed.check_batch(bs, placement.replicas)
    distributed.check_same(
        placement,
        state.epochs_done,
        f"the workers disagree on how many epochs of {work.name} are done: a worker resumes "
        "from the chief's work directory, so the project root must be one shared directory "
        "(the same path on every machine)",
    )
    task = get_task(cfg.task)  # one text or a pair per example: the task encodes them
    train_ids, train_types = task.encode(tokenizer, task.examples(train_df), max_len)
    val_ids, val_types = task.encode(tokenizer, task.examples(val_df), max_len)
    pad_id = tokenizer.pad_token_id or 0
    epoch = {"next": state.epochs_done}

    def epoch_seed() -> int:  # the batches of epoch n depend only on (seed, n)
        epoch["next"] += 1
        return cfg.train.seed * 1000 + epoch["next"]

    t = cfg.train
    id2label = task.id2label(labels)  # NER: the BIO tags; the targets: a tag per word piece
    y_train = task.targets(tokenizer, train_df, max_len, labels)
    y_val = task.targets(tokenizer, val_df, max_len, labels)
    weights = None
    if t.class_weights == "balanced":
        weights = balanced_class_weights(y_train, len(id2label))
        logger.info("class weights (balanced): %s", np.round(weights, 3).tolist())
    train_ds = distributed.distribute(
        placement,
        lambda shard: length_buckets.make_dataset(
            *(train_ids, y_train, bs, max_len, pad_id, epoch_seed),
            class_weight=weights,
            types=train_types,
            shard=shard,
        ),
    )
    val_ds = distributed.distribute(
        placement,
        lambda shard: length_buckets.make_dataset(
            val_ids, y_val, bs, max_len, pad_id, lambda: None, types=val_types, shard=shard
        ),
    )
    steps_per_epoch = -(-len(train_ids) // bs)
    total_steps = steps_per_epoch * t.epochs

    with strategy.scope():
        model = task.load_model(checkpoint, id2label)  # NER: ...ForTokenClassification
        if model is None:  # the sequence classifier
            model = load_base_classifier(checkpoint, id2label)
        if t.head_init == "probe" and not state.last_ckpt:  # a resumed run has its head
            state.head_probe = task.init_head(
                model,
                (train_ids, train_types, y_train),
                (val_ids, val_types, y_val),
                max_len,
                pad_id,
                new_pooler=not pooler_is_pretrained(checkpoint),
            )
        model.compile(
            optimizer=make_optimizer(cfg, total_steps),
            loss=task.loss(t),
            metrics=task.train_metrics(),
        )
        variables = model.trainable_variables
        parts = {"model": model, "optimizer": model.optimizer}
        if t.head_lr_multiplier != 1:
            if isinstance(model.optimizer, tf_keras.mixed_precision.LossScaleOptimizer):
                raise PipelineError(
                    "train.head_lr_multiplier works without loss scaling only: set "
                    "train.mixed_precision to false or train.head_lr_multiplier to 1"
                )
            head = [v for v in variables if is_head(v)]
            logger.info(
                "head (%s): learning rate x %g",
                ", ".join(sorted({v.name.split("/")[-2] for v in head})),
                t.head_lr_multiplier,
            )
            parts["head_optimizer"] = make_optimizer(cfg, total_steps, t.head_lr_multiplier)
            build_optimizer(parts["head_optimizer"], head)
            use_head_optimizer(model, parts["head_optimizer"])
            variables = [v for v in variables if not is_head(v)]
        build_optimizer(model.optimizer, variables)
        generators = seeded_dropout(model)
    check_storage(work, model.count_params() * 4)
    ckpt = tf.train.Checkpoint(**parts)
    if state.last_ckpt:
        if resume_from is None:
            clean_stale_checkpoints(work, state)
        last = checkpoint_path(state.last_ckpt, work, resume_from)
        ckpt.read(str(last)).assert_existing_objects_matched()
        logger.info("resuming %s after epoch %d", work.name, state.epochs_done)

    if state.stop_reason is None:
        logger.info(
            "training %d examples (%d steps/epoch), validating on %d, on %s",
            *(len(train_ids), steps_per_epoch, len(val_ids), device),
        )
        es = cfg.train.early_stopping
        callback = EpochCheckpoint(
            *(work, state, ckpt, es.monitor, es.min_delta, es.patience, cfg.train.epochs),
            current_lr=lambda: current_lr(model.optimizer),
        )
        model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=cfg.train.epochs,
            initial_epoch=state.epochs_done,
            steps_per_epoch=distributed.steps(placement, steps_per_epoch),
            validation_steps=distributed.steps(placement, -(-len(val_ids) // bs)),
            callbacks=[
                EpochSeed(t.seed, generators),
                *task.epoch_callbacks(tokenizer, val_df, cfg, labels),  # NER: val entity F1
                callback,
                *extra_callbacks,
            ],
            verbose=1 if sys.stdout.isatty() else 2,  # step bar on a terminal, a line in logs
        )
    distributed.barrier(placement)  # no worker leaves while another still needs it
    best = checkpoint_path(state.best_ckpt or "", work, resume_from)
    tf.train.Checkpoint(model=model).read(str(best)).expect_partial()
    return model, placement


def checkpoint_path(name: str, work: Path, resume_from: Path | None) -> Path:
    """Checkpoint ``name`` as this process wrote it, else as the run it resumed wrote it."""
    mine = work / name
    if resume_from is None or mine.with_name(mine.name + ".index").exists():
        return mine
    return resume_from / name
