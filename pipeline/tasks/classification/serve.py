"""A classifier's answers: the API's requests and answers, and predict's lines and columns.

- API (``ClassifierAnswers``, behind pipeline/inference/server.py's ``BatchedServer``):
  ``{"inputs": "문장" | ["문장", ...], "parameters": {"top_k": 5}}`` (pairs: ``{"text",
  "text_pair"}`` objects) -> ``[[{"label", "score"}, ...], ...]``, one list per input, best
  first, cut to top_k: what ``InferenceClient(model=URL).text_classification`` reads; an input
  whose best score is below ``serve.min_score`` has ``"uncertain": true`` in its best entry. With
  ``serve.batching`` the model runs in ``BatchedClassifier``'s length-sorted batches; without,
  each request calls ``TextClassificationPipeline(framework="tf")`` (same scores within 1e-4).
  Scores are the run's calibrated ones (calibration.json, unless serve.calibration is off).
- predict (``ClassifierLabeller``): the top-k labels of sentences as lines, or a table with
  ``predicted_label``, ``predicted_score``, ``predicted_group`` (when groups are known),
  ``predicted_unsure`` (with a min_score above 0) and ``top3`` added; empty cells get none.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from pipeline.calibration import rescaled
from pipeline.errors import PipelineError
from pipeline.inference.api import ANSWER_SCHEMA, RequestError, kind, parse_request, parse_texts
from pipeline.inference.labeller import Labeller
from pipeline.inference.loaded import (
    LoadedModel,
    batched_classifier,
    column_texts,
    mark_uncertain,
    pipeline_proba,
    text_pipeline,
    top_answers,
)

TOP3_COLUMN = "top3"
UNSURE_COLUMN = "predicted_unsure"  # with a min_score above 0: the best score is below it
UNSURE = "unsure"  # predict's word for it


def parse_pairs(inputs: Any, max_inputs: int) -> list[tuple[str, str]]:
    """A pair request's ``inputs``: one ``{"text", "text_pair"}`` object or a list of them."""
    single = isinstance(inputs, dict)
    items = [inputs] if single else inputs
    one = '{"text": "전제", "text_pair": "가설"}'
    shape = f"{one} or a list of such objects"
    if not isinstance(items, list) or not items:
        raise RequestError(422, f'"inputs" must be {shape}, got {kind(inputs)}')
    if len(items) > max_inputs:
        raise RequestError(
            422, f"too many inputs: {len(items)} pairs, at most {max_inputs} per request"
        )
    pairs = []
    for i, item in enumerate(items):
        name = '"inputs"' if single else f"inputs[{i}]"
        if not isinstance(item, dict):
            raise RequestError(422, f"{name} must be an object {one}, got {kind(item)}")
        unknown = sorted(set(item) - {"text", "text_pair"})
        if unknown:
            raise RequestError(422, f"{name}: unknown field(s) {', '.join(unknown)}")
        for key in ("text", "text_pair"):
            if key not in item:
                raise RequestError(422, f'{name} has no "{key}": a pair needs both sentences')
        text, text_pair = (
            parse_texts(item[key], 1, f"{name}.{key}")[0] for key in ("text", "text_pair")
        )
        pairs.append((text, text_pair))
    return pairs


class ClassifierAnswers:
    """The classifier's side of ``BatchedServer``: probabilities in, top-k labels out."""

    answer_schema = ANSWER_SCHEMA

    def __init__(self, task: Any, min_score: float = 0.0) -> None:
        self.task = task
        self.min_score = min_score  # serve.min_score: below it an answer is marked uncertain
        self.auto_model = task.auto_model
        self.check_model = task.check_model
        self.page = task.page
        self.inputs_schema = task.inputs_schema
        self.example_inputs = task.example_inputs
        self.warm_up = task.warm_up
        self.pipe: Any = None

    def predictor(self, loaded: LoadedModel, serve: Any) -> tuple[Callable[[list], Any], int]:
        if serve.batching:
            clf = batched_classifier(loaded, serve.max_batch_size, self.task.encode)
            return clf.predict_proba, serve.max_batch_size
        self.pipe = text_pipeline(loaded)

        def predict(examples: list[Any]) -> np.ndarray:
            inputs = self.task.pipeline_inputs(examples)
            return rescaled(
                pipeline_proba(self.pipe, inputs, loaded.max_seq_len), loaded.temperature
            )

        return predict, 1

    def warm(self, loaded: LoadedModel) -> None:
        """Nothing besides the predictor: its warm-up calls trace every shape it needs."""

    def parse(self, body: Any, serve: Any, loaded: LoadedModel) -> tuple[list[Any], int]:
        n_labels = len(loaded.id2label)
        return parse_request(body, serve.max_inputs, n_labels, serve.top_k, self.task.parse_inputs)

    def answer(self, results: Any, examples: list[Any], loaded: LoadedModel, top_k: int) -> Any:
        answers = top_answers(results, loaded.id2label, top_k)
        mark_uncertain(answers, self.min_score)
        return answers


