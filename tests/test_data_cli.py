"""The data stages end to end on the bundled sample: main([...]) and `make data`, twice."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from pipeline.data import ingest, prepare, split
from pipeline.io import read_json

REPO = Path(__file__).resolve().parents[1]
SAMPLE = [REPO / "data/raw/sample_dialogues.xlsx", REPO / "data/raw/sample_labels.xlsx"]


def sample_root(root: Path) -> Path:
    (root / "data/raw").mkdir(parents=True)
    for path in SAMPLE:
        shutil.copy(path, root / "data/raw" / path.name)
    return root


def split_hashes(root: Path) -> dict[str, str]:
    manifest = read_json(root / "data/processed/manifest.json")
    return {name: entry["sha256"] for name, entry in manifest["splits"].items()}


def run_stages(root: Path) -> None:
    argv = ["--config", str(REPO / "configs/default.yaml"), "--set", f"root={root}"]
    for stage in (ingest, prepare, split):
        assert stage.main(argv) == 0


def test_sample_script_reproduces_the_committed_files(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(REPO / "scripts/make_sample.py"), "--out-dir", str(tmp_path)],
        check=True, capture_output=True,
    )  # fmt: skip
    for path in SAMPLE:
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name
    table = pd.read_excel(SAMPLE[1], engine="calamine")
    assert table.columns.tolist() == ["감정_소분류", "id", "감정_대분류"]
    assert table["id"].tolist() == list(range(58)) and table["감정_소분류"].is_unique
    assert sorted(table["감정_대분류"].unique()) == sorted(
        ["분노", "슬픔", "불안", "상처", "당황", "기쁨"]
    )


def test_bundled_sample_end_to_end_twice(tmp_path: Path) -> None:
    root = sample_root(tmp_path)
    run_stages(root)
    report = read_json(root / "data/interim/prepare_report.json")
    # The sample plants each problem prepare reports.
    assert all(n > 0 for n in report["dropped"].values()), report["dropped"]
    assert report["conflicting_texts"] > 0
    assert report["labels"] == 58 and min(report["class_counts"].values()) >= 10
    labels = read_json(root / "data/interim/labels.json")
    assert len(labels["id2label"]) == 58 and len(set(labels["label2group"].values())) == 6
    manifest = read_json(root / "data/processed/manifest.json")
    assert all(len(e["class_counts"]) == 58 for e in manifest["splits"].values())
    rows = {k: e["rows"] for k, e in manifest["splits"].items()}
    assert sum(rows.values()) == report["rows_out"]
    assert 0.55 < rows["train"] / report["rows_out"] < 0.65
    texts = [set(pd.read_parquet(root / e["path"])["text"]) for e in manifest["splits"].values()]
    assert not (texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2])

    first = split_hashes(root)
    shutil.rmtree(root / "data/interim")
    shutil.rmtree(root / "data/processed")
    run_stages(root)
    assert split_hashes(root) == first


def test_outputs_get_the_usual_file_modes(tmp_path: Path) -> None:
    # Atomic writes go through mkstemp (mode 0600); the files must end up as open() makes them.
    root = sample_root(tmp_path)
    run_stages(root)
    umask = os.umask(0o022)
    os.umask(umask)
    written = [p for p in (root / "data").rglob("*") if p.is_file() and "raw" not in p.parts]
    assert len(written) >= 10
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in written} == {
        p.name: oct(0o666 & ~umask) for p in written
    }


@pytest.mark.heavy  # the data verb twice, in subprocesses (split hashes: test_split.py)
@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_data_twice_gives_identical_hashes(tmp_path: Path) -> None:
    root = sample_root(tmp_path)
    (root / "pipeline").symlink_to(REPO / "pipeline")  # the rules depend on pipeline/data/*.py
    shutil.copy(REPO / "configs/default.yaml", root / "config.yaml")
    make = ["make", "--no-print-directory", "-f", str(REPO / "Makefile"), "-C", str(root),
            "-o", ".venv/.installed",  # never (re)install from a test: the venv is ready
            "data", "CONFIG=config.yaml", f"PY={sys.executable}"]  # fmt: skip

    def make_data(*extra: str) -> str:
        out = subprocess.run([*make, *extra], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        return out.stdout

    assert "pipeline.data.split" in make_data()
    first = split_hashes(root)
    assert "pipeline." not in make_data()  # up to date: nothing runs
    shutil.rmtree(root / "data/interim")
    shutil.rmtree(root / "data/processed")
    make_data()
    assert split_hashes(root) == first
    # Another config or other ARGS re-run the stages even though every file is up to date.
    assert "pipeline.data.ingest" in make_data("ARGS=--set split.seed=1")
    assert split_hashes(root)["test"] != first["test"]
    # ARGS of another verb are that verb's alone: `make train ARGS=--force` (a dry run here)
    dry = [*(a if a != "data" else "train" for a in make), "-n", "ARGS=--force"]
    out = subprocess.run(dry, capture_output=True, text=True, timeout=60).stdout
    assert "pipeline.train --config config.yaml --force" in out
    assert not [line for line in out.splitlines() if "pipeline.data" in line and "--force" in line]
