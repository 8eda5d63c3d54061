"""Calibrated scores and the "uncertain" answer where people see scores: the real server (both
serve paths), the Inference API client, the page, and predict's lines and columns.

On a copy of the tiny run trained by the real train stage, with the calibration.json it
fitted; the min_score is chosen between the inputs' best scores, so some answers are unsure.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from pipeline import calibration as cal
from pipeline.config import Config, load_config
from pipeline.io import read_json
from pipeline.model.batched_classifier import BatchedClassifier
from pipeline.model.loading import ModelRef, load_trained
from pipeline.serve.predict import main as predict
from tests.conftest import tiny_config_dict, write_config
from tests.live_server import live_server, run_service
from tests.tiny import TINY_LABELS

pytestmark = pytest.mark.slow  # the tiny model behind a real server, and predict's CLI

LABELS = [label for label, _, _ in TINY_LABELS]
SENTENCES = [
    "친구가 선물을 줬어. 고마워요",
    "오늘 약속을 어겼어. 화가 나요 정말 열받아요",
    "시험 결과를 알려줬어. 걱정돼요",
    "여행을 가자고 했어. 신나요",
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, trained_run: Path) -> Path:
    """A copy of the trained tiny run (the shared fixture must not change)."""
    run = tmp_path_factory.mktemp("calibrated") / "models" / "tiny"
    shutil.copytree(trained_run, run)
    return run


@pytest.fixture(scope="module")
def temperature(run_dir: Path) -> float:
    t = read_json(run_dir / "calibration.json")["temperature"]
    assert abs(t - 1) > 0.05, t  # calibrated and raw scores differ
    return t


@pytest.fixture(scope="module")
def logits(run_dir: Path) -> np.ndarray:
    """The raw logits of SENTENCES (no temperature)."""
    model, tokenizer = load_trained(ModelRef(name="ref", run_dir=run_dir))
    return BatchedClassifier(model, tokenizer, 32, 8).predict_logits(SENTENCES)


@pytest.fixture(scope="module")
def min_score(logits: np.ndarray, temperature: float) -> float:
    """A min_score between the inputs' calibrated best scores: some below it, some above."""
    tops = np.sort(cal.scaled_probs(logits, temperature).max(axis=1))
    assert tops[0] < tops[-1] - 0.02, tops
    return round(float((tops[len(tops) // 2 - 1] + tops[len(tops) // 2]) / 2), 4)


def config(root: Path, tiny_bert: Path, **serve) -> Config:
    cfg = tiny_config_dict(root, tiny_bert, serve={"max_batch_size": 8, **serve})
    return load_config(write_config(root / "config.yaml", cfg))


def scores_by_label(answer: list[dict]) -> np.ndarray:
    got = {a["label"]: a["score"] for a in answer}
    return np.array([got[label] for label in LABELS])


@pytest.mark.parametrize("batching", [True, False])
def test_served_scores_are_calibrated_and_unsure_answers_flagged(
    run_dir: Path, tiny_bert: Path, tmp_path: Path, logits, temperature, min_score, batching
) -> None:
    import requests
    from huggingface_hub import InferenceClient, configure_http_backend

    cfg = config(tmp_path, tiny_bert, batching=batching, min_score=min_score)
    with live_server(run_service(cfg, run_dir)) as url:
        body = {"inputs": SENTENCES, "parameters": {"top_k": 4}}
        answer = httpx.post(f"{url}/predict", json=body, timeout=30).json()
        info = httpx.get(f"{url}/info").json()
        configure_http_backend(requests.Session)
        try:
            client = InferenceClient(model=f"{url}/predict")
            parsed = [client.text_classification(s, top_k=2) for s in SENTENCES]
        finally:
            configure_http_backend()

    want = cal.scaled_probs(logits, temperature)
    tol = 1e-5 if batching else 1e-4  # the pipeline path rescales its softmax
    for got, row in zip(answer, want, strict=True):
        assert np.allclose(scores_by_label(got), row, atol=tol)
    unsure = want.max(axis=1) < min_score
    assert 0 < unsure.sum() < len(SENTENCES)
    for got, flag in zip(answer, unsure, strict=True):
        assert got[0].get("uncertain") is (True if flag else None)
        assert all("uncertain" not in a for a in got[1:])  # only the best answer carries it
    assert (
        info["calibration"]["temperature"] == temperature
        and info["calibration"]["method"] == "temperature"
    )
    assert info["serve"]["min_score"] == min_score and info["serve"]["calibration"] is True

    # the client library still reads the answer, the flag kept as an attribute
    for result, got, flag in zip(parsed, answer, unsure, strict=True):
        assert [r.label for r in result] == [a["label"] for a in got[:2]]
        assert getattr(result[0], "uncertain", None) is (True if flag else None)


def test_no_calibration_serves_the_raw_softmax(
    run_dir: Path, tiny_bert: Path, tmp_path: Path, logits
) -> None:
    cfg = config(tmp_path, tiny_bert, calibration=False)
    with live_server(run_service(cfg, run_dir)) as url:
        answer = httpx.post(f"{url}/predict", json={"inputs": SENTENCES}, timeout=30).json()
        info = httpx.get(f"{url}/info").json()
    raw = cal.scaled_probs(logits)
    for got, row in zip(answer, raw, strict=True):
        assert np.allclose(scores_by_label(got), row, atol=1e-5)
        assert "uncertain" not in got[0]  # serve.min_score 0: never
    assert info["calibration"] == "none" and info["serve"]["calibration"] is False


def test_the_pages_show_the_unsure_note() -> None:
    static = Path(__file__).resolve().parent.parent / "pipeline/serve/static"
    for page in ("index.html", "pair.html"):
        html = (static / page).read_text(encoding="utf-8")
        assert 'id="uncertain"' in html and html.index('id="uncertain"') < html.index('id="bars"')
    script = (static / "app.js").read_text(encoding="utf-8")
    assert "answer[0].uncertain" in script and "info.serve.min_score" in script


# --- predict ----------------------------------------------------------------------------------


@pytest.fixture()
def predict_config(tmp_path: Path, tiny_bert: Path) -> str:
    return str(write_config(tmp_path / "config.yaml", tiny_config_dict(tmp_path, tiny_bert)))


def test_predict_prints_calibrated_scores_and_says_unsure(
    predict_config: str, run_dir: Path, logits, temperature, min_score, capsys
) -> None:
    argv = ["--config", predict_config, "--model", str(run_dir), "--top-k", "1", *SENTENCES]
    assert predict([*argv, "--min-score", str(min_score)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert predict([*argv, "--no-calibration"]) == 0
    raw_lines = capsys.readouterr().out.splitlines()
    want = cal.scaled_probs(logits, temperature)
    for i, row in enumerate(want):
        head, best = lines[2 * i], lines[2 * i + 1]
        assert head.startswith(SENTENCES[i])
        assert ("unsure: best score below" in head) is bool(row.max() < min_score), head
        assert best.endswith(f"{row.max():.3f}")
        assert raw_lines[2 * i + 1].endswith(f"{cal.scaled_probs(logits)[i].max():.3f}")
        assert "unsure" not in raw_lines[2 * i]


def test_predict_table_has_the_unsure_column(
    predict_config: str, run_dir: Path, tmp_path: Path, logits, temperature, min_score
) -> None:
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    pd.DataFrame({"문장": [SENTENCES[0], None, *SENTENCES[1:]]}).to_csv(src, index=False)
    argv = ["--config", predict_config, "--model", str(run_dir), "--input", str(src)]
    argv += ["--column", "문장", "--output", str(dst), "--min-score", str(min_score)]
    assert predict(argv) == 0
    out = pd.read_csv(dst)
    assert out.columns.tolist() == [
        "문장", "predicted_label", "predicted_score", "predicted_group", "predicted_unsure", "top3",
    ]  # fmt: skip
    labelled = out.dropna(subset=["predicted_label"])
    want = cal.scaled_probs(logits, temperature).max(axis=1)
    assert np.allclose(labelled["predicted_score"], want.round(4), atol=1e-4)
    assert labelled["predicted_unsure"].tolist() == (want < min_score).tolist()
    assert pd.isna(out["predicted_unsure"][1])  # the empty row gets none


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--min-score", "1.5"], "--min-score must be in [0, 1], got 1.5"),
        (["--set", "serve.min_score=-0.1"], "serve.min_score must be in [0, 1]"),
    ],
)
def test_a_min_score_outside_0_1_is_refused(
    predict_config: str, run_dir: Path, capsys, extra: list[str], match: str
) -> None:
    argv = ["--config", predict_config, "--model", str(run_dir), *extra, "좋아요"]
    assert predict(argv) == 2
    assert match in capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"temperature": True}, r"temperature must be a number in \[0.05, 20\] .*, got True"),
        ({"temperature": float("nan")}, r"temperature must be a number in \[0.05, 20\] .*got nan"),
        ({"temperature": 1e-50}, r"temperature must be a number in \[0.05, 20\] .*, got 1e-50"),
        ({"temperature": 1.2, "kind": "tanh"}, "kind must be softmax or sigmoid, got 'tanh'"),
    ],
)
def test_the_calibration_record_refuses_odd_values(tmp_path: Path, data: dict, match: str) -> None:
    from pipeline.errors import PipelineError
    from pipeline.inference.loaded import read_calibration

    path = tmp_path / "calibration.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(PipelineError, match=f"^{path}: {match}"):
        read_calibration(path)


