"""Train: fine-tune a BERT classifier on the split files into ``models/<train.run_name>/``.

    python -m pipeline.train --config configs/default.yaml [--set train.epochs=5] [--force]

Reads data/processed/{train,validation}.parquet and data/interim/labels.json; tokenizes with
the base model's fast tokenizer (truncation at ``model.max_seq_len``, per-batch padding with
length buckets, see pipeline/batching.py); trains with Adam (constant rate) or AdamW (warmup +
linear decay), sparse cross-entropy on the logits, accuracy; early stopping on
``train.early_stopping``; keeps the best epoch's weights.

Progress lives in a hidden work directory (``models/.<run>.work/``, see pipeline/callbacks.py)
updated at every epoch end, so an interrupted run (Ctrl-C, SIGTERM, even SIGKILL) resumes from
its last finished epoch when the same command runs again. The run directory itself appears in
one rename once training is over: save_pretrained model + tokenizer, labels.json, history.csv,
curves.png and run.json. A finished run with the same model/train config and data is skipped;
with a different one the stage refuses unless ``--force`` is given.
"""

from __future__ import annotations

import argparse
import errno
import logging
import random
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline import batching, tensorboard
from pipeline.callbacks import (
    EpochCheckpoint,
    EpochSeed,
    TrainState,
    clean_stale_checkpoints,
    fingerprint,
    finished_record,
    seeded_dropout,
    training_key,
    work_dir_for,
)
from pipeline.config import Config, check_training_values
from pipeline.errors import PipelineError
from pipeline.io import atomic_dir, provenance, read_json, write_json
from pipeline.modeling import (
    load_base_classifier,
    load_tokenizer,
    max_positions,
    resolve_base_model,
)
from pipeline.paths import Paths
from pipeline.vocab_trim import trimmed_checkpoint

logger = logging.getLogger("pipeline.train")

__all__ = ["TrainResult", "main", "run", "work_dir_for"]


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    best_epoch: int
    best_metric: float  # value of train.early_stopping.monitor at the best epoch
    stop_reason: str  # "early_stopping" | "max_epochs"
    epochs_run: int
    skipped: bool = False  # already trained with this config and data


def holds_other_files(run_dir: Path) -> bool:
    """``run_dir`` exists and is no train run (no run.json), so replacing it would lose data."""
    if not run_dir.exists() or (run_dir / "run.json").is_file():
        return False
    return not run_dir.is_dir() or any(run_dir.iterdir())


def load_inputs(paths: Paths) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Train and validation frames and labels.json, checked against each other."""
    needed = [paths.split_file("train"), paths.split_file("validation"), paths.labels]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        raise PipelineError(f"missing {', '.join(missing)}: run `make data` first")
    labels = read_json(paths.labels)
    id2label = {int(i): name for i, name in labels["id2label"].items()}
    frames = {}
    for split in ("train", "validation"):
        path = paths.split_file(split)
        df = pd.read_parquet(path, columns=["text", "label", "label_id"])
        for label_id, name in df[["label_id", "label"]].drop_duplicates().itertuples(index=False):
            if id2label.get(int(label_id)) != name:
                raise PipelineError(
                    f"{path}: label {name!r} has id {label_id}, but {paths.labels} maps "
                    f"{label_id} to {id2label.get(int(label_id))!r} (rerun `make data`)"
                )
        frames[split] = df
    return frames["train"], frames["validation"], labels


# --------------------------------------------------------------------------------------------
# Seeds, devices, optimizer
# --------------------------------------------------------------------------------------------


def seed_everything(seed: int, deterministic: bool) -> None:
    import tensorflow as tf
    import tf_keras

    random.seed(seed)
    np.random.seed(seed)
    tf_keras.utils.set_random_seed(seed)  # Python, NumPy and TF together
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def device_setup(mixed_precision: bool) -> tuple[Any, str]:
    """MirroredStrategy over several GPUs, else the default one; mixed precision on GPU only."""
    import tensorflow as tf
    import tf_keras

    gpus = tf.config.list_physical_devices("GPU")
    if mixed_precision and gpus:
        tf_keras.mixed_precision.set_global_policy("mixed_float16")
    elif mixed_precision:
        logger.info("train.mixed_precision is ignored on CPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy(), f"{len(gpus)} GPUs (MirroredStrategy)"
    if gpus:
        name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
        return tf.distribute.get_strategy(), f"GPU: {name}"
    return tf.distribute.get_strategy(), "CPU"


def make_optimizer(cfg: Config, total_steps: int, multiplier: float = 1.0) -> Any:
    """Adam at ``learning_rate`` (x ``multiplier``), or AdamW with warmup and linear decay."""
    import tf_keras
    from transformers import create_optimizer

    t = cfg.train
    if t.optimizer == "adam":
        return tf_keras.optimizers.Adam(learning_rate=t.learning_rate * multiplier)
    optimizer, _ = create_optimizer(
        init_lr=t.learning_rate * multiplier,
        num_train_steps=total_steps,
        num_warmup_steps=int(t.warmup_ratio * total_steps),
        weight_decay_rate=t.weight_decay,
    )
    return optimizer


def build_optimizer(optimizer: Any, variables: list) -> None:
    """Create the slot variables now, so a checkpoint restores them at once."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    if hasattr(inner, "_create_all_weights"):  # legacy optimizers (transformers' AdamW)
        inner._create_all_weights(variables)
    else:
        inner.build(variables)


