"""Experiment tracking against a real MLflow server (tests/mlflow_server.py, one per session):
a tiny training's params, metrics and files, its evaluation and publish (registry) on the
same run, resume, a server that vanishes mid-training, a sweep's nested runs, and the one-line
error of a server that is not there."""

from __future__ import annotations

import ast
import logging
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import tf_keras

from pipeline.config import load_config
from pipeline.errors import PipelineError
from pipeline.fitting.callbacks import work_dir_for
from pipeline.io import read_json
from pipeline.tracking import connect, flatten, numbers
from pipeline.train.stage import run as train
from tests import test_publish
from tests.conftest import tiny_config_dict, write_config
from tests.mlflow_server import Gate, MlflowServer, early, free_port

hub = test_publish.hub  # the local Hub of the publish tests
PACKAGE = Path(__file__).resolve().parents[1] / "pipeline"


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory):
    """``mlflow server`` with a SQLite store and an artifact folder on a free port (started when
    the tests were collected, tests/conftest.py)."""
    with early() or MlflowServer(tmp_path_factory.mktemp("mlflow-server")) as server:
        yield server


@pytest.fixture()
def client(mlflow_server: MlflowServer) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(mlflow_server.url)


def tracked(config: Path, uri: str, *sets: str) -> Any:
    """The config with tracking on ``uri``, in an experiment of its own test."""
    on = ["tracking.enabled=true", f"tracking.uri={uri}", f"tracking.experiment={config.parent}"]
    return load_config(config, [*on, *sets])


def steps(client: Any, run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, key))


def values(client: Any, run_id: str, key: str) -> list[float]:
    """The metric's values in step order."""
    return [m.value for m in sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)]


def artifacts(client: Any, run_id: str, path: str | None = None) -> set[str]:
    return {f.path for f in client.list_artifacts(run_id, path)}


class AtEpochEnd(tf_keras.callbacks.Callback):
    """Calls ``actions[epoch]()`` at the end of that (0-based) epoch, after the tracking's."""

    def __init__(self, **actions: Any) -> None:
        super().__init__()
        self.actions = {int(k.removeprefix("e")): a for k, a in actions.items()}

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epoch in self.actions:
            self.actions[epoch]()


# --- without a server -------------------------------------------------------------------------


