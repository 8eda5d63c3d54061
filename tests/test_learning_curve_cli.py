"""The learning-curve bench's command line: bad arguments are refused before any stage runs,
and its report is replaced only when at least one run finished."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from benchmarks import learning_curve
from benchmarks.learning_curve import main

EARLIER = '{"datasets": {"earlier": {}}}\n'


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tmp project with one config file, an earlier report, and no stage allowed to run."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text("{}\n", encoding="utf-8")
    bench = tmp_path / "reports" / "bench"
    bench.mkdir(parents=True)
    (bench / "learning_curve.json").write_text(EARLIER, encoding="utf-8")

    def no_stage(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a stage ran before the arguments were checked")

    monkeypatch.setattr(learning_curve, "prepare_dataset", no_stage)
    monkeypatch.setattr(learning_curve, "one_run", no_stage)
    return tmp_path


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sizes", "abc"], "--sizes 'abc': a size is a positive whole number"),
        (["--sizes", "-1"], "--sizes '-1': a size is a positive whole number"),
        (["--sizes", "0"], "--sizes '0': a size is a positive whole number"),
        (["--sizes", "2.5"], "--sizes '2.5': a size is a positive whole number"),
        (["--sizes", "all", "all"], "--sizes 'all' is given twice: each size runs once"),
        (["--sizes", "5", "05"], "--sizes '05' is given twice: each size runs once"),
        (["--seeds", "0", "0"], "--seeds '0' is given twice: each seed runs once"),
        (["--seeds", "x"], "--seeds 'x': a seed is a whole number, 0 or more"),
        (["--seeds", "-1"], "--seeds '-1': a seed is a whole number, 0 or more"),
        (["--config", "c.yaml", "missing.yaml"], "--config missing.yaml: file not found"),
    ],
)
def test_bad_arguments_are_one_line_before_any_stage(project, capsys, args, message) -> None:
    argv = ["--config", "c.yaml", *args] if args[0] != "--config" else args
    assert main(argv) == 2
    assert message in error_line(capsys)
    bench = project / "reports" / "bench"
    assert sorted(p.name for p in bench.iterdir()) == ["learning_curve.json"]
    assert (bench / "learning_curve.json").read_text(encoding="utf-8") == EARLIER


def fake_data_root(monkeypatch: pytest.MonkeyPatch, per_class: int) -> None:
    from pipeline.paths import Paths

    def prepare(config: str, scratch: Path, overrides: list[str]) -> Path:
        root = scratch / "data-root"
        train = Paths(root).split_file("train")
        train.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"label_id": [0] * per_class + [1] * per_class}).to_parquet(train)
        return root

    monkeypatch.setattr(learning_curve, "prepare_dataset", prepare)


def test_every_size_dropped_is_named_and_the_report_kept(project, capsys, monkeypatch) -> None:
    fake_data_root(monkeypatch, per_class=10)
    assert main(["--config", "c.yaml", "--sizes", "1000", "50"]) == 2
    assert error_line(capsys).endswith(
        "--config c.yaml: every size of --sizes (1000 50) is above 0.8 x the mean per class of "
        "its train split (10.0), so none would differ from 'all': give smaller sizes or 'all'"
    )
    bench = project / "reports" / "bench"
    assert (bench / "learning_curve.json").read_text(encoding="utf-8") == EARLIER
    assert not (bench / "learning_curve.png").exists()


def test_the_report_is_replaced_only_at_the_end(project, capsys, monkeypatch) -> None:
    fake_data_root(monkeypatch, per_class=10)
    bench = project / "reports" / "bench"
    seen: list[str] = []

    def one_run(config, data_root, run_root, size, seed, overrides) -> dict[str, Any]:
        seen.append(f"{size}/{seed}")
        # while the runs go on, the earlier report stays whole
        assert (bench / "learning_curve.json").read_text(encoding="utf-8") == EARLIER
        score = {"macro_f1": 0.5, "accuracy": 0.5}
        return {"size": size, "seed": seed, "per_class_mean": 5.0,
                "model": score, "tfidf": score, "embedding": score}  # fmt: skip

    monkeypatch.setattr(learning_curve, "one_run", one_run)
    monkeypatch.setattr(learning_curve, "plot", lambda result, path: path.write_bytes(b"png"))
    assert main(["--config", "c.yaml", "--sizes", "5", "all", "--seeds", "0", "1"]) == 0
    assert seen == ["5/0", "5/1", "all/0", "all/1"]
    report = json.loads((bench / "learning_curve.json").read_text(encoding="utf-8"))
    assert [r["size"] for r in report["datasets"]["c"]["summary"]] == ["5", "all"]
    assert report["seeds"] == [0, 1]
    assert sorted(p.name for p in bench.iterdir()) == ["learning_curve.json", "learning_curve.png"]
