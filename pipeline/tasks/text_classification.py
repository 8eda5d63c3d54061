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
        from pipeline.inference.api import parse_texts

        return parse_texts(inputs, max_inputs)

    # --- Hooks for a task that trains no classifier (text generation overrides them) --------
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

    # --- Hooks for tasks whose model or stage bodies differ (token classification overrides
    # them). Each default is what the stages did before the hook existed; None means "the
    # stage's own code".

    # Columns a stored row carries besides ``columns`` that train and evaluate read.
    stored_columns: tuple[str, ...] = ()
    # transformers' TF auto class of a trained model of this task (load_trained).
    auto_model = "TFAutoModelForSequenceClassification"
    # The column predict --input adds (done rows are counted on it).
    output_column = "predicted_label"
    # Ingest's reader of one sheet's rows; None: sentences (or pairs) as configured.
    extractor: Any = None

    def read_file(self, path: Any, cfg: Any) -> pd.DataFrame | None:
        """Ingest a file this task reads itself (NER: .txt, .tsv); None: a workbook/CSV/JSON."""
        return None

    def prepare_frame(self, kept: pd.DataFrame, cfg: Any, paths: Any) -> tuple[Any, dict]:
        """Prepare's de-duplicated rows, and extra keys for labels.json (none here)."""
        return kept, {}

    def id2label(self, labels: dict[str, Any]) -> dict[int, str]:
        """The model's labels from labels.json."""
        return {int(i): name for i, name in labels["id2label"].items()}

    def run_labels(self, labels: dict[str, Any]) -> dict[str, Any] | None:
        """The run directory's labels.json; None: a copy of prepare's."""
        return None

    def targets(self, tokenizer: Any, df: pd.DataFrame, max_len: int | None, labels: dict) -> Any:
        """Training targets of a split frame: one label id per sentence."""
        return df["label_id"].to_numpy()

    def load_model(self, checkpoint: Any, id2label: dict[int, str]) -> Any:
        """The model to fine-tune; None: train's TFBertForSequenceClassification."""
        return None

    def init_head(self, model: Any, train: tuple, val: tuple, max_len: int, pad_id: int,
                  new_pooler: bool) -> dict[str, Any]:  # fmt: skip
        """train.head_init probe: the head from a linear probe (pipeline/fitting/head_init.py)."""
        from pipeline.fitting.head_init import init_probe_head

        return init_probe_head(model, train, val, max_len, pad_id, new_pooler)

    def loss(self, train_cfg: Any) -> Any:
        from pipeline.fitting.optimizer import make_loss

        return make_loss(train_cfg.label_smoothing)

    def train_metrics(self) -> list[Any]:
        import tf_keras

        return [tf_keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def epoch_callbacks(self, tokenizer: Any, val_df: pd.DataFrame, cfg: Any, labels: dict) -> list:
        """Callbacks run before the checkpoint callback at each epoch end (none here)."""
        return []

    def evaluate(self, cfg: Any, model_ref: str | None, input_file: Any, text_column: str | None,
                 label_column: str | None, config_path: str | None) -> Any:  # fmt: skip
        """Evaluate's whole body for a task with other metrics; None: the classifier's."""
        return None

    def evaluate_summary(self, metrics: dict[str, Any], n: int) -> str | None:
        """Evaluate's printed line; None: the classifier's."""
        return None

    def parse_request(self, body: Any, max_inputs: int, n_labels: int, top_k: int) -> Any:
        """A decoded /predict body -> (examples, top_k); RequestError (4xx) naming the problem."""
        from pipeline.inference.api import parse_request

        return parse_request(body, max_inputs, n_labels, top_k, self.parse_inputs)

    def predictor(self, loaded: Any, serve: Any) -> tuple[Any, int] | None:
        """(examples -> results, batch size) for serve; None: the classifier's probabilities."""
        return None

    def answers(self, results: Any, texts: Sequence[Any], id2label: dict, top_k: int) -> Any:
        """The /predict answer: per example, the top_k labels with scores."""
        from pipeline.inference.loaded import top_answers

        return top_answers(results, id2label, top_k)

    def annotate_table(self, df: pd.DataFrame, column: str, loaded: Any, batch_size: int) -> Any:
        """predict --input's output table; None: the classifier's label columns."""
        return None

    def print_answers(self, texts: list[str], loaded: Any, top_k: int) -> str | None:
        """predict's printed answers for sentences; None: the classifier's top-k lines."""
        return None
