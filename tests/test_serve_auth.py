"""API keys on a real uvicorn server: no key, a wrong key, a right key; never a key in a log."""

from __future__ import annotations

import io
import logging
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import requests
from huggingface_hub import InferenceClient, configure_http_backend

from pipeline.config import load_config
from pipeline.errors import PipelineError
from pipeline.serve.app import create_app
from pipeline.serve.auth import ENV, hash_key, load_keys
from pipeline.serve.keys import main as keys_main
from pipeline.serve.keys import new_key
from tests.conftest import tiny_config_dict, write_config
from tests.live_server import live_server, run_service

pytestmark = pytest.mark.slow  # the tiny model behind a real server

KEY = new_key()
OTHER = new_key()  # a key the server does not know


def serve_with_keys(root: Path, tiny_bert: Path, run: Path, lines: str, **serve):
    (root / "keys.txt").write_text(lines, encoding="utf-8")
    serve = {"api_keys_file": "keys.txt", **serve}
    cfg = tiny_config_dict(root, tiny_bert, serve=serve)
    return run_service(load_config(write_config(root / "c.yaml", cfg)), run)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_bert: Path, untrained_run: Path):
    root = tmp_path_factory.mktemp("auth")
    lines = f"# the team's keys\n{hash_key(KEY)} alice\n{hash_key(new_key())} bob\n"
    with live_server(serve_with_keys(root, tiny_bert, untrained_run, lines)) as url:
        yield url


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def test_without_a_key_guarded_routes_answer_401(server: str) -> None:
    for method, path in [("POST", "/predict"), ("GET", "/info")]:
        response = httpx.request(method, f"{server}{path}", json={"inputs": "기뻐요"})
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "API key" in response.json()["error"]
        assert response.headers["x-content-type-options"] == "nosniff"


def test_a_wrong_key_is_401_and_not_echoed(server: str) -> None:
    for headers in (bearer(OTHER), {"authorization": f"Basic {KEY}"}, bearer(KEY[:-1])):
        response = httpx.post(f"{server}/predict", json={"inputs": "기뻐요"}, headers=headers)
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
        assert OTHER not in response.text and KEY not in response.text


def test_the_right_key_is_answered_and_the_client_library_sends_it(server: str) -> None:
    response = httpx.post(f"{server}/predict", json={"inputs": "기뻐요"}, headers=bearer(KEY))
    assert response.status_code == 200 and len(response.json()[0]) == 4
    assert httpx.get(f"{server}/info", headers=bearer(KEY)).json()["task"]
    client = InferenceClient(model=f"{server}/predict", token=KEY)
    configure_http_backend(requests.Session)  # HF_HUB_OFFLINE refuses even loopback otherwise
    try:
        assert len(client.text_classification("화가 나요", top_k=2)) == 2
    finally:
        configure_http_backend()


def test_health_the_page_and_public_metrics_need_no_key(server: str) -> None:
    for path in ("/health", "/", "/static/key.js", "/metrics", "/docs"):
        assert httpx.get(f"{server}{path}").status_code == 200, path
    page = httpx.get(f"{server}/").text
    assert "/static/key.js" in page
    script = httpx.get(f"{server}/static/key.js").text
    assert "sessionStorage" in script and "localStorage.setItem" not in script