def test_a_bad_calibration_file_stops_predict_and_serve_naming_it(
    predict_config: str, run_dir: Path, tmp_path: Path, tiny_bert: Path, capsys
) -> None:
    broken = tmp_path / "models" / "broken"
    shutil.copytree(run_dir, broken)
    (broken / "calibration.json").write_text('{"temperature": "hot"}', encoding="utf-8")
    assert predict(["--config", predict_config, "--model", str(broken), "좋아요"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == (
        f"error: {broken / 'calibration.json'}: temperature must be a number in [0.05, 20] "
        "(the range train fits it in), got 'hot'"
    )
    (tmp_path / "serve").mkdir()
    service = run_service(config(tmp_path / "serve", tiny_bert), broken)
    service.load()
    assert not service.ready.is_set() and f"{broken / 'calibration.json'}: temperature" in (
        service.error or ""
    )


def test_a_hub_models_calibration_is_read_beside_it(
    tmp_path: Path, tiny_bert: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A published repo's calibration.json, fetched as labels.json is (here from the cache, the
    tests being offline); a repo without one is served raw."""
    from huggingface_hub import constants

    from pipeline.inference.loaded import model_calibration

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--alice--tiny-emotion"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit, encoding="utf-8")
    (repo / "snapshots" / commit).mkdir(parents=True)
    saved = {"method": "temperature", "temperature": 1.7, "n": 12}
    (repo / "snapshots" / commit / "calibration.json").write_text(json.dumps(saved))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    cfg = config(tmp_path, tiny_bert)
    hub = ModelRef(name="alice/tiny-emotion", hub_id="alice/tiny-emotion")
    assert model_calibration(cfg, hub, "softmax").temperature == 1.7
    other = ModelRef(name="bob/raw", hub_id="bob/raw")
    assert model_calibration(cfg, other, "softmax") is None
    off = config(tmp_path, tiny_bert, calibration=False)
    assert model_calibration(off, hub, "softmax") is None
