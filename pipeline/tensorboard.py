"""TensorBoard event files: a run's curves per epoch, and a sweep's trials side by side.

    make tensorboard                                  # tensorboard --logdir models --port 6006
    make tensorboard LOGDIR=reports/sweeps/<name>     # a sweep: the HPARAMS tab

Where the files go:

- A run: ``models/<run>/tensorboard/{train,validation}/``. ``write_epoch`` writes one history
  row (pipeline.callbacks.HISTORY_COLUMNS) per call: ``epoch_loss`` and ``epoch_accuracy`` in
  both folders, ``epoch_learning_rate`` in train/, the layout of Keras' own TensorBoard
  callback, so TensorBoard draws train and validation as two runs on one chart. Training calls
  it once per finished epoch into the work directory (``logdir_of(work_dir)``), which becomes
  ``models/<run>/`` when the run finishes. A run resumed after an interruption may write an
  epoch it had already written before its checkpoint was saved; TensorBoard shows the later one.
- A sweep: ``reports/sweeps/<name>/tensorboard/`` holds the experiment (``write_hparams_config``:
  its axes and metrics); ``<trial>/`` holds each finished trial's values and its metrics at the
  best epoch (``write_hparams``) and its curves (``<trial>/{train,validation}/``).

The events are TensorBoard's own protobufs in its record format (what ``tf.summary`` writes),
written without TensorFlow: the sweep's process, which only watches its trials, never starts
TensorFlow. Each call writes one small complete file under a temporary name and renames it, so
a reader never sees half a file and nothing stays open while a work directory is renamed.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.hparams import summary_v2 as hp
from tensorboard.plugins.scalar import metadata as scalar_metadata
from tensorboard.summary.writer.record_writer import RecordWriter
from tensorboard.util import tensor_util

SUBDIR = "tensorboard"

# history row key -> (folder, tag): Keras' TensorBoard callback names them so
EPOCH_TAGS = {
    "loss": ("train", "epoch_loss"),
    "accuracy": ("train", "epoch_accuracy"),
    "learning_rate": ("train", "epoch_learning_rate"),
    "val_loss": ("validation", "epoch_loss"),
    "val_accuracy": ("validation", "epoch_accuracy"),
}

_files = itertools.count()  # several files of one process in one second get distinct names


def logdir_of(run_dir: Path) -> Path:
    """The TensorBoard folder of a run (or work) directory: ``<run_dir>/tensorboard``."""
    return Path(run_dir) / SUBDIR


def write_epoch(logdir: Path, epoch: int, row: Mapping[str, Any]) -> None:
    """Write one epoch's metrics (a history row) at step ``epoch`` under ``logdir``.

    ``logdir`` is ``logdir_of(run_or_work_dir)``; keys of ``row`` other than those of
    ``EPOCH_TAGS`` (epoch, seconds) are not written.
    """
    write_history(logdir, [{**row, "epoch": epoch}])


def write_history(logdir: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    """Write several history rows (each with its ``epoch``), one file per folder."""
    by_folder: dict[str, list[event_pb2.Event]] = {}
    for row in rows:
        values: dict[str, list[summary_pb2.Summary.Value]] = {}
        for key, (folder, tag) in EPOCH_TAGS.items():
            if key in row and row[key] is not None:
                values.setdefault(folder, []).append(_scalar(tag, float(row[key])))
        for folder, scalars in values.items():
            by_folder.setdefault(folder, []).append(_event(int(row["epoch"]), scalars))
    for folder, events in by_folder.items():
        _write(Path(logdir) / folder, events)


def write_hparams_config(
    logdir: Path, domains: Mapping[str, Sequence[Any]], metrics: Mapping[str, str]
) -> None:
    """The experiment at the top of ``logdir``: each hyperparameter with the values it takes,
    and the metrics (``{tag: display name}``) every trial writes. Replaces an earlier one."""
    hparams = []
    for name, values in domains.items():
        plain = sorted(set(map(hparam_value, values)), key=repr)
        same_type = len({type(v) for v in plain}) == 1
        hparams.append(hp.HParam(name, hp.Discrete(plain) if same_type else None))
    infos = [hp.Metric(tag, display_name=shown) for tag, shown in metrics.items()]
    earlier = list(Path(logdir).glob("*tfevents*"))
    _write(Path(logdir), [_event(0, hp.hparams_config_pb(hparams, infos).value)])
    for path in earlier:
        path.unlink(missing_ok=True)


def write_hparams(
    logdir: Path,
    hparams: Mapping[str, Any],
    metrics: Mapping[str, float],
    trial_id: str | None = None,
) -> None:
    """One trial (a session of the HParams plugin) in ``logdir``: the values of its
    hyperparameters and its metrics, the tags named in ``write_hparams_config``."""
    values = {name: hparam_value(v) for name, v in hparams.items()}
    session = hp.hparams_pb(values, trial_id=trial_id).value
    scalars = [_scalar(tag, float(value)) for tag, value in metrics.items()]
    _write(Path(logdir), [_event(0, session), _event(0, scalars)])


def hparam_value(value: Any) -> bool | float | str:
    """What the HParams plugin can show: numbers as floats, true/false, text (else JSON)."""
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    return json.dumps(value, ensure_ascii=False)


# --------------------------------------------------------------------------------------------
# Events and files
# --------------------------------------------------------------------------------------------


def _scalar(tag: str, value: float) -> summary_pb2.Summary.Value:
    """A scalar as ``tf.summary.scalar`` writes it: a float32 tensor, scalars plugin."""
    return summary_pb2.Summary.Value(
        tag=tag,
        metadata=scalar_metadata.create_summary_metadata(display_name=tag, description=""),
        tensor=tensor_util.make_tensor_proto(np.float32(value)),
    )


def _event(step: int, values: Iterable[summary_pb2.Summary.Value]) -> event_pb2.Event:
    summary = summary_pb2.Summary(value=list(values))
    return event_pb2.Event(wall_time=time.time(), step=step, summary=summary)


def _write(logdir: Path, events: list[event_pb2.Event]) -> Path:
    """One new event file in ``logdir`` holding ``events``, renamed into place when complete."""
    logdir.mkdir(parents=True, exist_ok=True)
    name = (
        f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}."
        f"{os.getpid()}.{next(_files):06d}.v2"  # padded: files sort in writing order
    )
    header = event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2")
    # TensorBoard reads only files with "tfevents" in their name: the temporary one has none
    tmp = logdir / f".tb-{os.getpid()}-{next(_files)}.tmp"
    try:
        with open(tmp, "xb") as fh:
            writer = RecordWriter(fh)
            for event in (header, *events):
                writer.write(event.SerializeToString())
        os.replace(tmp, logdir / name)
    finally:
        tmp.unlink(missing_ok=True)
    return logdir / name
