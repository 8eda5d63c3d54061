"""Soak: several clients send good and hostile requests at once to each task's server (tiny
models, in-process).

Every good request must get 200 with its task's answer shape, every bad one its 4xx with an
error, none a 5xx, a client sending its body too slowly 408 and a closed connection, idle
connections closed by the server, and the server's memory must stay bounded.
``benchmarks/soak.py`` runs the same ``soak()`` against the demo models for ``make bench``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from benchmarks.soak import rss_mb, soak
from pipeline.config import Config, load_config
from pipeline.model.loading import ModelRef
from tests.conftest import tiny_config_dict, write_config
from tests.live_server import live_server, run_service

pytestmark = pytest.mark.slow

SECONDS = 6.0  # bounded: about 15 s a server with the model warm-up and the last slow body
BODY_TIMEOUT_S = 1.0
SERVE = {"max_batch_size": 8, "max_wait_ms": 20, "body_timeout_s": BODY_TIMEOUT_S}
SERVE |= {"keep_alive_s": 2.0}


def _config(root: Path, tiny_bert: Path, task: str, **sections: dict) -> Config:
    cfg = tiny_config_dict(root, tiny_bert, serve=SERVE, **sections)
    cfg["task"] = task
    return load_config(write_config(root / "c.yaml", cfg))


def _head_run(root: Path, tiny_bert: Path, labels: list[str], auto: str, bias=None) -> Path:
    """The tiny BERT with a fresh head of ``labels`` saved as a run directory."""
    from pipeline.io import write_json
    from pipeline.model.loading import load_base_classifier, load_tokenizer

    run_dir = root / "models/run"
    id2label = dict(enumerate(labels))
    model = load_base_classifier(tiny_bert, id2label, auto)
    if bias is not None:  # every piece one entity type, so that the answers have entities
        kernel, _ = model.classifier.get_weights()
        model.classifier.set_weights([kernel * 0, np.array(bias, dtype=np.float32)])
    model.save_pretrained(str(run_dir))
    load_tokenizer(tiny_bert).save_pretrained(str(run_dir))
    write_json(run_dir / "labels.json", {"id2label": {str(i): n for i, n in id2label.items()}})
    return run_dir


def _service(task: str, root: Path, tiny_bert: Path, untrained_run: Path):
    if task == "text-classification":
        return run_service(_config(root, tiny_bert, task), untrained_run)
    if task == "text-pair-classification":
        cfg = _config(root, tiny_bert, task, ingest={"text_pair_columns": ["p", "h"]})
        labels = ["entailment", "neutral", "contradiction"]
        run = _head_run(root, tiny_bert, labels, "TFAutoModelForSequenceClassification")
        return run_service(cfg, run)
    if task == "token-classification":
        tags = ["O", "B-LC", "I-LC", "B-PS", "I-PS"]
        run = _head_run(root, tiny_bert, tags, "TFAutoModelForTokenClassification", [0, 9, 0, 0, 0])
        return run_service(_config(root, tiny_bert, task), run)
    from pipeline.tasks.generation import tiny
    from pipeline.tasks.generation.serve import GenerationServer
    from tests.test_gen_task import CAP, gen_texts

    gpt2 = tiny.build_tiny_gpt2(gen_texts(), root / "gpt2")
    cfg = tiny_config_dict(root, Path("unused"), serve=SERVE, generate={"max_new_tokens_cap": CAP})
    cfg["task"], cfg["model"]["name_or_path"] = task, tiny.SCHEME
    cfg["ingest"]["group_column"] = None
    cfg = load_config(write_config(root / "gen.yaml", cfg))
    return GenerationServer(cfg, ModelRef(name="tiny", run_dir=gpt2))


# make test soaks the classifier's server; the other three tasks' servers are heavy
HEAVY = pytest.mark.heavy
TASKS = ["text-classification", pytest.param("text-pair-classification", marks=HEAVY)]
TASKS += [pytest.param("token-classification", marks=HEAVY)]
TASKS += [pytest.param("text-generation", marks=HEAVY)]


@pytest.mark.parametrize("task", TASKS)
def test_good_requests_all_succeed_among_hostile_ones(
    task: str, tmp_path: Path, tiny_bert: Path, untrained_run: Path
) -> None:
    service = _service(task, tmp_path, tiny_bert, untrained_run)
    with live_server(service) as url:
        rss = lambda: rss_mb(os.getpid())  # noqa: E731
        result = soak(url, SECONDS, 6, rss, BODY_TIMEOUT_S)
    assert result["task"] == task
    assert result["unexpected"] == []
    assert result["errors_5xx"] == 0
    assert result["good"] >= 10 and result["slow_bodies"] >= 2, result
    assert [name for name, n in result["bad_kinds"].items() if n == 0] == [], result
    assert result["idle_closed"] == result["idle_connections"] > 0
    if task == "token-classification":
        assert result["long_requests"] >= 1, result  # answered among the short ones
    # in-process: the server, the model and the clients; a leak per request would show here
    assert result["rss_end_mb"] - result["rss_start_mb"] < 300, result
