"""NER behind the API: requests and answers in the Inference API's token-classification shape.

A request is ``{"inputs": "문장"}`` (answer: a list of entities) or ``{"inputs": ["문장", ...]}``
(a list of such lists); an entity is ``{"entity_group", "score", "word", "start", "end"}`` with
``text[start:end] == word`` exactly for the string as sent (the model reads it in NFC without
zero-width characters, as ingest stored the training sentences, and the offsets are mapped
back: ``view.py``; leading spaces left out), so that
``huggingface_hub.InferenceClient(model=URL).token_classification(text)`` reads it. The model
(TF, or its ONNX export: serve.backend) answers what transformers' ``TokenClassificationPipeline(
aggregation_strategy="simple")`` answers, a sentence longer than the trained max_seq_len
read in overlapping windows (nothing past the length is dropped), but the windows of a request
and of the requests batched with it go through the model together, ``WINDOW_BATCH`` at most
per call (``windows.py``); a long sentence is read ``WINDOW_BATCH`` windows at a time, the
requests that came meanwhile answered in between (``EntityServer``). Parameters:
``aggregation_strategy`` ("simple" or null) and ``ignore_labels`` / ``stride`` (null only);
anything else is a 422 naming it.
``entities_column``: predict's output sheet (an ``entities`` JSON column and the marked text).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pandas as pd

from pipeline.inference.api import RequestError, kind, parse_texts
from pipeline.inference.labeller import Labeller
from pipeline.inference.loaded import clean_text
from pipeline.inference.server import BatchedServer, Disconnected
from pipeline.tables.cells import cell_to_text, is_blank
from pipeline.tasks.ner.markup import render_markup
from pipeline.tasks.ner.view import View, model_view
from pipeline.tasks.ner.windows import Tagger

logger = logging.getLogger(__name__)

PARAMETERS = ("aggregation_strategy", "ignore_labels", "stride")
# Characters one request may send in all, a bound on one request's work. A long sentence is
# read in windows (5,000 x "가": 109 windows of the demo's 64 pieces), batched: 14 model calls,
# ~4 CPU-seconds (it was 109 calls and 21-29 s), WINDOW_BATCH windows a turn so that other
# requests are answered in between (docs/serve.md#long-ner-requests); predict --input on a
# sheet has no such cap.
MAX_REQUEST_CHARS = 5000
# Windows per model call, and per turn of a long sentence on the server's model thread.
WINDOW_BATCH = 8


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
    if (n := sum(len(t) for t in texts)) > MAX_REQUEST_CHARS:
        raise RequestError(
            413, f'"inputs": {n} characters, at most {MAX_REQUEST_CHARS} per request (split it)'
        )
    # The model reads the NFC view, which can be longer: "\ufb2c" is three characters in NFC.
    if (n := sum(len(model_view(t).text) for t in texts)) > MAX_REQUEST_CHARS:
        raise RequestError(
            413,
            f'"inputs": {n} characters once NFC-normalised as the model reads them (the text '
            f"grows under NFC normalisation), at most {MAX_REQUEST_CHARS} per request (split it)",
        )
    params = body.get("parameters")
    params = {} if params is None else params  # 0, false, "" or [] are not "no parameters"
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


def shape(
    text: str, groups: list[dict[str, Any]], view: View | None = None
) -> list[dict[str, Any]]:
    """Pipeline groups -> entities whose offsets index ``text`` exactly (spaces trimmed).

    ``view``: the groups' offsets index ``view.text`` (the model's view of ``text``)."""
    out = []
    for g in groups:
        start, end = int(g["start"]), int(g["end"])
        if end <= start:
            continue
        if view is not None:
            start, end = view.original(start, end)
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


def predictor(
    model: Any,
    tokenizer: Any,
    max_len: int | None = None,
    batch: int = WINDOW_BATCH,
    budget: int | None = None,
) -> Callable[[list[Any]], list[Any]]:
    """texts -> per text, its entities: the windows of all the texts through the model in
    batches of at most ``batch`` (``windows.Tagger``), aggregated as the pipeline does.

    The model reads each text as ingest would have stored it (``view.model_view``: NFC, no
    zero-width characters); the offsets answered index the text as given. With ``budget``, a
    call reads at most that many windows of the texts longer than one window and answers, for
    a text not read to its end, its ``Reading`` (or the text itself, not cut into windows yet:
    ``Tagger.step``): give it back in a later call to go on."""
    tagger = Tagger(model, tokenizer, max_len, batch)

    def predict(items: list[Any]) -> list[Any]:
        return [
            r if isinstance(r, str) or r.left else shape(r.text, tagger.groups(r), r.view)
            for r in tagger.step(items, budget)
        ]

    predict.tagger = tagger  # type: ignore[attr-defined]  (tests count its model calls)
    return predict


def answers(results: list[list[dict[str, Any]]], texts: Any) -> Any:
    return results[0] if getattr(texts, "single", False) else list(results)


def cell_text(value: Any) -> str | None:
    """A sheet cell as the text to tag, as written (a number or date as predict's label
    columns read it: ``2023``, ``2024-05-01``); None for an empty or empty-looking cell."""
    if is_blank(value) or (isinstance(value, float) and value != value):
        return None
    text = value if isinstance(value, str) else cell_to_text(value)
    return text if clean_text(text) else None


def entities_column(df: pd.DataFrame, column: str, annotate: Any, loaded: Any) -> pd.DataFrame:
    """``df`` plus ``entities`` (JSON list of the API's entity objects, offsets into the cell's
    text as written) and ``entities_marked`` for every non-empty cell of ``column`` (empty
    cells stay empty)."""
    cells = [cell_text(v) for v in df[column].tolist()]
    rows = [i for i, text in enumerate(cells) if text is not None]
    texts = [str(cells[i]) for i in rows]
    found = annotate(texts, loaded) if texts else []
    col: list[Any] = [None] * len(df)
    marked: list[Any] = [None] * len(df)
    for i, text, ents in zip(rows, texts, found, strict=True):
        col[i] = json.dumps(ents, ensure_ascii=False)
        marked[i] = render_markup(text, [(e["start"], e["end"], e["entity_group"]) for e in ents])
    return df.assign(entities=col, entities_marked=marked)


TOKEN_ANSWER_SCHEMA = {
    "type": "array",
    "description": "per input (one input: the list itself), its entities in text order",
    "items": {
        "type": "object",
        "properties": {
            "entity_group": {"type": "string"},
            "score": {"type": "number"},
            "word": {"type": "string"},
            "start": {"type": "integer"},
            "end": {"type": "integer"},
        },
    },
}


class EntityAnswers:
    """NER's side of ``BatchedServer``: sentences in, the entities of each out."""

    answer_schema = TOKEN_ANSWER_SCHEMA
    page = "ner.html"
    inputs_schema = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}

    def __init__(self, task: Any) -> None:
        self.auto_model = task.auto_model
        self.check_model = task.check_model
        self.example_inputs = task.example_inputs
        self.warm_up = (task.example_inputs, "오늘 오후 3시에 서울역에서 만나요.")

    def predictor(self, loaded: Any, serve: Any) -> tuple[Callable[[list], Any], int]:
        """A long sentence comes back unfinished (a ``Reading``) after ``WINDOW_BATCH``
        windows: ``EntityServer.answer`` queues it again."""
        predict = predictor(loaded.model, loaded.tokenizer, loaded.max_seq_len, budget=WINDOW_BATCH)
        return predict, serve.max_batch_size

    def warm(self, loaded: Any) -> None:
        """Nothing besides the predictor's own warm-up calls."""

    def parse(self, body: Any, serve: Any, loaded: Any) -> tuple[list[Any], None]:
        return parse_request(body, serve.max_inputs), None

    def answer(self, results: Any, examples: Any, loaded: Any, options: Any) -> Any:
        return answers(results, examples)


