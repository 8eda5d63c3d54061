"""predict --ray: a few thousand generated sentences labeled by a Ray Data actor pool on a local
Ray instance (2 CPUs) give the local path's answers, row for row; bad flags exit 2."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest

from pipeline.serve.predict import main
from tests.conftest import tiny_config_dict, write_config
from tests.tiny import EVENTS, SUBJECTS, TINY_LABELS

ROWS = 3000


@pytest.fixture()
def config(tmp_path: Path, tiny_bert: Path) -> str:
    return str(write_config(tmp_path / "config.yaml", tiny_config_dict(tmp_path, tiny_bert)))


def big_sheet(n: int = ROWS, seed: int = 1) -> pd.DataFrame:
    """Generated sentences of every length the tiny model sees; a run of empty cells too."""
    rng = random.Random(seed)
    markers = [m for _, _, ms in TINY_LABELS for m in ms]
    texts = []
    for _ in range(n):
        words = [rng.choice(SUBJECTS), rng.choice(EVENTS)]
        words += [rng.choice(markers) for _ in range(rng.randint(1, 6))]
        texts.append(" ".join(words))
    for i in range(1500, min(n, 1500 + 1100)):  # more than a whole block of the actors is empty
        texts[i] = None if i % 2 else "  "
    return pd.DataFrame({"id": range(n), "text": texts, "note": ["x"] * n})


@pytest.mark.slow
@pytest.mark.heavy
def test_ray_answers_equal_the_local_path(config, trained_run, tmp_path, ray_local) -> None:
    suffix = ".parquet"  # .xlsx/.csv take the same way once read (the local path's reader)
    src = tmp_path / f"big{suffix}"
    big_sheet().to_parquet(src)
    argv = ["--config", config, "--model", str(trained_run), "--input", str(src)]
    argv += ["--column", "text"]
    local, on_ray = tmp_path / f"local{suffix}", tmp_path / f"ray{suffix}"
    assert main([*argv, "--output", str(local)]) == 0
    assert main([*argv, "--output", str(on_ray), "--ray", "--actors", "2"]) == 0
    expected, got = pd.read_parquet(local), pd.read_parquet(on_ray)
    assert got.columns.tolist() == ["id", "text", "note", "predicted_label", "predicted_score",
                                    "predicted_group", "top3"]  # fmt: skip
    pd.testing.assert_frame_equal(got, expected)
    assert got["id"].tolist() == list(range(ROWS))  # input order
    labeled = got["predicted_label"].notna()
    assert labeled.sum() == ROWS - 1100 and not labeled[1500:2600].any()
    assert got["predicted_label"].nunique() > 1  # the trained model tells sentences apart


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--actors", "0"], "--actors must be at least 1, got 0"),
        (["--gpus-per-actor", "-1"], "--gpus-per-actor must be 0 or more"),
    ],
)
def test_bad_ray_flags_exit_2_before_ray_starts(config, untrained_run, tmp_path, capsys, extra,
                                                words):  # fmt: skip
    src = tmp_path / "in.csv"
    big_sheet(10).to_csv(src, index=False)
    argv = ["--config", config, "--model", str(untrained_run), "--input", str(src)]
    assert (
        main([*argv, "--column", "text", "--output", str(tmp_path / "o.csv"), "--ray", *extra]) == 2
    )
    assert words in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()


def test_ray_needs_a_file(config, capsys) -> None:
    assert main(["--config", config, "고마워요", "--ray"]) == 2
    assert "--ray labels a file: give --input" in capsys.readouterr().err


# --- hardening: an unreachable cluster, a GPU nobody has, SIGTERM ------------------------------

REPO = Path(__file__).resolve().parents[1]


def closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


def test_check_reachable_fails_fast_on_a_closed_port() -> None:
    import time

    from pipeline.errors import PipelineError
    from pipeline.ray_connect import check_reachable

    port = closed_port()
    started = time.monotonic()
    with pytest.raises(PipelineError, match=rf"cannot reach the Ray cluster at 127.0.0.1:{port} "):
        check_reachable(f"127.0.0.1:{port}")
    assert time.monotonic() - started < 10
    for address in ("auto", "local", "ray-head"):  # Ray resolves these itself
        check_reachable(address)


def test_predict_ray_with_ray_address_at_a_closed_port_is_one_line(
    config, untrained_run, tmp_path
) -> None:
    """Ray itself retries a closed port for minutes, in C++ that SIGTERM does not reach."""
    import os
    import subprocess
    import sys

    src = tmp_path / "in.csv"
    big_sheet(10).to_csv(src, index=False)
    port = closed_port()
    argv = [sys.executable, "-m", "pipeline.serve.predict", "--config", config, "--model",
            str(untrained_run), "--input", str(src), "--column", "text", "--output",
            str(tmp_path / "o.csv"), "--ray"]  # fmt: skip
    env = {**os.environ, "RAY_ADDRESS": f"127.0.0.1:{port}", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: cannot reach the Ray cluster at 127.0.0.1:{port} (RAY_ADDRESS): Connection "
        "refused within 5 s; start it with `ray start --head`, or unset RAY_ADDRESS to run on a "
        "local Ray instance"
    )
    assert not (tmp_path / "o.csv").exists()


class _Cluster:
    """What check_actor_fits asks of ``ray``: its nodes and their resources."""

    def __init__(self, *nodes: dict) -> None:
        self._nodes = [{"Alive": True, "Resources": r} for r in nodes]

    def nodes(self) -> list[dict]:
        return self._nodes


def test_an_actor_no_node_can_hold_is_refused() -> None:
    from pipeline.errors import PipelineError
    from pipeline.ray_connect import check_actor_fits

    with pytest.raises(PipelineError, match=r"--gpus-per-actor 1: no node of this Ray cluster "
                       r"has 1 GPU\(s\) \(the most on one node: 0\)"):  # fmt: skip
        check_actor_fits(_Cluster({"CPU": 16}), 1, "--gpus-per-actor")
    with pytest.raises(PipelineError, match=r"the most on one node: 1\)"):
        check_actor_fits(
            _Cluster({"CPU": 8, "GPU": 1}, {"CPU": 8, "GPU": 1}), 2, "--gpus-per-actor"
        )
    check_actor_fits(_Cluster({"CPU": 8, "GPU": 1}), 0.5, "--gpus-per-actor")  # fits
    check_actor_fits(_Cluster({"CPU": 2}), 0, "--gpus-per-actor")  # CPU only: nothing to check


@pytest.mark.slow
def test_gpus_per_actor_on_a_machine_without_a_gpu_is_refused(
    config, untrained_run, tmp_path, capsys, ray_local
) -> None:
    src = tmp_path / "in.csv"
    big_sheet(10).to_csv(src, index=False)
    argv = ["--config", config, "--model", str(untrained_run), "--input", str(src), "--column",
            "text", "--output", str(tmp_path / "o.csv"), "--ray"]  # fmt: skip
    assert main([*argv, "--gpus-per-actor", "1"]) == 2
    assert "--gpus-per-actor 1: no node of this Ray cluster has 1 GPU(s)" in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.slow
def test_sigterm_stops_predict_ray_with_exit_130(config, untrained_run, tmp_path) -> None:
    """ray.init installs a SIGTERM handler that exits 15; ours is put back (exit 130)."""
    import os
    import signal
    import subprocess
    import sys

    src = tmp_path / "in.parquet"
    big_sheet().to_parquet(src)
    argv = [sys.executable, "-m", "pipeline.serve.predict", "--config", config, "--model",
            str(untrained_run), "--input", str(src), "--column", "text", "--output",
            str(tmp_path / "o.parquet"), "--ray"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {"PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    try:
        for line in proc.stderr:  # Ray is up: its handler has been replaced by ours again
            if "on a local Ray instance" in line:
                break
        proc.send_signal(signal.SIGTERM)
        rest = proc.stderr.read()
        assert proc.wait(timeout=120) == 130, rest
    finally:
        proc.kill()
    assert rest.rstrip().endswith("interrupted")
    assert not (tmp_path / "o.parquet").exists()
