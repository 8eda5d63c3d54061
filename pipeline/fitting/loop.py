"""The one training loop of every task: seeds, devices, datasets, the compiled model, ``fit``.

    model, placement = fit(cfg, task.fit_spec(...), state, work)

The task says what to fit (``FitSpec``: encoded examples and their targets, the model, its loss
and metrics, callbacks); everything else is the same for every task: the strategy (one device,
several GPUs, several workers: distributed.py), seeds, length-bucketed batches
(length_buckets.py), the optimizer of ``train.optimizer`` (optimizer.py), the per-epoch
checkpoint with early stopping that makes a run resumable (callbacks.py), and the best epoch's
weights at the end.
"""

from __future__ import annotations

import logging
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

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
    build_optimizer,
    current_lr,
    is_head,
    make_optimizer,
    use_head_optimizer,
)
from pipeline.fitting.storage import check_storage

logger = logging.getLogger("pipeline.train")


def seed_everything(seed: int, deterministic: bool) -> None:
    import tensorflow as tf
    import tf_keras

    random.seed(seed)
    np.random.seed(seed)
    tf_keras.utils.set_random_seed(seed)  # Python, NumPy and TF together
    if deterministic:
        tf.config.experimental.enable_op_determinism()


@dataclass(frozen=True)
class Examples:
    """Encoded examples and what the model should predict for them."""

    ids: list[list[int]]
    types: list[list[int]] | None  # segment ids (pairs), or None: all zeros
    # One label id per example, or an object array of per-piece targets (-100: no loss).
    targets: np.ndarray


@dataclass(frozen=True)
class FitSpec:
    """What a task fits (pipeline/tasks/*: ``fit_spec``): the rest is this loop's."""

    train: Examples
    val: Examples
    build_model: Callable[[], Any]  # called inside the strategy's scope
    # A Keras loss on (targets, logits); None: the model computes its own from "labels" in its
    # inputs (transformers' causal-LM loss), and the targets travel as those labels.
    loss: Any
    metrics: Callable[[], list[Any]]  # Keras metrics, built inside the strategy's scope
    pad_id: int
    segments: bool = True  # the model reads token_type_ids
    class_weight: np.ndarray | None = None  # one weight per label id
    callbacks: Sequence[Any] = ()  # run before the checkpoint callback at each epoch end
    # Prepares a fresh model before its first epoch (train.head_init: probe) -> run.json's
    # record of it; not called when a run resumes (its checkpoint has the weights).
    start: Callable[[Any], dict[str, Any] | None] = lambda model: None


def fit(
    cfg: Config,
    spec: FitSpec,
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
    epoch = {"next": state.epochs_done}

    def epoch_seed() -> int:  # the batches of epoch n depend only on (seed, n)
        epoch["next"] += 1
        return cfg.train.seed * 1000 + epoch["next"]

    t = cfg.train
    shape = {"segments": spec.segments, "labels_in_inputs": spec.loss is None}

    def dataset(part: Examples, seed: Callable[[], int | None], weights: Any) -> Any:
        return distributed.distribute(
            placement,
            lambda shard: length_buckets.make_dataset(
                *(part.ids, part.targets, bs, max_len, spec.pad_id, seed),
                class_weight=weights,
                types=part.types,
                shard=shard,
                **shape,
            ),
        )

    train_ds = dataset(spec.train, epoch_seed, spec.class_weight)
    val_ds = dataset(spec.val, lambda: None, None)
    steps_per_epoch = -(-len(spec.train.ids) // bs)
    total_steps = steps_per_epoch * t.epochs

    with strategy.scope():
        model = spec.build_model()
        if not state.last_ckpt:  # a resumed run's checkpoint holds its head
            state.head_probe = spec.start(model)
        model.compile(
            optimizer=make_optimizer(cfg, total_steps),
            **({} if spec.loss is None else {"loss": spec.loss}),
            metrics=spec.metrics(),
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
            *(len(spec.train.ids), steps_per_epoch, len(spec.val.ids), device),
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
            validation_steps=distributed.steps(placement, -(-len(spec.val.ids) // bs)),
            callbacks=[
                EpochSeed(t.seed, generators),
                *spec.callbacks,
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
