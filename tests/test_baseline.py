"""The TF-IDF character n-gram + logistic regression baseline."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.tasks.classification.baseline import CharNgramBaseline
from tests.tiny import tiny_corpus


def split_corpus():
    df = tiny_corpus(n_per_class=30, seed=1)
    train = df.groupby("label").head(20)
    test = df.drop(train.index)
    return train, test


def test_learns_the_tiny_corpus() -> None:
    train, test = split_corpus()
    clf = CharNgramBaseline()
    assert clf.fit(train["text"], train["label"]) is clf
    assert sorted(clf.classes_) == sorted(set(train["label"]))
    accuracy = np.mean(clf.predict(test["text"]) == test["label"].to_numpy())
    assert accuracy > 0.8  # chance is 0.25; the marker words give the label away
    probs = clf.predict_proba(test["text"].tolist())
    assert probs.shape == (len(test), 4)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)


def test_is_deterministic() -> None:
    train, test = split_corpus()
    a = CharNgramBaseline().fit(train["text"], train["label"]).predict_proba(test["text"])
    b = CharNgramBaseline().fit(train["text"], train["label"]).predict_proba(test["text"])
    np.testing.assert_array_equal(a, b)


def test_predict_proba_for_gives_unseen_classes_zero() -> None:
    clf = CharNgramBaseline().fit(["좋아요", "신나요", "화나요", "짜증나요"], [0, 0, 2, 2])
    probs = clf.predict_proba_for(["좋아요 신나요"], classes=[0, 1, 2, 3])
    assert probs.shape == (1, 4)
    assert probs[0, 1] == 0 and probs[0, 3] == 0
    assert probs[0, 0] > probs[0, 2]


def test_bad_fit_input() -> None:
    with pytest.raises(ValueError, match="2 texts but 1 labels"):
        CharNgramBaseline().fit(["a", "b"], [0])
    with pytest.raises(ValueError, match="at least two classes"):
        CharNgramBaseline().fit(["a", "b"], [0, 0])
