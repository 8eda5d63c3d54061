"""The text-generation task under hostile input: what a first review of it broke, each fixed.

A prefix with another placeholder, a mistyped ``tiny:`` scheme, ``min_new_tokens`` (which TF
generate ignores), decomposed (NFD) Hangul prompts, a cap larger than the model's context, and
a run of the wrong task given to generate, serve, evaluate ``--classifier`` or publish.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from pipeline.config.generation import GenerateConfig
from pipeline.errors import PipelineError
from pipeline.model.loading import ModelRef
from pipeline.tasks import get_task
from pipeline.tasks.generation import sampling, tiny
from tests.test_gen_task import CAP, gen_config, gen_texts


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny GPT-2 checkpoint (loadable as a run directory)."""
    return tiny.build_tiny_gpt2(gen_texts(), tmp_path_factory.mktemp("tiny-gpt2"))


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory whose config is a BERT text classifier (a run of the other task)."""
    from transformers import BertConfig

    out = tmp_path_factory.mktemp("classifier")
    BertConfig(architectures=["BertForSequenceClassification"], num_labels=3).save_pretrained(out)
    (out / "tf_model.h5").write_bytes(b"")  # never read: the architecture check comes first
    return out


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("[{label}] {emotion} ", r"unknown placeholder\(s\) \{emotion\}"),
        ("{0}{label}", r"unknown placeholder\(s\) \{0\}"),
        ("[{label] ", "expected '}' before end of string"),
        ("[{label}]} ", "Single '}'"),
    ],
)
def test_a_prefix_with_another_placeholder_or_a_stray_brace_is_a_config_error(
    tmp_path: Path, prefix: str, message: str
) -> None:
    with pytest.raises(PipelineError, match=message):
        gen_config(tmp_path, prefix=prefix)
    assert gen_config(tmp_path, prefix="{{{label}}} ").generate.prefix == "{{{label}}} "


def test_a_mistyped_tiny_scheme_is_named_not_looked_up_on_the_hub(tmp_path: Path) -> None:
    cfg = gen_config(tmp_path)
    task = get_task("text-generation")
    bad = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, name_or_path="tiny:gtp2"))
    with pytest.raises(PipelineError, match="the only tiny model is 'tiny:gpt2'"):
        task.base_checkpoint(bad, None, None)


def test_min_new_tokens_holds_back_eos_and_prompts_are_nfc(gpt2_dir: Path) -> None:
    """TF generate ignores min_new_tokens: a model that always says eos must still write some."""
    import unicodedata

    from transformers import AutoTokenizer, TextGenerationPipeline, TFAutoModelForCausalLM

    model = TFAutoModelForCausalLM.from_pretrained(str(gpt2_dir))
    tok = AutoTokenizer.from_pretrained(str(gpt2_dir))
    ln_f, wte = model.transformer.ln_f, model.transformer.wte.weights[0].numpy()
    ln_f.gamma.assign(np.zeros(ln_f.gamma.shape, "float32"))  # every position: eos's embedding
    ln_f.beta.assign(wte[tok.eos_token_id] * 100)
    pipe = TextGenerationPipeline(model=model, tokenizer=tok, framework="tf")
    greedy = {"do_sample": False, "max_new_tokens": 6}
    base = sampling.defaults(GenerateConfig())
    stop = sampling.generate(pipe, "오늘", sampling.settings_from(greedy, base, CAP))
    assert stop["generated_text"] == "오늘"  # eos at once
    s = sampling.settings_from({**greedy, "min_new_tokens": 3}, base, CAP)
    text = sampling.generate(pipe, "오늘", s)["generated_text"]
    assert len(tok(text)["input_ids"]) == len(tok("오늘")["input_ids"]) + 3
    nfd = unicodedata.normalize("NFD", "오늘")  # as macOS keyboards send Hangul
    assert sampling.generate(pipe, nfd, s)["generated_text"] == text
    assert sampling.check_prompt(tok, nfd, 8, 128) == sampling.check_prompt(tok, "오늘", 8, 128)


def test_the_served_cap_leaves_room_for_the_prompt_in_the_context(tmp_path: Path) -> None:
    from pipeline.tasks.generation.serve import GenerationServer

    service = GenerationServer(gen_config(tmp_path), ModelRef(name="tiny", run_dir=tmp_path))
    assert service.cap == CAP
    service.context = 16  # a model whose context is smaller than generate.max_new_tokens_cap
    assert service.cap == 15 and service.info()["limits"]["max_new_tokens"] == 15


def test_a_classifier_run_is_refused_by_generate_and_serve(
    classifier_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from pipeline.serve.predict import main
    from pipeline.tasks.generation.serve import GenerationServer

    gen_config(tmp_path)
    argv = ["--config", str(tmp_path / "gen.yaml"), "--model", str(classifier_dir), "오늘"]
    assert main(argv) == 2
    assert "BertForSequenceClassification, not a causal language model" in capsys.readouterr().err
    service = GenerationServer(gen_config(tmp_path), ModelRef(name="clf", run_dir=classifier_dir))
    service.load()
    assert not service.ready.is_set() and "not a causal language model" in service.error


def test_a_generation_run_is_refused_as_the_classifier_and_a_classifier_run_by_publish(
    gpt2_dir: Path, tmp_path: Path
) -> None:
    from pipeline.paths import Paths
    from pipeline.tasks.generation.evaluate import _load_classifier

    cfg = gen_config(tmp_path)
    with pytest.raises(PipelineError, match="not a text classifier"):
        _load_classifier(Paths.from_config(cfg), str(gpt2_dir))
    record = {"status": "finished", "config": {"task": "text-classification"}}
    with pytest.raises(PipelineError, match="trained for task 'text-classification'"):
        ref = ModelRef(name="clf", run_dir=tmp_path)
        get_task("text-generation").card(cfg, ref, "me/clf", record, False)
