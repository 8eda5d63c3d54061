"""Several models on one port (each its own micro-batcher) and shadow traffic, on a real server."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from pipeline.config import load_config
from pipeline.errors import PipelineError
from pipeline.model.loading import ModelRef
from pipeline.serve.app import create_app
from pipeline.serve.models import parse_model_args, top_labels
from pipeline.serve.stage import main
from pipeline.tasks import task_for
from tests.conftest import tiny_config_dict, write_config
from tests.live_server import live_server
from tests.tiny import TINY_LABELS

pytestmark = pytest.mark.slow  # two tiny models behind a real server

TEXTS = ["친구가 선물을 줬어", "약속을 어겼어 화가 나요", "시험이 걱정돼요", "여행 가자 신나요"]


@pytest.fixture(scope="module")
def other_run(tmp_path_factory: pytest.TempPathFactory, tiny_bert: Path, untrained_run: Path):
    """The tiny BERT with another random head: a second model that answers differently."""
    import shutil

    import tensorflow as tf

    from pipeline.model.loading import load_base_classifier

    run_dir = tmp_path_factory.mktemp("other-run")
    for f in untrained_run.iterdir():
        shutil.copy(f, run_dir / f.name)
    tf.keras.utils.set_random_seed(123)
    id2label = {i: label for i, (label, _, _) in enumerate(TINY_LABELS)}
    load_base_classifier(tiny_bert, id2label).save_pretrained(str(run_dir))
    return run_dir


def config(root: Path, tiny_bert: Path, **serve):
    cfg = tiny_config_dict(root, tiny_bert, serve={"max_wait_ms": 1, **serve})
    return load_config(write_config(root / "c.yaml", cfg))


def test_two_models_each_at_its_route_with_a_shadow(
    tmp_path: Path, tiny_bert: Path, untrained_run: Path, other_run: Path
) -> None:
    cfg = config(tmp_path, tiny_bert, shadow="new", shadow_share=1.0)
    old = task_for(cfg).server(cfg, ModelRef(name="old", run_dir=untrained_run))
    new = task_for(cfg).server(cfg, ModelRef(name="new", run_dir=other_run))
    app = create_app(old, {"new": new})
    with live_server(old, app=app) as url:
        info = httpx.get(f"{url}/info").json()
        assert [(m["name"], m["default"]) for m in info["models"]] == [
            ("old", True),
            ("new", False),
        ]
        # the served name and the run it serves, each said apart
        assert info["model"] == "old" and info["source"] == f"run:{untrained_run.name}"
        assert [m["source"] for m in info["models"]] == [
            f"run:{untrained_run.name}",
            f"run:{other_run.name}",
        ]
        assert info["shadow"] == "new" and httpx.get(f"{url}/health").json()["models"] == {
            "old": "ok",
            "new": "ok",
        }
        answers = {}
        for route in ("/predict", "/models/old/predict", "/models/new/predict"):
            r = httpx.post(f"{url}{route}", json={"inputs": TEXTS, "parameters": {"top_k": 4}})
            assert r.status_code == 200, r.text
            answers[route] = r.json()
        assert answers["/predict"] == answers["/models/old/predict"]  # the shadow changes nothing
        assert answers["/models/new/predict"] != answers["/predict"]  # another model indeed
        agree = top_labels(answers["/predict"]) == top_labels(answers["/models/new/predict"])
        assert old.batcher is not new.batcher and new.batcher.stats.batches >= 2  # its own
        deadline = time.monotonic() + 10
        shadow = {}
        while time.monotonic() < deadline and sum(shadow.values()) < 1:
            for line in httpx.get(f"{url}/metrics").text.splitlines():
                if line.startswith("pipeline_shadow_total{"):
                    shadow[line.split('agree="')[1][:4]] = float(line.rsplit(" ", 1)[1])
            time.sleep(0.05)
        metrics = httpx.get(f"{url}/metrics").text
    # one request went to the default route: one comparison, agreeing as the answers do
    assert shadow == {"true" if agree else "fals": 1.0}, shadow  # "fals": the first 4 letters
    inputs = [line for line in metrics.splitlines() if line.startswith("pipeline_inputs_total")]
    assert any('model="new"' in line for line in inputs)  # counted as its own model


def test_model_arguments_are_checked_before_anything_starts(
    tmp_path: Path, tiny_bert: Path, untrained_run: Path, capsys: pytest.CaptureFixture
) -> None:
    assert parse_model_args(None) == [(None, None)]
    assert parse_model_args(["a=runs/x", "/p/with=sign"]) == [
        ("a", "runs/x"),
        (None, "/p/with=sign"),
    ]
    with pytest.raises(PipelineError, match="after '='"):
        parse_model_args(["a="])
    for bad in ("bad name", "-x", "é", ""):
        with pytest.raises(PipelineError, match=f"the name '{bad}' is not valid.*A-Z a-z 0-9"):
            parse_model_args([f"{bad}=RUN"])
    path = Path(config(tmp_path, tiny_bert).root) / "c.yaml"
    run = str(untrained_run)
    assert main(["--config", str(path), "--model", f"a={run}", "--model", f"a={run}"]) == 2
    assert "two models are named 'a'" in capsys.readouterr().err
    assert main(["--config", str(path), "--model", "bad name=RUN"]) == 2
    err = capsys.readouterr().err
    assert "the name 'bad name' is not valid" in err and "no run directory" not in err
    (tmp_path / "s").mkdir()
    shadowed = config(tmp_path / "s", tiny_bert, shadow="b")
    path = Path(shadowed.root) / "c.yaml"
    assert main(["--config", str(path), "--model", f"a={run}", "--model", f"c={run}"]) == 2
    assert "serve.shadow is 'b', but the models served are a, c" in capsys.readouterr().err


# a server process of its own: about 15 s (the module is marked slow)
def test_the_command_serves_two_models_from_a_fresh_process(
    tmp_path: Path, tiny_bert: Path, untrained_run: Path, other_run: Path
) -> None:
    """``--model a=... --model b=...`` in a new process: both load (transformers' lazy imports
    once failed when two models loaded at the same time) and both answer."""
    import os
    import subprocess
    import sys

    from benchmarks.serve import free_port

    path = Path(config(tmp_path, tiny_bert).root) / "c.yaml"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "pipeline.serve", "--config", str(path), "--port", str(port)]
    cmd += ["--model", f"a={untrained_run}", "--model", f"b={other_run}"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        health = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                health = httpx.get(f"{url}/health").json()
                if health["status"] != "loading":
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        assert health and health["status"] == "ok", health
        for name in ("a", "b"):
            r = httpx.post(f"{url}/models/{name}/predict", json={"inputs": TEXTS[0]})
            assert r.status_code == 200 and len(r.json()[0]) == 4
    finally:
        proc.terminate()
        log = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode == 0, log
