"""Text classification: one sentence -> one of N labels (the emotion classifier), and sentence
pairs -> one of N labels (NLI, KLUE-NLI): the two ``Task``s of this package.

An example is one string, or a tuple ``(text, text_pair)`` stored in the columns ``text`` and
``text_pair``: the pair is read as BERT reads pairs, ``[CLS] text [SEP] text_pair [SEP]`` with
token_type_ids 0 then 1, truncated ``longest_first`` within ``model.max_seq_len``. The model is
``TFBertForSequenceClassification`` either way; its pieces live beside this file: fit.py (the
fit spec, the linear-probe head), calibrated.py (the temperature fitted on the validation split
after training, and the report's calibration section), evaluate.py (the report against the
TF-IDF and the frozen-encoder baselines), serve.py (requests, answers, predict's columns),
card.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from pipeline.calibration import Calibration
from pipeline.config import Config, IngestConfig, PrepareConfig
from pipeline.errors import PipelineError
from pipeline.model.loading import SEQ, ModelRef, load_tokenizer, resolve_base_model
from pipeline.paths import Paths
from pipeline.tables.files import pairs_from_sheet
from pipeline.tables.sentences import template_columns
from pipeline.tables.workbooks import read_book, read_sentences
from pipeline.tasks.base import Card, Encoded, EvaluateRequest, Evaluation, Prepared, Task
from pipeline.tasks.classification.card import EMOTION, NLI, SEPARATOR

PAIR_SCHEMA = {
    "type": "object",
    "required": ["text", "text_pair"],
    "properties": {"text": {"type": "string"}, "text_pair": {"type": "string"}},
}


class TextClassification(Task):
    """One text per example; ``token_type_ids`` are all zeros (None here)."""

    name = "text-classification"
    auto_model = SEQ
    # The page serve shows at / (pipeline/serve/static/) and the API's example request.
    page: ClassVar[str] = "index.html"
    example_inputs: ClassVar[Any] = "오늘 시험에 붙어서 너무 기뻐"
    inputs_schema: ClassVar[dict[str, Any]] = {
        "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
    }
    # Examples the server runs once before it says it is ready (traces the first shapes).
    warm_up: ClassVar[tuple[Any, ...]] = (
        "오늘 정말 기분이 좋아요",
        "친구가 약속을 어겨서 화가 나요. 정말 억울해요",
    )
    card_pieces: ClassVar[dict[str, Any]] = EMOTION  # the model card's words (card.py)
    onnx_refusal = None  # python -m pipeline.export writes onnx/ (pipeline/export/)

    # --- config and data ------------------------------------------------------------------

    def check_config(self, cfg: Config) -> None:
        super().check_config(cfg)
        if cfg.ingest.text_pair_columns is not None:
            raise PipelineError(
                f"ingest.text_pair_columns is set but task is {cfg.task!r}: set "
                "task: text-pair-classification, or remove ingest.text_pair_columns"
            )
        template_columns(cfg.ingest)  # a bad template stops before any file is read

    def read_file(self, path: Path, cfg: IngestConfig, keep: list[str]) -> pd.DataFrame:
        return read_sentences(path, cfg, keep)

    def prepare(self, kept: pd.DataFrame, cfg: PrepareConfig, paths: Paths) -> Prepared:
        table = None if cfg.label_table is None else paths.resolve(cfg.label_table)
        return Prepared(kept, {}, table)

    def input_columns(self, cfg: IngestConfig) -> list[str | None]:
        """The text column(s) evaluate --input reads by default (None: the one text column)."""
        return [None]

    def baseline_text(self, examples: Sequence[Any]) -> list[str]:
        """What the TF-IDF baseline reads for each example."""
        return list(examples)

    def pipeline_inputs(self, examples: Sequence[Any]) -> list[Any]:
        """The examples as transformers' TextClassificationPipeline takes them."""
        return list(examples)

    def parse_inputs(self, inputs: Any, max_inputs: int) -> list[Any]:
        """A request's ``inputs`` -> examples; RequestError (4xx) naming the problem."""
        from pipeline.inference.api import parse_texts

        return parse_texts(inputs, max_inputs)

    # --- fit ------------------------------------------------------------------------------

    def base_checkpoint(self, cfg: Config, paths: Paths, train_df: pd.DataFrame) -> Path:
        return resolve_base_model(cfg.model.name_or_path, paths)

    def load_tokenizer(self, cfg: Config, checkpoint: Path) -> Any:
        return load_tokenizer(checkpoint)

    def fit_spec(self, cfg: Config, checkpoint: Path, tokenizer: Any, train_df: pd.DataFrame,
                 val_df: pd.DataFrame, labels: dict[str, Any]) -> Any:  # fmt: skip
        from pipeline.tasks.classification.fit import classifier_spec

        return classifier_spec(self, cfg, checkpoint, tokenizer, train_df, val_df, labels)

    def calibrate(self, cfg: Config, model: Any, tokenizer: Any, val_df: pd.DataFrame,
                  labels: dict[str, Any]) -> Calibration | None:  # fmt: skip
        from pipeline.tasks.classification.calibrated import fit_calibration

        return fit_calibration(self, cfg, model, tokenizer, val_df)

    def check_model(self, config: Any, where: str) -> None:
        if getattr(config, "problem_type", None) == "multi_label_classification":
            raise PipelineError(
                f"{where} is a multi-label model (problem_type multi_label_classification), "
                f"not a {self.name} one: use task multi-label-classification"
            )

    # --- evaluate, serve, publish ---------------------------------------------------------

    def evaluate(self, request: EvaluateRequest) -> Evaluation:
        from pipeline.tasks.classification.evaluate import evaluate

        return evaluate(self, request)

    def server(self, cfg: Config, ref: ModelRef) -> Any:
        from pipeline.inference.server import BatchedServer
        from pipeline.tasks.classification.serve import ClassifierAnswers

        return BatchedServer(cfg, ref, ClassifierAnswers(self, cfg.serve.min_score))

    def labeller(self, cfg: Config, model: str | None, batch_size: int) -> Any:
        from pipeline.tasks.classification.serve import ClassifierLabeller

        return ClassifierLabeller(self, cfg, model, batch_size)

    def card(self, cfg: Config, ref: ModelRef, repo_id: str, record: dict[str, Any],
             force: bool) -> Card:  # fmt: skip
        from pipeline.tasks.classification.card import card

        return card(cfg, ref, repo_id, record, force, self.card_pieces)

    def export_check(self, ref: ModelRef, tokenizer: Any, id2label: dict[int, str],
                     max_len: int, batch_size: int) -> Any:  # fmt: skip
        from pipeline.tasks.classification.backends import ClassifierExport

        return ClassifierExport(self, tokenizer, id2label, max_len, batch_size)


