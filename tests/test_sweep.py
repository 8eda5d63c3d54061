"""Sweep stage: the sweep file, trial names and keys, the results, trial processes, and a
2x2 sweep of the tiny model killed in its third trial and resumed."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline.config import load_config
from pipeline.errors import PipelineError
from pipeline.io import read_json, write_json
from pipeline.model.loading import resolve_model_ref
from pipeline.paths import Paths
from pipeline.sweep.report import TENSORBOARD_METRICS, results_table, write_results
from pipeline.sweep.runner import Job, Runner
from pipeline.sweep.stage import (
    data_hashes,
    expand,
    load_state,
    load_sweep,
    main,
    plan,
    run,
    trial_key,
    trial_name,
)
from tests.test_tensorboard import hparams_content, scalars, session_values

REPO = Path(__file__).resolve().parents[1]


def write_sweep(path: Path, **body: object) -> Path:
    path.write_text(yaml.safe_dump(body, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def trials_of(tmp_path: Path, config: Path, **body: object) -> list:
    body = {"name": "s", "base": str(config)} | body
    sweep_file = write_sweep(tmp_path / "s.yaml", **body)
    sweep = load_sweep(sweep_file)
    return expand(sweep, load_config(config), str(sweep_file))


# --- the sweep file and its trials ----------------------------------------------------------


def test_lr_batch_sweep_is_the_source_studys_eleven_trials() -> None:
    sweep = load_sweep(REPO / "configs/sweeps/lr-batch.yaml")
    trials = expand(sweep, load_config(REPO / sweep.base))
    names = [t.name for t in trials]
    assert names[:8] == [
        f"lr{x}_bs64" for x in ("5e-03", "1e-03", "1e-04", "5e-05", "2e-05", "1e-05", "5e-06")
    ] + ["lr1e-06_bs64"]
    assert names[8:] == ["lr2e-05_bs16", "lr2e-05_bs32", "lr2e-05_bs128"]  # bs64 runs once
    t = trials[0]
    assert t.cfg.train.learning_rate == 5e-3 and t.cfg.train.batch_size == 64
    assert t.cfg.train.run_name == "lr-batch/lr5e-03_bs64"
    assert t.cfg.model.name_or_path == "klue/bert-base" and t.cfg.train.epochs == 10


def test_demo_sweep_is_short(tmp_path: Path) -> None:
    sweep = load_sweep(REPO / "configs/sweeps/demo.yaml")
    trials = expand(sweep, load_config(REPO / sweep.base))
    assert 2 <= len(trials) <= 3 and all(t.cfg.train.epochs <= 2 for t in trials)


def test_grid_is_every_combination_plus_explicit_trials(tiny_project: Path, tmp_path: Path) -> None:
    trials = trials_of(
        tmp_path,
        tiny_project,
        overrides={"train.epochs": 3},
        grid={"train.learning_rate": ["1e-3", 3.0e-3], "train.batch_size": [4, 8]},
        trials=[{"train.optimizer": "adamw", "train.warmup_ratio": 0.1}],
    )
    assert [t.name for t in trials] == [
        "lr1e-03_bs4",
        "lr1e-03_bs8",
        "lr3e-03_bs4",
        "lr3e-03_bs8",
        "optadamw_wu0.1",
    ]
    assert trials[0].values == {"train.learning_rate": 1e-3, "train.batch_size": 4}  # "1e-3": YAML
    assert all(t.cfg.train.epochs == 3 for t in trials)
    assert trials[4].cfg.train.optimizer == "adamw" and trials[4].cfg.train.learning_rate == 1e-3


def test_trial_names_use_short_aliases_and_the_last_key_part() -> None:
    assert trial_name({"train.learning_rate": 2e-5, "train.batch_size": 64}) == "lr2e-05_bs64"
    assert trial_name({"model.max_seq_len": 128, "train.epochs": 3}) == "len128_ep3"
    assert trial_name({"train.early_stopping.patience": 2}) == "patience2"
    assert trial_name({"train.deterministic": True, "train.warmup_ratio": 0.06}) == (
        "deterministictrue_wu0.06"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"grid": {"train.lerning_rate": [1e-3]}}, r"grids\[0\]: axis train.lerning_rate: no such"),
        ({"grid": {"train.learning_rate": []}}, r"axis train.learning_rate is empty"),
        ({"grid": {"train.batch_size": [8, "big"]}}, r"axis train.batch_size: .*integer.*'big'"),
        ({"trials": [{"train.optimizer": "sgd"}]}, r"trials\[0\]: axis train.optimizer: .*'sgd'"),
        ({"grid": {"train.batch_size": 8}}, r"axis train.batch_size must be a list"),
        ({"grid": {"train.early_stopping": [1]}}, r"axis train.early_stopping is a section"),
        ({"grid": {"train.run_name": ["a"]}}, r"the sweep sets train.run_name itself"),
        ({"overrides": {"train.epoch": 1}, "grid": {"train.epochs": [1]}}, r"overrides: .*epoch"),
        ({"grid": {"train.epochs": [1]}, "paralel": 2}, r"unknown config key\(s\): paralel"),
        ({"grid": {"split.seed": [1, 2]}}, r"axis split.seed: a trial trains from the model"),
        ({"grid": {"train.epochs": [1]}, "parallel": 0}, r"parallel must be at least 1"),
        ({"grid": {"train.epochs": [1]}, "name": "a b"}, r"name 'a b' may hold only"),
        ({}, r"defines no trials"),
        ({"grid": {"train.learning_rate": [1e-4, -1]}}, r"grids\[0\]: trial lr-1: .*positive"),
        ({"trials": [{"train.epochs": 0}]}, r"trials\[0\]: trial ep0: .*epochs must be at least 1"),
        ({"grid": {"train.learning_rate": [float("nan")]}}, r"nan is not a finite number"),
        (
            {"grid": {"train.early_stopping.monitor": ["val_entity_f1"]}},
            r"trial monitorval_entity_f1: .*not a metric of task text-classification",
        ),
    ],
)
def test_bad_sweep_files_name_the_axis(
    tiny_project: Path, tmp_path: Path, body: dict, message: str
) -> None:
    with pytest.raises(PipelineError, match=message):
        trials_of(tmp_path, tiny_project, **body)


def test_same_name_with_other_axes_is_refused_unless_overwrite(
    tiny_project: Path, tmp_path: Path
) -> None:
    first = trials_of(tmp_path, tiny_project, grid={"train.learning_rate": [1e-3, 3e-3]})
    state_file = tmp_path / "trials.json"
    write_json(state_file, load_state(state_file, first, overwrite=False))
    assert load_state(state_file, first, overwrite=False)["axes"][1]["trial"] == "lr3e-03"
    other = trials_of(tmp_path, tiny_project, grid={"train.learning_rate": [1e-3, 1e-4]})
    with pytest.raises(PipelineError, match=r"other trials \(lr1e-03, lr3e-03\).*--overwrite"):
        load_state(state_file, other, overwrite=False)
    assert load_state(state_file, other, overwrite=True)["trials"] == {}


def test_cli_reports_a_bad_sweep_in_one_line(
    tiny_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grid = {"train.nope": [1]}
    sweep = write_sweep(tmp_path / "bad.yaml", name="bad", base=str(tiny_project), grid=grid)
    assert main(["--sweep", str(sweep)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"error: {sweep}: grids[0]: axis train.nope: no such config key"
    assert not (tiny_project.parent / "reports/sweeps/bad").exists()
    grid = {"train.epochs": [1]}
    assert main(["--sweep", str(tmp_path / "missing.yaml")]) == 2
    write_json(tiny_project.parent / "models/tiny/run.json", {"status": "finished"})
    taken = write_sweep(tmp_path / "t.yaml", name="tiny", base=str(tiny_project), grid=grid)
    assert main(["--sweep", str(taken)]) == 2
    assert "name 'tiny' is taken by the train run" in capsys.readouterr().err
    logging.getLogger().handlers.clear()  # main() logged to capsys' stream, closed after this


def test_trial_key_follows_training_config_and_data_only(tiny_project: Path) -> None:
    cfg = load_config(tiny_project)
    data = data_hashes(Paths.from_config(cfg))
    key = trial_key(cfg.to_dict(), data)
    assert key == trial_key(load_config(tiny_project, ["evaluate.batch_size=7"]).to_dict(), data)
    assert key != trial_key(load_config(tiny_project, ["train.seed=1"]).to_dict(), data)
    assert key != trial_key(cfg.to_dict(), {**data, "train": "0" * 64})


def test_plan_skips_only_trials_finished_with_the_same_key(
    tiny_project: Path, tmp_path: Path
) -> None:
    names = ["ep1", "ep2", "ep3", "ep4", "ep5", "ep6"]
    trials = trials_of(tmp_path, tiny_project, grid={"train.epochs": [1, 2, 3, 4, 5, 6]})
    paths = Paths.from_config(trials[0].cfg)
    data = data_hashes(paths)
    keys = {t.name: trial_key(t.cfg.to_dict(), data) for t in trials}
    for name in ("ep1", "ep2", "ep6"):
        write_json(paths.run_dir(f"s/{name}") / "run.json", {"status": "finished"})
    statuses = ["finished", "finished", "running", "failed", None, "finished"]
    state: dict = {"trials": {}}
    for name, status in zip(names, statuses, strict=True):
        if status:
            state["trials"][name] = {"key": keys[name], "status": status, "error": None}
    state["trials"]["ep2"]["key"] = "other config or data"
    (paths.run_dir("s/ep6") / "run.json").unlink()  # deleted by hand
    jobs = plan(trials, state, data, paths, overwrite=False)
    assert [(j.trial.name, j.force) for j in jobs] == [
        ("ep2", True),  # changed: retrained in place
        ("ep3", False),  # interrupted: train resumes it
        ("ep4", False),  # failed: retried
        ("ep5", False),  # never ran
        ("ep6", False),  # its run directory is gone
    ]
    assert state["trials"]["ep1"]["status"] == "finished"
    assert state["trials"]["ep2"]["status"] == "pending"
    assert jobs[0].key == keys["ep2"] and jobs[0].index == 2
    fresh = plan(trials, {"trials": {}}, data, paths, overwrite=True)  # --overwrite: state reset
    assert len(fresh) == 6 and all(j.force for j in fresh)


# --- results from run directories -------------------------------------------------------------


def fake_run(run_dir: Path, val_acc: list[float], val_loss: list[float], best: int) -> None:
    """A finished run directory as the train stage leaves it (run.json + history.csv)."""
    run_dir.mkdir(parents=True)
    n = len(val_acc)
    history = pd.DataFrame(
        {
            "epoch": range(1, n + 1),
            "loss": [1.0] * n,
            "accuracy": [0.5] * n,
            "val_loss": val_loss,
            "val_accuracy": val_acc,
            "learning_rate": [1e-3] * n,
            "seconds": [2.0] * n,
        }
    )
    history.to_csv(run_dir / "history.csv", index=False)
    for name in ("config.json", "tf_model.h5"):  # what resolve_model_ref checks for
        (run_dir / name).write_text("{}")
    record = {"status": "finished", "best_epoch": best, "epochs_run": n}
    record |= {"best_metric": {"name": "val_accuracy", "value": val_acc[best - 1]}}
    write_json(run_dir / "run.json", record | {"stop_reason": "early_stopping"})


def test_results_table_best_json_and_figures(tiny_project: Path, tmp_path: Path) -> None:
    grid = {"train.learning_rate": [1e-3, 3e-3], "train.batch_size": [4, 8]}
    sweep_file = write_sweep(tmp_path / "s.yaml", name="s", base=str(tiny_project), grid=grid)
    sweep = load_sweep(sweep_file)
    cfg = load_config(tiny_project)
    paths = Paths.from_config(cfg)
    trials = expand(sweep, cfg)
    curves = {
        "lr1e-03_bs4": ([0.3, 0.5, 0.4], [1.2, 1.0, 1.1], 2),
        "lr1e-03_bs8": ([0.6, 0.7], [0.9, 0.8], 2),
        "lr3e-03_bs4": ([0.2, 0.25], [1.5, 1.4], 2),
    }
    for name, (acc, loss, best) in curves.items():
        fake_run(paths.run_dir(f"s/{name}"), acc, loss, best)
    state = {"trials": {n: {"key": "k", "status": "finished", "error": None} for n in curves}}
    state["trials"]["lr3e-03_bs8"] = {"key": "k", "status": "failed", "error": "diverged"}

    table = write_results(sweep, trials, state, paths, time.time(), done=True)
    out = paths.sweep_dir("s")
    assert table["trial"].tolist() == ["lr1e-03_bs8", "lr1e-03_bs4", "lr3e-03_bs4", "lr3e-03_bs8"]
    top = table.iloc[0]
    assert (top["val_accuracy"], top["val_loss"], top["best_epoch"]) == (0.7, 0.8, 2)
    assert (top["epochs_run"], top["seconds"], top["status"]) == (2, 4.0, "finished")
    assert table.iloc[3]["status"] == "failed" and table.iloc[3]["error"] == "diverged"
    assert pd.read_csv(out / "results.csv")["trial"].tolist() == table["trial"].tolist()
    md = (out / "results.md").read_text(encoding="utf-8")
    assert "Best: **s/lr1e-03_bs8**" in md and "| lr3e-03_bs8 | 0.003 | 8 | failed |" in md
    best = read_json(out / "best.json")
    assert best == {
        "run": "s/lr1e-03_bs8",
        "run_dir": "models/s/lr1e-03_bs8",
        "metric": "val_accuracy",
        "value": 0.7,
    }
    assert resolve_model_ref(paths, "tiny", "sweep:s").run_dir == paths.run_dir("s/lr1e-03_bs8")
    figures = sorted(p.name for p in (out / "figures").iterdir())
    assert figures == [
        "curves_batch_size.png",
        "curves_learning_rate.png",
        "val_accuracy_vs_batch_size.png",
        "val_accuracy_vs_learning_rate.png",
    ]
    assert read_json(out / "run.json")["best"] == best

    by_loss, _ = results_table(trials, state, paths, "val_loss")
    assert by_loss["trial"].tolist()[0] == "lr1e-03_bs8"  # lowest val_loss first
    assert by_loss["val_loss"].tolist()[:3] == [0.8, 1.0, 1.4]


def test_sweep_writes_hparams_for_each_finished_trial(tiny_project: Path, tmp_path: Path) -> None:
    """Every trial finished earlier (its run directory on disk): the sweep trains nothing and
    writes TensorBoard's HParams experiment and one folder per trial, once."""
    grid = {"train.learning_rate": [1e-3, 3e-3], "train.batch_size": [4, 8]}
    sweep_file = write_sweep(tmp_path / "s.yaml", name="s", base=str(tiny_project), grid=grid)
    sweep = load_sweep(sweep_file)
    cfg = load_config(tiny_project)
    paths = Paths.from_config(cfg)
    trials = expand(sweep, cfg)
    data, out = data_hashes(paths), paths.sweep_dir("s")
    state = load_state(out / "trials.json", trials, overwrite=False)
    curves = [([0.3, 0.5, 0.4], 2), ([0.6, 0.7], 2), ([0.2, 0.25], 1), ([0.5], 1)]
    for t, (acc, best) in zip(trials, curves, strict=True):
        fake_run(paths.run_dir(t.cfg.train.run_name), acc, [1.0] * len(acc), best)
        key = trial_key(t.cfg.to_dict(), data)
        state["trials"][t.name] = {"key": key, "status": "finished", "error": None}
    write_json(out / "trials.json", state)
    (out / "tensorboard/gone-trial").mkdir(parents=True)  # of an earlier sweep of this name

    run(sweep, cfg, str(tiny_project))
    tb = out / "tensorboard"
    experiment = hparams_content(tb)["experiment"]
    assert [h.name for h in experiment.hparam_infos] == list(grid)
    assert [m.name.tag for m in experiment.metric_infos] == list(TENSORBOARD_METRICS)
    assert sorted(p.name for p in tb.iterdir() if p.is_dir()) == sorted(t.name for t in trials)
    for t, (acc, best) in zip(trials, curves, strict=True):
        session = hparams_content(tb / t.name)["session"]
        assert session.group_name == t.name and session_values(session) == t.values
        metrics = scalars(tb / t.name)
        assert metrics["val_accuracy"] == [(0, pytest.approx(acc[best - 1]))]
        assert metrics["best_epoch"] == [(0, best)] and metrics["epochs_run"] == [(0, len(acc))]
        curve = scalars(tb / t.name / "validation")["epoch_accuracy"]
        assert curve == [(i, pytest.approx(a)) for i, a in enumerate(acc, 1)]
    written = sorted(p.stat().st_mtime_ns for p in tb.rglob("*/*tfevents*"))
    run(sweep, cfg, str(tiny_project))  # again: the trials' folders are kept as they are
    assert sorted(p.stat().st_mtime_ns for p in tb.rglob("*/*tfevents*")) == written


