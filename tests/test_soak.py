"""Soak: several clients send good and hostile requests at once to the tiny model's server.

Every good request must get 200 with the right shape, every bad one its 4xx with an error, none
a 5xx, a client sending its body too slowly 408 and a closed connection, and the server's memory
must stay bounded. ``benchmarks/soak.py`` runs the same ``soak()`` for ``make bench``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmarks.soak import rss_mb, soak
from pipeline.config import load_config
from tests.conftest import tiny_config_dict, write_config
from tests.live_server import live_server, run_service

pytestmark = pytest.mark.slow

SECONDS = 8.0  # bounded: about 20 s with the model warm-up and the last slow body
BODY_TIMEOUT_S = 1.0


def test_good_requests_all_succeed_among_hostile_ones(
    tmp_path: Path, tiny_bert: Path, untrained_run: Path
) -> None:
    serve = {"max_batch_size": 8, "max_wait_ms": 20, "body_timeout_s": BODY_TIMEOUT_S}
    cfg = load_config(
        write_config(tmp_path / "c.yaml", tiny_config_dict(tmp_path, tiny_bert, serve=serve))
    )
    with live_server(run_service(cfg, untrained_run)) as url:
        result = soak(
            url, SECONDS, clients=6, rss=lambda: rss_mb(os.getpid()), body_timeout_s=BODY_TIMEOUT_S
        )
    assert result["unexpected"] == []
    assert result["errors_5xx"] == 0
    assert result["good"] >= 20 and result["slow_bodies"] >= 2
    assert all(n >= 1 for n in result["bad_kinds"].values()), result["bad_kinds"]
    # in-process: the server, the model and the clients; a leak per request would show here
    assert result["rss_end_mb"] - result["rss_start_mb"] < 300, result
