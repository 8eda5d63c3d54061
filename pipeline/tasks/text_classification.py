"""Text classification: one sentence in, one of N labels out (the emotion classifier).

An example is one string. Everything a stage needs to know about the task's examples is here:
the columns a stored row has, how examples are tokenized, the baseline's input text, the
transformers pipeline's input, the API's ``inputs`` and the page. The pair task
(text_pair_classification.py) overrides these pieces.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

Encoded = tuple[list[list[int]], list[list[int]] | None]  # input_ids, token_type_ids or None


class TextClassification:
    """One text per example; ``token_type_ids`` are all zeros (None here)."""

    name = "text-classification"
    # The text columns of a stored row (sentences.parquet ... the split files).
    columns: tuple[str, ...] = ("text",)
    # The page serve shows at / (pipeline/serve/static/).
    page = "index.html"
    # An example request's "inputs" (API schema, model card widget).
    example_inputs: Any = "오늘 시험에 붙어서 너무 기뻐"
    # Examples the server runs once before it says it is ready (traces the first shapes).
    warm_up: tuple[Any, ...] = (
        "오늘 정말 기분이 좋아요",
        "친구가 약속을 어겨서 화가 나요. 정말 억울해요",
    )
    # The model card's task pieces (pipeline/publish/modelcard.py); {}: the emotion card.
    card: dict[str, Any] = {}
    inputs_schema: dict[str, Any] = {
        "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
    }

    def examples(self, df: pd.DataFrame) -> list[Any]:
        """The examples of a frame with this task's ``columns``, in row order."""
        return df["text"].tolist()

    def texts(self, examples: Sequence[Any]) -> list[str]:
        """Every text in ``examples`` (the vocabulary trim reads them all)."""
        return list(examples)

    def encode(self, tokenizer: Any, examples: Sequence[Any], max_len: int | None) -> Encoded:
        """Token ids with special tokens, truncated at ``max_len`` (None: not truncated)."""
        enc = tokenizer(
            list(examples), truncation=max_len is not None, max_length=max_len, verbose=False
        )
        return enc["input_ids"], None

    def baseline_text(self, examples: Sequence[Any]) -> list[str]:
        """What the TF-IDF baseline reads for each example."""
        return list(examples)

    def pipeline_inputs(self, examples: Sequence[Any]) -> list[Any]:
        """The examples as transformers' TextClassificationPipeline takes them."""
        return list(examples)

    def show(self, example: Any) -> str:
        """One example as one line of text (logs, tables)."""
        return str(example)

    def parse_inputs(self, inputs: Any, max_inputs: int) -> list[Any]:
        """A request's ``inputs`` -> examples; raises serve's RequestError (4xx) naming it."""
        from pipeline.serve.api import parse_texts

        return parse_texts(inputs, max_inputs)

    # --- hooks for tasks whose model is no classifier (text generation overrides them) ------
    # None (or {}) means: the stage runs its own, classification, code.

    def base_checkpoint(self, cfg: Any, paths: Any, train_df: pd.DataFrame) -> Path | None:
        """train: a base checkpoint this task builds itself (None: model.name_or_path's)."""
        return None

    def load_tokenizer(self, cfg: Any, checkpoint: Path) -> Any:
        """train: the base tokenizer (None: pipeline.model.loading.load_tokenizer's)."""
        return None

    def train_model(self, cfg: Any, checkpoint: Path, tokenizer: Any, train_df: pd.DataFrame,
                    val_df: pd.DataFrame, state: Any, work: Path) -> tuple | None:  # fmt: skip
        """train: (best model, device) from the task's own loop (None: train/loop.py's)."""
        return None

    def run_record(self, cfg: Any, model: Any, tokenizer: Any, val_df: pd.DataFrame) -> dict:
        """train: extra run.json fields measured on the trained model."""
        return {}

    def evaluate_stage(self, cfg: Any, model_ref: str | None, classifier: str | None) -> Any:
        """evaluate: the whole stage's result when the task has its own (None: classification)."""
        if classifier is not None:
            from pipeline.errors import PipelineError

            raise PipelineError("--classifier is for task text-generation (it checks samples)")
        return None

    def serve_app(self, cfg: Any, ref: Any) -> tuple[Any, Any] | None:
        """serve: (FastAPI app, service) when the task has its own (None: serve/app.py's)."""
        return None

    def publish_card(self, cfg: Any, run_name: str, repo_id: str, record: dict,
                     force: bool) -> tuple[str, list[tuple[str, Path]]] | None:  # fmt: skip
        """publish: (card text, extra [(path in repo, file)]) of the task's own card (None:
        the classification card, pipeline/publish/modelcard.py)."""
        return None
