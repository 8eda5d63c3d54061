"""Serving an exported run from a venv without TensorFlow (docs/onnx.md): the install route
requirements-serve.txt + ``pip install --no-deps .`` gives a server the Inference API client
reads, from the run directory and from the run's onnx/ published to the local Hub
(tests/hub_server.py). Heavy: it creates a venv and pip-installs into it from the package
index."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.hub_server import HubServer

REPO = Path(__file__).resolve().parent.parent
SENTENCE = "친구가 선물을 줬어. 고마워요"
TOKEN = "hf_TestSecretToken0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(python: Path, args: list[str], cwd: Path, env: dict | None = None) -> Iterator[str]:
    """``python -m pipeline.serve ARGS`` on a free port, once /health answers 200: its URL."""
    port = free_port()
    command = [str(python), "-m", "pipeline.serve", *args, "--port", str(port)]
    server = subprocess.Popen(command, cwd=cwd, stderr=subprocess.PIPE, text=True, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert server.poll() is None, server.stderr.read()
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(30)


def ask(url: str) -> list:
    """The Inference API client's top 3 for SENTENCE."""
    import requests
    from huggingface_hub import InferenceClient, configure_http_backend

    configure_http_backend(requests.Session)
    try:
        return InferenceClient(model=f"{url}/predict").text_classification(SENTENCE, top_k=3)
    finally:
        configure_http_backend()


def du_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


@pytest.mark.heavy
def test_served_without_tensorflow(
    trained_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from huggingface_hub import HfApi, constants
    from huggingface_hub.utils import reset_sessions

    from pipeline.config import load_config
    from pipeline.export.stage import run as export
    from pipeline.inference.loaded import batched_classifier, load_model, resolve

    # An exported copy of the tiny run, in a project folder outside the repository.
    root = tmp_path / "project"
    shutil.copytree(trained_run.parent.parent, root)
    config = root / "config.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace(str(trained_run.parent.parent), str(root)), encoding="utf-8")
    cfg = load_config(config)
    export(cfg)
    loaded = load_model(cfg, resolve(cfg, None), "TFAutoModelForSequenceClassification")
    want = batched_classifier(loaded, 8).top_k([SENTENCE], 3)[0]

    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(REPO / "requirements-serve.txt")], check=True)
    source = tmp_path / "source"  # pip builds in the folder it is given: not the repository
    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "pipeline", source / "pipeline", ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    subprocess.run([*pip, "--no-deps", str(source)], check=True)
    no_tf = subprocess.run([str(python), "-c", "import tensorflow"], capture_output=True)
    assert no_tf.returncode != 0 and b"No module named 'tensorflow'" in no_tf.stderr

    with serving(python, ["--config", str(config), "--backend", "onnx"], root) as url:
        answer = ask(url)
        info = httpx.get(f"{url}/info").json()
        font = httpx.get(f"{url}/fonts/NanumGothic.ttf")  # no koreanize-matplotlib here
        page = httpx.get(url)
    assert [a.label for a in answer] == [w["label"] for w in want]
    assert np.allclose([a.score for a in answer], [w["score"] for w in want], atol=1e-4)
    assert info["serve"]["backend"] == "onnx" and "tensorflow" not in info["versions"]
    assert font.status_code == 404 and "koreanize-matplotlib" in font.json()["error"]
    assert page.status_code == 200  # the page, in the browser's own fonts
    # the same export published to the local Hub, served from its id into an empty cache
    with HubServer(tokens={TOKEN: "alice"}) as hub, pytest.MonkeyPatch.context() as mp:
        mp.setattr(constants, "HF_HUB_OFFLINE", False)  # conftest sets it for the rest
        mp.setattr(constants, "ENDPOINT", hub.url)  # read at import otherwise
        reset_sessions()
        api = HfApi(token=TOKEN)
        api.create_repo("alice/tiny")
        keep = ["onnx/*", "labels.json", "calibration.json"]  # what publish pushes, less TF's
        api.upload_folder(repo_id="alice/tiny", folder_path=root / "models/tiny",
                          allow_patterns=keep, ignore_patterns=["onnx/export.json"])  # fmt: skip
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_TOKEN": TOKEN, "HF_HUB_OFFLINE": "0",
               "HF_HUB_CACHE": str(tmp_path / "hf-cache")}  # fmt: skip
        args = ["--config", str(config), "--model", "alice/tiny", "--backend", "onnx"]
        with serving(python, args, root, env) as url:
            from_hub = ask(url)
    reset_sessions()
    assert [a.label for a in from_hub] == [a.label for a in answer]
    assert np.allclose([a.score for a in from_hub], [a.score for a in answer], atol=1e-6)
    # the default backend (tf) names the way out in one line
    tf_predict = subprocess.run(
        [str(python), "-m", "pipeline.serve.predict", "--config", str(config), SENTENCE],
        cwd=root, capture_output=True, text=True,
    )  # fmt: skip
    assert tf_predict.returncode == 2, tf_predict.stderr
    assert "needs TensorFlow" in tf_predict.stderr and "Traceback" not in tf_predict.stderr
    with capsys.disabled():  # the installed sizes, for docs/onnx.md
        sizes = {
            "serve_venv_mb": round(du_mb(venv)),
            "full_venv_mb": round(du_mb(Path(sys.prefix))),
        }
        print(f"\nvenv sizes: {json.dumps(sizes)}")  # noqa: T201
