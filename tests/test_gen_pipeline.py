"""Text generation through the stages on the tiny corpus: train a tiny GPT-2, evaluate, card.

Slow: real TF training of a tiny random GPT-2 (tokenizer trained on the training split).
Shows that training learns (validation perplexity far below the untrained model's) and that
the fixed-seed sample generations are identical across runs (another process included).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from pipeline.config import load_config
from pipeline.errors import PipelineError
from pipeline.io import read_json
from pipeline.model.loading import ModelRef
from pipeline.tasks.generation import tiny
from tests.conftest import tiny_config_dict, write_config
from tests.tiny import write_processed

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained generation run on the tiny corpus; returns the config path."""
    from pipeline.train.stage import run as train

    root = tmp_path_factory.mktemp("gen-project")
    write_processed(root)
    cfg = tiny_config_dict(
        root,
        Path("unused"),
        train={
            "run_name": "gen",
            "epochs": 12,
            "learning_rate": 3e-3,
            "optimizer": "adamw",
            "early_stopping": {"monitor": "val_loss", "min_delta": 0.01, "patience": 2},
        },
        generate={"prompts": ["나는"], "seeds": [0, 1], "max_new_tokens": 8},
    )
    cfg["task"], cfg["model"]["name_or_path"] = "text-generation", tiny.SCHEME
    path = write_config(root / "gen.yaml", cfg)
    train(load_config(path))
    return path


def test_training_learns_and_run_json_records_validation_perplexity(project: Path) -> None:
    from pipeline.evaluate.stage import main

    assert main(["--config", str(project)]) == 0
    root = project.parent
    record = read_json(root / "models/gen/run.json")
    m = read_json(root / "reports/gen/metrics.json")
    untrained = m["base_model_perplexity"]["test"]
    assert record["validation_perplexity"] == pytest.approx(m["perplexity"]["validation"], rel=1e-3)
    assert record["validation_perplexity"] < untrained / 20  # random init: about the vocab size
    assert m["perplexity"]["test"] < untrained / 20
    assert m["baseline"]["perplexity"]["test"] > 1 and "bigram" in m["baseline"]["name"]
    report = (root / "reports/gen/report.md").read_text(encoding="utf-8")
    assert "bigram baseline" in report and "distinct-2" in report
    samples = pd.read_csv(root / "reports/gen/samples.csv")
    assert len(samples) == 4 * 2  # 4 conditions x 1 prompt x 2 seeds
    assert samples["generated_text"].str.startswith("[").all()


def test_fixed_seed_samples_are_identical_in_another_process(project: Path) -> None:
    root = project.parent  # the report of the test above, written in this process
    first = (root / "reports/gen/samples.csv").read_bytes()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run(
        [sys.executable, "-m", "pipeline.evaluate", "--config", str(project)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    assert (root / "reports/gen/samples.csv").read_bytes() == first


def test_the_classifier_checks_the_conditions(project: Path, untrained_run: Path) -> None:
    from pipeline.evaluate.stage import run

    result = run(load_config(project), classifier=str(untrained_run))
    match = result.metrics["condition_match"]
    assert 0 <= match["share"] <= 1 and match["chance"] == 0.25
    assert len(match["per_condition"]) == 4


def test_input_is_refused_in_one_line(project: Path) -> None:
    from pipeline.evaluate.stage import run

    with pytest.raises(PipelineError, match="--input: text generation is evaluated on the conf"):
        run(load_config(project), input_file=project)


def test_training_again_skips_and_the_card_is_a_text_generation_card(project: Path) -> None:
    from pipeline.publish.files import collect
    from pipeline.train.stage import run as train

    cfg = load_config(project)
    assert train(cfg).skipped
    run_dir = project.parent / "models/gen"
    files, card, _ = collect(cfg, ModelRef("gen", run_dir), "user/gen-tiny")
    names = {f.path_in_repo for f in files}
    assert {"tf_model.h5", "tokenizer.json", "README.md", "metrics.json"} <= names
    assert "pipeline_tag: text-generation" in card and "type: perplexity" in card
    assert "## Sample generations" in card
