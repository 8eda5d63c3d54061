"""Resumable training: skip/refuse finished runs, and a work directory updated every epoch.

A finished run directory records the ``training_key`` it was trained from (model and train
config sections plus sha256 of the split files and labels.json): the same key again is skipped,
a different one refused (``--force`` retrains).

The work directory (a hidden sibling of the run directory, ``models/.<run>.work/``) holds

- ``ckpt/epoch-<n>*``: a ``tf.train.Checkpoint`` of the model weights and optimizer state after
  epoch n (the latest one, plus the best epoch's when that is an older one);
- ``state.json``: history rows, best epoch and value, early-stopping patience counter, stop
  reason, and the checkpoints that belong to it.

A checkpoint is written under a new name first and ``state.json`` is replaced after it, so a
process killed at any moment (Ctrl-C, SIGTERM, SIGKILL) leaves the last finished epoch intact.
The same callback does early stopping (its counter must survive a resume, which Keras'
``EarlyStopping`` does not allow) and keeps the best epoch's weights.

Long because: the work directory's state, its checkpoints and the callback that writes them
are one protocol (what a resume may trust); split, its invariants would span files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tf_keras

from pipeline import tensorboard
from pipeline.errors import PipelineError
from pipeline.io import read_json, sha256_file, write_json
from pipeline.paths import Paths, RunDir

logger = logging.getLogger(__name__)

HISTORY_COLUMNS = [
    "epoch",
    "loss",
    "accuracy",
    "val_loss",
    "val_accuracy",
    "learning_rate",
    "seconds",
]


# train.* keys added after runs were recorded, with their defaults (today's behaviour).
LATER_KEYS = {
    "label_smoothing": 0.0,
    "class_weights": "none",
    "head_lr_multiplier": 1.0,
    "head_init": "random",
}
# train.* keys that say where training runs, not what it computes: a run resumes or is skipped
# whichever strategy the rerun uses (the global batch is the same; see distributed.py).
PLACEMENT_KEYS = ("distribute",)


def work_dir_for(run_dir: Path) -> Path:
    """Where an unfinished run keeps its checkpoints: a hidden sibling of the run directory."""
    return run_dir.with_name(f".{run_dir.name}.work")


def training_key(cfg: Any, paths: Paths, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """What decides the trained weights: model and train sections, the data hashes, and the
    task's ``extra`` sections (generation: the condition prefix that shapes the sequences)."""
    files = {"train": paths.split_file("train"), "validation": paths.split_file("validation")}
    files["labels"] = paths.labels
    raw = cfg.to_dict()
    # Keys added later count only when set, so runs recorded before they existed still match.
    train = {k: v for k, v in raw["train"].items() if LATER_KEYS.get(k, object()) != v}
    train = {k: v for k, v in train.items() if k not in PLACEMENT_KEYS}
    key = {
        "model": raw["model"],
        "train": train,
        "data": {name: sha256_file(p) for name, p in files.items()},
        **(extra or {}),
    }
    return key


def fingerprint(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested dicts."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [
            d
            for k in sorted(set(old) | set(new))
            for d in differences(old.get(k), new.get(k), f"{prefix}{k}.")
        ]
    return [] if old == new else [prefix.rstrip(".")]