def test_a_401_is_logged_and_counted_at_its_route(
    server: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The key check answers before routing: the route is still found from the path."""
    caplog.set_level(logging.INFO)
    for method, path in [("POST", "/predict"), ("GET", "/info"), ("GET", "/nowhere")]:
        assert httpx.request(method, f"{server}{path}", json={"inputs": "기"}).status_code == 401

    def lines_401() -> list[str]:  # not an earlier test's late line
        access = [r.getMessage() for r in caplog.records if r.name == "pipeline.serve.access"]
        return [line for line in access if " 401 " in line]

    deadline = time.monotonic() + 10  # a line is written once its answer has gone out
    while len(lines_401()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = lines_401()
    assert [line.split()[2:5] for line in lines] == [
        ["POST", "/predict", "401"],
        ["GET", "/info", "401"],
        ["GET", "unmatched", "401"],  # an unknown path is still one label
    ], lines
    metrics = httpx.get(f"{server}/metrics").text
    assert any(
        line.startswith("pipeline_requests_total{") and 'route="/info"' in line
        and 'status="401"' in line for line in metrics.splitlines()
    )  # fmt: skip


def test_no_key_ever_reaches_a_log_line(server: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for key in (KEY, OTHER):
        for path in ("/predict", "/info", "/nowhere"):
            httpx.post(f"{server}{path}", json={"inputs": "기뻐요"}, headers=bearer(key))
    assert caplog.records, "the access log said nothing"
    assert KEY not in caplog.text and OTHER not in caplog.text
    assert hash_key(KEY) not in caplog.text
    assert "POST /predict 200" in caplog.text and "key=alice" in caplog.text


def test_metrics_can_need_a_key(tmp_path: Path, tiny_bert: Path, untrained_run: Path) -> None:
    service = serve_with_keys(
        tmp_path, tiny_bert, untrained_run, hash_key(KEY) + "\n", metrics_public=False
    )
    with live_server(service) as url:
        assert httpx.get(f"{url}/metrics").status_code == 401
        assert httpx.get(f"{url}/metrics", headers=bearer(KEY)).status_code == 200


def test_keys_from_the_environment(
    tmp_path: Path, tiny_bert: Path, untrained_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, f"{hash_key(OTHER)}, {hash_key(KEY)}")
    cfg = load_config(write_config(tmp_path / "c.yaml", tiny_config_dict(tmp_path, tiny_bert)))
    with live_server(run_service(cfg, untrained_run)) as url:
        assert httpx.get(f"{url}/info").status_code == 401
        assert httpx.get(f"{url}/info", headers=bearer(OTHER)).status_code == 200


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (None, "serve.api_keys_file: cannot read"),
        ("# nothing yet\n", "holds no key hash"),
        (f"{hash_key(KEY)} alice\nnot-a-hash\n", "line 2: expected a sha256 hex hash"),
    ],
)
def test_a_bad_keys_file_is_one_message(
    tmp_path: Path, tiny_bert: Path, untrained_run: Path, lines: str | None, message: str
) -> None:
    if lines is not None:
        (tmp_path / "keys.txt").write_text(lines, encoding="utf-8")
    serve = {"api_keys_file": "keys.txt"}
    cfg = load_config(
        write_config(tmp_path / "c.yaml", tiny_config_dict(tmp_path, tiny_bert, serve=serve))
    )
    with pytest.raises(PipelineError, match=message) as caught:
        create_app(run_service(cfg, untrained_run))
    assert "not-a-hash" not in str(caught.value)  # a pasted key is not quoted back


def test_the_keys_command_prints_the_hash_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(KEY + "\n"))
    assert keys_main(["hash", "--name", "alice"]) == 0
    assert capsys.readouterr().out == f"{hash_key(KEY)} alice\n"
    assert keys_main(["new"]) == 0
    assert len(capsys.readouterr().out.strip()) >= 40


@pytest.mark.heavy  # a 5 s soak on a server of its own
def test_the_soak_passes_with_a_key_and_metrics(
    tmp_path: Path, tiny_bert: Path, untrained_run: Path
) -> None:
    """Every client of the soak sends the key: the hostile requests still get their own 4xx
    (not a 401), the slow body its 408, and nothing fails (benchmarks/soak.py --secure)."""
    import os

    from benchmarks.soak import rss_mb, soak

    quick = {"body_timeout_s": 1.0, "keep_alive_s": 2.0, "max_wait_ms": 20}
    service = serve_with_keys(tmp_path, tiny_bert, untrained_run, hash_key(KEY) + "\n", **quick)
    with live_server(service) as url:
        result = soak(url, 5.0, 4, lambda: rss_mb(os.getpid()), 1.0, key=KEY)
        metrics = httpx.get(f"{url}/metrics").text
    assert result["unexpected"] == [] and result["errors_5xx"] == 0, result
    assert "401" not in result["by_status"] and result["good"] >= 5
    assert 'status="200"' in metrics


def keys_config(root: Path, keys_file: str | None = None) -> Any:
    """What load_keys reads of a config: the keys file and the root."""
    return SimpleNamespace(root=str(root), serve=SimpleNamespace(api_keys_file=keys_file))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (" , ", "is set but holds no key hash"),
        ("", "is set but holds no key hash"),
        (f"#{hash_key(KEY)}", "entry 1: expected a sha256 hex hash"),
        (f"{hash_key(KEY)} alice", "entry 2: expected a sha256 hex hash"),
    ],
)
def test_a_set_variable_without_a_valid_hash_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    """The server never runs open because the variable held nothing usable."""
    monkeypatch.setenv(ENV, value)
    with pytest.raises(PipelineError, match=message) as caught:
        load_keys(keys_config(tmp_path))
    assert ENV in str(caught.value) and "alice" not in str(caught.value)
    assert hash_key(KEY) not in str(caught.value)  # the entry is named, never quoted


def test_variable_hashes_are_separated_by_commas_or_whitespace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    many = [hash_key(k) for k in (KEY, OTHER, "third", "fourth")]
    monkeypatch.setenv(ENV, f" {many[0]} {many[1]}\n{many[2].upper()},\t{many[3]}, ")
    keys = load_keys(keys_config(tmp_path))
    assert keys is not None and [n for _, n in keys.hashes] == ["env1", "env2", "env3", "env4"]
    assert keys.match(KEY) == "env1" and keys.match(OTHER) == "env2"
    assert keys.match("third") == "env3" and keys.match("fourth") == "env4"
    monkeypatch.delenv(ENV)
    assert load_keys(keys_config(tmp_path)) is None  # neither set: no keys


def test_a_keys_file_with_a_byte_order_mark_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Notepad starts a UTF-8 file with a byte-order mark; a tab may separate the name."""
    monkeypatch.delenv(ENV, raising=False)
    text = f"\ufeff{hash_key(KEY)} alice\n{hash_key(OTHER)}\tbob\n"
    (tmp_path / "keys.txt").write_text(text, encoding="utf-8")
    keys = load_keys(keys_config(tmp_path, "keys.txt"))
    assert keys is not None and keys.match(KEY) == "alice" and keys.match(OTHER) == "bob"
