"""The JSON API's request shape: checking a /predict body against the limits, and its schema.

Pure functions (no model, no server) so every bad-request message is easy to test and read.
A bad request raises ``RequestError(status, message)``; the app answers ``{"error": message}``.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from pipeline.predict import clean_text

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
            "properties": {"label": {"type": "string"}, "score": {"type": "number"}},
        },
    },
}


class RequestError(Exception):
    """A bad request: answered with ``status`` and ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def parse_request(
    body: Any, max_inputs: int, num_labels: int, default_top_k: int
) -> tuple[list[str], int]:
    """Check a decoded request body -> (texts, top_k). Raises RequestError naming the problem."""
    if not isinstance(body, dict):
        raise RequestError(422, 'the body must be a JSON object like {"inputs": "문장"}')
    unknown = sorted(set(body) - {"inputs", "parameters", "options"})
    if unknown:
        raise RequestError(
            422, f"unknown field(s): {', '.join(unknown)} (known: inputs, parameters)"
        )
    if "inputs" not in body:
        raise RequestError(422, 'missing "inputs": give a sentence or a list of sentences')
    inputs = body["inputs"]
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
        name = '"inputs"' if isinstance(inputs, str) else f"inputs[{i}]"
        if not isinstance(item, str):
            raise RequestError(422, f"{name} must be a string, got {_kind(item)}")
        text = clean_text(item)
        if not text:
            raise RequestError(422, f"{name} is empty or only whitespace")
        texts.append(text)
    params = body.get("parameters") or {}
    if not isinstance(params, dict):
        raise RequestError(422, f'"parameters" must be an object, got {_kind(params)}')
    unknown = sorted(set(params) - {"top_k", "function_to_apply"})
    if unknown:
        raise RequestError(
            422, f"unknown parameter(s): {', '.join(unknown)} (known: top_k, function_to_apply)"
        )
    if params.get("function_to_apply") not in (None, "softmax"):
        raise RequestError(422, 'parameters.function_to_apply: this model serves only "softmax"')
    top_k = params.get("top_k")
    top_k = min(default_top_k, num_labels) if top_k is None else top_k
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= num_labels:
        raise RequestError(
            422, f"parameters.top_k must be an integer from 1 to {num_labels}, got {top_k!r}"
        )
    return texts, top_k


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else "text")


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing (413) a declared or actual size over ``limit`` before parsing."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"request body of {declared} bytes is over the limit of {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
