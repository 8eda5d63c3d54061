"""Training across devices and workers (pipeline/fitting/distributed.py, ray_train.py).

The runs use the tiny BERT without dropout, so a step computes the same thing however the
global batch is split: a run on two replicas (MirroredStrategy over two logical CPUs, two
TF_CONFIG workers on 127.0.0.1, two Ray Train workers) must reproduce the one-device run's
history to float rounding. A broken split (wrong rows, double counting, a wrong loss scale,
batches that differ between workers) shows up as different losses.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.config import load_config
from pipeline.errors import PipelineError
from pipeline.fitting import distributed, length_buckets
from pipeline.train.stage import main, run, work_dir_for
from tests.conftest import tiny_config_dict, write_config
from tests.tiny import write_processed

REPO = Path(__file__).resolve().parents[1]

# Two logical CPU devices must exist before TensorFlow starts: a fresh process sets them up.
TWO_CPUS = """
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from pipeline.train.stage import main
raise SystemExit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, tiny_bert: Path) -> Path:
    """A tiny project whose base model has no dropout; returns its config path."""
    root = tmp_path_factory.mktemp("distributed")
    base = shutil.copytree(tiny_bert, root / "base")
    config = json.loads((base / "config.json").read_text())
    config |= {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    (base / "config.json").write_text(json.dumps(config))
    write_processed(root)
    cfg = tiny_config_dict(root, base, train={"batch_size": 4, "learning_rate": 3e-3})
    return write_config(root / "config.yaml", cfg)


@pytest.fixture(scope="module")
def baseline(project: Path) -> Path:
    """The one-device run the distributed ones are compared with."""
    return run(load_config(project, ["train.run_name=single"])).run_dir


def env() -> dict[str, str]:
    """This checkout's ``pipeline`` first (the venv may hold an editable install of another)."""
    return os.environ | {"PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}


def assert_same_run(run_dir: Path, baseline: Path, strategy: str, workers: int) -> None:
    """Same files, same history (to float rounding), and the placement in run.json."""
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(p.name for p in baseline.iterdir())
    record = json.loads((run_dir / "run.json").read_text())
    assert record["distribute"]["strategy"] == strategy
    assert (record["distribute"]["replicas"], record["distribute"]["workers"]) == (2, workers)
    got, want = pd.read_csv(run_dir / "history.csv"), pd.read_csv(baseline / "history.csv")
    for column in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(got[column], want[column], atol=2e-3, err_msg=column)
    assert want["val_accuracy"].iloc[-1] > 0.3  # the baseline learned (chance is 0.25)
    assert not work_dir_for(run_dir).exists()  # the chief removed its work directory


# --------------------------------------------------------------------------------------------
# Pieces, without training
# --------------------------------------------------------------------------------------------


def test_shards_cover_each_global_batch_once_in_replica_order() -> None:
    ids = [[2] + [5] * n + [3] for n in (1, 2, 3, 4, 5, 6, 7)]
    labels = np.arange(7)

    def rows(shard: tuple[int, int, int] | None) -> list[list[int]]:
        ds = length_buckets.make_dataset(ids, labels, 4, 16, 0, lambda: 7, shard=shard)
        return [y.numpy().tolist() for _, y in ds]

    whole = rows(None)  # two global batches: 4 and 3 examples
    first, second = rows((0, 1, 2)), rows((1, 1, 2))
    assert [a + b for a, b in zip(first, second, strict=True)] == whole
    assert rows((0, 2, 2)) == [part for pair in zip(first, second, strict=True) for part in pair]


def test_tf_config_chooses_the_strategy_and_the_chief(monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}})
    )
    assert distributed.role("auto") == distributed.Role("multi_worker", 2, 1, False)
    with pytest.raises(PipelineError, match="train.distribute is 'mirrored'"):
        distributed.role("mirrored")
    chief = {"cluster": cluster | {"chief": ["127.0.0.1:3"]}, "task": {"type": "chief", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(chief))
    assert distributed.role("multi_worker") == distributed.Role("multi_worker", 3, 0, True)
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"ps": ["h:1"]}, "task": {"type": "ps"}}')
    with pytest.raises(PipelineError, match="TF_CONFIG"):
        distributed.role("auto")
    monkeypatch.delenv("TF_CONFIG")
    assert distributed.role("auto").chief and distributed.role("multi_worker").workers == 1