class TextPairClassification(TextClassification):
    """A pair ``(text, text_pair)`` per example (NLI): premise and hypothesis."""

    name = "text-pair-classification"
    columns = ("text", "text_pair")
    page = "pair.html"
    example_inputs = {
        "text": "나는 오늘 친구와 영화를 봤다.",
        "text_pair": "나는 오늘 영화관에 갔다.",
    }
    inputs_schema = {"oneOf": [PAIR_SCHEMA, {"type": "array", "items": PAIR_SCHEMA}]}
    card_pieces = NLI
    warm_up = (
        ("나는 오늘 친구와 영화를 봤다.", "나는 오늘 영화관에 갔다."),
        ("지수는 어제 도서관에서 책을 읽었다.", "지수는 어제 집에만 있었다. 하루 종일 잠을 잤다."),
    )

    def check_config(self, cfg: Config) -> None:
        Task.check_config(self, cfg)
        pair_columns = cfg.ingest.text_pair_columns
        if pair_columns is None or len(pair_columns) != 2 or len(set(pair_columns)) != 2:
            raise PipelineError(
                "task text-pair-classification reads two columns per row: set "
                "ingest.text_pair_columns to [first, second], e.g. [premise, hypothesis] "
                f"(got {pair_columns!r})"
            )
        if cfg.ingest.template is not None or cfg.ingest.unit != "sentence":
            raise PipelineError(
                "ingest.template and ingest.unit: row apply to single-text tasks; a pair task "
                "reads its two ingest.text_pair_columns as they are"
            )

    def read_file(self, path: Path, cfg: IngestConfig, keep: list[str]) -> pd.DataFrame:
        return read_book(path, cfg, pairs_from_sheet, keep, cfg.text_pair_columns)

    def example_word(self, cfg: IngestConfig) -> str:
        return "pairs"

    def examples(self, df: pd.DataFrame) -> list[Any]:
        return list(zip(df["text"].tolist(), df["text_pair"].tolist(), strict=True))

    def texts(self, examples: Sequence[Any]) -> list[str]:
        return [t for pair in examples for t in pair]

    def encode(self, tokenizer: Any, examples: Sequence[Any], max_len: int | None) -> Encoded:
        firsts, seconds = [a for a, _ in examples], [b for _, b in examples]
        truncation = "longest_first" if max_len is not None else False
        enc = tokenizer(firsts, seconds, truncation=truncation, max_length=max_len, verbose=False)
        return enc["input_ids"], enc.get("token_type_ids")  # None without segments (XLM-R)

    def input_columns(self, cfg: IngestConfig) -> list[str | None]:
        return list(cfg.text_pair_columns or [None, None])

    def baseline_text(self, examples: Sequence[Any]) -> list[str]:
        return [a + SEPARATOR + b for a, b in examples]

    def pipeline_inputs(self, examples: Sequence[Any]) -> list[Any]:
        return [{"text": a, "text_pair": b} for a, b in examples]

    def show(self, example: Any) -> str:
        return example[0] + SEPARATOR + example[1]

    def parse_inputs(self, inputs: Any, max_inputs: int) -> list[Any]:
        from pipeline.tasks.classification.serve import parse_pairs

        return parse_pairs(inputs, max_inputs)