# --- trial processes ------------------------------------------------------------------------

# Stand-in trial command: waits (up to 30 s) until the other trial has started too, so it can
# only finish when both run at once; "bad" trials fail like the train stage does.
WAIT_FOR_PEER = """
import pathlib, sys, time
name = sys.argv[sys.argv.index("--set") + 1].split("/")[-1].strip('"')
d = pathlib.Path(sys.argv[1]); (d / name).touch()
if "train.seed=3" in sys.argv:
    print("Traceback ...", file=sys.stderr); print("error: it went wrong", file=sys.stderr)
    sys.exit(2)
deadline = time.time() + 30
while len(list(d.iterdir())) < 2 and time.time() < deadline:
    time.sleep(0.05)
print("12:00:00 INFO pipeline.fitting.callbacks: epoch 1/1: loss 0.1", file=sys.stderr)
sys.exit(0 if len(list(d.iterdir())) >= 2 else 1)
"""


def test_runner_runs_trials_in_parallel_and_records_errors(
    tiny_project: Path, tmp_path: Path
) -> None:
    trials = trials_of(tmp_path, tiny_project, trials=[{"train.seed": 1}, {"train.seed": 2}])
    marks = tmp_path / "marks"
    marks.mkdir()
    command = [sys.executable, "-c", WAIT_FOR_PEER, str(marks)]
    events: list[tuple[str, int | None, str | None]] = []
    runner = Runner(2, tmp_path / "logs", 2, poll_s=0.05)
    jobs = [Job(i, t, "k") for i, t in enumerate(trials, 1)]
    runner.run(jobs, command, lambda job, rc, err: events.append((job.trial.name, rc, err)))
    assert runner.completed
    assert sorted(events[:2]) == [("seed1", None, None), ("seed2", None, None)]  # both started
    assert sorted(events[2:]) == [("seed1", 0, None), ("seed2", 0, None)]
    log = (tmp_path / "logs/seed1.log").read_text()
    assert '--set train.run_name="s/seed1" --set train.seed=1' in log

    bad = trials_of(tmp_path, tiny_project, trials=[{"train.seed": 3}])[0]
    events.clear()
    Runner(1, tmp_path / "logs", 1).run([Job(1, bad, "k")], command, lambda *e: events.append(e))
    assert events[-1][1:] == (2, "it went wrong")


