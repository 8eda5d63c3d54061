"""Token classification (NER): a sentence in, its named entities (spans with a type) out.

Everything NER lives here and in ``pipeline/tasks/ner/``: markup.py (``<부산:LC>`` and KLUE's
character BIO), data.py (ingest's rows, prepare's tag set and strata), align.py (word pieces
<-> character spans), training.py (targets, masked loss, val entity F1), predict.py (batched
decoding), metrics.py (entity P/R/F1, dictionary baseline), report.py (evaluate's body),
render.py (its figure and report.md), serve.py (the Inference API's token-classification
shape, predict's sheet). docs/tasks.md explains the choices.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.errors import PipelineError
from pipeline.tasks.text_classification import TextClassification

EXAMPLE = "김민수는 3월 5일 부산에서 한국해양대학교 학생 20명을 만났다."


class TokenClassification(TextClassification):
    name = "token-classification"
    columns = ("text",)
    stored_columns = ("entities",)
    page = "ner.html"
    example_inputs = EXAMPLE
    warm_up = (EXAMPLE, "오늘 오후 3시에 서울역에서 만나요.")
    auto_model = "TFAutoModelForTokenClassification"
    output_column = "entities"
    card = {
        "what": "A Korean named-entity recognizer (people PS, places LC, organisations OG, "
        "dates DT, times TI, quantities QT)",
        "tags": ["tensorflow", "bert", "token-classification", "ner", "korean"],
        "task_name": "Named-entity recognition",
        "task_type": "token-classification",
        "pipeline_tag": "token-classification",
        "model_class": "TFBertForTokenClassification",
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

    # --- data -----------------------------------------------------------------------------

    def read_file(self, path: Path, cfg: Any) -> pd.DataFrame | None:
        from pipeline.tasks.ner.data import read_file

        return read_file(path, cfg)

    @property
    def extractor(self) -> Any:
        from pipeline.tasks.ner.data import sentences_from_sheet

        return sentences_from_sheet

    def prepare_frame(self, kept: pd.DataFrame, cfg: Any, paths: Any) -> tuple[Any, dict]:
        from pipeline.tasks.ner.data import prepare_frame

        return prepare_frame(kept, cfg, paths)

    # --- training -------------------------------------------------------------------------

    def id2label(self, labels: dict[str, Any]) -> dict[int, str]:
        if "tags" not in labels:
            raise PipelineError("labels.json has no NER tags: rerun `make data` with this config")
        return {int(i): t for i, t in labels["tags"].items()}

    def run_labels(self, labels: dict[str, Any]) -> dict[str, Any] | None:
        tags = labels["tags"]
        return {"id2label": tags, "label2group": {}, "entity_types": labels["entity_types"]}

    def targets(self, tokenizer: Any, df: pd.DataFrame, max_len: int | None, labels: dict) -> Any:
        from pipeline.tasks.ner.training import targets

        id2label = self.id2label(labels)
        return targets(tokenizer, df, max_len, [id2label[i] for i in range(len(id2label))])

    def load_model(self, checkpoint: Path, id2label: dict[int, str]) -> Any:
        from pipeline.model.loading import load_base_classifier

        return load_base_classifier(checkpoint, id2label, self.auto_model)

    def init_head(self, model: Any, train: tuple, val: tuple, max_len: int, pad_id: int,
                  new_pooler: bool) -> dict[str, Any]:  # fmt: skip
        from pipeline.errors import PipelineError

        raise PipelineError(
            "train.head_init: probe is for sequence classification; NER's head is per word "
            "piece: set train.head_init to random"
        )

    def loss(self, train_cfg: Any) -> Any:
        from pipeline.tasks.ner.training import masked_loss

        return masked_loss

    def train_metrics(self) -> list[Any]:
        from pipeline.tasks.ner.training import MaskedAccuracy

        return [MaskedAccuracy()]

    def epoch_callbacks(self, tokenizer: Any, val_df: pd.DataFrame, cfg: Any, labels: dict) -> list:
        from pipeline.tasks.ner.training import ValEntityF1

        return [ValEntityF1(tokenizer, val_df, cfg.model.max_seq_len, labels["entity_types"])]

    # --- evaluate, serve, predict -----------------------------------------------------------

    def evaluate(
        self,
        cfg: Any,
        model_ref: str | None,
        input_file: Any,
        text_column: str | None,
        label_column: str | None,
        config_path: str | None,
    ) -> Any:
        from pipeline.tasks.ner.report import evaluate

        return evaluate(cfg, model_ref, input_file, text_column, config_path)

    def evaluate_summary(self, metrics: dict[str, Any], n: int) -> str | None:
        m = metrics
        return (
            f"{m['model']}: entity F1 {m['entity_f1']:.4f} (precision {m['entity_precision']:.4f},"
            f" recall {m['entity_recall']:.4f}), macro F1 {m['macro_f1']:.4f}; dictionary "
            f"baseline entity F1 {m['baseline']['entity_f1']:.4f} on {n} sentences"
        )

    def parse_request(self, body: Any, max_inputs: int, n_labels: int, top_k: int) -> Any:
        from pipeline.tasks.ner.serve import parse_request

        return parse_request(body, max_inputs), top_k

    def predictor(self, loaded: Any, serve: Any) -> tuple[Any, int] | None:
        from pipeline.tasks.ner.serve import predictor

        return predictor(loaded.model, loaded.tokenizer, loaded.max_seq_len), serve.max_batch_size

    def answers(self, results: Any, texts: Sequence[Any], id2label: dict, top_k: int) -> Any:
        from pipeline.tasks.ner.serve import answers

        return answers(results, texts)

    def annotate(self, texts: list[str], loaded: Any) -> list[list[dict[str, Any]]]:
        """Entities of each text (predict's sheet column and printed lines)."""
        from pipeline.tasks.ner.serve import predictor

        return predictor(loaded.model, loaded.tokenizer, loaded.max_seq_len)(texts)

    def annotate_table(self, df: pd.DataFrame, column: str, loaded: Any, batch_size: int) -> Any:
        from pipeline.tasks.ner.serve import entities_column

        return entities_column(df, column, self.annotate, loaded)

    def print_answers(self, texts: list[str], loaded: Any, top_k: int) -> str | None:
        from pipeline.tasks.ner.markup import render_markup

        lines = []
        for text, found in zip(texts, self.annotate(texts, loaded), strict=True):
            lines.append(
                render_markup(text, [(e["start"], e["end"], e["entity_group"]) for e in found])
            )
            lines += [f"  {e['entity_group']}  {e['word']}  {e['score']:.3f}" for e in found]
        return "\n".join(lines)
