"""Token classification (NER): a sentence in, its named entities (spans with a type) out.

Everything NER lives in this package: markup.py (``<부산:LC>`` and KLUE's character BIO),
data.py (ingest's rows, prepare's tag set and strata), align.py (word pieces <-> character
spans), training.py (targets, masked loss, val entity F1), predict.py (batched decoding),
metrics.py (entity P/R/F1, dictionary baseline), evaluate.py (the evaluation), report.py (its
figure and report.md), serve.py (the Inference API's token-classification shape, predict's
lines and sheet), view.py (offsets of the text as sent). docs/tasks.md explains the choices.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.config import Config, IngestConfig, PrepareConfig
from pipeline.errors import PipelineError
from pipeline.model.loading import TOKEN, ModelRef, load_tokenizer, resolve_base_model
from pipeline.paths import Paths
from pipeline.tables.workbooks import read_book
from pipeline.tasks.base import Card, EvaluateRequest, Evaluation, Prepared, Task

EXAMPLE = "김민수는 3월 5일 부산에서 한국해양대학교 학생 20명을 만났다."


class TokenClassification(Task):
    name = "token-classification"
    columns = ("text",)
    stored_columns = ("entities",)
    auto_model = TOKEN
    monitors = ("val_entity_f1", "val_accuracy", "val_loss")
    onnx_refusal = None  # exported; evaluate, serve and predict take the ONNX backends
    example_inputs = EXAMPLE  # the API's example request
    card_pieces = {
        "intro": "A Korean named-entity recognizer (people PS, places LC, organisations OG, "
        "dates DT, times TI, quantities QT): `TFBertForTokenClassification` (TensorFlow) "
        "fine-tuned from {base}; labels: {labels}. Built by the korean-emotion-bert pipeline, "
        "training run {run}.",
        "tags": ["tensorflow", "bert", "token-classification", "ner", "korean"],
        "task_name": "Named-entity recognition",
        "task_type": "token-classification",
        "pipeline_tag": "token-classification",
        "example": EXAMPLE,
        "widget": [{"text": EXAMPLE}],
        "label_word": "tag",
        "stratum": "set of entity types",
        "limitations": [
            "Entities are tagged per word piece: an entity that ends inside a piece (`시에`, "
            "`수아가`) is returned with the whole piece; the report's tokenizer ceiling says how "
            "often that happens on the test split.",
            "Trained on the sentences of one corpus; other domains, informal text and very long "
            "inputs (served in overlapping windows of the max sequence length) may be tagged "
            "worse than the test numbers say.",
            "The test split comes from the same corpus as the training data, so the numbers are "
            "an upper bound for other data.",
            "Not for decisions about people without human review.",
        ],
        "eval_results": [
            ("f1", "Entity F1 (micro)", "entity_f1", None),
            ("precision", "Entity precision (micro)", "entity_precision", None),
            ("recall", "Entity recall (micro)", "entity_recall", None),
            ("f1", "Entity F1 (macro over types)", "macro_f1", {"average": "macro"}),
        ],
        "eval_rows": [
            ("entity F1 (micro)", "entity_f1"),
            ("entity precision", "entity_precision"),
            ("entity recall", "entity_recall"),
            ("entity F1 (macro)", "macro_f1"),
            ("token accuracy", "accuracy"),
        ],
        "usage": "from transformers import (AutoTokenizer, TFAutoModelForTokenClassification,\n"
        '                          TokenClassificationPipeline)\n\nrepo = "{repo}"\n'
        "tokenizer = AutoTokenizer.from_pretrained(repo)\n"
        "model = TFAutoModelForTokenClassification.from_pretrained(repo)\n"
        'ner = TokenClassificationPipeline(model=model, tokenizer=tokenizer, framework="tf",\n'
        '                                  aggregation_strategy="simple")\nprint(ner({example}))',
    }

    # --- config and data ------------------------------------------------------------------

    def check_config(self, cfg: Config) -> None:
        super().check_config(cfg)
        t = cfg.train
        if t.label_smoothing or t.class_weights != "none":
            raise PipelineError(
                "task token-classification: train.label_smoothing and train.class_weights "
                "apply to sentence labels; set them to 0 and none"
            )
        if t.head_init != "random":
            raise PipelineError(
                "train.head_init: probe is for sequence classification; NER's head is per word "
                "piece: set train.head_init to random"
            )
        if cfg.ingest.text_pair_columns is not None:
            raise PipelineError(
                f"ingest.text_pair_columns is set but task is {cfg.task!r}: remove it"
            )
        if cfg.ingest.template is not None or cfg.ingest.unit != "sentence":
            raise PipelineError(
                "ingest.template and ingest.unit: row do not apply to task "
                "token-classification: each text cell is one marked sentence, its entities "
                "at their places; remove them"
            )

    def read_file(self, path: Path, cfg: IngestConfig, keep: list[str]) -> pd.DataFrame:
        from pipeline.tasks.ner.data import read_file, sentences_from_sheet

        own = read_file(path, cfg)  # .txt (marked lines) and KLUE's .tsv
        if own is not None:
            return own
        return read_book(path, cfg, sentences_from_sheet, keep, cfg.text_columns)

    def prepare(self, kept: pd.DataFrame, cfg: PrepareConfig, paths: Paths) -> Prepared:
        from pipeline.tasks.ner.data import prepare_frame

        frame, extra = prepare_frame(kept, cfg, paths)  # labels: the sets of entity types
        return Prepared(frame, extra, None)

    # --- fit ------------------------------------------------------------------------------

    def base_checkpoint(self, cfg: Config, paths: Paths, train_df: pd.DataFrame) -> Path:
        return resolve_base_model(cfg.model.name_or_path, paths)

    def load_tokenizer(self, cfg: Config, checkpoint: Path) -> Any:
        return load_tokenizer(checkpoint)

    def tags(self, labels: dict[str, Any]) -> list[str]:
        """The BIO tags the model predicts, in id order (labels.json's ``tags``)."""
        if "tags" not in labels:
            raise PipelineError("labels.json has no NER tags: rerun `make data` with this config")
        return [labels["tags"][str(i)] for i in range(len(labels["tags"]))]

    def fit_spec(self, cfg: Config, checkpoint: Path, tokenizer: Any, train_df: pd.DataFrame,
                 val_df: pd.DataFrame, labels: dict[str, Any]) -> Any:  # fmt: skip
        from pipeline.fitting.loop import Examples, FitSpec
        from pipeline.model.loading import load_base_classifier
        from pipeline.tasks.ner.training import MaskedAccuracy, ValEntityF1, masked_loss, targets

        max_len, tags = cfg.model.max_seq_len, self.tags(labels)

        def examples(df: pd.DataFrame) -> Examples:
            ids, types = self.encode(tokenizer, self.examples(df), max_len)
            return Examples(ids, types, targets(tokenizer, df, max_len, tags))

        return FitSpec(
            train=examples(train_df),
            val=examples(val_df),
            build_model=lambda: load_base_classifier(checkpoint, dict(enumerate(tags)), TOKEN),
            loss=masked_loss,
            metrics=lambda: [MaskedAccuracy()],
            pad_id=tokenizer.pad_token_id or 0,
            callbacks=[ValEntityF1(tokenizer, val_df, max_len, labels["entity_types"])],
        )

    def run_labels(self, labels: dict[str, Any]) -> dict[str, Any]:
        return {
            "id2label": labels["tags"],
            "label2group": {},
            "entity_types": labels["entity_types"],
        }

    # --- evaluate, serve, publish ---------------------------------------------------------

    def evaluate(self, request: EvaluateRequest) -> Evaluation:
        from pipeline.tasks.ner.evaluate import evaluate

        return evaluate(request)

    def server(self, cfg: Config, ref: ModelRef) -> Any:
        from pipeline.tasks.ner.serve import EntityAnswers, EntityServer

        return EntityServer(cfg, ref, EntityAnswers(self))

    def labeller(self, cfg: Config, model: str | None, batch_size: int) -> Any:
        from pipeline.tasks.ner.serve import EntityLabeller

        return EntityLabeller(self, cfg, model, batch_size)

    def card(self, cfg: Config, ref: ModelRef, repo_id: str, record: dict[str, Any],
             force: bool) -> Card:  # fmt: skip
        from pipeline.cards import label_card

        text, files, metrics = label_card(cfg, ref, repo_id, record, force, self.card_pieces)
        return Card(text, files, metrics)

    def export_check(self, ref: ModelRef, tokenizer: Any, id2label: dict[int, str],
                     max_len: int, batch_size: int) -> Any:  # fmt: skip
        from pipeline.tasks.ner.predict import EntityExport

        return EntityExport(tokenizer, id2label, max_len, batch_size)
