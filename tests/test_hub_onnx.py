"""The ONNX backends from a Hub id: the tiny run exported and published for real to the local
Hub (tests/hub_server.py), then served and predicted from ``--model alice/tiny`` with only
that backend's onnx/ files downloaded, the answers the run's own ONNX export gives."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.errors import PipelineError
from pipeline.model.loading import ModelRef
from tests.hub_server import HubServer
from tests.test_export import NO_TF_SCRIPT

pytestmark = pytest.mark.slow

TOKEN = "hf_TestSecretToken0123456789abcdef"
REPO, NO_INT8, NO_TOKENIZER = "alice/tiny", "alice/tiny-no-int8", "alice/tiny-no-tokenizer"
SENTENCES = ["친구가 선물을 줬어. 고마워요", "팀장님이 약속을 어겼어. 화가 나요 정말 억울해요"]
AUTO = "TFAutoModelForSequenceClassification"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    """The local Hub with the client pointed at it (token, endpoint, an empty cache)."""
    from huggingface_hub import constants, file_download
    from huggingface_hub.utils import reset_sessions

    cache = tmp_path_factory.mktemp("hf-cache")
    with HubServer(tokens={TOKEN: "alice"}) as server, pytest.MonkeyPatch.context() as mp:
        for name, value in [("HF_ENDPOINT", server.url), ("HF_TOKEN", TOKEN)]:
            mp.setenv(name, value)
        mp.setenv("HF_HUB_CACHE", str(cache))
        mp.setenv("HF_HUB_OFFLINE", "0")
        mp.setattr(constants, "ENDPOINT", server.url)  # both read at import otherwise
        template = server.url + "/{repo_id}/resolve/{revision}/{filename}"
        mp.setattr(file_download, "HUGGINGFACE_CO_URL_TEMPLATE", template)
        mp.setattr(constants, "HF_HUB_CACHE", str(cache))
        mp.setattr(constants, "HF_HUB_OFFLINE", False)  # conftest sets it for the rest
        mp.setattr(constants, "HF_HUB_DISABLE_XET", True)
        reset_sessions()
        yield server
    reset_sessions()


@pytest.fixture(scope="module")
def published(trained_run: Path, hub: HubServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny project, its run exported and published as alice/tiny (and its onnx/
    folder without the int8 file as alice/tiny-no-int8); returns the config path."""
    from huggingface_hub import HfApi

    from pipeline.export.stage import main as export
    from pipeline.publish.stage import main as publish

    root = tmp_path_factory.mktemp("published") / "project"
    shutil.copytree(trained_run.parent.parent, root)
    config = root / "config.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace(str(trained_run.parent.parent), str(root)), encoding="utf-8")
    assert export(["--config", str(config)]) == 0
    assert publish(["--config", str(config), "--repo", REPO, "--force"]) == 0
    api = HfApi()
    api.create_repo(NO_INT8)
    api.upload_folder(
        repo_id=NO_INT8,
        folder_path=root / "models/tiny/onnx",
        path_in_repo="onnx",
        ignore_patterns=["model_quantized.onnx", "export.json"],
    )
    api.create_repo(NO_TOKENIZER)
    api.upload_folder(
        repo_id=NO_TOKENIZER,
        folder_path=root / "models/tiny/onnx",
        path_in_repo="onnx",
        ignore_patterns=["tokenizer*", "vocab.*", "special_tokens_map.json", "export.json"],
    )
    return config


def local_answers(config: Path) -> list[list[dict]]:
    """The run directory's own ONNX export's top 3 (what the Hub copy must answer)."""
    from pipeline.inference.loaded import batched_classifier, load_model, resolve

    cfg = load_config(config, ["serve.backend=onnx"])
    loaded = load_model(cfg, resolve(cfg, None), AUTO)
    return batched_classifier(loaded, 8).top_k(SENTENCES, 3)


def downloaded(hub: HubServer) -> set[str]:
    """The files the client has fetched (GET .../resolve/<rev>/<path>)."""
    return {p.split("/resolve/", 1)[1].split("/", 1)[1] for m, p in hub.requests
            if m == "GET" and "/resolve/" in p}  # fmt: skip


