"""``Task``: the roles every task fills, so the stages stay skeletons.

A stage asks the config's task (``task_for(cfg)``) for what differs and never tests its name:

- **config**: ``check_config`` (its own keys and values, at the start of every stage);
- **data**: ``read_file`` (ingest: one file -> examples), ``prepare`` (the rows prepare keeps
  -> labels), ``columns`` / ``examples`` / ``encode`` (what a stored row holds and how the model
  reads it), ``split_labels`` (what split stratifies on);
- **fit**: ``base_checkpoint``, ``load_tokenizer``, ``fit_spec`` (model, targets, loss, metrics
  and callbacks for the one fit loop, pipeline/fitting/), ``run_labels`` and ``run_record``
  (what the run directory keeps), ``calibrate`` (the temperature, and thresholds, fitted on the
  validation split after training: the run's calibration.json, pipeline/calibration.py);
- **evaluate**: ``evaluate`` scores a run and returns an ``Evaluation`` (metrics, the report's
  writer, the summary line) to the one evaluate skeleton;
- **serve**: ``server`` (the answers behind the one web app, pipeline/inference/server.py) and
  ``labeller`` (predict's printed answers and table columns);
- **card**: ``card`` (the model card and the report files published with the model);
- **export**: ``onnx_refusal`` (why the task's runs are not exported to ONNX, or None) and
  ``export_check`` (the logits the export compares, the label each prediction gets from them
  and the score its int8 gate compares, pipeline/export/).

Each task is one package under pipeline/tasks/ (classification/, ner/, generation/,
multilabel/); a new task is a new package and its name in the config schema's list (docs/tasks.md).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import pandas as pd

from pipeline.calibration import Calibration
from pipeline.config import Config, IngestConfig, PrepareConfig
from pipeline.errors import PipelineError
from pipeline.model.loading import ModelRef
from pipeline.paths import Paths

Encoded = tuple[list[list[int]], list[list[int]] | None]  # input_ids, token_type_ids or None


@dataclass(frozen=True)
class Prepared:
    """Prepare's rows with their ``label`` column, what labels.json adds, the label table."""

    frame: pd.DataFrame
    extra_labels: dict[str, Any] = field(default_factory=dict)
    # The label table that numbers the labels (prepare.label_table), or None: from the data.
    label_table: Path | None = None
    # The task's labels when prepare numbers something else (multi-label: prepare numbers the
    # label sets, the labels are labels.json's ``labels``); None: the labels numbered.
    names: LabelNames | None = None
    # Files the task read for its labels (prepare.run.json's inputs), by role.
    inputs: dict[str, Path] = field(default_factory=dict)
    # The log line of a table derived from the data (%d labels, %s source, %s labels.json).
    derived_log: str = (
        "no label table configured (prepare.label_table: null): %d labels %s, written to %s"
    )


@dataclass(frozen=True)
class LabelNames:
    """A task's labels for prepare's report: each one's sentence count in id order and where
    the names come from."""

    counts: dict[str, int]
    source: str


@dataclass(frozen=True)
class EvaluateRequest:
    """What the evaluate stage resolved: the run, the data to read and how to name it."""

    cfg: Config
    paths: Paths
    ref: ModelRef
    name: str  # models/<name>, the report's name
    run_info: dict[str, Any]  # the run's run.json ({} if absent)
    input_file: Path | None  # evaluate --input; None: the configured split
    text_column: str | None
    label_column: str | None
    classifier: str | None  # evaluate --classifier (text generation)
    command: str  # the command that reproduces the report


@dataclass(frozen=True)
class Evaluation:
    """What a task's evaluation gives the stage: metrics.json's content, ``write`` (the report's
    other files, into the directory it is given), the files read (the provenance record),
    extra run.json fields and the line the command prints."""

    metrics: dict[str, Any]
    n: int
    write: Callable[[Path], None]
    inputs: dict[str, Path]
    summary: str
    record: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Card:
    """A model card and the files published beside the run's model files."""

    text: str
    files: list[tuple[str, Path]] = field(default_factory=list)  # (path in repo, file)
    metrics: dict[str, Any] | None = None  # the report's metrics.json, when it has one