# --- end to end with the tiny model -----------------------------------------------------------


def sweep_cli(sweep_file: Path) -> list[str]:
    return [sys.executable, "-m", "pipeline.sweep", "--sweep", str(sweep_file)]


ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}


@pytest.mark.slow
@pytest.mark.heavy
def test_sweep_killed_in_its_third_trial_resumes_without_retraining(
    tiny_project: Path, tmp_path: Path
) -> None:
    root = tiny_project.parent
    grid = {"train.learning_rate": [1e-3, 3e-3], "train.batch_size": [4, 8]}
    sweep_file = write_sweep(
        tmp_path / "tiny.yaml", name="tiny2x2", base=str(tiny_project), grid=grid
    )
    models = root / "models/tiny2x2"
    third = models / ".lr3e-03_bs4.work/state.json"

    proc = subprocess.Popen(
        sweep_cli(sweep_file), cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 240
        while not (third.is_file() and read_json(third)["epochs_done"] >= 1):
            assert proc.poll() is None and time.monotonic() < deadline, "third trial never ran"
            time.sleep(0.05)
        # the table is rewritten after every trial, not only when the sweep ends
        so_far = pd.read_csv(root / "reports/sweeps/tiny2x2/results.csv")["status"].tolist()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=90)
    finally:
        proc.kill()
    assert proc.returncode == 130, err.decode()
    assert so_far == ["finished", "finished", "pending", "pending"]
    out = root / "reports/sweeps/tiny2x2"
    state = read_json(out / "trials.json")["trials"]
    assert [state[t]["status"] for t in ("lr1e-03_bs4", "lr1e-03_bs8")] == ["finished"] * 2
    assert state["lr3e-03_bs4"]["status"] == "running" and "lr3e-03_bs8" not in state
    assert not (models / "lr3e-03_bs4").exists()  # stopped before it finished
    done = read_json(third)["epochs_done"]
    assert pd.read_csv(out / "results.csv")["status"].tolist()[2:] == ["running", "pending"]
    first_two = {
        n: (models / n / "run.json").stat().st_mtime_ns for n in ("lr1e-03_bs4", "lr1e-03_bs8")
    }

    rerun = subprocess.run(sweep_cli(sweep_file), cwd=REPO, env=ENV, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stderr.count("finished earlier with this config and data: skipped") == 2
    assert "trial 3/4 lr3e-03_bs4: was running: running it again" in rerun.stderr
    assert first_two == {n: (models / n / "run.json").stat().st_mtime_ns for n in first_two}
    resumed = read_json(models / "lr3e-03_bs4/run.json")
    assert resumed["resumed_from_epoch"] == done and resumed["epochs_run"] == 2

    table = pd.read_csv(out / "results.csv")
    assert (table["status"] == "finished").all() and len(table) == 4
    assert table["val_accuracy"].is_monotonic_decreasing
    assert table[["best_epoch", "val_loss", "epochs_run", "seconds"]].notna().all().all()
    best = read_json(out / "best.json")
    assert (
        best["run"] == f"tiny2x2/{table['trial'][0]}" and best["value"] == table["val_accuracy"][0]
    )
    paths = Paths.from_config(load_config(tiny_project))
    assert resolve_model_ref(paths, "tiny", "sweep:tiny2x2").run_dir == paths.resolve(
        best["run_dir"]
    )
    figures = {p.name for p in (out / "figures").iterdir()}
    assert {"val_accuracy_vs_learning_rate.png", "curves_batch_size.png"} <= figures
    assert len(figures) == 4
    # the trial processes trained exactly the config the sweep keyed them by
    data = data_hashes(paths)
    states = read_json(out / "trials.json")["trials"]
    for name in table["trial"]:
        record = read_json(models / name / "run.json")
        assert trial_key(record["config"], data) == states[name]["key"]


@pytest.mark.slow
@pytest.mark.heavy
def test_a_failing_trial_is_recorded_and_the_sweep_goes_on(
    tiny_project: Path, tmp_path: Path
) -> None:
    trials = [{"train.learning_rate": 1e30}, {"train.learning_rate": 3e-3, "train.epochs": 1}]
    sweep_file = write_sweep(tmp_path / "f.yaml", name="f", base=str(tiny_project), trials=trials)
    result = subprocess.run(
        sweep_cli(sweep_file), cwd=REPO, env=ENV, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "trial 1/2 lr1e+30: failed: training diverged: loss is nan" in result.stderr
    out = tiny_project.parent / "reports/sweeps/f"
    table = pd.read_csv(out / "results.csv")
    assert table["status"].tolist() == ["finished", "failed"]
    assert table["error"][1].startswith("training diverged")
    assert read_json(out / "best.json")["run"] == "f/lr3e-03_ep1"
    assert json.loads((out / "trials.json").read_text())["trials"]["lr1e+30"]["status"] == "failed"
    tb = out / "tensorboard"  # HParams: the finished trial only, with its curves
    assert [h.name for h in hparams_content(tb)["experiment"].hparam_infos] == [
        "train.learning_rate",
        "train.epochs",
    ]
    assert [p.name for p in tb.iterdir() if p.is_dir()] == ["lr3e-03_ep1"]
    assert session_values(hparams_content(tb / "lr3e-03_ep1")["session"]) == {
        "train.learning_rate": 3e-3,
        "train.epochs": 1.0,
    }
    assert set(scalars(tb / "lr3e-03_ep1/validation")) == {"epoch_loss", "epoch_accuracy"}