class EntityServer(BatchedServer):
    """``BatchedServer`` for NER: a sentence of many windows is read a turn at a time.

    The micro-batcher runs one job at a time and never splits one, so a 5,000-character
    sentence read whole would hold every other request for its 2-5 s. The predictor reads at
    most ``WINDOW_BATCH`` windows of the long sentences in a batch and hands back the
    unfinished ones (``Reading``); ``answer`` submits those again, behind the jobs that came
    meanwhile, until every sentence has its entities, or until ``disconnected()`` (the app's
    ``request.is_disconnected``) says the client is gone: then nothing more is submitted."""

    async def answer(self, body: Any, disconnected: Disconnected) -> tuple[Any, dict[str, str]]:
        texts = parse_request(body, self.cfg.serve.max_inputs)
        results: list[Any] = list(texts)
        while pending := [i for i, r in enumerate(results) if not isinstance(r, list)]:
            if await disconnected():
                logger.info("client gone: %d sentence(s) of its request left", len(pending))
                raise RequestError(499, "the client closed the request")
            done = await self.submit([results[i] for i in pending])
            for i, r in zip(pending, done, strict=True):
                results[i] = r
        return answers(results, texts), {}


class EntityLabeller(Labeller):
    """predict's answers for NER: the marked sentence and its entities, or a sheet's columns."""

    output_column = "entities"
    _predict: tuple[Any, Callable[[list[Any]], list[Any]]] | None = None

    def annotate(self, texts: list[str], loaded: Any) -> list[list[dict[str, Any]]]:
        # one predictor (one traced model call) for all of a sheet's chunks of rows
        if self._predict is None or self._predict[0] is not loaded:
            self._predict = (loaded, predictor(loaded.model, loaded.tokenizer, loaded.max_seq_len))
        return self._predict[1](texts)

    def lines(self, texts: list[str], top_k: int, params: dict[str, Any]) -> str:
        self.no_params(params)
        lines = []
        for text, found in zip(texts, self.annotate(texts, self.loaded), strict=True):
            lines.append(
                render_markup(text, [(e["start"], e["end"], e["entity_group"]) for e in found])
            )
            lines += [f"  {e['entity_group']}  {e['word']}  {e['score']:.3f}" for e in found]
        return "\n".join(lines)

    def table(
        self,
        df: pd.DataFrame,
        column: str,
        pair_column: str | None,
        progress: Callable[[int], None] | None = None,
    ) -> pd.DataFrame:
        def annotate(texts: list[str], loaded: Any) -> list[list[dict[str, Any]]]:
            found = self.annotate(texts, loaded)
            if progress is not None:  # predict's bar counted nothing ("0sent")
                progress(len(texts))
            return found

        return entities_column(df, column, annotate, self.loaded)