def test_serve_from_hub_id_answers_as_the_run(published: Path, hub: HubServer) -> None:
    """serve --model alice/tiny --backend onnx: the app answers as the run's export does,
    /info names the Hub source, and only onnx/model.onnx of the three graphs came down."""
    import httpx

    from pipeline.inference.loaded import resolve
    from pipeline.tasks import task_for
    from tests.live_server import live_server

    cfg = load_config(published, ["serve.backend=onnx"])
    ref = resolve(cfg, REPO)
    assert ref.hub_id == REPO and ref.run_dir is None
    with live_server(task_for(cfg).server(cfg, ref)) as url:
        body = {"inputs": SENTENCES, "parameters": {"top_k": 3}}
        answer = httpx.post(f"{url}/predict", json=body).json()
        info = httpx.get(f"{url}/info").json()
    assert info["source"] == f"hub:{REPO}" and info["serve"]["backend"] == "onnx"
    want = local_answers(published)
    assert [[a["label"] for a in row] for row in answer] == [
        [w["label"] for w in row] for row in want
    ]
    for got_row, want_row in zip(answer, want, strict=True):
        assert [a["score"] for a in got_row] == pytest.approx(
            [w["score"] for w in want_row], abs=1e-6
        )
    files = downloaded(hub)
    assert {"onnx/model.onnx", "onnx/tokenizer.json"} <= files
    # onnx/config.json is the run's config.json byte for byte (fetched too, to compare the
    # labels): the cache stores one blob for both, so one of the two is requested
    assert files & {"onnx/config.json", "config.json"}
    assert not {"onnx/model_quantized.onnx", "tf_model.h5"} & files


def test_predict_from_hub_id_prints_the_run_lines(
    published: Path, capsys: pytest.CaptureFixture
) -> None:
    """predict --model alice/tiny --backend onnx-int8 prints what the run's int8 export does."""
    from pipeline.serve.predict import main as predict

    lines = []
    for model in (REPO, str(published.parent / "models/tiny")):
        argv = ["--config", str(published), "--model", model, "--backend", "onnx-int8"]
        assert predict([*argv, *SENTENCES]) == 0
        lines.append(capsys.readouterr().out)
    assert lines[0] == lines[1] and "1. " in lines[0]


def test_missing_graph_or_repo_is_one_line(published: Path, capsys: pytest.CaptureFixture) -> None:
    """A repo without the int8 file says so (and that the gate may have refused it); an
    unknown repo is named as not found, not as an offline Hub."""
    from pipeline.model.onnx_classifier import load_exported
    from pipeline.serve.predict import main as predict

    argv = ["--config", str(published), "--model", NO_INT8, "--backend", "onnx-int8"]
    assert predict([*argv, SENTENCES[0]]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        f"error: Hub repo {NO_INT8} has no onnx/model_quantized.onnx (the export's int8 quality "
        "gate may have refused it: the repo's model card says so in its ONNX section); serve "
        "backend onnx instead"
    ]
    load_exported(ModelRef(name=NO_INT8, hub_id=NO_INT8), "onnx")  # the fp32 one is there
    with pytest.raises(PipelineError, match=f"Hub repo {NO_TOKENIZER} has no tokenizer files"):
        load_exported(ModelRef(name=NO_TOKENIZER, hub_id=NO_TOKENIZER), "onnx")
    with pytest.raises(PipelineError, match="--model: Hub repo alice/nothing not found at http"):
        load_exported(ModelRef(name="alice/nothing", hub_id="alice/nothing"), "onnx")


def test_offline_uses_the_cached_export(published: Path, hub: HubServer) -> None:
    """HF_HUB_OFFLINE: a backend whose files are cached loads without a request; one that
    is not cached is the offline message."""
    from huggingface_hub import constants

    from pipeline.model.onnx_classifier import load_exported

    ref = ModelRef(name=NO_INT8, hub_id=NO_INT8)
    load_exported(ref, "onnx")  # cached (here or by the test before)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(constants, "HF_HUB_OFFLINE", True)
        hub.fail_always = 500
        try:
            seen = len(hub.requests)
            model, _ = load_exported(ref, "onnx")
            assert len(hub.requests) == seen and model.path.name == "model.onnx"
            with pytest.raises(PipelineError, match="the Hub is offline or unreachable"):
                load_exported(ref, "onnx-int8")  # the repo has none: nothing cached
        finally:
            hub.fail_always = None


def test_hub_onnx_path_imports_no_tensorflow(
    published: Path, hub: HubServer, tmp_path: Path
) -> None:
    """In a fresh process with an empty cache: resolving the Hub id, downloading the export,
    loading and answering never import TensorFlow."""
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "0"}
    before = len(hub.requests)
    done = subprocess.run(
        [sys.executable, "-c", NO_TF_SCRIPT, str(published), REPO, "onnx"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    fetched = [p for m, p in hub.requests[before:] if m == "GET" and "/resolve/" in p]
    assert any(p.endswith("/onnx/model.onnx") for p in fetched), fetched
