"""The sweep's Ray engine: its sweep-file keys, and a 2-trial sweep of the tiny model on a local
Ray instance (2 CPUs) against the local engine, rerun to show finished trials are skipped and an
interrupted one continues."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from pipeline.config import load_config
from pipeline.errors import PipelineError
from pipeline.io import read_json, write_json
from pipeline.paths import Paths
from pipeline.sweep.report import COLUMNS
from pipeline.sweep.stage import data_hashes, load_sweep, run, trial_key
from tests.test_sweep import trials_of, write_sweep


def test_engine_keys_are_read_and_checked(tiny_project: Path, tmp_path: Path) -> None:
    body = {"name": "r", "base": str(tiny_project), "grid": {"train.epochs": [1]}}
    sweep = load_sweep(write_sweep(tmp_path / "r.yaml", **body))
    assert (sweep.engine, sweep.scheduler, sweep.resources_per_trial.cpu) == ("local", "none", 1)
    ray = body | {"engine": "ray", "resources_per_trial": {"cpu": 2, "gpu": 0.5}}
    sweep = load_sweep(write_sweep(tmp_path / "r.yaml", **ray, scheduler="asha"))
    assert (sweep.engine, sweep.resources_per_trial.gpu, sweep.scheduler) == ("ray", 0.5, "asha")
    for extra, message in [
        ({"engine": "spark"}, r"engine must be one of 'local', 'ray', got 'spark'"),
        ({"engine": "ray", "resources_per_trial": {"cpu": -1}}, r"resources_per_trial.cpu must"),
        ({"engine": "ray", "resources_per_trial": {"cpu": 0}}, r"must reserve a cpu or a gpu"),
        (
            {"engine": "ray", "resources_per_trial": {"tpu": 1}},
            r"unknown .*resources_per_trial.tpu",
        ),
        ({"scheduler": "asha"}, r"scheduler asha needs engine: ray"),
    ]:
        with pytest.raises(PipelineError, match=message):
            load_sweep(write_sweep(tmp_path / "r.yaml", **body | extra))


def test_a_stopped_trial_is_skipped_on_a_rerun(tiny_project: Path, tmp_path: Path) -> None:
    from pipeline.sweep.stage import plan

    trials = trials_of(tmp_path, tiny_project, grid={"train.epochs": [1, 2]})
    paths = Paths.from_config(trials[0].cfg)
    data = data_hashes(paths)
    key = trial_key(trials[0].cfg.to_dict(), data)
    state = {"trials": {"ep1": {"key": key, "status": "stopped", "error": "stopped early"}}}
    assert [j.trial.name for j in plan(trials, state, data, paths, overwrite=False)] == ["ep2"]


def sweep_of(tiny_project: Path, tmp_path: Path, name: str, **extra: object):
    grid = {"train.learning_rate": [1e-3, 3e-3]}
    body = {"name": name, "base": str(tiny_project), "grid": grid, "overrides": {"train.epochs": 1}}
    return load_sweep(write_sweep(tmp_path / f"{name}.yaml", **body, **extra))


@pytest.mark.slow
@pytest.mark.heavy
def test_ray_sweep_matches_the_local_engine_and_resumes(
    tiny_project: Path, tmp_path: Path, ray_local: object, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = load_config(tiny_project)
    paths = Paths.from_config(cfg)
    on_ray = sweep_of(tiny_project, tmp_path, "onray", engine="ray")
    local = sweep_of(tiny_project, tmp_path, "onlocal")
    caplog.set_level(logging.INFO, logger="pipeline.sweep")

    table = run(on_ray, cfg, str(tiny_project))
    assert "trial 2/2 lr3e-03 (train.learning_rate=0.003): started on Ray" in caplog.text
    reference = run(local, cfg, str(tiny_project))
    assert (
        list(table.columns) == list(reference.columns) == ["trial", "train.learning_rate", *COLUMNS]
    )
    assert (table["status"] == "finished").all() and len(table) == 2
    # the same training as the local engine: the same trials, metrics and best trial
    on_ray_rows = table.set_index("trial").sort_index()
    local_rows = reference.set_index("trial").sort_index()
    for column in ("val_accuracy", "val_loss"):
        assert on_ray_rows[column].tolist() == pytest.approx(local_rows[column].tolist(), abs=1e-3)
    assert on_ray_rows["best_epoch"].tolist() == local_rows["best_epoch"].tolist()
    assert table["run_dir"].tolist() == [f"models/onray/{t}" for t in table["trial"]]
    out, ref = paths.sweep_dir("onray"), paths.sweep_dir("onlocal")
    best, ref_best = read_json(out / "best.json"), read_json(ref / "best.json")
    assert list(best) == list(ref_best) and best["run"] == ref_best["run"].replace(
        "onlocal", "onray"
    )
    assert {p.name for p in (out / "figures").iterdir()} == {
        p.name for p in (ref / "figures").iterdir()
    }
    assert read_json(out / "run.json")["config"]["sweep"]["engine"] == "ray"
    assert (out / "logs/lr1e-03.log").read_text().count("epoch 1/1") >= 1
    # each trial trained exactly the config it is keyed by, into the project's models/<sweep>/
    data = data_hashes(paths)
    state = read_json(out / "trials.json")["trials"]
    for name in table["trial"]:
        record = read_json(paths.run_dir(f"onray/{name}") / "run.json")
        assert trial_key(record["config"], data) == state[name]["key"]

    # rerun: both finished, nothing handed to Ray; then one left "running" by an interruption
    written = {n: (paths.run_dir(f"onray/{n}") / "run.json").stat().st_mtime_ns for n in state}
    caplog.clear()
    run(on_ray, cfg, str(tiny_project))
    assert caplog.text.count("finished earlier with this config and data: skipped") == 2
    assert "started on Ray" not in caplog.text
    state["lr3e-03"]["status"] = "running"
    write_json(out / "trials.json", read_json(out / "trials.json") | {"trials": state})
    caplog.clear()
    again = run(on_ray, cfg, str(tiny_project))
    assert "trial 2/2 lr3e-03: was running: running it again" in caplog.text
    assert "trial 1/2 lr1e-03: finished earlier" in caplog.text
    assert (again["status"] == "finished").all()
    assert (
        pd.testing.assert_frame_equal(again.drop(columns="seconds"), table.drop(columns="seconds"))
        is None
    )
    assert written == {
        n: (paths.run_dir(f"onray/{n}") / "run.json").stat().st_mtime_ns for n in state
    }