def finished_record(run_dir: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    """run.json of a finished run trained from ``key``; a different finished run is refused."""
    path = RunDir(run_dir).record
    record = read_json(path) if path.is_file() else {}
    if record.get("status") != "finished":
        return None
    changed = differences(record.get("training_key", {}), key)
    if changed:
        raise PipelineError(
            f"{run_dir} already holds a finished run with a different config or data "
            f"(changed: {', '.join(changed)}); rerun with --force to replace it, or set a new "
            "train.run_name"
        )
    return record


@dataclass
class TrainState:
    fingerprint: str
    epochs_done: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int | None = None
    best_value: float | None = None
    wait: int = 0
    stop_reason: str | None = None
    last_ckpt: str | None = None
    best_ckpt: str | None = None
    train_seconds: float = 0.0
    head_probe: dict[str, Any] | None = None  # train.head_init probe: C, validation scores
    mlflow_run_id: str | None = None  # tracking.enabled: the MLflow run this training logs to

    @staticmethod
    def path(work_dir: Path) -> Path:
        return work_dir / "state.json"

    @classmethod
    def load(cls, work_dir: Path) -> TrainState | None:
        path = cls.path(work_dir)
        return cls(**read_json(path)) if path.is_file() else None

    def save(self, work_dir: Path) -> None:
        write_json(self.path(work_dir), asdict(self))


def improved(value: float, best: float | None, monitor: str, min_delta: float) -> bool:
    """Keras EarlyStopping's rule: better than the best by more than ``min_delta``."""
    if best is None:
        return True
    if monitor.endswith("loss"):
        return value + min_delta < best
    return value - min_delta > best


class EpochCheckpoint(tf_keras.callbacks.Callback):
    """Per epoch: history row, best tracking, early stopping, checkpoint + state.json."""

    def __init__(
        self,
        work_dir: Path,
        state: TrainState,
        checkpoint: Any,  # tf.train.Checkpoint(model=..., optimizer=...)
        monitor: str,
        min_delta: float,
        patience: int,
        max_epochs: int,
        current_lr: Any,  # () -> float
    ) -> None:
        super().__init__()
        self.work_dir = work_dir
        self.state = state
        self.checkpoint = checkpoint
        self.monitor = monitor
        self.min_delta = min_delta
        self.patience = patience
        self.max_epochs = max_epochs
        self.current_lr = current_lr
        self._epoch_start = 0.0
        self._train_end: float | None = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_start = time.perf_counter()
        self._train_end = None

    def on_test_begin(self, logs: dict | None = None) -> None:
        if self._train_end is None:  # validation starts: the epoch's training part is over
            self._train_end = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise PipelineError(
                f"training diverged: loss is {loss} at epoch {self.state.epochs_done + 1}, "
                f"step {batch + 1} (try a lower train.learning_rate)"
            )

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        now = time.perf_counter()
        n = epoch + 1
        row = {"epoch": n}
        for key in HISTORY_COLUMNS[1:5]:
            row[key] = float(logs[key])
        if self.monitor not in row:  # a task's own metric (val_entity_f1), set by its callback
            row[self.monitor] = float(logs[self.monitor])
        row["learning_rate"] = float(self.current_lr())
        row["seconds"] = round(now - self._epoch_start, 3)
        st = self.state
        value = row[self.monitor]
        is_best = improved(value, st.best_value, self.monitor, self.min_delta)
        if is_best:
            st.best_epoch, st.best_value, st.wait = n, value, 0
        else:
            st.wait += 1
        stop = None
        if st.wait >= max(self.patience, 1):  # Keras: patience 0 and 1 both stop at once
            stop = "early_stopping"
        if stop is None and n >= self.max_epochs:
            stop = "max_epochs"

        # Weights + optimizer first, under a new name; then the state that points at them.
        ckpt = f"ckpt/epoch-{n}"
        self.write_or_explain(lambda: self.checkpoint.write(str(self.work_dir / ckpt)), ckpt, n)
        old = {st.last_ckpt, st.best_ckpt}
        before = asdict(st)
        st.last_ckpt = ckpt
        if is_best:
            st.best_ckpt = ckpt
        st.epochs_done = n
        st.history.append(row)
        st.stop_reason = stop
        st.train_seconds += (self._train_end or now) - self._epoch_start
        try:
            self.write_or_explain(lambda: st.save(self.work_dir), ckpt, n)
        except PipelineError:
            self.state.__dict__.update(before)  # state.json still holds the last good epoch
            raise
        for name in old - {st.last_ckpt, st.best_ckpt, None}:
            remove_checkpoint(self.work_dir, name)
        # live curves while training (`make tensorboard LOGDIR=models`); the finished run
        # directory gets the whole history written afresh
        tensorboard.write_epoch(tensorboard.logdir_of(self.work_dir), n, row)

        logger.info(
            "epoch %d/%d: loss %.4f accuracy %.4f val_loss %.4f val_accuracy %.4f lr %.2e %.1fs%s",
            n,
            self.max_epochs,
            row["loss"],
            row["accuracy"],
            row["val_loss"],
            row["val_accuracy"],
            row["learning_rate"],
            row["seconds"],
            f" (best {self.monitor} {value:.4f})" if is_best else "",
        )
        if stop == "early_stopping":
            logger.info(
                "early stopping: %s did not improve by %s for %d epoch(s); best epoch %d",
                self.monitor,
                self.min_delta,
                st.wait,
                st.best_epoch,
            )
            self.model.stop_training = True

    def write_or_explain(self, write: Any, ckpt: str, n: int) -> None:
        """Run ``write``; a storage fault drops the new checkpoint and becomes one message."""
        import tensorflow as tf

        try:
            write()
        except (OSError, tf.errors.OpError) as exc:
            remove_checkpoint(self.work_dir, ckpt)  # never leave a partial one behind
            reason = getattr(exc, "strerror", None) or getattr(exc, "message", None) or exc
            raise PipelineError(
                f"could not write the epoch {n} checkpoint to {self.work_dir}: {reason}; free "
                f"disk space there (or make it writable) and rerun the same command to resume "
                f"after epoch {n - 1}"
            ) from None


class EpochSeed(tf_keras.callbacks.Callback):
    """Reseed every random source at each epoch's start from (seed, epoch) alone.

    Dropout draws from one ``tf.random.Generator`` per Dropout layer (see ``seeded_dropout``),
    reset here, so epoch n depends only on (seed, n, weights, optimizer state), and a resumed
    run repeats exactly what an uninterrupted one would have done.
    """

    def __init__(self, seed: int, generators: list[Any]) -> None:
        super().__init__()
        self.seed = seed
        self.generators = generators

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        tf_keras.utils.set_random_seed(epoch_seed(self.seed, epoch))
        for i, generator in enumerate(self.generators):
            generator.reset_from_seed(epoch_seed(self.seed, epoch, i))


def epoch_seed(*keys: int) -> int:
    """A 32-bit seed derived from ``keys`` (seed, epoch, ...), well mixed."""
    return int(np.random.SeedSequence(list(keys)).generate_state(1)[0])


def seeded_dropout(model: Any) -> list[Any]:
    """Give each Dropout layer of ``model`` a tf.random.Generator; return the generators.

    Keras' default (legacy) dropout uses stateful random ops whose state lives in the traced
    graph and cannot be reset or restored; a generator's state is a variable that can. The
    generators are not weights: they are in neither ``save_pretrained`` nor the checkpoint.
    """
    generators = []
    for layer in model.submodules:
        if isinstance(layer, tf_keras.layers.Dropout):
            rng = layer._random_generator
            rng._rng_type, rng._built, rng._seed = rng.RNG_STATEFUL, False, 0
            rng._maybe_init()
            generators.append(rng._generator)
    return generators


def remove_checkpoint(work_dir: Path, name: str) -> None:
    prefix = work_dir / name
    for f in prefix.parent.glob(prefix.name + ".*"):
        f.unlink(missing_ok=True)


def clean_stale_checkpoints(work_dir: Path, state: TrainState) -> None:
    """Drop checkpoint files a killed process wrote but never recorded in state.json."""
    keep = {n.split("/")[-1] for n in (state.last_ckpt, state.best_ckpt) if n}
    for f in (work_dir / "ckpt").glob("epoch-*"):
        if f.name.split(".")[0] not in keep:
            f.unlink(missing_ok=True)