class Task(ABC):
    """One kind of model: its data, its fit, its evaluation, its answers and its card."""

    name: ClassVar[str]
    # Text columns of a stored row (sentences.parquet ... the split files).
    columns: ClassVar[tuple[str, ...]] = ("text",)
    # Columns a stored row carries besides ``columns`` that train and evaluate read.
    stored_columns: ClassVar[tuple[str, ...]] = ()
    # transformers' TF auto class of a trained model of this task (load_trained).
    auto_model: ClassVar[str]
    # What train.early_stopping.monitor may watch: the history's validation metrics.
    monitors: ClassVar[tuple[str, ...]] = ("val_accuracy", "val_loss")
    # Why ``python -m pipeline.export`` and the ONNX serve backends do not take this task's
    # runs; None: they do (export_check says what the export compares).
    onnx_refusal: ClassVar[str | None] = "its runs are not exported to ONNX"

    # --- config ---------------------------------------------------------------------------

    def check_config(self, cfg: Config) -> None:
        """The task's checks of the config beyond its types (a PipelineError naming the key)."""
        monitor = cfg.train.early_stopping.monitor
        if monitor not in self.monitors:
            raise PipelineError(
                f"train.early_stopping.monitor {monitor} is not a metric of task {self.name} "
                f"(it has {', '.join(self.monitors)})"
            )
        if cfg.serve.backend != "tf" and self.onnx_refusal:
            raise PipelineError(
                f"serve.backend {cfg.serve.backend}: task {self.name} {self.onnx_refusal}; "
                "use serve.backend tf"
            )

    # --- data -----------------------------------------------------------------------------

    @abstractmethod
    def read_file(self, path: Path, cfg: IngestConfig, keep: list[str]) -> pd.DataFrame:
        """Ingest: one input file -> its examples with their source (file, sheet, row)."""

    @abstractmethod
    def prepare(self, kept: pd.DataFrame, cfg: PrepareConfig, paths: Paths) -> Prepared:
        """Prepare: the de-duplicated rows -> their labels (and what labels.json adds)."""

    def blank_labels(self, labels: pd.Series, cfg: PrepareConfig) -> pd.Series:
        """Which label cells hold no label (prepare drops their rows as empty labels): missing,
        empty or whitespace; a multi-label cell of nothing but separators too."""
        return labels.isna() | (labels.astype("string").str.strip() == "")

    def example_word(self, cfg: IngestConfig) -> str:
        """What one example is called in ingest's messages."""
        return "sentences" if cfg.unit == "sentence" else "rows (one example each)"

    def examples(self, df: pd.DataFrame) -> list[Any]:
        """The examples of a frame with this task's ``columns``, in row order."""
        return df["text"].tolist()

    def texts(self, examples: Sequence[Any]) -> list[str]:
        """Every text in ``examples`` (the vocabulary trim reads them all)."""
        return list(examples)

    def encode(self, tokenizer: Any, examples: Sequence[Any], max_len: int | None) -> Encoded:
        """Token ids (and segment ids) of the examples, truncated at ``max_len`` (None: not):
        one text each, with the special tokens; segment ids all zeros (None)."""
        enc = tokenizer(
            list(examples), truncation=max_len is not None, max_length=max_len, verbose=False
        )
        return enc["input_ids"], None

    def split_labels(self, df: pd.DataFrame) -> list[list[str]]:
        """The labels each stored row spreads over the splits: its one ``label`` (NER: its set
        of entity types as one stratum); a multi-label task's label set (split then
        stratifies iteratively, pipeline/stratify.py)."""
        return [[label] for label in df["label"]]

    def split_classes(self, labels: dict[str, Any]) -> list[str]:
        """Classes split must find in every split even when no row has them (prepare's
        labels.json given): none here, the data's classes are checked; a multi-label task's
        label names (a label without sentences stops split like a small one)."""
        return []

    def show(self, example: Any) -> str:
        """One example as one line of text (logs, tables)."""
        return str(example)

    # --- fit ------------------------------------------------------------------------------

    @abstractmethod
    def base_checkpoint(self, cfg: Config, paths: Paths, train_df: pd.DataFrame) -> Path:
        """The checkpoint to fine-tune (model.name_or_path resolved, or built by the task)."""

    @abstractmethod
    def load_tokenizer(self, cfg: Config, checkpoint: Path) -> Any:
        """The base checkpoint's tokenizer, as the task needs it."""

    @abstractmethod
    def fit_spec(self, cfg: Config, checkpoint: Path, tokenizer: Any, train_df: pd.DataFrame,
                 val_df: pd.DataFrame, labels: dict[str, Any]) -> Any:  # fmt: skip
        """What the fit loop trains: a ``pipeline.fitting.loop.FitSpec``."""

    def training_key(self, cfg: Config) -> dict[str, Any]:
        """Config sections besides model and train that decide the trained weights."""
        return {}

    def run_labels(self, labels: dict[str, Any]) -> dict[str, Any]:
        """The run directory's labels.json, from prepare's."""
        return labels

    def run_record(self, cfg: Config, model: Any, tokenizer: Any, val_df: pd.DataFrame) -> dict:
        """run.json fields measured on the trained model."""
        return {}

    def calibrate(self, cfg: Config, model: Any, tokenizer: Any, val_df: pd.DataFrame,
                  labels: dict[str, Any]) -> Calibration | None:  # fmt: skip
        """The trained model's calibration fitted on the validation split (the run's
        calibration.json), or None: the task's scores are not calibrated."""
        return None

    def check_model(self, config: Any, where: str) -> None:
        """Refuse a trained model this task cannot read (``config``: its transformers config;
        ``where`` names it): a multi-label run given to a single-label task, or back."""
        return None

    # --- evaluate, serve, publish ---------------------------------------------------------

    @abstractmethod
    def evaluate(self, request: EvaluateRequest) -> Evaluation:
        """Score the run and say how to write its report (the stage writes it all at once)."""

    @abstractmethod
    def server(self, cfg: Config, ref: ModelRef) -> Any:
        """The answers behind the web app: a ``pipeline.inference.server.Server``."""

    @abstractmethod
    def labeller(self, cfg: Config, model: str | None, batch_size: int) -> Any:
        """predict's answers for ``model`` (a run name, sweep:<name>, path or Hub id; None: the
        config's run), loaded on first use: ``check_columns``, ``lines``, ``table``."""

    @abstractmethod
    def card(self, cfg: Config, ref: ModelRef, repo_id: str, record: dict[str, Any],
             force: bool) -> Card:  # fmt: skip
        """The model card, and the report files that go with it."""

    def export_check(self, ref: ModelRef, tokenizer: Any, id2label: dict[int, str],
                     max_len: int, batch_size: int) -> ExportCheck:  # fmt: skip
        """What the export compares between TensorFlow and its ONNX graphs (pipeline/export/)
        for the run ``ref`` (multi-label reads its calibration.json)."""
        raise PipelineError(f"task {self.name} {self.onnx_refusal}")


class ExportCheck(Protocol):
    """The export's view of a task: the split rows it checks, the logits it compares (one row
    per prediction: a sentence, or NER's word piece) of the TF model or an ``OnnxModel``, the
    label each prediction gets from them (parity wants every one the same), and the score its
    int8 quality gate compares. ``unit`` names the labels compared ("labels", "tags", "label
    sets"); ``rules`` says in words what a label and the score are (export.json keeps it)."""

    unit: str
    rules: dict[str, str]  # {"labels": ..., "score": ...}

    def rows(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows of a split the model can be scored on."""

    def logits(self, model: Any, frame: pd.DataFrame) -> Any:
        """(predictions, classes) float array of ``model`` on ``frame``."""

    def labels(self, logits: Any) -> Any:
        """Each prediction's label: (predictions,) ids, or (predictions, classes) 0/1 sets; two
        predictions agree when their rows are equal."""

    def score(self, frame: pd.DataFrame, logits: Any) -> tuple[str, float]:
        """(name, value) of the gate's score of those logits on ``frame``."""
