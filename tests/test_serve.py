"""The serve stage on a real uvicorn server (loopback only) with the tiny untrained model."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest

from benchmarks.soak import bad_requests, slow_body
from pipeline.config import Config, load_config
from pipeline.model.loading import ModelRef, load_trained
from pipeline.serve.stage import main
from tests.conftest import tiny_config_dict, write_config
from tests.live_server import live_server, run_service
from tests.tiny import TINY_LABELS

pytestmark = pytest.mark.slow  # every test here runs the tiny model behind a real server

LABELS = [label for label, _, _ in TINY_LABELS]
SERVE = {
    "max_batch_size": 8,
    "max_wait_ms": 50,
    "max_inputs": 8,
    "max_body_bytes": 16384,
    "body_timeout_s": 1.0,
}
JSON = {"content-type": "application/json"}
SENTENCES = [
    "친구가 선물을 줬어. 고마워요",
    "오늘 약속을 어겼어. 화가 나요 정말 열받아요",
    "시험 결과를 알려줬어. 걱정돼요",
    "여행을 가자고 했어. 신나요",
]


def make_config(root: Path, tiny_bert: Path, **serve) -> Config:
    cfg = tiny_config_dict(root, tiny_bert, serve={**SERVE, **serve})
    return load_config(write_config(root / "config.yaml", cfg))


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory, tiny_bert: Path) -> Config:
    return make_config(tmp_path_factory.mktemp("serve"), tiny_bert)


@pytest.fixture(scope="module")
def server(config: Config, untrained_run: Path):
    with live_server(run_service(config, untrained_run)) as url:
        yield url


@pytest.fixture(scope="module")
def reference(untrained_run: Path):
    """The answers to match: TextClassificationPipeline(framework="tf") one sentence at a time."""
    from transformers import TextClassificationPipeline

    model, tokenizer = load_trained(ModelRef(name="ref", run_dir=untrained_run))
    pipe = TextClassificationPipeline(model=model, tokenizer=tokenizer, framework="tf")
    return lambda text: pipe(text, top_k=None, truncation=True, max_length=32)


def assert_same(answer: list[dict], expected: list[dict], k: int) -> None:
    assert len(answer) == k
    assert [a["score"] for a in answer] == sorted((a["score"] for a in answer), reverse=True)
    want = {e["label"]: e["score"] for e in expected}
    for item in answer:
        assert item["score"] == pytest.approx(want[item["label"]], abs=1e-4)
    left_out = [score for label, score in want.items() if label not in {a["label"] for a in answer}]
    assert all(answer[-1]["score"] >= score - 1e-4 for score in left_out)  # the best k of them


def post(url: str, body, **kwargs) -> httpx.Response:
    return httpx.post(f"{url}/predict", json=body, timeout=30, **kwargs)


# --- the API ----------------------------------------------------------------------------------


def test_one_sentence_gives_one_list_of_the_pipelines_answers(server, reference) -> None:
    response = post(server, {"inputs": SENTENCES[0]})
    assert response.status_code == 200
    body = response.json()
    assert len(body) == 1
    assert_same(body[0], reference(SENTENCES[0]), k=4)  # default top_k 5, cut to 4 labels


def test_a_list_gives_one_list_per_input_cut_to_top_k(server, reference) -> None:
    body = post(server, {"inputs": SENTENCES, "parameters": {"top_k": 2}}).json()
    assert len(body) == len(SENTENCES)
    for answer, text in zip(body, SENTENCES, strict=True):
        assert_same(answer, reference(text)[:2], k=2)


def test_concurrent_requests_are_batched_and_answered_identically(server, reference) -> None:
    texts = [f"{s} {i}" for i in range(4) for s in SENTENCES]

    async def fire() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server, timeout=60) as client:
            calls = [client.post("/predict", json={"inputs": t}) for t in texts]
            return await asyncio.gather(*calls)

    before = httpx.get(f"{server}/info").json()["batches"]
    responses = asyncio.run(fire())
    after = httpx.get(f"{server}/info").json()["batches"]
    for response, text in zip(responses, texts, strict=True):
        assert response.status_code == 200
        assert_same(response.json()[0], reference(text), k=4)
    assert after["jobs"] - before["jobs"] == len(texts)
    assert after["largest_batch"] > 1  # 16 requests within 50 ms shared a model call


def test_a_sentence_far_over_max_seq_len_is_truncated_and_answered(server, reference) -> None:
    text = "친구가 선물을 줬어 고마워요 " * 60  # ~300 tokens for max_seq_len 32, < 4 KB
    response = post(server, {"inputs": text})
    assert response.status_code == 200
    assert_same(response.json()[0], reference(text.strip()), k=4)


def test_health_info_page_and_offline_docs(server, untrained_run) -> None:
    health = httpx.get(f"{server}/health").json()
    assert health == {"status": "ok", "model": untrained_run.name}
    info = httpx.get(f"{server}/info").json()
    assert info["source"] == f"run:{untrained_run.name}"
    assert str(untrained_run.parent) not in httpx.get(f"{server}/info").text  # no local path
    assert info["labels"] == LABELS
    assert info["label2group"] == {label: group for label, group, _ in TINY_LABELS}
    assert info["max_seq_len"] == 32
    assert info["calibration"] == "none"  # a run without calibration.json is served raw
    assert info["versions"]["transformers"]
    page = httpx.get(server)
    assert page.status_code == 200 and "감정" in page.text
    assert "//" not in page.text.replace("<!doctype", "")  # no external asset, no CDN
    for asset in (
        "/static/ready.js",
        "/static/app.js",
        "/static/style.css",
        "/fonts/NanumGothic.ttf",
    ):
        assert httpx.get(server + asset).status_code == 200, asset
    docs = httpx.get(f"{server}/docs").text
    assert "/swagger/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
    assert httpx.get(f"{server}/swagger/swagger-ui-bundle.js").status_code == 200
    schema = httpx.get(f"{server}/openapi.json").json()
    assert "inputs" in json.dumps(schema["paths"]["/predict"]["post"]["requestBody"])


def test_huggingface_inference_client_works_against_it(server, reference) -> None:
    """The real client. Under HF_HUB_OFFLINE (set for the tests) huggingface_hub refuses every
    URL, even loopback, so a plain requests session is configured, as docs/serve.md says."""
    import requests
    from huggingface_hub import InferenceClient, configure_http_backend
    from huggingface_hub.errors import OfflineModeIsEnabled

    client = InferenceClient(model=f"{server}/predict")
    with pytest.raises(OfflineModeIsEnabled):
        client.text_classification(SENTENCES[1])
    configure_http_backend(requests.Session)
    try:
        answer = client.text_classification(SENTENCES[1], top_k=3)
    finally:
        configure_http_backend()
    as_dicts = [{"label": a.label, "score": a.score} for a in answer]
    assert_same(as_dicts, reference(SENTENCES[1]), k=3)


# --- bad requests: a 4xx naming the problem, and the server keeps serving --------------------

BAD = {
    "invalid JSON": ({"content": b'{"inputs": "abc', "headers": JSON}, 400, "not valid JSON"),
    "wrong content type": (
        {"content": b'{"inputs": "a"}', "headers": {"content-type": "text/plain"}},
        415,
        "application/json",
    ),
    "missing inputs": ({"json": {"parameters": {"top_k": 1}}}, 422, 'missing "inputs"'),
    "empty string": ({"json": {"inputs": ""}}, 422, '"inputs" is empty'),
    "whitespace only": ({"json": {"inputs": ["좋아요", " \n\t"]}}, 422, "inputs[1] is empty"),
    "non-string item": ({"json": {"inputs": ["좋아요", 3]}}, 422, "inputs[1] must be a string"),
    "too many inputs": ({"json": {"inputs": ["좋아요"] * 9}}, 422, "too many inputs: 9"),
    "body over limit": ({"json": {"inputs": "가" * 6000}}, 413, "over the limit of 16384"),
    "top_k zero": ({"json": {"inputs": "좋아요", "parameters": {"top_k": 0}}}, 422, "top_k"),
    "top_k over labels": (
        {"json": {"inputs": "좋아요", "parameters": {"top_k": 5}}},
        422,
        "from 1 to 4, got 5",
    ),
    "unknown parameter": ({"json": {"inputs": "a", "parameters": {"topk": 2}}}, 422, "topk"),
    "lone surrogate": (
        {"content": b'{"inputs": ["a", "b", "x\\ud800"]}', "headers": JSON},
        422,
        "inputs[2] holds a lone surrogate U+D800 at character 2",
    ),
    "lone surrogate in a field name": (
        {"content": b'{"inputs": "a", "\\ud800x": 1}', "headers": JSON},
        422,
        "a field name in the body holds a lone surrogate U+D800",
    ),
    "5000-digit top_k": (
        {
            "content": b'{"inputs": "a", "parameters": {"top_k": ' + b"9" * 5000 + b"}}",
            "headers": JSON,
        },
        400,
        "a number in the body has 5000 digits (at most 20)",
    ),
    "5000-digit input": (
        {"content": b'{"inputs": [' + b"9" * 5000 + b"]}", "headers": JSON},
        400,
        "5000 digits",
    ),
    "nested 8000 deep": (
        {"content": b"[" * 8000 + b"]" * 8000, "headers": JSON},
        400,
        "nested deeper than 32 levels",
    ),
    "nested 40 deep": (
        {"content": b'{"inputs": ' + b"[" * 40 + b"]" * 40 + b"}", "headers": JSON},
        400,
        "nested deeper than 32 levels",
    ),
    "zero-width only": (
        {"json": {"inputs": ["좋아요", "\u200b\ufeff"]}},
        422,
        "inputs[1] is empty",
    ),
    "NUL only": ({"json": {"inputs": "\u0000 "}}, 422, '"inputs" is empty'),
    "parameters 0": ({"json": {"inputs": "a", "parameters": 0}}, 422, "must be an object"),
    'parameters ""': ({"json": {"inputs": "a", "parameters": ""}}, 422, "must be an object"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_request_gets_a_4xx_naming_the_problem(server, case: str) -> None:
    kwargs, status, words = BAD[case]
    response = httpx.post(f"{server}/predict", timeout=30, **kwargs)
    assert response.status_code == status
    assert words in response.json()["error"]
    assert post(server, {"inputs": "고마워요"}).status_code == 200  # still serving


@pytest.mark.parametrize("bad", bad_requests(SERVE["max_body_bytes"]), ids=lambda b: b.name)
def test_every_hostile_request_of_the_soak_gets_its_4xx(server, bad) -> None:
    response = httpx.request(
        bad.method, server + bad.path, content=bad.content, headers=bad.headers, timeout=30
    )
    assert response.status_code == bad.status, response.text
    assert response.json()["error"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_a_bad_sentence_does_not_fail_the_requests_batched_with_it(server, reference) -> None:
    """Requests sharing a micro-batch with an unencodable sentence are answered; it gets 422."""
    texts = [f"{s} {i}" for i in range(3) for s in SENTENCES]
    bad = b'{"inputs": ["\\ud800"]}'

    async def fire() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server, timeout=60) as client:
            calls = []
            for i, text in enumerate(texts):
                calls.append(client.post("/predict", json={"inputs": text}))
                if i % 3 == 0:
                    calls.append(client.post("/predict", content=bad, headers=JSON))
            return await asyncio.gather(*calls)

    responses = asyncio.run(fire())
    good = [r for r in responses if r.request.content != bad]
    assert [r.status_code for r in responses if r.request.content == bad] == [422] * 4
    for response, text in zip(good, texts, strict=True):
        assert response.status_code == 200
        assert_same(response.json()[0], reference(text), k=4)


def test_a_body_sent_too_slowly_gets_408_and_the_connection_is_closed(server) -> None:
    host, port = server.removeprefix("http://").rsplit(":", 1)
    assert slow_body(host, int(port), SERVE["body_timeout_s"]) is None
    assert post(server, {"inputs": "고마워요"}).status_code == 200


def test_unknown_paths_and_methods_answer_in_the_apis_error_shape(server) -> None:
    missing = httpx.get(f"{server}/nope")
    assert missing.status_code == 404 and missing.json() == {"error": "Not Found"}
    wrong = httpx.get(f"{server}/predict")
    assert wrong.status_code == 405 and wrong.json() == {"error": "Method Not Allowed"}
    assert httpx.get(f"{server}/static/nope.js").json() == {"error": "Not Found"}


def test_pages_forbid_framing_and_sniffing(server) -> None:
    for path in ("/", "/docs", "/static/app.js", "/info"):
        headers = httpx.get(server + path).headers
        assert headers["x-content-type-options"] == "nosniff", path
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path
    page = httpx.get(server).headers["content-security-policy"]
    assert "default-src 'self'" in page and "unsafe-inline" not in page
    assert (
        "script-src 'self' 'unsafe-inline'"
        in httpx.get(f"{server}/docs").headers["content-security-policy"]
    )  # Swagger UI starts from an inline script


def test_chunked_body_over_limit_is_refused_while_reading(server) -> None:
    def chunks():
        yield b'{"inputs": "'
        for _ in range(30):
            yield "가".encode() * 300
        yield b'"}'

    response = httpx.post(
        f"{server}/predict", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert "over the limit" in response.json()["error"]


# --- loading, the unbatched service, the command line ------------------------------------------


def test_health_is_503_until_the_model_answered_its_warm_up(config, untrained_run) -> None:
    gate = threading.Event()
    service = run_service(config, untrained_run)
    real_load = service.load
    service.load = lambda: (gate.wait(60), real_load())  # hold loading until checked
    with live_server(service, wait_ready=False) as url:
        health = httpx.get(f"{url}/health")
        assert health.status_code == 503 and health.json()["status"] == "loading"
        early = post(url, {"inputs": "좋아요"})
        assert early.status_code == 503 and "loading" in early.json()["error"]
        gate.set()
        assert service.ready.wait(60)
        assert httpx.get(f"{url}/health").status_code == 200


def test_a_model_that_fails_to_load_says_so(config, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "tf_model.h5").write_bytes(b"not weights")
    service = run_service(config, tmp_path)
    with live_server(service, wait_ready=False) as url:
        for _ in range(600):
            if service.error:
                break
            threading.Event().wait(0.05)
        health = httpx.get(f"{url}/health")
        assert health.status_code == 503 and health.json()["status"] == "failed"
        assert "could not load" in health.json()["error"]


def test_without_batching_each_request_calls_the_pipeline(
    tmp_path, tiny_bert, untrained_run, reference
):
    cfg = make_config(tmp_path, tiny_bert, batching=False)
    with live_server(run_service(cfg, untrained_run)) as url:
        body = post(url, {"inputs": SENTENCES[:2]}).json()
        stats = httpx.get(f"{url}/info").json()["batches"]
    for answer, text in zip(body, SENTENCES[:2], strict=True):
        assert_same(answer, reference(text), k=4)
    assert stats["largest_batch"] == 2 and stats["jobs"] == stats["batches"]


def test_main_with_a_missing_run_exits_2_naming_it(config, capsys) -> None:
    path = Path(config.root) / "config.yaml"
    assert main(["--config", str(path), "--model", "no-such-run"]) == 2
    assert "no-such-run" in capsys.readouterr().err


def test_scores_are_probabilities(server) -> None:
    body = post(server, {"inputs": SENTENCES[2], "parameters": {"top_k": 4}}).json()
    assert sum(a["score"] for a in body[0]) == pytest.approx(1.0, abs=1e-5)
    assert np.all(np.array([a["score"] for a in body[0]]) >= 0)


def test_main_with_a_busy_port_exits_2_naming_it(config, untrained_run, capsys) -> None:
    path = Path(config.root) / "config.yaml"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        args = ["--config", str(path), "--model", str(untrained_run), "--port", port]
        assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"error: cannot listen on 127.0.0.1:{port}: ") and "--port" in err


def test_main_refuses_serve_limits_below_1(config, untrained_run, capsys) -> None:
    path = Path(config.root) / "config.yaml"
    args = ["--config", str(path), "--model", str(untrained_run), "--set", "serve.top_k=0"]
    assert main(args) == 2
    assert "serve.top_k must be at least 1, got 0" in capsys.readouterr().err
    args[-1] = "serve.body_timeout_s=0"
    assert main(args) == 2
    assert "serve.body_timeout_s must be in (0, 3600], got 0" in capsys.readouterr().err


def test_sigterm_drains_the_server_with_exit_code_0(config, untrained_run, capsys) -> None:
    """SIGTERM drains: uvicorn shuts down gracefully and the command exits 0 (Ctrl-C: 130).
    tests/test_serve_drain.py checks that requests in flight are answered.

    In-process: uvicorn hands the signal back to the handler found before it started, so the
    test's own handler only records a signal that escaped the command."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = Path(config.root) / "config.yaml"
    escaped: list[int] = []

    def terminate_when_ready() -> None:
        for _ in range(1200):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            threading.Event().wait(0.1)
        os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, lambda signum, frame: escaped.append(signum))
    try:
        threading.Thread(target=terminate_when_ready, daemon=True).start()
        code = main(["--config", str(path), "--model", str(untrained_run), "--port", str(port)])
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert code == 0 and escaped == []
    assert "drained after SIGTERM" in capsys.readouterr().err


def test_a_server_is_told_when_the_client_is_gone(config, untrained_run) -> None:
    """The app hands ``request.is_disconnected`` to the server's ``answer``: False
    while the client waits, True once it has closed the connection (NER stops its turns)."""
    from pipeline.inference.api import RequestError

    service = run_service(config, untrained_run)
    seen: list[bool] = []
    gone = threading.Event()

    async def answer(body, disconnected):
        seen.append(await disconnected())
        if body["inputs"] == "wait":
            for _ in range(500):
                if await disconnected():
                    gone.set()
                    raise RequestError(499, "the client closed the request")
                await asyncio.sleep(0.01)
        return [], {}

    service.answer = answer
    with live_server(service) as url:
        assert post(url, {"inputs": "now"}).json() == []
        port = int(url.rsplit(":", 1)[1])
        body = json.dumps({"inputs": "wait"}).encode()
        with socket.create_connection(("127.0.0.1", port)) as sock:
            head = "POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            sock.sendall(f"{head}content-length: {len(body)}\r\n\r\n".encode() + body)
            threading.Event().wait(0.3)
        assert gone.wait(5)
    assert seen == [False, False]
