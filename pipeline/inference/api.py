"""The JSON API's request shape: checking a /predict body against the limits, and its schema.

Pure functions (no model, no server) so every bad-request message is easy to test and read.
A bad request raises ``RequestError(status, message)``; the app answers ``{"error": message}``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from fastapi import Request

from pipeline.inference.loaded import clean_text, text_problem

# Bounds on a decoded body, far above any real request: deeper nesting or longer integers are
# refused (400) before they can exhaust the parser's recursion or int()'s digit limit.
MAX_DEPTH = 32
MAX_INT_DIGITS = 20

PREDICT_SCHEMA = {
    "type": "object",
    "required": ["inputs"],
    "properties": {
        "inputs": {
            "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
            "examples": ["오늘 시험에 붙어서 너무 기뻐"],
        },
        "parameters": {
            "type": "object",
            "properties": {
                "top_k": {"type": "integer", "minimum": 1},
                "function_to_apply": {"type": "string", "enum": ["softmax"]},
            },
        },
    },
}
ANSWER_SCHEMA = {
    "type": "array",
    "description": "one list per input, best first",
    "items": {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "label": {"type": "string"},
                "score": {"type": "number"},
                "uncertain": {
                    "type": "boolean",
                    "description": "on an input's best entry only, when its score is below "
                    "serve.min_score",
                },
            },
        },
    },
}


def predict_schema(task: Any) -> dict[str, Any]:
    """The /predict body schema with a task's ``inputs`` (pipeline/tasks/: sentences, pairs)."""
    inputs = {**task.inputs_schema, "examples": [task.example_inputs]}
    return {**PREDICT_SCHEMA, "properties": {**PREDICT_SCHEMA["properties"], "inputs": inputs}}