def test_ray_refuses_a_one_device_strategy_before_starting(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--config", str(project), "--ray", "--set", "train.distribute=none"]
    assert main(argv) == 2
    assert "set it to auto or multi_worker" in capsys.readouterr().err
    assert main(["--config", str(project), "--ray", "--workers", "8"]) == 2
    assert "smaller than the 8 replicas" in capsys.readouterr().err
    assert main(["--config", str(project), "--ray", "--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err
    assert main(["--config", str(project), "--workers", "2"]) == 2  # not silently one device
    assert "go with --ray" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# Training on two replicas
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def launched(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The three two-replica runs, started at once as processes (they mostly wait on imports
    and tracing, so together they take about as long as the slowest)."""
    common = [sys.executable, "-m", "pipeline.train", "--config", str(project)]
    tmp = tmp_path_factory.mktemp("worker-tmp")
    procs: dict[str, list[subprocess.Popen]] = {}

    def start(name: str, cmd: list[str], extra: dict | None = None, cwd: Path = REPO) -> None:
        cmd = [*cmd, "--set", f"train.run_name={name}"]
        p = subprocess.Popen(cmd, cwd=cwd, env=env() | (extra or {}), stderr=subprocess.PIPE)
        procs.setdefault(name, []).append(p)

    mirrored = [sys.executable, "-c", TWO_CPUS, "--config", str(project)]
    start("mirrored", [*mirrored, "--set", "train.distribute=mirrored"])
    workers = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    for i in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}}
        start("two-workers", common, {"TF_CONFIG": json.dumps(tf_config), "TMPDIR": str(tmp)})
    # a local Ray instance with 2 CPUs; the root relative, as in the shipped configs (the
    # workers run in Ray's own working directory: the driver must resolve it)
    start("ray", [*common, "--ray", "--workers", "2", "--set", "root=."], cwd=project.parent)
    yield {"procs": procs, "tmp": tmp}
    for group in procs.values():
        for p in group:
            if p.poll() is None:
                p.kill()
                p.wait()


def finish(launched: dict, name: str) -> None:
    """Wait for the processes of run ``name``; all must exit 0."""
    group = launched["procs"][name]
    errors = [p.communicate(timeout=400)[1].decode()[-3000:] for p in group]
    assert [p.returncode for p in group] == [0] * len(group), errors


@pytest.mark.slow
@pytest.mark.heavy  # with the two others: three training processes and a Ray instance at once
def test_mirrored_on_two_logical_cpus_repeats_the_one_device_run(
    launched: dict, baseline: Path
) -> None:
    finish(launched, "mirrored")
    assert_same_run(baseline.with_name("mirrored"), baseline, "MirroredStrategy", 1)


@pytest.mark.slow
@pytest.mark.heavy
def test_two_tf_config_workers_repeat_the_one_device_run(launched: dict, baseline: Path) -> None:
    finish(launched, "two-workers")
    assert_same_run(baseline.with_name("two-workers"), baseline, "MultiWorkerMirroredStrategy", 2)
    assert not list(launched["tmp"].iterdir())  # worker 1's temporary checkpoints are gone


@pytest.mark.slow
@pytest.mark.heavy
def test_ray_train_with_two_workers_repeats_the_one_device_run(
    launched: dict, baseline: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    finish(launched, "ray")
    assert_same_run(baseline.with_name("ray"), baseline, "MultiWorkerMirroredStrategy", 2)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    argv = ["--config", str(project), "--set", "train.run_name=ray", "--ray"]
    assert main(argv) == 0  # finished: skipped without starting Ray again