def label_table(
    df: pd.DataFrame,
    column: str,
    probs_of: Any,
    id2label: dict[int, str],
    groups: dict[str, str],
    pair_column: str | None = None,
    min_score: float = 0.0,
) -> pd.DataFrame:
    """``df`` with the prediction columns added; ``probs_of(examples)`` runs the model.

    With ``pair_column`` each example is the pair (``column``, ``pair_column``) of a row, and
    a row with either cell empty gets no prediction. With ``min_score`` above 0 the column
    ``predicted_unsure`` says whether the best score is below it."""
    texts: list[Any] = column_texts(df, column)
    if pair_column is not None:
        seconds = column_texts(df, pair_column)
        texts = [(a, b) if a and b else "" for a, b in zip(texts, seconds, strict=True)]
    rows = [i for i, t in enumerate(texts) if t]
    labels, scores, top3, unsure = ([None] * len(df) for _ in range(4))
    if rows:
        answers = top_answers(probs_of([texts[i] for i in rows]), id2label, 3)
        mark_uncertain(answers, min_score)
        for i, answer in zip(rows, answers, strict=True):
            labels[i], scores[i] = answer[0]["label"], round(answer[0]["score"], 4)
            top3[i] = ", ".join(f"{a['label']} ({a['score']:.3f})" for a in answer)
            unsure[i] = bool(answer[0].get("uncertain"))
    out = df.assign(predicted_label=labels, predicted_score=scores)
    if groups:
        out["predicted_group"] = [groups.get(x) if x else None for x in labels]
    if min_score > 0:
        out[UNSURE_COLUMN] = unsure
    out[TOP3_COLUMN] = top3
    return out


class ClassifierLabeller(Labeller):
    """predict's answers for a classifier: top-k lines, or the label columns of a table."""

    def check_columns(self, column: str, pair_column: str | None) -> None:
        n = len(self.task.columns)
        if pair_column is None and n > 1:
            raise PipelineError(
                f"task {self.task.name}: --input needs --pair-column (the second sentence)"
            )
        if pair_column is not None and n == 1:
            raise PipelineError(
                f"--pair-column needs a pair task (the config's task is {self.task.name})"
            )

    def lines(self, texts: list[str], top_k: int, params: dict[str, Any]) -> str:
        self.no_params(params)
        n = len(self.task.columns)
        if len(texts) % n:
            raise PipelineError(
                f"task {self.task.name} reads sentences {n} at a time "
                f"({', '.join(self.task.columns)}); got {len(texts)}"
            )
        examples = texts if n == 1 else [tuple(texts[i : i + n]) for i in range(0, len(texts), n)]
        loaded = self.loaded
        k = min(max(1, top_k), len(loaded.id2label))
        clf = batched_classifier(loaded, self.batch_size, self.task.encode)
        answers = top_answers(clf.predict_proba(examples), loaded.id2label, k)
        min_score = self.cfg.serve.min_score
        mark_uncertain(answers, min_score)
        width = max(_width(a["label"]) for answer in answers for a in answer)
        lines = []
        for example, answer in zip(examples, answers, strict=True):
            group = loaded.label2group.get(answer[0]["label"])
            note = (
                f"  ({UNSURE}: best score below {min_score:g})" if "uncertain" in answer[0] else ""
            )
            lines.append(self.task.show(example) + (f"  [{group}]" if group else "") + note)
            lines += [
                f"  {r}. {a['label']}{' ' * (width - _width(a['label']))}  {a['score']:.3f}"
                for r, a in enumerate(answer, 1)
            ]
        return "\n".join(lines)

    def table(
        self,
        df: pd.DataFrame,
        column: str,
        pair_column: str | None,
        progress: Callable[[int], None] | None = None,
    ) -> pd.DataFrame:
        loaded = self.loaded
        clf = batched_classifier(loaded, self.batch_size, self.task.encode)

        def probs_of(examples: list[Any]) -> np.ndarray:
            return clf.predict_proba(examples, progress=progress)

        groups, min_score = loaded.label2group, self.cfg.serve.min_score
        return label_table(df, column, probs_of, loaded.id2label, groups, pair_column, min_score)


def _width(text: str) -> int:
    """Terminal columns of ``text``: Hangul and other wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
