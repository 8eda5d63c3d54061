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