def make_loss(label_smoothing: float) -> Any:
    """Cross-entropy on the logits of sparse labels, smoothed when ``label_smoothing`` > 0."""
    import tensorflow as tf
    import tf_keras

    if label_smoothing == 0:
        return tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def smoothed_sparse_crossentropy(y_true: Any, logits: Any) -> Any:
        logits = tf.cast(logits, tf.float32)
        one_hot = tf.one_hot(tf.reshape(tf.cast(y_true, tf.int32), [-1]), tf.shape(logits)[-1])
        return tf_keras.losses.categorical_crossentropy(
            one_hot, logits, from_logits=True, label_smoothing=label_smoothing
        )

    return smoothed_sparse_crossentropy


def balanced_class_weights(y_train: np.ndarray, n_classes: int) -> np.ndarray:
    """sklearn's "balanced" weight per label id: n / (classes x count); 1 for absent ids."""
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(y_train)
    weights = np.ones(n_classes, dtype=np.float32)
    weights[present] = compute_class_weight("balanced", classes=present, y=y_train)
    return weights


def is_head(variable: Any) -> bool:
    """The new head: the classifier, and the pooler (new in checkpoints that lack one)."""
    return "classifier" in variable.name or "pooler" in variable.name


def use_head_optimizer(model: Any, head_optimizer: Any) -> None:
    """Train ``model`` with ``model.optimizer`` for the body and ``head_optimizer`` for the head.

    Replaces the model's train_step (transformers' one calls a single ``optimizer.minimize``):
    the same loss and metrics, one gradient, applied by the two optimizers to their variables.
    """
    import tensorflow as tf
    import tf_keras

    def train_step(data: Any) -> dict[str, Any]:
        x, y, sample_weight = tf_keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            logits = model(x, training=True).logits
            loss = model.compiled_loss(y, logits, sample_weight, regularization_losses=model.losses)
        variables = model.trainable_variables
        grads = tape.gradient(loss, variables)
        pairs = list(zip(grads, variables, strict=True))
        model.optimizer.apply_gradients([(g, v) for g, v in pairs if not is_head(v)])
        head_optimizer.apply_gradients([(g, v) for g, v in pairs if is_head(v)])
        model.compiled_metrics.update_state(y, logits, sample_weight)
        return {m.name: m.result() for m in model.metrics}

    model.train_step = train_step


def current_lr(optimizer: Any) -> float:
    import tf_keras

    inner = getattr(optimizer, "inner_optimizer", optimizer)
    lr = inner._get_hyper("learning_rate") if hasattr(inner, "_get_hyper") else inner._learning_rate
    if isinstance(lr, tf_keras.optimizers.schedules.LearningRateSchedule):
        lr = lr(inner.iterations)
    return float(np.asarray(lr))


# --------------------------------------------------------------------------------------------
# The stage
# --------------------------------------------------------------------------------------------