def test_mlflow_is_imported_only_inside_the_tracking_functions() -> None:
    """Tracking off or the extra not installed: no stage ever loads mlflow."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        inside = {
            id(n)
            for f in ast.walk(tree)
            if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
            for n in ast.walk(f)
        }
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            )  # fmt: skip
            if any(n.split(".")[0] == "mlflow" for n in names):
                found.append((path.relative_to(PACKAGE).as_posix(), id(node) in inside))
    assert found and {p for p, _ in found} == {"tracking.py"}
    assert all(inside for _, inside in found)


def test_tracking_is_off_by_default(tiny_project: Path) -> None:
    cfg = load_config(tiny_project)
    assert not cfg.tracking.enabled and connect(cfg) is None


def test_tracking_on_without_mlflow_installed_says_what_to_install(
    tiny_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # what `import mlflow` meets uninstalled
    cfg = load_config(tiny_project, ["tracking.enabled=true", "tracking.uri=http://127.0.0.1:1"])
    with pytest.raises(PipelineError, match=r"needs MLflow: pip install -e '\.\[tracking\]'"):
        connect(cfg)


def test_flatten_and_numbers() -> None:
    tree = {"train": {"seed": 1, "early_stopping": {"patience": 0}}, "tags": {}, "x": [1, 2]}
    assert flatten(tree) == {"train.seed": 1, "train.early_stopping.patience": 0, "tags": {},
                             "x": [1, 2]}  # fmt: skip
    metrics = {"accuracy": 0.5, "top_k_accuracy": {"1": 0.5}, "model": "tiny", "ok": True}
    assert numbers(metrics, "test_") == {"test_accuracy": 0.5, "test_top_k_accuracy.1": 0.5}


def test_an_unreachable_server_is_one_line_naming_it_before_any_work(
    tiny_project: Path, tmp_path: Path, untrained_run: Path, tiny_bert: Path,
    capsys: pytest.CaptureFixture, monkeypatch,
) -> None:  # fmt: skip
    from pipeline.evaluate.stage import main as evaluate_main
    from pipeline.publish.stage import main as publish_main
    from pipeline.sweep.stage import main as sweep_main
    from pipeline.train.stage import main as train_main
    from tests.test_sweep import write_sweep

    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    on = ["--set", "tracking.enabled=true", "--set", f"tracking.uri={uri}"]
    sweep = write_sweep(tmp_path / "s.yaml", name="s", base=str(tiny_project),
                        grid={"train.epochs": [1]})  # fmt: skip
    (tmp_path / "pub").mkdir()
    published = test_publish.make_project(tmp_path / "pub", untrained_run, tiny_bert)
    for main, args in [
        (train_main, ["--config", str(tiny_project), *on]),
        (evaluate_main, ["--config", str(tiny_project), *on]),
        (sweep_main, ["--sweep", str(sweep), *on]),
        (publish_main, ["--config", str(published), "--repo", "alice/x", *on]),  # before the push
    ]:
        assert main(args) == 2
        err = capsys.readouterr().err
        errors = [line for line in err.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and "Traceback" not in err
        assert errors[0].startswith(f"error: MLflow tracking server {uri} cannot be reached (")
        assert "make mlflow" in errors[0]
    assert not (tiny_project.parent / "models").exists()
    assert not (tiny_project.parent / "reports" / "sweeps" / "s").exists()

    # MLFLOW_TRACKING_URI stands in for tracking.uri; with neither, the message says so
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    with pytest.raises(PipelineError, match=f"MLflow tracking server {uri} cannot be reached"):
        connect(load_config(tiny_project, ["tracking.enabled=true"]))
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    with pytest.raises(PipelineError, match="neither tracking.uri nor MLFLOW_TRACKING_URI"):
        connect(load_config(tiny_project, ["tracking.enabled=true"]))


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("ftp://127.0.0.1/x", "must be a tracking server's http(s) address"),
        ("file:///tmp/mlruns", "a file store is not supported"),
        ("/tmp/mlruns", "got no scheme"),
        ("http://alice:s3cret@127.0.0.1:5000", "must not hold a user name or password"),
    ],
)
def test_a_uri_that_is_not_a_servers_address_is_one_line(
    tiny_project: Path, uri: str, words: str, capsys: pytest.CaptureFixture
) -> None:
    from pipeline.train.stage import main as train_main

    on = ["--set", "tracking.enabled=true", "--set", f"tracking.uri={uri}"]
    assert train_main(["--config", str(tiny_project), *on]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert "s3cret" not in err  # neither in the error nor in the config line


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("tracking.tags", {"k" * 201: "v"}, "a key must be 1 to 200 characters"),
        ("tracking.registered_model", "it's", "without quotes"),
        ("tracking.experiment", " ", "without quotes"),
    ],
)
def test_tracking_names_mlflow_would_refuse_are_config_errors(
    tiny_project: Path, key: str, value: Any, words: str
) -> None:
    import yaml

    shown = yaml.safe_dump(value, default_flow_style=True).strip()
    with pytest.raises(PipelineError, match=words):
        load_config(tiny_project, [f"{key}={shown}"])


# --- against the server -------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.heavy
def test_training_evaluation_and_publish_land_on_one_run_and_the_registry(
    mlflow_server: MlflowServer, client: Any, hub: Any, tiny_project: Path
) -> None:
    from pipeline.evaluate.stage import run as evaluate
    from pipeline.publish.stage import run as publish

    root = tiny_project.parent
    cfg = tracked(tiny_project, mlflow_server.url, "tracking.tags={team: nlp}")
    result = train(cfg)
    record = read_json(result.run_dir / "run.json")
    run_id = record["mlflow"]["run_id"]
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "tiny"

    params = run.data.params
    assert params == {k: str(v) for k, v in flatten(cfg.to_dict()).items()}
    assert params["train.learning_rate"] == "0.001" and params["model.max_seq_len"] == "32"
    manifest = read_json(root / "data/processed/manifest.json")
    tags = run.data.tags
    assert tags["data.train_sha256"] == manifest["splits"]["train"]["sha256"]
    assert tags["data.labels_sha256"] == manifest["labels"]["sha256"]
    assert tags["team"] == "nlp" and tags["task"] == cfg.task
    if record["git_commit"]:
        assert tags["mlflow.source.git.commit"] == record["git_commit"]

    assert run.data.metrics["best_val_accuracy"] == pytest.approx(record["best_metric"]["value"])
    assert run.data.metrics["best_epoch"] == record["best_epoch"]
    history = pd.read_csv(result.run_dir / "history.csv")
    names = {"loss": "loss", "val_accuracy": "val_accuracy", "seconds": "epoch_seconds"}
    for column, key in (names | {"learning_rate": "learning_rate"}).items():
        assert steps(client, run_id, key) == history["epoch"].tolist()
        assert values(client, run_id, key) == pytest.approx(history[column].tolist())
    assert {"run.json", "history.csv", "curves.png", "labels.json", "config.json"} <= artifacts(
        client, run_id
    )

    report = evaluate(cfg)
    metrics = client.get_run(run_id).data.metrics
    assert metrics["test_accuracy"] == pytest.approx(report.metrics["accuracy"])
    assert metrics["test_macro_f1"] == pytest.approx(report.metrics["macro_f1"])
    assert {"report/report.md", "report/report.html", "report/metrics.json",
            "report/figures"} <= artifacts(client, run_id, "report")  # fmt: skip
    assert artifacts(client, run_id, "report/figures")

    pushed = publish(cfg, repo_id="alice/ko-emotion")
    assert pushed.registered == ("alice-ko-emotion", "1")
    version = client.get_model_version("alice-ko-emotion", "1")
    assert version.run_id == run_id and version.tags["hub_commit"] == pushed.commit_id
    assert version.tags["hub_repo"] == "alice/ko-emotion"
    assert version.source == f"runs:/{run_id}/published/{pushed.commit_id}"
    again = publish(cfg, repo_id="alice/ko-emotion")  # the same files: the same commit
    assert not again.changed and again.registered == ("alice-ko-emotion", "1")


@pytest.mark.slow
@pytest.mark.heavy
def test_a_resumed_training_continues_its_run_and_loses_no_epoch(
    mlflow_server: MlflowServer, client: Any, tiny_project: Path, monkeypatch
) -> None:
    from pipeline.fitting.callbacks import EpochCheckpoint

    cfg = tracked(tiny_project, mlflow_server.url, "train.epochs=3")
    original = EpochCheckpoint.on_epoch_end

    def ctrl_c_after_second_epoch(self, epoch, logs=None):  # noqa: ANN001
        original(self, epoch, logs)
        if epoch == 1:  # saved, but never sent: the tracking's callback comes after this one
            raise KeyboardInterrupt

    monkeypatch.setattr(EpochCheckpoint, "on_epoch_end", ctrl_c_after_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        train(cfg)
    monkeypatch.undo()
    run_dir = tiny_project.parent / "models/tiny"
    run_id = read_json(work_dir_for(run_dir) / "state.json")["mlflow_run_id"]
    assert client.get_run(run_id).info.status == "KILLED"
    assert steps(client, run_id, "loss") == [1]

    train(cfg)
    assert read_json(run_dir / "run.json")["mlflow"]["run_id"] == run_id
    assert client.get_run(run_id).info.status == "FINISHED"
    history = pd.read_csv(run_dir / "history.csv")
    assert steps(client, run_id, "loss") == [1, 2, 3]
    assert values(client, run_id, "loss") == pytest.approx(history["loss"].tolist())
    assert len(client.search_runs([client.get_run(run_id).info.experiment_id])) == 1


@pytest.mark.slow
@pytest.mark.heavy
def test_a_server_that_vanishes_never_stops_the_training_and_gets_the_buffer_when_back(
    mlflow_server: MlflowServer, client: Any, tiny_project: Path, caplog
) -> None:
    caplog.set_level(logging.INFO)
    with Gate(mlflow_server.port) as gate:
        cfg = tracked(tiny_project, gate.url, "train.epochs=3")
        # gone after epoch 1, back after epoch 2, gone again for good after epoch 3
        result = train(cfg, callbacks=[AtEpochEnd(e0=gate.close, e1=gate.open, e2=gate.close)])
    assert result.epochs_run == 3 and (result.run_dir / "tf_model.h5").is_file()
    run_id = read_json(result.run_dir / "run.json")["mlflow"]["run_id"]
    # epoch 2 waited in the buffer and went with epoch 3 (not resent from the history)
    assert steps(client, run_id, "loss") == steps(client, run_id, "val_accuracy") == [1, 2, 3]
    assert "metric values kept to send later" in caplog.text and "answers again" in caplog.text
    assert "it had missed" not in caplog.text
    # the end (files, status) found no server: two warnings, one per outage, and one summary
    warnings = [r.getMessage() for r in caplog.records
                if r.levelno == logging.WARNING and r.name.startswith("pipeline")]  # fmt: skip
    assert len(warnings) == 3, warnings
    assert warnings[0].startswith(f"MLflow {gate.url}: could not log metrics (")
    assert "did not take everything of run" in warnings[2]
    assert client.get_run(run_id).info.status == "RUNNING"
    assert "run.json" not in artifacts(client, run_id)


# --- a sweep ------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.heavy
@pytest.mark.parametrize("engine", ["local", "ray"])
def test_a_sweep_is_a_parent_run_with_one_child_per_trial(
    mlflow_server: MlflowServer, client: Any, tiny_project: Path, tmp_path: Path, engine: str
) -> None:
    from pipeline.sweep.stage import load_sweep
    from pipeline.sweep.stage import run as sweep_run
    from tests.test_sweep import write_sweep

    grid = {"train.learning_rate": [1e-3, 3e-3]}
    body = {"name": "tracked", "base": str(tiny_project), "grid": grid, "engine": engine,
            "overrides": {"train.epochs": 1}}  # fmt: skip
    sweep = load_sweep(write_sweep(tmp_path / "s.yaml", **body))
    on = ["tracking.enabled=true", f"tracking.uri={mlflow_server.url}",
          f"tracking.experiment={tiny_project.parent}"]  # fmt: skip
    table = sweep_run(sweep, load_config(tiny_project, on), str(tiny_project), on)
    out = tiny_project.parent / "reports/sweeps/tracked"
    parent_id = read_json(out / "trials.json")["mlflow_run_id"]
    parent = client.get_run(parent_id)
    assert parent.info.run_name == "tracked" and parent.info.status == "FINISHED"
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'"
    )
    assert sorted(c.info.run_name for c in children) == sorted(
        f"tracked/{t}" for t in table["trial"]
    )
    best = table["trial"].iloc[0]
    by_name = {c.info.run_name: c for c in children}
    assert by_name[f"tracked/{best}"].data.tags["best"] == "true"
    assert parent.data.tags["best_trial"] == best
    assert parent.data.tags["best_run_id"] == by_name[f"tracked/{best}"].info.run_id
    assert parent.data.metrics["best_val_accuracy"] == pytest.approx(table["val_accuracy"][0])
    for child in children:
        assert steps(client, child.info.run_id, "loss") == [1]
    assert {"results.csv", "results.md", "best.json", "figures"} <= artifacts(client, parent_id)


# --- every task ---------------------------------------------------------------------------------


def ner_config(root: Path) -> Path:
    """A tiny NER project (test_ner_pipeline's corpus) with its data made; its config."""
    from pipeline.data import ingest, prepare, split
    from pipeline.tasks.ner.markup import parse_markup
    from tests.test_ner_pipeline import corpus
    from tests.tiny import make_tiny_bert

    lines = corpus()
    base = make_tiny_bert(root / "base", [parse_markup(x, None, "t")[0] for x in lines])
    (root / "data/raw").mkdir(parents=True)
    (root / "data/raw/ner.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = {
        "root": str(root), "task": "token-classification",
        "ingest": {"files": ["data/raw/ner.txt"], "entity_types": ["PS", "LC"]},
        "model": {"name_or_path": str(base), "max_seq_len": 32},
        "train": {"run_name": "ner", "epochs": 2, "batch_size": 8, "learning_rate": 3e-3,
                  "early_stopping": {"monitor": "val_entity_f1", "patience": 6}},
    }  # fmt: skip
    config = write_config(root / "ner.yaml", cfg)
    for stage in (ingest, prepare, split):
        assert stage.main(["--config", str(config)]) == 0
    return config


def generation_config(root: Path) -> Path:
    """A tiny text-generation project (test_gen_pipeline's); its config."""
    from pipeline.tasks.generation import tiny
    from tests.tiny import write_processed

    write_processed(root)
    cfg = tiny_config_dict(root, Path("unused"), train={"run_name": "gen", "epochs": 2,
                           "learning_rate": 3e-3}, generate={"prompts": ["나는"], "seeds": [0],
                           "max_new_tokens": 4})  # fmt: skip
    cfg["task"], cfg["model"]["name_or_path"] = "text-generation", tiny.SCHEME
    return write_config(root / "gen.yaml", cfg)


@pytest.mark.slow
@pytest.mark.heavy
@pytest.mark.parametrize(
    ("make", "epoch_metric", "test_metric"),
    [(ner_config, "val_entity_f1", "test_entity_f1"),
     (generation_config, "val_loss", "test_perplexity.test")],
)  # fmt: skip
def test_every_task_is_tracked_with_its_own_metrics(
    mlflow_server: MlflowServer, client: Any, tmp_path: Path, make: Any, epoch_metric: str,
    test_metric: str,
) -> None:  # fmt: skip
    from pipeline.evaluate.stage import run as evaluate

    cfg = tracked(make(tmp_path), mlflow_server.url)
    result = train(cfg)
    run_id = read_json(result.run_dir / "run.json")["mlflow"]["run_id"]
    assert steps(client, run_id, epoch_metric) == [1, 2]
    assert client.get_run(run_id).data.tags["task"] == cfg.task
    evaluate(cfg)
    assert test_metric in client.get_run(run_id).data.metrics
    assert "report/report.md" in artifacts(client, run_id, "report")
