"""The text-generation task, fast parts: config, sequences, tokenizer, settings, the API, CLI.

The API tests run a real server on an untrained tiny GPT-2 (built by code, no training);
training, evaluation and publishing are in tests/test_gen_pipeline.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import numpy as np
import pytest

from pipeline.config import load_config
from pipeline.config.generation import GenerateConfig
from pipeline.errors import PipelineError
from pipeline.model.loading import ModelRef
from pipeline.tasks import get_task, task_for
from pipeline.tasks.generation import data, metrics, sampling, tiny
from tests.conftest import tiny_config_dict, write_config
from tests.live_server import live_server
from tests.tiny import tiny_corpus

CAP = 32

BASE = {**sampling.defaults(GenerateConfig()), "max_new_tokens": 8}  # the config's, shorter


def gen_texts() -> list[str]:
    df = tiny_corpus()
    return data.with_prefix(df["text"].tolist(), df["label"].tolist(), "[{label}] ")


@pytest.fixture(scope="module")
def tiny_gpt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny GPT-2 checkpoint (loadable as a run directory)."""
    return tiny.build_tiny_gpt2(gen_texts(), tmp_path_factory.mktemp("tiny-gpt2"))


def gen_config(root: Path, **generate):
    cfg = tiny_config_dict(root, Path("unused"), generate={"max_new_tokens_cap": CAP, **generate})
    cfg["task"], cfg["model"]["name_or_path"] = "text-generation", tiny.SCHEME
    cfg["ingest"]["group_column"] = None
    return load_config(write_config(root / "gen.yaml", cfg))


@pytest.fixture(scope="module")
def server(tiny_gpt2: Path, tmp_path_factory: pytest.TempPathFactory):
    from pipeline.serve.app import create_app
    from pipeline.tasks.generation.serve import GenerationServer

    cfg = gen_config(tmp_path_factory.mktemp("gen-root"), queue_size=1)
    service = GenerationServer(cfg, ModelRef(name="tiny", run_dir=tiny_gpt2))
    with live_server(service, app=create_app(service)) as url:
        yield url, service


# --- config, sequences, tokenizer ---------------------------------------------------------------


def test_the_task_is_registered_and_its_config_section_checks_values(tmp_path: Path) -> None:
    assert get_task("text-generation").auto_model == "TFAutoModelForCausalLM"
    assert gen_config(tmp_path).generate.prefix == "[{label}] "
    with pytest.raises(PipelineError, match=r"generate.prefix must contain \{label\}"):
        gen_config(tmp_path, prefix="[emotion] ")
    with pytest.raises(PipelineError, match="max_new_tokens 99 exceeds"):
        gen_config(tmp_path, max_new_tokens=99)
    for bad, message in [  # were found only by the server's warm-up or evaluate's samples
        ({"top_p": 5}, r"generate.top_p must be a number in \(0, 1\], got 5"),
        ({"temperature": 0}, r"generate.temperature must be a number in \(0, 10\]"),
        ({"seeds": [0, -1]}, r"generate.seeds: each must be an integer in \[0, .*got -1"),
    ]:
        with pytest.raises(PipelineError, match=message):
            task_for(gen_config(tmp_path, **bad))


def test_sequences_get_the_prefix_and_eos_and_padding_is_left_out_of_the_loss(tiny_gpt2) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_gpt2))
    assert data.with_prefix(["좋아요"], ["기쁨"], "[{label}] ") == ["[기쁨] 좋아요"]
    assert data.with_prefix(["좋아요"], ["기쁨"], None) == ["좋아요"]
    ids = data.encode(tok, ["[기쁨] 좋아요", "[분노] 화가 나요 정말 많이"], None)
    assert all(x[-1] == tok.eos_token_id for x in ids)
    assert [len(x) for x in data.encode(tok, ["[분노] 화가 나요 정말 많이"], 3)] == [3]
    batch = next(data.lm_batches(ids, 2, 64, tok.pad_token_id, None))
    pads = batch["attention_mask"] == 0
    assert pads.any() and (batch["labels"][pads] == data.IGNORE).all()
    assert (batch["labels"][~pads] == batch["input_ids"][~pads]).all()


def test_the_tiny_tokenizer_is_reproducible_and_keeps_hangul_whole(tmp_path: Path) -> None:
    a = tiny.build_tiny_gpt2(gen_texts(), tmp_path / "a")
    b = tiny.build_tiny_gpt2(gen_texts(), tmp_path / "b")
    assert (a / "tokenizer.json").read_bytes() == (b / "tokenizer.json").read_bytes()
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(a))
    assert tok.bos_token == tok.eos_token == "</s>" and tok.pad_token == "<pad>"
    text = gen_texts()[0]
    assert tok.decode(tok(text)["input_ids"]) == text


