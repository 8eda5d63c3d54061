"""GET /metrics on a real uvicorn server: the counters move by exactly what was sent."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pipeline.config import Config, load_config
from pipeline.model.loading import load_tokenizer
from tests.conftest import tiny_config_dict, write_config
from tests.live_server import live_server, run_service

pytestmark = pytest.mark.slow  # the tiny model behind a real server

JSON = {"content-type": "application/json"}
BATCHES = [["기뻐요"], ["화가 나요", "걱정돼요"], ["신나요 정말", "고마워요", "슬퍼요 오늘"]]


def make_config(root: Path, tiny_bert: Path, **serve) -> Config:
    serve = {"max_batch_size": 8, "max_wait_ms": 1, **serve}
    cfg = tiny_config_dict(root, tiny_bert, serve=serve)
    return load_config(write_config(root / "c.yaml", cfg))


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics: (name, sorted labels) -> value."""
    response = httpx.get(f"{url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def delta(before: dict, after: dict, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_the_counters_move_by_exactly_what_was_sent(
    tmp_path: Path, tiny_bert: Path, untrained_run: Path
) -> None:
    cfg = make_config(tmp_path, tiny_bert)
    model, task = untrained_run.name, cfg.task
    with live_server(run_service(cfg, untrained_run)) as url:
        before = scrape(url)
        for texts in BATCHES:
            response = httpx.post(f"{url}/predict", json={"inputs": texts})
            assert response.status_code == 200
        assert httpx.post(f"{url}/predict", json={"inputs": []}).status_code == 422
        assert httpx.get(f"{url}/no/such/path").status_code == 404
        assert httpx.get(f"{url}/openapi.json").status_code == 200  # a plain Starlette route
        after = scrape(url)

    route = {"route": "/predict", "task": task, "model": model}
    assert delta(before, after, "pipeline_requests_total", **route, status="200") == 3
    assert delta(before, after, "pipeline_requests_total", **route, status="422") == 1
    unmatched = {"route": "unmatched", "task": task, "model": model, "status": "404"}
    assert delta(before, after, "pipeline_requests_total", **unmatched) == 1
    openapi = {"route": "/openapi.json", "task": task, "model": model, "status": "200"}
    assert delta(before, after, "pipeline_requests_total", **openapi) == 1  # not "unmatched"
    assert delta(before, after, "pipeline_request_duration_seconds_count", **route) == 4

    sent = [t for texts in BATCHES for t in texts]
    assert delta(before, after, "pipeline_inputs_total", task=task, model=model) == len(sent)
    tokenizer = load_tokenizer(untrained_run)
    tokens = sum(len(ids) for ids in tokenizer(sent, truncation=True, max_length=32)["input_ids"])
    kind = {"task": task, "model": model, "kind": "input"}
    assert delta(before, after, "pipeline_tokens_total", **kind) == tokens

    # one request at a time: a model call each, carrying its request's inputs
    assert delta(before, after, "pipeline_batch_size_count", model=model) == len(BATCHES)
    assert delta(before, after, "pipeline_batch_size_sum", model=model) == len(sent)
    assert delta(before, after, "pipeline_queue_wait_seconds_count", model=model) == len(BATCHES)
    assert delta(before, after, "pipeline_model_seconds_count", model=model) == len(BATCHES)
    assert delta(before, after, "pipeline_model_seconds_sum", model=model) > 0
    assert after[("pipeline_queue_depth", (("model", model),))] == 0
    assert after[("pipeline_model_load_seconds", (("model", model),))] > 0
    assert after[("process_resident_memory_bytes", ())] > 50e6  # TensorFlow alone is more


def test_metrics_off_answers_404(tmp_path: Path, tiny_bert: Path, untrained_run: Path) -> None:
    cfg = make_config(tmp_path, tiny_bert, metrics=False)
    with live_server(run_service(cfg, untrained_run)) as url:
        response = httpx.get(f"{url}/metrics")
        assert response.status_code == 404 and "error" in response.json()
        assert httpx.post(f"{url}/predict", json={"inputs": "기뻐요"}).status_code == 200