class RequestError(Exception):
    """A bad request: answered with ``status`` and ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def load_json(raw: bytes) -> Any:
    """Decode a body with bounds: nesting depth, integer digits, no NaN, no lone surrogates."""

    def parse_int(digits: str) -> int:
        if len(digits.lstrip("-")) > MAX_INT_DIGITS:
            raise RequestError(
                400,
                f"a number in the body has {len(digits.lstrip('-'))} digits "
                f"(at most {MAX_INT_DIGITS})",
            )
        return int(digits)

    def parse_constant(name: str) -> Any:
        raise RequestError(400, f"the body is not valid JSON: {name} is not a JSON number")

    try:
        body = json.loads(raw, parse_int=parse_int, parse_constant=parse_constant)
    except RecursionError:
        raise RequestError(400, f"the body is nested deeper than {MAX_DEPTH} levels") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestError(400, f"the body is not valid JSON: {exc}") from exc
    _check_tree(body)
    return body


def _check_tree(body: Any) -> None:
    """Walk the decoded body without recursion: bounded depth, every string encodable."""
    stack: list[tuple[Any, int, str]] = [(body, 1, "the body")]
    while stack:
        value, depth, where = stack.pop()
        if isinstance(value, dict | list) and depth > MAX_DEPTH:
            raise RequestError(400, f"the body is nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                if problem := text_problem(key):
                    raise RequestError(422, f"a field name in {where} {problem}: not valid text")
                stack.append((item, depth + 1, _place(where, key)))
        elif isinstance(value, list):
            stack.extend((item, depth + 1, f"{where}[{i}]") for i, item in enumerate(value))
        elif isinstance(value, str) and (problem := text_problem(value)):
            raise RequestError(422, f"{where} {problem}: not valid text")


def _place(where: str, key: str) -> str:
    name = key if len(key) <= 40 else key[:40] + "…"
    return name if where == "the body" else f"{where}.{name}"


def parse_texts(inputs: Any, max_inputs: int, field: str | None = None) -> list[str]:
    """A request's ``inputs`` (a sentence or a list of them) -> cleaned sentences.

    ``field`` names one side of a pair (``inputs.text``): then only one string is accepted.
    Raises RequestError naming the problem.
    """
    if field is not None and not isinstance(inputs, str):
        raise RequestError(422, f"{field} must be a string, got {_kind(inputs)}")
    items = [inputs] if isinstance(inputs, str) else inputs
    if not isinstance(items, list):
        raise RequestError(
            422, f'"inputs" must be a string or a list of strings, got {_kind(inputs)}'
        )
    if not items:
        raise RequestError(422, '"inputs" is an empty list')
    if len(items) > max_inputs:
        raise RequestError(
            422, f"too many inputs: {len(items)} sentences, at most {max_inputs} per request"
        )
    texts = []
    for i, item in enumerate(items):
        name = field or ('"inputs"' if isinstance(inputs, str) else f"inputs[{i}]")
        if not isinstance(item, str):
            raise RequestError(422, f"{name} must be a string, got {_kind(item)}")
        text = clean_text(item)
        if not text:
            raise RequestError(
                422,
                f"{name} is empty or only whitespace (zero-width and control characters "
                "count as nothing)",
            )
        texts.append(text)
    return texts


def parse_request(
    body: Any,
    max_inputs: int,
    num_labels: int,
    default_top_k: int,
    parse_inputs: Callable[[Any, int], list[Any]] = parse_texts,
) -> tuple[list[Any], int]:
    """Check a decoded request body -> (examples, top_k). Raises RequestError naming the problem.

    ``parse_inputs`` reads ``inputs`` (the task's: sentences by default, pairs for NLI).
    """
    if not isinstance(body, dict):
        raise RequestError(422, 'the body must be a JSON object like {"inputs": "문장"}')
    unknown = sorted(set(body) - {"inputs", "parameters", "options"})
    if unknown:
        raise RequestError(422, f"unknown field(s): {_names(unknown)} (known: inputs, parameters)")
    if "inputs" not in body:
        raise RequestError(422, 'missing "inputs": give a sentence or a list of sentences')
    texts = parse_inputs(body["inputs"], max_inputs)
    params = body.get("parameters")
    params = {} if params is None else params
    if not isinstance(params, dict):
        raise RequestError(422, f'"parameters" must be an object, got {_kind(params)}')
    unknown = sorted(set(params) - {"top_k", "function_to_apply"})
    if unknown:
        raise RequestError(
            422, f"unknown parameter(s): {_names(unknown)} (known: top_k, function_to_apply)"
        )
    if params.get("function_to_apply") not in (None, "softmax"):
        raise RequestError(422, 'parameters.function_to_apply: this model serves only "softmax"')
    top_k = params.get("top_k")
    top_k = min(default_top_k, num_labels) if top_k is None else top_k
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= num_labels:
        raise RequestError(
            422,
            f"parameters.top_k must be an integer from 1 to {num_labels}, got {_short(top_k)}",
        )
    return texts, top_k


def _names(names: list[str]) -> str:
    shown = ", ".join(n if len(n) <= 40 else n[:40] + "…" for n in names[:5])
    return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _short(value: Any, width: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= width else text[:width] + "…"


def _kind(value: Any) -> str:
    """What a JSON value is, in words ("an object", "a list", "a number", ...)."""
    names = {dict: "an object", list: "a list", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else "text")


async def read_body(request: Request, limit: int, timeout_s: float) -> bytes:
    """The body, refusing (413) a declared or actual size over ``limit`` before parsing, and
    (408) a body that has not fully arrived within ``timeout_s`` (a slow or stalled client)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"request body of {declared} bytes is over the limit of {limit}")
    chunks: list[bytes] = []

    async def read() -> None:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise RequestError(413, f"request body is over the limit of {limit} bytes")
            chunks.append(chunk)

    try:
        async with asyncio.timeout(timeout_s):
            await read()
    except TimeoutError:
        raise RequestError(408, f"the request body did not arrive within {timeout_s:g} s") from None
    return b"".join(chunks)


kind = _kind  # for the tasks' request checks