def test_generation_metrics_and_the_bigram_baseline() -> None:
    assert metrics.distinct_n(["a b c", "a b d"], 1) == pytest.approx(4 / 6)
    assert metrics.distinct_n(["a b c", "a b d"], 2) == pytest.approx(3 / 4)
    assert metrics.repetition_rate(["a b a b a b", "x y z"]) == pytest.approx((1 - 2 / 5) / 2)
    seqs = [[1, 2, 3, 4]] * 20
    lm = metrics.fit_baseline(seqs, seqs, vocab_size=10)
    assert lm.perplexity(seqs) < 1.5 < metrics.BigramLM(10, 0.0).fit(seqs).perplexity(seqs)


def test_a_missing_classifier_run_is_named_by_its_flag(tmp_path: Path) -> None:
    from pipeline.paths import Paths
    from pipeline.tasks.generation.evaluate import _load_classifier

    with pytest.raises(PipelineError, match=r"^--classifier nope: no run directory"):
        _load_classifier(Paths(tmp_path), "nope")


# --- settings and prompts -----------------------------------------------------------------------

BAD = [
    ({"temperature": 0}, "temperature must be a number in (0, 10]"),
    ({"temperature": -1.0}, "temperature"),
    ({"temperature": -5.0, "do_sample": False}, "temperature must be a number in (0, 10]"),
    ({"top_p": 0}, "top_p must be a number in (0, 1]"),
    ({"top_p": 1.5}, "top_p must be a number in (0, 1]"),
    ({"max_new_tokens": CAP + 1}, f"max_new_tokens must be an integer in [1, {CAP}]"),
    ({"max_new_tokens": 0}, "max_new_tokens"),
    ({"top_k": -1}, "top_k must be an integer in [0, 1000]"),
    ({"repetition_penalty": 0.5}, "repetition_penalty must be a number in [1, 10]"),
    ({"no_repeat_ngram_size": 2.5}, "no_repeat_ngram_size must be an integer"),
    ({"do_sample": "yes"}, "do_sample must be true or false"),
    ({"seed": -3}, "seed must be an integer in"),
    ({"beams": 4}, "unknown parameter(s) beams"),
    ({"details": "yes"}, "details must be true or false"),
    ({"stream": True}, "stream must be false"),  # the command streams nothing; the server does
]


@pytest.mark.parametrize(("params", "message"), BAD)
def test_bad_settings_name_the_parameter_and_its_range(params: dict, message: str) -> None:
    with pytest.raises(PipelineError, match=re.escape(message)):
        sampling.settings_from(params, BASE, CAP)


def test_settings_merge_over_the_defaults_and_greedy_ignores_temperature() -> None:
    s = sampling.settings_from({"top_k": 5, "seed": 3}, {**BASE, "top_p": 0.9}, CAP)
    assert (s.top_k, s.top_p, s.seed, s.max_new_tokens) == (5, 0.9, 3, 8)
    assert not sampling.settings_from({"do_sample": False, "temperature": 0}, BASE, CAP).do_sample
    whole = sampling.settings_from({"temperature": 2, "repetition_penalty": 2}, BASE, CAP)
    assert isinstance(whole.temperature, float) and isinstance(whole.repetition_penalty, float)


def test_prompts_must_be_text_and_fit_the_context(tiny_gpt2: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_gpt2))
    assert sampling.check_prompt(tok, "[기쁨] 오늘", 8, 128) > 0
    for blank in ("   ", "\u200b", "\ufeff\u200d\n", "\x00"):
        with pytest.raises(PipelineError, match="prompt is empty"):
            sampling.check_prompt(tok, blank, 8, 128)
    with pytest.raises(PipelineError, match="exceeds the model's context of 128 tokens"):
        sampling.check_prompt(tok, "가나다라 " * 200, 8, 128)
    with pytest.raises(PipelineError, match="inputs must be the prompt text"):
        sampling.check_prompt(tok, ["a"], 8, 128)


# --- the API, on a real server ---------------------------------------------------------------


