"""TensorBoard event files: read back with TensorBoard's own reader (what the server uses)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.plugins.hparams import metadata as hp_metadata
from tensorboard.util import tensor_util

from pipeline.tensorboard import (
    hparam_value,
    logdir_of,
    write_epoch,
    write_history,
    write_hparams,
    write_hparams_config,
)

REPO = Path(__file__).resolve().parents[1]


def scalars(logdir: Path) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(step, value), ...]}`` of the scalars in one TensorBoard run folder."""
    acc = ea.EventAccumulator(str(logdir), size_guidance={ea.TENSORS: 0})
    acc.Reload()
    out = {}
    for tag in acc.Tags()["tensors"]:
        if acc.SummaryMetadata(tag).plugin_data.plugin_name == "scalars":
            events = acc.Tensors(tag)
            out[tag] = [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in events]
    return out


def hparams_content(logdir: Path) -> dict[str, Any]:
    """The HParams plugin's data in one folder: {"experiment": ..., "session": ...} protos."""
    acc = ea.EventAccumulator(str(logdir))
    acc.Reload()
    content = acc.PluginTagToContent(hp_metadata.PLUGIN_NAME)
    out: dict[str, Any] = {}
    if hp_metadata.EXPERIMENT_TAG in content:
        raw = content[hp_metadata.EXPERIMENT_TAG]
        out["experiment"] = hp_metadata.parse_experiment_plugin_data(raw)
    if hp_metadata.SESSION_START_INFO_TAG in content:
        raw = content[hp_metadata.SESSION_START_INFO_TAG]
        out["session"] = hp_metadata.parse_session_start_info_plugin_data(raw)
    return out


def session_values(session: Any) -> dict[str, Any]:
    return {k: getattr(v, v.WhichOneof("kind")) for k, v in session.hparams.items()}


ROWS = [
    {"epoch": 1, "loss": 1.5, "accuracy": 0.25, "val_loss": 1.25, "val_accuracy": 0.5},
    {"epoch": 2, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.125, "val_accuracy": 0.625},
]


def test_write_epoch_puts_train_and_validation_under_the_same_tags(tmp_path: Path) -> None:
    logdir = logdir_of(tmp_path / "run")
    for row in ROWS:  # as the training callback calls it: once per epoch, a history row
        write_epoch(logdir, row["epoch"], row | {"learning_rate": 1e-3, "seconds": 2.0})
    assert logdir == tmp_path / "run/tensorboard"
    assert sorted(p.name for p in logdir.iterdir()) == ["train", "validation"]
    assert scalars(logdir / "train") == {
        "epoch_loss": [(1, 1.5), (2, 1.0)],
        "epoch_accuracy": [(1, 0.25), (2, 0.5)],
        "epoch_learning_rate": [(1, pytest.approx(1e-3)), (2, pytest.approx(1e-3))],
    }
    assert scalars(logdir / "validation") == {
        "epoch_loss": [(1, 1.25), (2, 1.125)],
        "epoch_accuracy": [(1, 0.5), (2, 0.625)],
    }
    # complete files only, nothing temporary left behind
    assert all(p.name.startswith("events.out.tfevents.") for p in logdir.rglob("*") if p.is_file())


def test_history_at_once_equals_epoch_by_epoch(tmp_path: Path) -> None:
    write_history(tmp_path / "a", ROWS)
    for row in ROWS:
        write_epoch(tmp_path / "b", row["epoch"], row)
    for folder in ("train", "validation"):
        assert scalars(tmp_path / "a" / folder) == scalars(tmp_path / "b" / folder)
    assert len(list((tmp_path / "a/train").iterdir())) == 1  # one file for the whole history


