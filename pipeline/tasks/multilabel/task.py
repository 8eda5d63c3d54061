"""Multi-label classification: one sentence -> any number of N labels (a sigmoid per label).

Korean emotion data is often multi-label (KOTE scores 43 emotions per comment). A stored row is
``text``, ``labels`` (the JSON list of its label names) and ``label`` (the set's key, what the
data stages count); the model is ``TFBertForSequenceClassification`` with
``problem_type="multi_label_classification"``. The pieces live beside this file: data.py (label
cells, 0/1 columns, the label table), fit.py (BCE, micro F1, the calibration: one temperature
and a threshold per label), metrics.py and evaluate.py (the report against TF-IDF + one-vs-rest
logistic regression), serve.py (answers with ``selected`` labels, predict), card.py,
backends.py (the ONNX export's check and evaluate's table of backends: a sentence's label set
at the run's thresholds compared).
The single-label classifier's reading of sentences (columns, encoding, request parsing) is
inherited from ``TextClassification``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.calibration import Calibration
from pipeline.config import Config, IngestConfig, PrepareConfig
from pipeline.errors import PipelineError
from pipeline.model.loading import ModelRef
from pipeline.paths import Paths
from pipeline.tasks.base import (
    Card,
    EvaluateRequest,
    Evaluation,
    LabelNames,
    Prepared,
    Task,
)
from pipeline.tasks.classification.task import TextClassification
from pipeline.tasks.multilabel.card import MULTILABEL
from pipeline.tasks.multilabel.data import PROBLEM_TYPE

logger = logging.getLogger("pipeline.data.prepare")


class MultiLabelClassification(TextClassification):
    name = "multi-label-classification"
    stored_columns = ("labels",)
    monitors = ("val_micro_f1", "val_loss")
    page = "multilabel.html"
    example_inputs = "시험에 붙어서 기쁘고 도와준 친구에게 정말 고마웠다."
    card_pieces = MULTILABEL
    onnx_refusal = None  # exported as a classifier; its label sets compared (backends.py)

    def check_config(self, cfg: Config) -> None:
        Task.check_config(self, cfg)
        t = cfg.train
        if t.label_smoothing or t.class_weights != "none":
            raise PipelineError(
                "task multi-label-classification: train.label_smoothing and train.class_weights "
                "are for one label per sentence; set them to 0 and none"
            )
        if cfg.ingest.text_pair_columns is not None:
            raise PipelineError(f"ingest.text_pair_columns is set but task is {cfg.task!r}")
        if cfg.split.group_column is not None:
            raise PipelineError(
                "split.group_column: multi-label rows are split by iterative stratification, "
                "sentence by sentence; set split.group_column to null"
            )
        if not cfg.prepare.label_separator.strip():
            raise PipelineError("prepare.label_separator must not be empty or whitespace")
        columns = cfg.ingest.label_columns
        if columns is not None and (len(columns) < 2 or len(set(columns)) != len(columns)):
            raise PipelineError(
                f"ingest.label_columns needs two or more distinct columns, got {columns!r}"
            )

    # --- data -----------------------------------------------------------------------------

    def read_file(self, path: Path, cfg: IngestConfig, keep: list[str]) -> pd.DataFrame:
        from pipeline.tasks.multilabel.data import read_file

        return read_file(path, cfg, keep)

    def prepare(self, kept: pd.DataFrame, cfg: PrepareConfig, paths: Paths) -> Prepared:
        from pipeline.tasks.multilabel.data import prepare_frame

        frame, stats = prepare_frame(kept, cfg, paths)
        pairs = sorted(
            ((a, b, n) for a, row in stats["cooccurrence"].items() for b, n in row.items()
             if a < b and n),
            key=lambda x: -x[2],
        )  # fmt: skip
        logger.info(
            "%d labels (%s): counts %s; labels per sentence %s; most frequent pairs %s "
            "(all in labels.json's cooccurrence)",
            len(stats["labels"]), stats["label_source"], stats["label_counts"],
            stats["labels_per_example"], [f"{a}+{b}: {n}" for a, b, n in pairs[:5]],
        )  # fmt: skip
        table = {} if cfg.label_table is None else {"label_table": paths.resolve(cfg.label_table)}
        # prepare numbers the label sets (split's counts); the labels are the names above
        names = LabelNames(stats["label_counts"], stats["label_source"])
        log = "%d label sets %s (what split counts; the labels are logged above), written to %s"
        return Prepared(frame, stats, None, names, table, log)

    def blank_labels(self, labels: pd.Series, cfg: PrepareConfig) -> pd.Series:
        """A cell of nothing but separators and spaces (``,``, `` , ``, ``,,``) has no label."""
        bare = labels.astype("string").str.replace(cfg.label_separator, "", regex=False)
        return Task.blank_labels(self, bare, cfg)

    def split_labels(self, df: pd.DataFrame) -> list[list[str]]:
        from pipeline.tasks.multilabel.data import label_sets

        return label_sets(df)

    def split_classes(self, labels: dict[str, Any]) -> list[str]:
        from pipeline.tasks.multilabel.data import run_names

        return run_names(labels)

    # --- fit ------------------------------------------------------------------------------

    def fit_spec(self, cfg: Config, checkpoint: Path, tokenizer: Any, train_df: pd.DataFrame,
                 val_df: pd.DataFrame, labels: dict[str, Any]) -> Any:  # fmt: skip
        from pipeline.tasks.multilabel.fit import multilabel_spec

        return multilabel_spec(self, cfg, checkpoint, tokenizer, train_df, val_df, labels)

    def run_labels(self, labels: dict[str, Any]) -> dict[str, Any]:
        keep = ("label_source", "label_counts", "labels_per_example", "cooccurrence")
        return {"id2label": labels["labels"], "label2group": {},
                **{k: labels[k] for k in keep if k in labels}}  # fmt: skip

    def calibrate(self, cfg: Config, model: Any, tokenizer: Any, val_df: pd.DataFrame,
                  labels: dict[str, Any]) -> Calibration | None:  # fmt: skip
        from pipeline.tasks.multilabel.fit import calibrate

        return calibrate(self, cfg, model, tokenizer, val_df, labels)

    # --- evaluate, serve, publish ---------------------------------------------------------

    def evaluate(self, request: EvaluateRequest) -> Evaluation:
        from pipeline.tasks.multilabel.evaluate import evaluate

        return evaluate(self, request)

    def server(self, cfg: Config, ref: ModelRef) -> Any:
        from pipeline.tasks.multilabel.serve import MultiLabelAnswers, MultiLabelServer

        return MultiLabelServer(cfg, ref, MultiLabelAnswers(self))

    def labeller(self, cfg: Config, model: str | None, batch_size: int) -> Any:
        from pipeline.tasks.multilabel.serve import MultiLabelLabeller

        return MultiLabelLabeller(self, cfg, model, batch_size)

    def card(self, cfg: Config, ref: ModelRef, repo_id: str, record: dict[str, Any],
             force: bool) -> Card:  # fmt: skip
        from pipeline.tasks.multilabel.card import card

        return card(cfg, ref, repo_id, record, force, self.card_pieces)

    def check_model(self, config: Any, where: str) -> None:
        if getattr(config, "problem_type", None) != PROBLEM_TYPE:
            raise PipelineError(
                f"{where} is not a multi-label model (its problem_type is "
                f"{getattr(config, 'problem_type', None)!r}, not {PROBLEM_TYPE}): use the task "
                "it was trained for"
            )

    def export_check(self, ref: ModelRef, tokenizer: Any, id2label: dict[int, str],
                     max_len: int, batch_size: int) -> Any:  # fmt: skip
        from pipeline.tasks.multilabel.backends import MultiLabelExport

        return MultiLabelExport(self, ref, tokenizer, id2label, max_len, batch_size)
