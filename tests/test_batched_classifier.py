"""BatchedClassifier: the same answers as TextClassificationPipeline, one sentence at a time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.model.batched_classifier import PAD_MULTIPLE, BatchedClassifier
from pipeline.model.loading import load_trained, resolve_model_ref
from pipeline.paths import Paths
from tests.tiny import tiny_corpus

MAX_SEQ_LEN = 32


@pytest.fixture(scope="module")
def model_and_tokenizer(untrained_run: Path):
    model, tokenizer = load_trained(
        resolve_model_ref(Paths(untrained_run.parent), "", str(untrained_run))
    )
    # A fresh head gives near-uniform scores; sharpen it so labels are decided by clear margins.
    head = model.classifier
    head.set_weights([w * 200.0 for w in head.get_weights()])
    return model, tokenizer


def sentences() -> list[str]:
    texts = tiny_corpus(n_per_class=10)["text"].tolist()
    long = " ".join(texts[:8])  # far past MAX_SEQ_LEN tokens: both paths must truncate
    return [*texts, long, "좋아요", texts[3] + " " + texts[4]]


@pytest.mark.slow
def test_equals_text_classification_pipeline(model_and_tokenizer) -> None:
    from transformers import TextClassificationPipeline

    model, tokenizer = model_and_tokenizer
    texts = sentences()
    assert len(tokenizer(texts[-3])["input_ids"]) > MAX_SEQ_LEN
    pipe = TextClassificationPipeline(model=model, tokenizer=tokenizer, framework="tf", top_k=None)
    expected = pipe(texts, truncation=True, max_length=MAX_SEQ_LEN)

    clf = BatchedClassifier(model, tokenizer, max_seq_len=MAX_SEQ_LEN, batch_size=8)
    probs = clf.predict_proba(texts)
    labels = clf.predict(texts)
    names = [clf.id2label[i] for i in range(probs.shape[1])]
    assert probs.max(axis=1).min() > 0.3  # the comparison is not among near-ties
    for i, scores in enumerate(expected):
        assert labels[i] == scores[0]["label"]
        by_label = {s["label"]: s["score"] for s in scores}
        np.testing.assert_allclose(probs[i], [by_label[n] for n in names], atol=1e-4)


@pytest.mark.slow
def test_order_batch_size_and_top_k(model_and_tokenizer) -> None:
    model, tokenizer = model_and_tokenizer
    texts = sentences()
    one_batch = BatchedClassifier(model, tokenizer, MAX_SEQ_LEN, batch_size=len(texts))
    small = BatchedClassifier(model, tokenizer, MAX_SEQ_LEN, batch_size=3)
    probs = small.predict_proba(texts)
    np.testing.assert_allclose(probs, one_batch.predict_proba(texts), atol=1e-5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    # input order is kept even though batches are sorted by length
    reversed_probs = small.predict_proba(texts[::-1])
    np.testing.assert_allclose(reversed_probs[::-1], probs, atol=1e-5)

    top = small.top_k(texts[:2], k=3)
    assert [len(t) for t in top] == [3, 3]
    for row, t in zip(probs[:2], top, strict=True):
        assert [d["score"] for d in t] == sorted((d["score"] for d in t), reverse=True)
        assert t[0]["score"] == pytest.approx(float(row.max()))
    assert small.predict_proba([]).shape == (0, probs.shape[1])


@pytest.mark.slow
def test_few_padded_shapes(model_and_tokenizer) -> None:
    """Batches are padded to multiples of PAD_MULTIPLE, so the traced shapes stay few."""
    model, tokenizer = model_and_tokenizer
    widths: list[int] = []
    clf = BatchedClassifier(model, tokenizer, MAX_SEQ_LEN, batch_size=4)
    forward = clf._compiled()

    def spy(ids, mask, types):
        widths.append(ids.shape[1])
        return forward(ids, mask, types)

    clf._forward = spy
    clf.predict_proba(sentences())
    assert len(widths) == -(-len(sentences()) // 4)
    assert all(w % PAD_MULTIPLE == 0 or w == MAX_SEQ_LEN for w in widths)
    assert len(set(widths)) <= MAX_SEQ_LEN // PAD_MULTIPLE
