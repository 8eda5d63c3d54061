"""Streaming generation on a real uvicorn server: TGI's server-sent events, read by
``InferenceClient.text_generation(stream=True)``; a client that leaves stops the generation."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
import requests
from huggingface_hub import InferenceClient, configure_http_backend

from pipeline.config import load_config
from pipeline.model.loading import ModelRef
from pipeline.serve.app import create_app
from pipeline.tasks.generation import tiny
from pipeline.tasks.generation.serve import GenerationServer
from tests.conftest import tiny_config_dict, write_config
from tests.live_server import live_server
from tests.test_gen_task import gen_texts

pytestmark = pytest.mark.slow  # a tiny GPT-2 behind a real server

CAP = 120  # the tiny GPT-2 has 128 positions
LONG = {"max_new_tokens": CAP, "min_new_tokens": CAP, "seed": 3, "do_sample": True}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    run = tiny.build_tiny_gpt2(gen_texts(), tmp_path_factory.mktemp("tiny-gpt2"))
    root = tmp_path_factory.mktemp("stream")
    cfg = tiny_config_dict(root, Path("unused"), generate={"max_new_tokens_cap": CAP})
    cfg["task"], cfg["model"]["name_or_path"] = "text-generation", tiny.SCHEME
    cfg["ingest"]["group_column"] = None
    service = GenerationServer(load_config(write_config(root / "g.yaml", cfg)), ModelRef("t", run))
    with live_server(service, app=create_app(service)) as url:
        yield url, service


def events(url: str, body: dict) -> list[dict]:
    with httpx.stream("POST", f"{url}/generate", json=body, timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return [json.loads(line[5:]) for line in response.iter_lines() if line.startswith("data:")]


def test_the_inference_client_streams_the_same_text_as_a_plain_request(server) -> None:
    url, _ = server
    params = {"max_new_tokens": 8, "seed": 7, "temperature": 0.8, "do_sample": True}
    client = InferenceClient(model=f"{url}/generate")
    configure_http_backend(requests.Session)  # HF_HUB_OFFLINE refuses even loopback otherwise
    try:
        plain = client.text_generation("[기쁨] 오늘", **params)
        pieces = list(client.text_generation("[기쁨] 오늘", stream=True, **params))
        detailed = list(client.text_generation("[기쁨] 오늘", stream=True, details=True, **params))
    finally:
        configure_http_backend()
    assert len(pieces) == len(detailed) >= 2  # one event per token
    last = detailed[-1]
    assert last.generated_text == plain and last.details.seed == 7
    assert last.details.generated_tokens == len(detailed)
    assert all(d.generated_text is None and d.details is None for d in detailed[:-1])
    assert [d.token.text for d in detailed] == pieces
    assert plain.startswith("[기쁨] 오늘")
    assert "".join(pieces).strip() == plain.removeprefix("[기쁨] 오늘").strip()
    assert all(d.token.logprob <= 0 and isinstance(d.token.id, int) for d in detailed)


def test_events_have_tgi_shape_and_bad_streams_are_422(server) -> None:
    url, _ = server
    got = events(url, {"inputs": "오늘", "stream": True, "parameters": {"max_new_tokens": 4}})
    assert len(got) == 4 and [e["index"] for e in got] == [1, 2, 3, 4]
    assert set(got[0]) == {"index", "token", "generated_text", "details", "top_tokens"}
    assert set(got[0]["token"]) == {"id", "text", "logprob", "special"}
    assert got[-1]["details"]["finish_reason"] in {"length", "eos_token"}
    bad = httpx.post(f"{url}/generate", json={"inputs": "", "stream": True})
    assert bad.status_code == 422 and "empty" in bad.json()["error"]


def test_a_client_that_leaves_stops_the_generation(server) -> None:
    url, service = server
    body = {"inputs": "오늘", "stream": True, "parameters": LONG}
    full = events(url, body)  # the whole generation, for its length and time
    assert len(full) == CAP
    before = generated_tokens(url)
    with httpx.stream("POST", f"{url}/generate", json=body, timeout=60) as response:
        lines = response.iter_lines()
        received = [next(lines) for _ in range(3)]  # then the client hangs up
    assert all(line.startswith("data:") or not line for line in received)
    deadline = time.monotonic() + 10
    while service.waiting and time.monotonic() < deadline:
        time.sleep(0.01)
    assert service.waiting == 0, "the worker is still busy with a client that left"
    started = time.monotonic()
    quick = {"inputs": "오늘", "parameters": {"max_new_tokens": 2}}
    assert httpx.post(f"{url}/generate", json=quick, timeout=30).status_code == 200
    assert time.monotonic() - started < 10
    assert generated_tokens(url) - before < CAP + 2  # the left one stopped early (+2 quick)


def generated_tokens(url: str) -> float:
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith("pipeline_tokens_total{") and 'kind="generated"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0