def run(cfg: Config, force: bool = False) -> TrainResult:
    started = time.time()
    check_training_values(cfg)
    paths = Paths.from_config(cfg)
    run_dir, es = paths.run_dir(cfg.train.run_name), cfg.train.early_stopping
    work = work_dir_for(run_dir)
    train_df, val_df, labels = load_inputs(paths)
    if holds_other_files(run_dir):
        raise PipelineError(
            f"{run_dir} exists but holds no train run (no run.json; a sweep's trials, say), "
            "and training would replace it: choose another train.run_name"
        )
    key = training_key(cfg, paths)
    record = None if force else finished_record(run_dir, key)
    if record:
        logger.info("%s is already trained with this config and data: skipping", run_dir)
        shutil.rmtree(work, ignore_errors=True)  # left by a kill between rename and cleanup
        best = record["best_metric"]["value"]
        return TrainResult(
            run_dir, record["best_epoch"], best, record["stop_reason"], record["epochs_run"], True
        )
    checkpoint = resolve_base_model(cfg.model.name_or_path, paths)
    if cfg.model.trim_vocab:
        texts = [*train_df["text"], *val_df["text"]]
        checkpoint = trimmed_checkpoint(checkpoint, texts, paths.base_models)
    if cfg.model.max_seq_len > max_positions(checkpoint):
        raise PipelineError(
            f"model.max_seq_len {cfg.model.max_seq_len} exceeds the {max_positions(checkpoint)} "
            f"position embeddings of {cfg.model.name_or_path}"
        )
    if force:
        shutil.rmtree(work, ignore_errors=True)
    state = TrainState.load(work)
    if state and state.fingerprint != fingerprint(key):
        raise PipelineError(
            f"{work} holds an unfinished run with a different config or data; rerun with "
            "--force to start over, or set a new train.run_name"
        )
    resumed_from = state.epochs_done if state else 0
    state = state or TrainState(fingerprint=fingerprint(key))

    tokenizer = load_tokenizer(checkpoint)
    lengths = batching.full_lengths(tokenizer, train_df["text"])
    token_stats = batching.token_length_stats(lengths, cfg.model.max_seq_len)
    logger.info("train token lengths: %s", token_stats)
    model, device = fit(cfg, checkpoint, tokenizer, train_df, val_df, labels, state, work)

    record = provenance(
        cfg.to_dict(),
        {"train": paths.split_file("train"), "validation": paths.split_file("validation")}
        | {"labels": paths.labels},
        started,
    )
    manifest = read_json(paths.manifest) if paths.manifest.is_file() else {}
    record.update(
        status="finished",
        run_name=cfg.train.run_name,
        base_model={"name_or_path": cfg.model.name_or_path, "resolved": str(checkpoint)},
        training_key=key,
        best_epoch=state.best_epoch,
        best_metric={"name": es.monitor, "value": state.best_value},
        stop_reason=state.stop_reason,
        epochs_run=state.epochs_done,
        resumed_from_epoch=resumed_from,
        train_seconds=round(state.train_seconds, 3),
        train_samples_per_s=round(len(train_df) * state.epochs_done / state.train_seconds, 2),
        token_lengths=token_stats,
        data={k: manifest.get(k) for k in ("splits", "labels")},
        device=device,
    )
    history = pd.DataFrame(state.history)

    def write(tmp: Path) -> None:
        tmp.chmod(0o755)
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        shutil.copyfile(paths.labels, tmp / "labels.json")
        history.to_csv(tmp / "history.csv", index=False)
        tensorboard.write_history(tensorboard.logdir_of(tmp), state.history)
        plot_curves(history, state.best_epoch, tmp / "curves.png", cfg.train.run_name)
        write_json(tmp / "run.json", record)

    save_run(run_dir, work, write)
    shutil.rmtree(work, ignore_errors=True)
    logger.info(
        "wrote %s: best epoch %d, %s %.4f (%s)",
        *(run_dir, state.best_epoch, es.monitor, state.best_value, state.stop_reason),
    )
    return TrainResult(
        run_dir, state.best_epoch, state.best_value, state.stop_reason, state.epochs_done
    )


