"""A multi-label classifier's answers: the API's and predict's.

- API (``MultiLabelAnswers`` behind ``BatchedServer``): the Inference API's text-classification
  shape, ``[[{"label", "score", "threshold", "selected"}, ...], ...]``: one list per input,
  every label by default (``top_k`` cuts it), best first; ``score`` is the calibrated sigmoid
  (the logit over the run's temperature), ``selected`` is true for each label whose score
  reaches its ``threshold`` (calibration.json). ``InferenceClient.text_classification`` parses
  it (the extra keys are kept on its elements). ``parameters.function_to_apply`` may be
  ``"sigmoid"``; anything else is a 422.
- predict (``MultiLabelLabeller``): the chosen labels of each sentence (and every score), or a
  table with ``predicted_labels`` and ``scores`` added.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.calibration import Calibration, scaled_probs
from pipeline.inference.api import ANSWER_SCHEMA as BASE_SCHEMA
from pipeline.inference.api import RequestError, parse_request
from pipeline.inference.labeller import Labeller
from pipeline.inference.loaded import (
    LoadedModel,
    batched_classifier,
    column_texts,
    hub_file,
    mark_uncertain,
    read_calibration,
)
from pipeline.inference.server import BatchedServer
from pipeline.model.loading import ModelRef
from pipeline.paths import RunDir
from pipeline.tasks.classification.serve import UNSURE_COLUMN

# The classification answer's entries (label, score, uncertain on the best) plus the label's
# threshold and whether it is chosen.
_ENTRY = BASE_SCHEMA["items"]["items"]
ANSWER_SCHEMA = {
    **BASE_SCHEMA,
    "description": "one list per input, best first; selected: score >= the label's threshold",
    "items": {
        "type": "array",
        "items": {
            **_ENTRY,
            "properties": {
                **_ENTRY["properties"],
                "threshold": {"type": "number"},
                "selected": {"type": "boolean"},
            },
        },
    },
}


def load_calibration(ref: ModelRef, names: list[str], applied: bool) -> Calibration:
    """The run's (or Hub repo's) calibration.json; none: temperature 1, thresholds 0.5.

    With ``applied`` false (serve.calibration off, ``--no-calibration``) the scores are the raw
    sigmoid and each threshold moves to the raw scale, ``sigmoid(T * logit(t))``: a calibrated
    score ``sigmoid(z / T)`` reaches ``t`` exactly when the raw ``sigmoid(z)`` reaches that, so
    the same labels are chosen either way."""
    fallback = Calibration(1.0, "sigmoid", thresholds=dict.fromkeys(names, 0.5))
    if ref.run_dir is not None:
        path: Path | None = RunDir(ref.run_dir).calibration
        path = path if path.exists() else None
    else:
        path = hub_file(str(ref.hub_id), RunDir.CALIBRATION)
    if path is None:
        return fallback
    cal = read_calibration(path, "sigmoid", names)
    if applied:
        return cal
    t = np.clip(np.array([cal.thresholds.get(n, 0.5) for n in names]), 1e-12, 1 - 1e-12)
    raw = 1 / (1 + np.exp(-cal.temperature * np.log(t / (1 - t))))
    return Calibration(1.0, "sigmoid", thresholds=dict(zip(names, raw.tolist(), strict=True)))


def calibrated(loaded: LoadedModel, cal: Calibration, batch_size: int,
               encode: Any) -> Callable[..., np.ndarray]:  # fmt: skip
    """examples -> sigmoid scores of the logits over ``cal``'s temperature (n, labels)."""
    clf = batched_classifier(loaded, batch_size, encode)

    def probs(examples: list[Any], progress: Any = None) -> np.ndarray:
        return scaled_probs(clf.predict_logits(examples, progress), cal.temperature, "sigmoid")

    return probs


def cuts_of(cal: Calibration, names: list[str]) -> np.ndarray:
    """The thresholds in label-id order (0.5 for a label calibration.json does not name)."""
    return np.array([cal.thresholds.get(n, 0.5) for n in names])


def answers(probs: np.ndarray, names: list[str], cuts: np.ndarray, k: int) -> list[list[dict]]:
    """Per row, the k best labels (ties in id order) with threshold and ``selected``."""
    best = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return [
        [{"label": names[j], "score": float(row[j]), "threshold": float(cuts[j]),
          "selected": bool(row[j] >= cuts[j])} for j in cols]
        for row, cols in zip(probs, best, strict=True)
    ]  # fmt: skip


