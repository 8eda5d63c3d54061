"""NER behind the API: requests and answers in the Inference API's token-classification shape.

A request is ``{"inputs": "문장"}`` (answer: a list of entities) or ``{"inputs": ["문장", ...]}``
(a list of such lists); an entity is ``{"entity_group", "score", "word", "start", "end"}`` with
``text[start:end] == word`` exactly for the string as sent (not trimmed or normalized first;
the pipeline's offsets with leading spaces left out), so that
``huggingface_hub.InferenceClient(model=URL).token_classification(text)`` reads it. The model
runs in transformers' ``TokenClassificationPipeline(framework="tf",
aggregation_strategy="simple")``. Parameters: ``aggregation_strategy`` ("simple" or null) and
``ignore_labels`` / ``stride`` (null only); anything else is a 422 naming it.
``entities_column``: predict's output sheet (an ``entities`` JSON column and the marked text).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pandas as pd

from pipeline.serve.api import RequestError, kind, parse_texts
from pipeline.tasks.ner.markup import render_markup

PARAMETERS = ("aggregation_strategy", "ignore_labels", "stride")


class Inputs(list):
    """The request's sentences; ``single``: it sent one string (answer a flat list)."""

    single = False


def parse_request(body: Any, max_inputs: int) -> Inputs:
    if not isinstance(body, dict):
        raise RequestError(422, 'the body must be a JSON object like {"inputs": "문장"}')
    unknown = sorted(set(body) - {"inputs", "parameters", "options"})
    if unknown:
        raise RequestError(
            422, f"unknown field(s): {', '.join(unknown)} (known: inputs, parameters)"
        )
    if "inputs" not in body:
        raise RequestError(422, 'missing "inputs": give a sentence or a list of sentences')
    parse_texts(body["inputs"], max_inputs)  # checks: strings, not empty, not too many
    # The model reads the strings as sent (not trimmed or normalized), so that the answer's
    # offsets index exactly the string the client holds.
    single = isinstance(body["inputs"], str)
    texts = Inputs([body["inputs"]] if single else body["inputs"])
    texts.single = single
    params = body.get("parameters") or {}
    if not isinstance(params, dict):
        raise RequestError(422, f'"parameters" must be an object, got {kind(params)}')
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise RequestError(
            422, f"unknown parameter(s): {', '.join(unknown)} (known: {', '.join(PARAMETERS)})"
        )
    if params.get("aggregation_strategy") not in (None, "simple"):
        raise RequestError(
            422, 'parameters.aggregation_strategy: this model serves only "simple" (entities)'
        )
    for key in ("ignore_labels", "stride"):
        if params.get(key) is not None:
            raise RequestError(422, f"parameters.{key} is not supported by this server")
    return texts


def shape(text: str, groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pipeline groups -> entities whose offsets index ``text`` exactly (spaces trimmed)."""
    out = []
    for g in groups:
        start, end = int(g["start"]), int(g["end"])
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end <= start:
            continue
        out.append(
            {
                "entity_group": str(g["entity_group"]),
                "score": float(g["score"]),
                "word": text[start:end],
                "start": start,
                "end": end,
            }
        )
    return out


def entity_pipeline(model: Any, tokenizer: Any) -> Any:
    from transformers import TokenClassificationPipeline

    return TokenClassificationPipeline(
        model=model, tokenizer=tokenizer, framework="tf", aggregation_strategy="simple"
    )


def predictor(model: Any, tokenizer: Any) -> Callable[[list[str]], list[list[dict[str, Any]]]]:
    """texts -> per text, its entities (the pipeline runs the texts one by one, as TF's does)."""
    pipe = entity_pipeline(model, tokenizer)

    def predict(texts: list[str]) -> list[list[dict[str, Any]]]:
        return [shape(t, pipe(t)) for t in texts]

    return predict


def answers(results: list[list[dict[str, Any]]], texts: Any) -> Any:
    return results[0] if getattr(texts, "single", False) else list(results)


def entities_column(df: pd.DataFrame, column: str, annotate: Any, loaded: Any) -> pd.DataFrame:
    """``df`` plus ``entities`` (JSON list of the API's entity objects) and ``entities_marked``
    for every non-empty cell of ``column`` (empty cells stay empty)."""
    cells = df[column].tolist()
    rows = [i for i, v in enumerate(cells) if isinstance(v, str) and v.strip()]
    texts = [cells[i].strip() for i in rows]
    found = annotate(texts, loaded) if texts else []
    col: list[Any] = [None] * len(df)
    marked: list[Any] = [None] * len(df)
    for i, text, ents in zip(rows, texts, found, strict=True):
        col[i] = json.dumps(ents, ensure_ascii=False)
        marked[i] = render_markup(text, [(e["start"], e["end"], e["entity_group"]) for e in ents])
    return df.assign(entities=col, entities_marked=marked)