def fit(
    cfg: Config,
    checkpoint: Path,
    tokenizer: Any,
    train_df: pd.DataFrame,
    val_df: pd.DataFrame,
    labels: dict[str, Any],
    state: TrainState,
    work: Path,
) -> tuple[Any, str]:
    """Train (or resume) until early stopping or max epochs; return the best model, device."""
    import tensorflow as tf
    import tf_keras

    seed_everything(cfg.train.seed, cfg.train.deterministic)
    strategy, device = device_setup(cfg.train.mixed_precision)
    max_len, bs = cfg.model.max_seq_len, cfg.train.batch_size
    train_ids = batching.encode(tokenizer, train_df["text"], max_len)
    val_ids = batching.encode(tokenizer, val_df["text"], max_len)
    pad_id = tokenizer.pad_token_id or 0
    epoch = {"next": state.epochs_done}

    def epoch_seed() -> int:  # the batches of epoch n depend only on (seed, n)
        epoch["next"] += 1
        return cfg.train.seed * 1000 + epoch["next"]

    t = cfg.train
    id2label = {int(i): name for i, name in labels["id2label"].items()}
    y_train, y_val = train_df["label_id"].to_numpy(), val_df["label_id"].to_numpy()
    weights = None
    if t.class_weights == "balanced":
        weights = balanced_class_weights(y_train, len(id2label))
        logger.info("class weights (balanced): %s", np.round(weights, 3).tolist())
    train_ds = batching.make_dataset(
        train_ids, y_train, bs, max_len, pad_id, epoch_seed, class_weight=weights
    )
    val_ds = batching.make_dataset(val_ids, y_val, bs, max_len, pad_id, lambda: None)
    steps_per_epoch = -(-len(train_ids) // bs)
    total_steps = steps_per_epoch * t.epochs

    with strategy.scope():
        model = load_base_classifier(checkpoint, id2label)
        model.compile(
            optimizer=make_optimizer(cfg, total_steps),
            loss=make_loss(t.label_smoothing),
            metrics=[tf_keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
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
        clean_stale_checkpoints(work, state)
        ckpt.read(str(work / state.last_ckpt)).assert_existing_objects_matched()
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
            callbacks=[EpochSeed(t.seed, generators), callback],
            verbose=1 if sys.stdout.isatty() else 2,  # step bar on a terminal, a line in logs
        )
    tf.train.Checkpoint(model=model).read(str(work / state.best_ckpt)).expect_partial()
    return model, device


def check_storage(work: Path, weight_bytes: int) -> None:
    """Before the first epoch: the work directory can be written and its disk has room.

    Needs about 3x the weights: one checkpoint holds the weights and Adam's two moments.
    """
    models = work.parent
    try:
        work.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=work):
            pass
    except OSError as exc:
        raise PipelineError(
            f"cannot write to {work} ({exc.strerror or exc}): {models} must be a writable "
            "directory (remove or move what is in the way, or set root to another place)"
        ) from None
    free, needed = shutil.disk_usage(work).free, 3 * weight_bytes
    if free < needed:
        raise PipelineError(
            f"{models} has {free / 1e6:.1f} MB free, but training needs about "
            f"{needed / 1e6:.1f} MB for its checkpoints (3x the {weight_bytes / 1e6:.1f} MB of "
            "weights): free disk space there, or set root to another disk"
        )


def save_run(run_dir: Path, work: Path, write: Any) -> None:
    """Write the run directory with ``write(tmp)``; a storage fault becomes one message."""
    try:
        with atomic_dir(run_dir) as tmp:
            write(tmp)
    except OSError as exc:
        reason = exc.strerror or (errno.errorcode.get(exc.errno or 0)) or str(exc)
        raise PipelineError(
            f"could not save the trained model to {run_dir}: {reason}; free disk space on "
            f"{run_dir.parent} (or make it writable) and rerun the same command: the trained "
            f"weights are kept in {work}"
        ) from None


def plot_curves(history: pd.DataFrame, best_epoch: int, path: Path, title: str) -> None:
    """Loss and accuracy per epoch, train and validation, the best epoch marked."""
    from matplotlib.ticker import MaxNLocator

    from pipeline.plots import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric, name in ((axes[0], "loss", "손실 (loss)"), (axes[1], "accuracy", "정확도")):
        ax.plot(history["epoch"], history[metric], "o-", label=f"학습 {metric}")
        ax.plot(history["epoch"], history[f"val_{metric}"], "o-", label=f"검증 val_{metric}")
        ax.axvline(best_epoch, color="grey", linestyle="--", label=f"최적 epoch {best_epoch}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(name)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    from pipeline.cli import add_config_args, run_cli

    parser = argparse.ArgumentParser(description="Fine-tune the classifier into models/<run>/.")
    add_config_args(parser)
    parser.add_argument("--force", action="store_true", help="retrain even if already finished")

    def work(args: argparse.Namespace, cfg: Config) -> None:
        result = run(cfg, force=args.force)
        verb = "already trained" if result.skipped else "trained"
        print(  # noqa: T201
            f"{verb}: {result.run_dir} (best epoch {result.best_epoch}, "
            f"{cfg.train.early_stopping.monitor} {result.best_metric:.4f}, {result.stop_reason})"
        )

    def on_sigterm(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # the last finished epoch is on disk; rerun to resume

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        return run_cli(parser, work, argv)
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    raise SystemExit(main())
