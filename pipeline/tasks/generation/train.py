"""What the fit loop trains for a causal LM (the loop is pipeline/fitting/, the stage train/).

The same machinery as every task: seeds, the optimizer of ``train.optimizer``, length buckets,
the work directory's per-epoch checkpoint, early stopping and resume, the best epoch's weights.
What differs is in ``lm_spec``: TFAutoModelForCausalLM, transformers' own causal-LM loss
(labels = input ids, padding -100, carried in the inputs), no token_type_ids, and a next-token
accuracy metric, so the history has the same columns (loss, accuracy, val_loss,
val_accuracy) as every run's.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.config import Config
from pipeline.fitting.loop import Examples, FitSpec
from pipeline.model.loading import SAFETENSORS_WEIGHTS, TF_WEIGHTS, load_safetensors_into_tf
from pipeline.tasks.generation import data
from pipeline.tasks.generation.arch import check_causal_lm

logger = logging.getLogger("pipeline.train")


def load_causal_lm(source: Path | str) -> Any:
    """A TF causal LM from a checkpoint or run directory (TF weights, or PyTorch safetensors)
    or a Hub id; the one loader of training, evaluation, serving and predict."""
    from transformers import AutoConfig, TFAutoModelForCausalLM

    check_causal_lm(source)
    local = Path(source)
    if not local.is_dir() or (local / TF_WEIGHTS).is_file():
        return TFAutoModelForCausalLM.from_pretrained(str(source))
    model = TFAutoModelForCausalLM.from_config(AutoConfig.from_pretrained(str(local)))
    load_safetensors_into_tf(model, local / SAFETENSORS_WEIGHTS)
    return model


def sequences(cfg: Config, tokenizer: Any, df: pd.DataFrame, max_len: int | None) -> list:
    """The frame's LM sequences (prefix from generate.prefix + text + eos)."""
    texts = data.with_prefix(df["text"].tolist(), df["label"].tolist(), cfg.generate.prefix)
    return data.encode(tokenizer, texts, max_len)


def lm_spec(
    cfg: Config, checkpoint: Path, tokenizer: Any, train_df: pd.DataFrame, val_df: pd.DataFrame
) -> FitSpec:
    """The fit spec of a causal LM: the sequences are their own targets (padding -100)."""
    max_len = cfg.model.max_seq_len
    train_ids = sequences(cfg, tokenizer, train_df, max_len)
    val_ids = sequences(cfg, tokenizer, val_df, max_len)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def examples(ids: list[list[int]]) -> Examples:
        targets = np.empty(len(ids), dtype=object)
        targets[:] = ids
        return Examples(ids, None, targets)

    return FitSpec(
        train=examples(train_ids),
        val=examples(val_ids),
        build_model=lambda: load_causal_lm(checkpoint),
        loss=None,  # transformers' own causal-LM loss, which skips the -100 labels
        metrics=lambda: [data.masked_token_accuracy()],
        pad_id=pad_id,
        segments=False,  # GPT-2 would embed token_type_ids with its word embeddings
    )


def validation_perplexity(cfg: Config, model: Any, tokenizer: Any, val_df: pd.DataFrame) -> float:
    """Token-level perplexity of ``model`` on the validation split (for run.json)."""
    ids = sequences(cfg, tokenizer, val_df, cfg.model.max_seq_len)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return data.perplexity(model, ids, cfg.evaluate.batch_size, pad_id)
