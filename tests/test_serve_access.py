"""The access log on a real uvicorn server: one line per request with its id (also the
X-Request-Id header), route, status, latency and input count; the text only with log_inputs."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import httpx
import pytest

from pipeline.config import load_config
from tests.conftest import tiny_config_dict, write_config
from tests.live_server import live_server, run_service

pytestmark = pytest.mark.slow  # the tiny model behind a real server

TEXTS = ["비밀 이야기예요", "아무도 몰라요"]


def serve(root: Path, tiny_bert: Path, run: Path, **values):
    cfg = tiny_config_dict(root, tiny_bert, serve=values)
    return run_service(load_config(write_config(root / "c.yaml", cfg)), run)


def access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "pipeline.serve.access"]


def test_one_line_per_request_with_its_id_and_no_text(
    tmp_path: Path, tiny_bert: Path, untrained_run: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with live_server(serve(tmp_path, tiny_bert, untrained_run)) as url:
        caplog.clear()
        given = httpx.post(
            f"{url}/predict", json={"inputs": TEXTS}, headers={"x-request-id": "lb-42"}
        )
        made = httpx.post(f"{url}/predict", json={"inputs": TEXTS[0]})
        hostile = httpx.get(f"{url}/info", headers={"x-request-id": "a b\tc" + "x" * 100})
        httpx.get(f"{url}/wp-admin/../etc/passwd")
    assert given.headers["x-request-id"] == "lb-42"  # a proxy's id follows the request
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    assert re.fullmatch(r"[0-9a-f]{32}", hostile.headers["x-request-id"])  # not echoed
    lines = access_lines(caplog)
    assert len(lines) == 4, lines
    assert re.fullmatch(
        r"request lb-42 POST /predict 200 \d+\.\d ms inputs=2 model=\S+", lines[0]
    ), lines[0]
    assert lines[1].startswith(f"request {made.headers['x-request-id']} POST /predict 200 ")
    assert "inputs=1" in lines[1]
    assert " GET /info 200 " in lines[2] and "x" * 20 not in lines[2]
    assert " GET unmatched 404 " in lines[3] and "passwd" not in lines[3]
    assert not any(t in caplog.text for t in TEXTS)  # the users' text is never logged
    assert not [r for r in caplog.records if r.name.startswith("uvicorn.access")]  # not doubled


def test_log_inputs_adds_the_text_and_access_log_false_is_silent(
    tmp_path: Path, tiny_bert: Path, untrained_run: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with live_server(serve(tmp_path / "a", tiny_bert, untrained_run, log_inputs=True)) as url:
        caplog.clear()
        httpx.post(f"{url}/predict", json={"inputs": TEXTS})
    assert f'text=["{TEXTS[0]}", "{TEXTS[1]}"]' in access_lines(caplog)[0]
    with live_server(serve(tmp_path / "b", tiny_bert, untrained_run, access_log=False)) as url:
        caplog.clear()
        response = httpx.post(f"{url}/predict", json={"inputs": TEXTS})
        metrics = httpx.get(f"{url}/metrics").text
    assert response.status_code == 200 and response.headers["x-request-id"]
    assert access_lines(caplog) == []
    assert 'pipeline_requests_total{model="untrained' in metrics  # counted all the same
