"""Shared fixtures: a tiny project root with split files, and a tiny random BERT checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")

from tests.tiny import TINY_LABELS, make_tiny_bert, tiny_corpus, write_processed  # noqa: E402


def pytest_collection_finish(session: pytest.Session) -> None:
    """Boot the MLflow server (seconds) while the first tests run, if a test will need it."""
    if any("mlflow_server" in getattr(item, "fixturenames", ()) for item in session.items):
        from tests.mlflow_server import early

        early(start=True)


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT base checkpoint (tf_model.h5 + WordPiece tokenizer)."""
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), tiny_corpus()["text"].tolist())


def tiny_config_dict(root: Path, base_model: Path, **sections: dict) -> dict:
    """A config for the tiny setup; keyword arguments replace or extend sections."""
    cfg = {
        "root": str(root),
        "ingest": {"files": ["data/raw/*.xlsx"]},
        "model": {"name_or_path": str(base_model), "max_seq_len": 32},
        "train": {
            "run_name": "tiny",
            "epochs": 2,
            "batch_size": 8,
            "learning_rate": 1e-3,
            "early_stopping": {"patience": 5},
        },
        "evaluate": {"batch_size": 16},
    }
    for name, values in sections.items():
        cfg[name] = {**cfg.get(name, {}), **values}
    return cfg


def write_config(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture()
def tiny_project(tmp_path: Path, tiny_bert: Path) -> Path:
    """A project root with labels.json, the three splits and a manifest; returns its config."""
    write_processed(tmp_path)
    return write_config(tmp_path / "config.yaml", tiny_config_dict(tmp_path, tiny_bert))


@pytest.fixture(scope="session")
def untrained_run(tmp_path_factory: pytest.TempPathFactory, tiny_bert: Path) -> Path:
    """A run directory holding the tiny BERT with a fresh (untrained) 4-emotion head.

    For tests of later stages that need a loadable model, not a good one.
    """
    from pipeline.io import write_json
    from pipeline.model.loading import load_base_classifier, load_tokenizer

    run_dir = tmp_path_factory.mktemp("untrained-run")
    id2label = {i: label for i, (label, _, _) in enumerate(TINY_LABELS)}
    model = load_base_classifier(tiny_bert, id2label)
    model.save_pretrained(str(run_dir))
    load_tokenizer(tiny_bert).save_pretrained(str(run_dir))
    write_json(
        run_dir / "labels.json",
        {
            "id2label": {str(i): n for i, n in id2label.items()},
            "label2group": {label: group for label, group, _ in TINY_LABELS},
        },
    )
    return run_dir


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory, tiny_bert: Path) -> Path:
    """A finished run directory: the tiny BERT trained 2 epochs by the real pipeline.train.run.

    The project root is ``trained_run.parent.parent`` (data in root/data, config at
    root/config.yaml, run name "tiny"). Session-scoped and shared: do not modify it.
    """
    from pipeline.config import load_config
    from pipeline.train.stage import run

    root = tmp_path_factory.mktemp("trained-project")
    write_processed(root)
    # batch 4 at 3e-3: the tiny model gets above chance on validation within 2 epochs
    cfg = tiny_config_dict(root, tiny_bert, train={"batch_size": 4, "learning_rate": 3e-3})
    config = write_config(root / "config.yaml", cfg)
    return run(load_config(config)).run_dir


@pytest.fixture(scope="session")
def multilabel_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny multi-label project (tests/tiny_multilabel.py) through every data stage,
    trained 14 epochs and evaluated; its config. Session-scoped and shared: copy it to
    change it."""
    from tests.tiny_multilabel import build_project

    return build_project(tmp_path_factory.mktemp("multilabel"))


@pytest.fixture(scope="session")
def ray_local():
    """A local Ray instance with 2 CPUs for the Ray engine tests, shut down at the end."""
    from pipeline.ray_connect import ray_session

    os.environ.pop("RAY_ADDRESS", None)  # never a user's cluster from the tests
    with ray_session(num_cpus=2) as ray:
        yield ray
