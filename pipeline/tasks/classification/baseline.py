"""The baseline the fine-tuned BERT is compared against: TF-IDF character n-grams + logistic
regression, trained on the train split in seconds with scikit-learn.

    clf = CharNgramBaseline().fit(train_texts, train_label_ids)
    probs = clf.predict_proba(test_texts)      # (n, len(clf.classes_)), columns in classes_ order

Character n-grams inside word boundaries (``char_wb``) suit Korean: a word's stem and its
endings (요/어요/해요) share n-grams without any morphological analyser.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline

NAME = "tfidf-char-logreg"


class CharNgramBaseline:
    """``fit(texts, labels) -> self``, ``predict``, ``predict_proba`` (scikit-learn style)."""

    name = NAME

    def __init__(
        self,
        ngram_range: tuple[int, int] = (1, 3),
        max_features: int | None = 200_000,
        C: float = 10.0,
        max_iter: int = 1000,
    ) -> None:
        self.ngram_range = ngram_range
        self.max_features = max_features
        self.C = C
        self.max_iter = max_iter

    def fit(self, texts: Sequence[str], labels: Sequence[Any]) -> CharNgramBaseline:
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        if len(set(labels)) < 2:
            raise ValueError("the baseline needs at least two classes to fit")
        self.pipeline_: Pipeline = make_pipeline(
            TfidfVectorizer(
                analyzer="char_wb",
                ngram_range=self.ngram_range,
                max_features=self.max_features,
                sublinear_tf=True,
                dtype=np.float32,
            ),
            LogisticRegression(C=self.C, max_iter=self.max_iter),
        )
        self.pipeline_.fit(list(texts), list(labels))
        self.classes_ = self.pipeline_.classes_
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.pipeline_.predict_proba(list(texts))

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return self.pipeline_.predict(list(texts))

    def predict_proba_for(self, texts: Sequence[str], classes: Sequence[Any]) -> np.ndarray:
        """Probabilities with one column per entry of ``classes`` (0 for classes never seen)."""
        return in_columns(self.predict_proba(texts), self.classes_, classes)


def in_columns(probs: np.ndarray, fitted: Sequence[Any], classes: Sequence[Any]) -> np.ndarray:
    """``probs`` (columns in ``fitted`` order) with one column per entry of ``classes``."""
    position = {c: i for i, c in enumerate(classes)}
    out = np.zeros((len(probs), len(classes)), dtype=np.float64)
    for j, c in enumerate(fitted):
        out[:, position[c]] = probs[:, j]
    return out