class MultiLabelAnswers:
    """The multi-label side of ``BatchedServer``: calibrated sigmoid scores, chosen labels."""

    answer_schema = ANSWER_SCHEMA

    def __init__(self, task: Any) -> None:
        self.task = task
        self.auto_model = task.auto_model
        self.check_model = task.check_model
        self.page = task.page
        self.inputs_schema = task.inputs_schema
        self.example_inputs = task.example_inputs
        self.warm_up = task.warm_up
        self.cuts: np.ndarray | None = None
        self.min_score = 0.0

    def predictor(self, loaded: LoadedModel, serve: Any) -> tuple[Callable[[list], Any], int]:
        # Always the batched path: the calibration needs the logits, which the pipeline hides.
        names = list(loaded.id2label.values())
        cal = load_calibration(loaded.ref, names, serve.calibration)
        self.cuts, self.min_score = cuts_of(cal, names), serve.min_score
        return calibrated(loaded, cal, serve.max_batch_size, self.task.encode), serve.max_batch_size

    def warm(self, loaded: LoadedModel) -> None:
        pass

    def parse(self, body: Any, serve: Any, loaded: LoadedModel) -> tuple[list[Any], int]:
        params = body.get("parameters") if isinstance(body, dict) else None
        if isinstance(params, dict) and "function_to_apply" in params:
            if params["function_to_apply"] not in (None, "sigmoid"):
                raise RequestError(
                    422, 'parameters.function_to_apply: this multi-label model serves "sigmoid"'
                )
            rest = {k: v for k, v in params.items() if k != "function_to_apply"}
            body = {**body, "parameters": rest}
        n = len(loaded.id2label)  # every label unless top_k says fewer
        return parse_request(body, serve.max_inputs, n, n, self.task.parse_inputs)

    def answer(self, results: Any, examples: list[Any], loaded: LoadedModel, top_k: int) -> Any:
        names = list(loaded.id2label.values())
        out = answers(np.asarray(results), names, self.cuts, top_k)
        mark_uncertain(out, self.min_score)  # the best score below serve.min_score
        return out


class MultiLabelServer(BatchedServer):
    """``BatchedServer`` whose /docs say ``function_to_apply`` is ``"sigmoid"``."""

    def request_schema(self) -> dict[str, Any]:
        schema = super().request_schema()
        params = schema["properties"]["parameters"]
        props = {**params["properties"], "function_to_apply": {"type": "string",
                                                                "enum": ["sigmoid"]}}  # fmt: skip
        properties = {**schema["properties"], "parameters": {**params, "properties": props}}
        return {**schema, "properties": properties}


class MultiLabelLabeller(Labeller):
    """predict's answers: the chosen labels per sentence, or the columns of a table."""

    output_column = "predicted_labels"

    def lines(self, texts: list[str], top_k: int, params: dict[str, Any]) -> str:
        self.no_params(params)
        loaded = self.loaded
        names = list(loaded.id2label.values())
        cal = load_calibration(loaded.ref, names, self.cfg.serve.calibration)
        probs = calibrated(loaded, cal, self.batch_size, self.task.encode)(texts)
        found = answers(probs, names, cuts_of(cal, names), len(names))
        unsure = set(mark_uncertain(found, self.cfg.serve.min_score))
        out = []
        for i, (text, answer) in enumerate(zip(texts, found, strict=True)):
            picked = [a["label"] for a in answer if a["selected"]]
            note = (
                f"  (unsure: best score below {self.cfg.serve.min_score:g})" if i in unsure else ""
            )
            out.append(f"{text}  -> {', '.join(picked) if picked else '(no label)'}{note}")
            out += [
                f"  {'*' if a['selected'] else ' '} {a['label']}  {a['score']:.3f} "
                f"(threshold {a['threshold']:.2f})"
                for a in answer[: max(1, top_k)]
            ]
        return "\n".join(out)

    def table(
        self,
        df: pd.DataFrame,
        column: str,
        pair_column: str | None,
        progress: Callable[[int], None] | None = None,
    ) -> pd.DataFrame:
        loaded = self.loaded
        names = list(loaded.id2label.values())
        texts = column_texts(df, column)
        rows = [i for i, t in enumerate(texts) if t]
        picked: list[str | None] = [None] * len(df)
        scores: list[str | None] = [None] * len(df)
        unsure: list[bool | None] = [None] * len(df)
        min_score = self.cfg.serve.min_score
        if rows:
            cal = load_calibration(loaded.ref, names, self.cfg.serve.calibration)
            probs = calibrated(loaded, cal, self.batch_size, self.task.encode)(
                [texts[i] for i in rows], progress
            )
            found = answers(probs, names, cuts_of(cal, names), len(names))
            marked = set(mark_uncertain(found, min_score))
            for n, (i, answer) in enumerate(zip(rows, found, strict=True)):
                picked[i] = ", ".join(a["label"] for a in answer if a["selected"])
                scores[i] = json.dumps({a["label"]: round(a["score"], 4) for a in answer},
                                       ensure_ascii=False)  # fmt: skip
                unsure[i] = n in marked
        extra = {UNSURE_COLUMN: unsure} if min_score > 0 else {}
        return df.assign(predicted_labels=picked, scores=scores, **extra)
