"""Sentence-pair classification: two sentences in, one of N labels out (NLI, KLUE-NLI).

An example is a tuple ``(text, text_pair)`` (premise, hypothesis), stored in the columns
``text`` and ``text_pair``. The pair is tokenized as BERT reads pairs,
``[CLS] text [SEP] text_pair [SEP]`` with token_type_ids 0 then 1, truncated
``longest_first`` (the longer side loses tokens first) within ``model.max_seq_len``. The
baseline reads ``text [SEP] text_pair``; the API takes the Inference API's pair shape
``{"inputs": {"text": ..., "text_pair": ...}}`` or a list of such objects; the page has two
boxes (전제 / 가설).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from pipeline.tasks.text_classification import Encoded, TextClassification

SEPARATOR = " [SEP] "
EXAMPLE = {"text": "나는 오늘 친구와 영화를 봤다.", "text_pair": "나는 오늘 영화관에 갔다."}
_PAIR = {
    "type": "object",
    "required": ["text", "text_pair"],
    "properties": {"text": {"type": "string"}, "text_pair": {"type": "string"}},
}


class TextPairClassification(TextClassification):
    name = "text-pair-classification"
    columns = ("text", "text_pair")
    page = "pair.html"
    example_inputs = EXAMPLE
    warm_up = (
        (EXAMPLE["text"], EXAMPLE["text_pair"]),
        ("지수는 어제 도서관에서 책을 읽었다.", "지수는 어제 집에만 있었다. 하루 종일 잠을 잤다."),
    )
    card = {
        "what": "A Korean sentence-pair classifier (natural language inference: does the "
        "premise entail the hypothesis, contradict it, or neither?)",
        "tags": ["tensorflow", "bert", "text-classification", "korean", "nli",
                 "natural-language-inference"],
        "task_name": "Natural language inference",
        "example": EXAMPLE,
        # The Hub widget sends one text: the pair joined by the tokenizer's separator.
        "widget": [{"text": EXAMPLE["text"] + SEPARATOR + EXAMPLE["text_pair"]}],
    }  # fmt: skip
    inputs_schema = {"oneOf": [_PAIR, {"type": "array", "items": _PAIR}]}

    def examples(self, df: pd.DataFrame) -> list[Any]:
        return list(zip(df["text"].tolist(), df["text_pair"].tolist(), strict=True))

    def texts(self, examples: Sequence[Any]) -> list[str]:
        return [t for pair in examples for t in pair]

    def encode(self, tokenizer: Any, examples: Sequence[Any], max_len: int | None) -> Encoded:
        firsts, seconds = [a for a, _ in examples], [b for _, b in examples]
        truncation = "longest_first" if max_len is not None else False
        enc = tokenizer(firsts, seconds, truncation=truncation, max_length=max_len, verbose=False)
        ids = enc["input_ids"]
        types = enc.get("token_type_ids")  # None for tokenizers without segments (XLM-R)
        return ids, types

    def baseline_text(self, examples: Sequence[Any]) -> list[str]:
        return [a + SEPARATOR + b for a, b in examples]

    def pipeline_inputs(self, examples: Sequence[Any]) -> list[Any]:
        return [{"text": a, "text_pair": b} for a, b in examples]

    def show(self, example: Any) -> str:
        return example[0] + SEPARATOR + example[1]

    def parse_inputs(self, inputs: Any, max_inputs: int) -> list[Any]:
        from pipeline.inference.api import RequestError, kind, parse_texts

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
