"""Fine-tuning a causal LM: the generation task's train loop (the stage is pipeline/train/).

The same machinery as classification: seeds, the optimizer of ``train.optimizer``, the work
directory's per-epoch checkpoint, early stopping and resume (pipeline/fitting/callbacks.py),
the best epoch's weights returned. What differs: TFAutoModelForCausalLM, transformers' own
causal-LM loss (labels = input ids, padding -100), and a next-token accuracy metric, so the
history has the same columns (loss, accuracy, val_loss, val_accuracy) as every run's.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.config import Config
from pipeline.fitting.callbacks import (
    EpochCheckpoint,
    EpochSeed,
    TrainState,
    clean_stale_checkpoints,
    seeded_dropout,
)
from pipeline.fitting.optimizer import build_optimizer, current_lr, make_optimizer
from pipeline.fitting.storage import check_storage
from pipeline.model.loading import SAFETENSORS_WEIGHTS, TF_WEIGHTS, load_safetensors_into_tf
from pipeline.tasks.generation import data
from pipeline.tasks.generation.arch import check_causal_lm

logger = logging.getLogger("pipeline.train")


def load_causal_lm(checkpoint: Path) -> Any:
    """A TF causal LM from a checkpoint directory (TF weights, or PyTorch safetensors)."""
    from transformers import AutoConfig, TFAutoModelForCausalLM

    check_causal_lm(checkpoint)
    if (checkpoint / TF_WEIGHTS).is_file():
        return TFAutoModelForCausalLM.from_pretrained(str(checkpoint))
    model = TFAutoModelForCausalLM.from_config(AutoConfig.from_pretrained(str(checkpoint)))
    load_safetensors_into_tf(model, checkpoint / SAFETENSORS_WEIGHTS)
    return model


def sequences(cfg: Config, tokenizer: Any, df: pd.DataFrame, max_len: int | None) -> list:
    """The frame's LM sequences (prefix from generate.prefix + text + eos)."""
    texts = data.with_prefix(df["text"].tolist(), df["label"].tolist(), cfg.generate.prefix)
    return data.encode(tokenizer, texts, max_len)


def fit(
    cfg: Config,
    checkpoint: Path,
    tokenizer: Any,
    train_df: pd.DataFrame,
    val_df: pd.DataFrame,
    state: TrainState,
    work: Path,
) -> tuple[Any, str]:
    """Train (or resume) until early stopping or max epochs; return the best model, device."""
    import tensorflow as tf
    import tf_keras

    t, max_len = cfg.train, cfg.model.max_seq_len
    tf_keras.utils.set_random_seed(t.seed)
    if t.deterministic:
        tf.config.experimental.enable_op_determinism()
    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    train_ids = sequences(cfg, tokenizer, train_df, max_len)
    val_ids = sequences(cfg, tokenizer, val_df, max_len)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    epoch = {"next": state.epochs_done}

    def epoch_seed() -> int:  # the batches of epoch n depend only on (seed, n)
        epoch["next"] += 1
        return t.seed * 1000 + epoch["next"]

    train_ds = data.lm_dataset(train_ids, t.batch_size, max_len, pad_id, epoch_seed)
    val_ds = data.lm_dataset(val_ids, t.batch_size, max_len, pad_id, lambda: None)
    steps_per_epoch = -(-len(train_ids) // t.batch_size)
    model = load_causal_lm(checkpoint)
    model.compile(
        optimizer=make_optimizer(cfg, steps_per_epoch * t.epochs),
        metrics=[data.masked_token_accuracy()],
    )  # no loss given: the model's own causal-LM loss, which skips the -100 labels
    build_optimizer(model.optimizer, model.trainable_variables)
    generators = seeded_dropout(model)
    check_storage(work, model.count_params() * 4)
    ckpt = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
    if state.last_ckpt:
        clean_stale_checkpoints(work, state)
        ckpt.read(str(work / state.last_ckpt)).assert_existing_objects_matched()
        logger.info("resuming %s after epoch %d", work.name, state.epochs_done)
    if state.stop_reason is None:
        logger.info(
            "training a causal LM on %d sequences (%d steps/epoch), validating on %d, on %s",
            *(len(train_ids), steps_per_epoch, len(val_ids), device),
        )
        es = t.early_stopping
        callback = EpochCheckpoint(
            *(work, state, ckpt, es.monitor, es.min_delta, es.patience, t.epochs),
            current_lr=lambda: current_lr(model.optimizer),
        )
        model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=t.epochs,
            initial_epoch=state.epochs_done,
            callbacks=[EpochSeed(t.seed, generators), callback],
            verbose=1 if sys.stdout.isatty() else 2,
        )
    tf.train.Checkpoint(model=model).read(str(work / state.best_ckpt)).expect_partial()
    return model, device


def validation_perplexity(cfg: Config, model: Any, tokenizer: Any, val_df: pd.DataFrame) -> float:
    """Token-level perplexity of ``model`` on the validation split (for run.json)."""
    ids = sequences(cfg, tokenizer, val_df, cfg.model.max_seq_len)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return data.perplexity(model, ids, cfg.evaluate.batch_size, pad_id)