def test_inference_client_text_generation_works_and_a_seed_repeats(server) -> None:
    import requests
    from huggingface_hub import InferenceClient, configure_http_backend

    url, _ = server
    client = InferenceClient(model=f"{url}/generate")
    kwargs = {"max_new_tokens": 6, "seed": 7, "temperature": 0.8, "top_p": 0.9}
    configure_http_backend(requests.Session)  # HF_HUB_OFFLINE refuses even loopback otherwise
    try:
        first = client.text_generation("[기쁨] 오늘", **kwargs)
        again = client.text_generation("[기쁨] 오늘", **kwargs)
    finally:
        configure_http_backend()
    assert first.startswith("[기쁨] 오늘") and first == again
    r = httpx.post(
        f"{url}/predict",
        json={
            "inputs": "오늘",
            "parameters": {"do_sample": False, "max_new_tokens": 3, "return_full_text": False},
        },
    )
    body = r.json()
    assert isinstance(body, list) and set(body[0]) == {"generated_text"}
    assert "x-seed" not in r.headers  # greedy: no seed to report (was "None")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"inputs": ""}, "prompt is empty"),
        ({"inputs": "가나다라 " * 200}, "exceeds the model's context"),
        (
            {"inputs": "오늘", "parameters": {"temperature": 0}},
            "temperature must be a number in (0, 10]",
        ),
        ({"inputs": "오늘", "parameters": {"top_p": 1.01}}, "top_p must be a number in (0, 1]"),
        ({"inputs": "오늘", "parameters": {"max_new_tokens": 999}}, f"[1, {CAP}]"),
        ({"inputs": "오늘", "parameters": {"bad": 1}}, "unknown parameter(s) bad"),
        ({"inputs": "오늘", "extra": 1}, "unknown field(s) extra"),
        ({"prompt": "오늘"}, '{"inputs": "prompt"'),
        ({"inputs": "오늘", "stream": "yes"}, "stream must be true or false"),
        ({"inputs": "\u200b\ufeff "}, "prompt is empty"),
        ({"inputs": "오늘", "parameters": []}, '"parameters" must be an object'),
        ({"inputs": "오늘", "parameters": 0}, '"parameters" must be an object'),
        ({"inputs": "오늘", "parameters": ""}, '"parameters" must be an object'),
    ],
)
def test_bad_requests_get_422_naming_the_parameter(server, body: dict, message: str) -> None:
    url, _ = server
    r = httpx.post(f"{url}/generate", json=body)
    assert r.status_code == 422 and message in r.json()["error"]


@pytest.mark.parametrize(
    "params",
    [
        {"temperature": 2},  # an int: transformers' TF processors refused it (500)
        {"repetition_penalty": 2},
        {"temperature": 5e-324},  # logits / temperature overflowed: a token id past the vocab
    ],
)
def test_edge_values_in_range_generate(server, params: dict) -> None:
    url, _ = server
    body = {"inputs": "오늘", "parameters": {"max_new_tokens": 2, "seed": 0, **params}}
    r = httpx.post(f"{url}/generate", json=body)
    assert r.status_code == 200, r.text
    assert r.json()[0]["generated_text"].startswith("오늘")


def test_a_full_queue_answers_503_and_info_gives_the_limits(server) -> None:
    url, service = server
    info = httpx.get(f"{url}/info").json()
    assert info["limits"]["max_new_tokens"] == CAP and "top_p" in info["ranges"]
    assert set(info["serve"]) == {"max_body_bytes", "body_timeout_s", "keep_alive_s"}
    assert info["task"] == "text-generation" and "versions" in info
    service.waiting = service.gen.queue_size + 1  # as if that many requests were in line
    try:
        r = httpx.post(f"{url}/generate", json={"inputs": "오늘"})
    finally:
        service.waiting = 0
    assert r.status_code == 503 and "generate.queue_size" in r.json()["error"]
    page = httpx.get(url)
    assert 'id="temperature"' in page.text and 'id="top_p"' in page.text


def test_a_job_that_expired_in_the_queue_answers_503_not_500(server, monkeypatch) -> None:
    """The worker found the deadline passed before the event loop's own timeout fired (a busy
    loop): the job returned None and reading its "seed" was a TypeError (500)."""
    import itertools
    from types import SimpleNamespace

    from pipeline.tasks.generation import serve

    clock = itertools.count(0, 10**6)  # every reading is far past the one before
    monkeypatch.setattr(serve, "time", SimpleNamespace(monotonic=lambda: float(next(clock))))
    url, _ = server
    r = httpx.post(f"{url}/generate", json={"inputs": "오늘", "parameters": {"max_new_tokens": 2}})
    assert r.status_code == 503 and "generate.timeout_s" in r.json()["error"]


# --- predict (make generate) ------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [[""], ["오늘", "--param", "top_p=2"], ["오늘", "--param", "max_new_tokens=999"],
     ["--input", "x.xlsx", "--column", "a", "--output", "y.xlsx"]],
)  # fmt: skip
def test_the_generate_command_exits_2_on_bad_input(tiny_gpt2, tmp_path, capsys, args) -> None:
    from pipeline.serve.predict import main

    gen_config(tmp_path)
    assert main(["--config", str(tmp_path / "gen.yaml"), "--model", str(tiny_gpt2), *args]) == 2
    assert "error:" in capsys.readouterr().err


def test_the_generate_command_prints_one_text_per_prompt(tiny_gpt2, tmp_path, capsys) -> None:
    from pipeline.serve.predict import main

    gen_config(tmp_path)
    argv = [
        "--config",
        str(tmp_path / "gen.yaml"),
        "--model",
        str(tiny_gpt2),
        "오늘",
        "친구가",
        "--param",
        "max_new_tokens=4",
        "--param",
        "do_sample=false",
    ]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("오늘") and lines[1].startswith("친구가")
    assert np.all([len(x) > 0 for x in lines])