def test_tag_names_are_those_of_the_keras_tensorboard_callback(tmp_path: Path) -> None:
    """Keras' own callback, on a small model, names the epoch curves as write_epoch does."""
    import tf_keras as keras

    model = keras.Sequential([keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = np.random.default_rng(0).random((8, 4), dtype=np.float32), np.arange(8) % 3
    callback = keras.callbacks.TensorBoard(str(tmp_path / "keras"), write_graph=False)
    model.fit(x, y, validation_data=(x, y), epochs=1, verbose=0, callbacks=[callback])
    write_epoch(tmp_path / "ours", 1, ROWS[0] | {"learning_rate": 1e-3})
    for folder in ("train", "validation"):
        theirs = {t for t in scalars(tmp_path / "keras" / folder) if t.startswith("epoch_")}
        ours = set(scalars(tmp_path / "ours" / folder)) - {"epoch_learning_rate"}
        assert ours == theirs == {"epoch_loss", "epoch_accuracy"}


def test_hparams_experiment_and_one_trial(tmp_path: Path) -> None:
    domains = {"train.learning_rate": [1e-3, 3e-3, 1e-3], "train.optimizer": ["adam", "adamw"]}
    metrics = {"val_accuracy": "val_accuracy (best epoch)", "best_epoch": "best epoch"}
    write_hparams_config(tmp_path, domains, metrics)
    write_hparams_config(tmp_path, domains, metrics)  # written again: replaces the first
    assert len(list(tmp_path.glob("*tfevents*"))) == 1
    experiment = hparams_content(tmp_path)["experiment"]
    infos = {h.name: list(h.domain_discrete.values) for h in experiment.hparam_infos}
    assert {k: [v.number_value or v.string_value for v in vs] for k, vs in infos.items()} == {
        "train.learning_rate": [1e-3, 3e-3],
        "train.optimizer": ["adam", "adamw"],
    }
    assert [(m.name.tag, m.display_name) for m in experiment.metric_infos] == list(metrics.items())

    trial = tmp_path / "lr1e-03_optadam"
    write_hparams(trial, {"train.learning_rate": 1e-3, "train.optimizer": "adam"},
                  {"val_accuracy": 0.625, "best_epoch": 2}, trial_id="lr1e-03_optadam")  # fmt: skip
    session = hparams_content(trial)["session"]
    assert session.group_name == "lr1e-03_optadam"
    assert session_values(session) == {"train.learning_rate": 1e-3, "train.optimizer": "adam"}
    assert scalars(trial) == {"val_accuracy": [(0, 0.625)], "best_epoch": [(0, 2.0)]}


def test_hparam_values_are_what_the_plugin_can_show() -> None:
    assert hparam_value(64) == 64.0 and isinstance(hparam_value(64), float)
    assert hparam_value(np.int64(3)) == 3.0 and hparam_value(True) is True
    assert hparam_value("adamw") == "adamw"
    assert hparam_value(None) == "null" and hparam_value([0.6, 0.2]) == "[0.6, 0.2]"


def test_writing_needs_no_tensorflow(tmp_path: Path) -> None:
    """The sweep process writes these files and must not start TensorFlow for it."""
    code = (
        "import sys; from pathlib import Path; import pipeline.tensorboard as t; "
        f"t.write_epoch(Path({str(tmp_path)!r}), 1, {{'loss': 1.0, 'val_loss': 2.0}}); "
        f"t.write_hparams(Path({str(tmp_path)!r}), {{'a': 1}}, {{'m': 0.5}}); "
        "print('tensorflow' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
    assert scalars(tmp_path / "validation") == {"epoch_loss": [(1, 2.0)]}


@pytest.mark.slow
def test_the_tensorboard_server_shows_the_trials_side_by_side(tmp_path: Path) -> None:
    """`tensorboard --logdir` on a sweep's folder: the HParams plugin lists each trial with its
    values and metric, and the scalars plugin its curves (what `make tensorboard` serves)."""
    import json
    import socket
    import time
    import urllib.request

    write_hparams_config(tmp_path, {"train.learning_rate": [1e-3, 3e-3]}, {"val_accuracy": "acc"})
    for name, lr, acc in (("lr1e-03", 1e-3, 0.5), ("lr3e-03", 3e-3, 0.75)):
        write_hparams(tmp_path / name, {"train.learning_rate": lr}, {"val_accuracy": acc}, name)
        write_history(tmp_path / name, ROWS)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tensorboard = Path(sys.executable).parent / "tensorboard"
    command = [str(tensorboard), "--logdir", str(tmp_path), "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://localhost:{port}/data/plugin"

    def post(path: str, body: dict) -> dict:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        request = urllib.request.Request(base + path, data=data, headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, "tensorboard exited"
            try:
                with urllib.request.urlopen(base + "/scalars/tags", timeout=5) as response:
                    tags = json.load(response)
                if len(tags) == 6:  # both trials read: their folder, train/ and validation/
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "tensorboard never answered"
            time.sleep(0.5)
        experiment = post("/hparams/experiment", {"experimentName": ""})
        groups = post(
            "/hparams/session_groups",
            {"experimentName": "", "allowedStatuses": ["STATUS_UNKNOWN"], "colParams": [],
             "startIndex": 0, "sliceSize": 10},
        )  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert [h["name"] for h in experiment["hparamInfos"]] == ["train.learning_rate"]
    shown = {
        g["name"]: (g["hparams"]["train.learning_rate"], g["metricValues"][0]["value"])
        for g in groups["sessionGroups"]
    }
    assert shown == {"lr1e-03": (1e-3, 0.5), "lr3e-03": (3e-3, 0.75)}
    assert set(tags["lr1e-03/validation"]) == {"epoch_loss", "epoch_accuracy"}


@pytest.mark.slow
def test_a_trained_run_carries_its_curves(trained_run: Path) -> None:
    """pipeline.train writes every epoch of history.csv into models/<run>/tensorboard/."""
    import pandas as pd

    history = pd.read_csv(trained_run / "history.csv")
    train = scalars(logdir_of(trained_run) / "train")
    validation = scalars(logdir_of(trained_run) / "validation")
    assert [step for step, _ in train["epoch_loss"]] == history["epoch"].tolist()
    np.testing.assert_allclose([v for _, v in train["epoch_loss"]], history["loss"], rtol=1e-5)
    np.testing.assert_allclose(
        [v for _, v in validation["epoch_accuracy"]], history["val_accuracy"], rtol=1e-5
    )
    assert "epoch_learning_rate" in train
