"""The config schema: one frozen dataclass per section, a default and a comment per key.

Each stage reads only its own section. Loading and overrides: pipeline/config/loading.py;
the generated reference of every key: docs/config.md (``make docs``).

Long because: every key of every section is here with its comment and its check, so that one
file is the whole reference (docs/config.md is generated from it).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pipeline.config.generation import GenerateConfig
from pipeline.config.serving import ServeConfig
from pipeline.errors import PipelineError

MAX_SEED = 2**32 - 1  # what NumPy and TensorFlow seeds accept
MAX_NAME_BYTES = 200  # a run name part, leaving room for .<name>.work under 255 bytes

# ---------------------------------------------------------------------------------------------
# Sections. Every field has a default unless a config must say it; a comment says what it does.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IngestConfig:
    # Workbooks to read: paths or globs, relative to the project root.
    files: list[str]
    # Sheets to read from each workbook; null reads every sheet.
    sheets: list[str] | None = None
    # Columns holding text; each non-empty cell becomes one example (AI-Hub: 사람문장1..3).
    text_columns: list[str] = field(default_factory=lambda: ["사람문장1", "사람문장2", "사람문장3"])
    # task text-pair-classification: the two columns of a row's pair, e.g. [premise,
    # hypothesis] (stored as text, text_pair); null for single-text tasks.
    text_pair_columns: list[str] | None = None
    # Column holding the label of the row's sentences (AI-Hub: 감정_소분류).
    label_column: str = "감정_소분류"
    # Optional column with the label's major group (AI-Hub: 감정_대분류); null if none.
    group_column: str | None = "감정_대분류"
    # Numbers or dates found in a text column: "convert" them to text, or "reject" the file.
    non_text: Literal["convert", "reject"] = "convert"
    # Text encoding of .csv files (also predict --input and evaluate --input): "auto" tries
    # UTF-8 (with or without BOM), UTF-16 with a BOM, then cp949/EUC-KR (Excel's "CSV" on
    # Korean Windows) and logs which it used; or name one of them.
    encoding: Literal["auto", "utf-8", "utf-16", "cp949", "euc-kr"] = "auto"
    # One example per text cell ("sentence") or per row ("row": the row's text cells joined).
    unit: Literal["sentence", "row"] = "sentence"
    # Text of an example built from columns, e.g. "{상황키워드} {성별} | {text}"; {text} is the
    # sentence (unit sentence) or the joined text cells (unit row); null: just {text}.
    template: str | None = None
    # task token-classification: the entity types inline markup (<부산:LC>) and KLUE's BIO
    # tags may use, e.g. [PS, LC, OG, DT, TI, QT]; an unknown one stops ingest naming the row.
    # null: any upper-case name.
    entity_types: list[str] | None = None
    # task multi-label-classification: one 0/1 column per label, the column names being the
    # label names (instead of label_column holding the labels); null reads label_column.
    label_columns: list[str] | None = None


@dataclass(frozen=True)
class PrepareConfig:
    # Excel label table mapping each label name to an integer id; null derives it from the
    # data (sorted by major group, then name; ids 0..n-1).
    label_table: str | None = None
    # Sheet of the label table; null takes the first sheet.
    label_table_sheet: str | None = None
    # Column of the label table with the label name.
    label_name_column: str = "감정_소분류"
    # Column of the label table with the integer id.
    label_id_column: str = "id"
    # task multi-label-classification: what separates the labels in a label cell ("기쁨, 설렘");
    # a label holding it ("당황, 놀람") is matched whole against the label table's names.
    label_separator: str = ","


@dataclass(frozen=True)
class SplitConfig:
    # train/validation/test shares; must sum to 1.
    ratios: list[float] = field(default_factory=lambda: [0.6, 0.2, 0.2])
    # Seed of the stratified shuffle.
    seed: int = 42
    # Drop classes too small to appear in every split (logged) instead of stopping.
    drop_small_classes: bool = False
    # Keep groups whole: a column ingest keeps (the dialogue id 번호), or "row" (the source
    # row: one dialogue); null splits sentence by sentence.
    group_column: str | None = None

    def __post_init__(self) -> None:
        ratios = self.ratios
        if any(not math.isfinite(r) for r in ratios):
            raise PipelineError(f"split.ratios must be finite shares, got {ratios}")
        # a split needs rows in all three parts: [1, 0, 0] would stop only in the split stage
        if len(ratios) != 3 or any(r <= 0 for r in ratios) or abs(sum(ratios) - 1) > 1e-6:
            raise PipelineError(
                "split.ratios must be 3 positive shares (train/validation/test) summing to 1, "
                f"e.g. [0.6, 0.2, 0.2]; got {ratios}"
            )
        if not 0 <= self.seed <= MAX_SEED:
            raise PipelineError(f"split.seed must be in [0, {MAX_SEED}], got {self.seed}")


@dataclass(frozen=True)
class ModelConfig:
    # Base checkpoint: a Hub id (klue/bert-base), a local directory, or
    # "package:<python package>" for a checkpoint shipped inside an installed package.
    name_or_path: str
    # Tokens per sentence after truncation (the base model's position embeddings are the cap).
    max_seq_len: int = 128
    # Keep only the word pieces the training texts use (plus single characters and special
    # tokens): a far smaller embedding matrix for multilingual checkpoints (SentencePiece only).
    trim_vocab: bool = False


@dataclass(frozen=True)
class EarlyStoppingConfig:
    # Metric watched after every epoch (val_entity_f1: micro entity F1 on the validation
    # split, task token-classification only; val_micro_f1: micro F1 of the labels at 0.5,
    # task multi-label-classification only).
    monitor: Literal["val_accuracy", "val_loss", "val_entity_f1", "val_micro_f1"] = "val_accuracy"
    # Smallest change that counts as an improvement.
    min_delta: float = 0.001
    # Epochs without improvement before stopping (0: stop at the first one).
    patience: int = 0


@dataclass(frozen=True)
class TrainConfig:
    # Run directory name under models/.
    run_name: str = "run"
    # Most epochs to train.
    epochs: int = 10
    # Examples per step.
    batch_size: int = 64
    # Peak learning rate.
    learning_rate: float = 2e-5
    # "adam": constant rate (the source setup); "adamw": warmup then linear decay.
    optimizer: Literal["adam", "adamw"] = "adam"
    # Share of the steps spent warming up (adamw only).
    warmup_ratio: float = 0.0
    # Decoupled weight decay (adamw only).
    weight_decay: float = 0.0
    # Label smoothing of the cross-entropy, in [0, 1) (0: plain sparse cross-entropy).
    label_smoothing: float = 0.0
    # "balanced": weight each training example by n / (classes x its class's count) (sklearn).
    class_weights: Literal["none", "balanced"] = "none"
    # The new head (variables named *classifier* or *pooler*) trains at learning_rate x this.
    head_lr_multiplier: float = 1.0
    # How the classification head starts: "random" (transformers' initialisation) or "probe"
    # (a logistic regression on the frozen encoder's pooled output, a new pooler set to the
    # identity: linear probing, then fine-tuning; docs/train.md).
    head_init: Literal["random", "probe"] = "random"
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    # Seed for Python, NumPy and TensorFlow.
    seed: int = 42
    # Ask TensorFlow for deterministic ops (slower).
    deterministic: bool = False
    # mixed_float16 on GPU; ignored on CPU.
    mixed_precision: bool = False
    # tf.distribute strategy: "auto" (multi_worker when TF_CONFIG names several workers, else
    # mirrored on several GPUs, else none), "none" (one device), "mirrored" (all local GPUs, or
    # logical CPUs), "multi_worker" (MultiWorkerMirroredStrategy from TF_CONFIG). docs/cluster.md
    distribute: Literal["auto", "none", "mirrored", "multi_worker"] = "auto"

    def __post_init__(self) -> None:
        # The run directory is replaced as a whole: "" or ".." would replace models/ or worse.
        parts = self.run_name.replace("\\", "/").split("/")
        if Path(self.run_name).is_absolute() or any(p in ("", ".", "..") for p in parts):
            raise PipelineError(
                f"train.run_name {self.run_name!r} must be a name under models/, such as 'demo' "
                "or 'sweep/trial' (no empty, '.' or '..' parts, not absolute)"
            )
        if any(len(p.encode()) > MAX_NAME_BYTES for p in parts):
            raise PipelineError(
                f"train.run_name {self.run_name[:40]!r}...: each part must be at most "
                f"{MAX_NAME_BYTES} bytes (it names directories)"
            )


@dataclass(frozen=True)
class EvaluateConfig:
    # Split to evaluate.
    split: Literal["train", "validation", "test"] = "test"
    # Sentences per prediction batch.
    batch_size: int = 64
    # Labels in the evaluated file that the model does not know: "error" stops, "skip" drops
    # them and reports how many.
    unknown_labels: Literal["error", "skip"] = "error"


@dataclass(frozen=True)
class PublishConfig:
    # Hub repository "user/name"; --repo overrides it.
    repo_id: str | None = None
    # Create the repository as private.
    private: bool = True
    # Branch to push to.
    revision: str = "main"
    # License written into the model card.
    license: str = "cc-by-nc-4.0"
    # Dataset ids named in the model card metadata.
    datasets: list[str] = field(default_factory=list)
    # Commit message; null: "Upload <run> (test accuracy ..., macro F1 ...)". --message overrides.
    commit_message: str | None = None
    # Hub id written as base_model in the card; null: model.name_or_path when it is a Hub id,
    # else the base checkpoint's config.json "_name_or_path" when that is one.
    base_model: str | None = None
    # Where the training data came from, as the card names it (and its web page, if any);
    # null: the workbook names from ingest.files.
    dataset_name: str | None = None
    dataset_url: str | None = None
    # Seconds to wait for the Hub to connect or answer one call before giving up on it.
    timeout_s: float = 60.0


@dataclass(frozen=True)
class TrackingConfig:
    # Record every train, sweep and evaluate on an MLflow tracking server and register what
    # publish pushes (docs/tracking.md; needs the tracking extra, which `make setup` installs).
    enabled: bool = False
    # Tracking server, e.g. http://127.0.0.1:5000 (`make mlflow`); null: the
    # MLFLOW_TRACKING_URI environment variable.
    uri: str | None = None
    # MLflow experiment of the runs (created when missing); null: the config's task.
    experiment: str | None = None
    # Tags set on every run, e.g. {team: nlp, corpus: aihub}.
    tags: dict[str, str] = field(default_factory=dict)
    # Registry name of the model versions publish registers; null: the Hub repo with its "/"
    # as "-" (alice/ko-emotion -> alice-ko-emotion; the registry allows no "/").
    registered_model: str | None = None

    def __post_init__(self) -> None:
        # MLflow keeps keys up to 250 characters; a tag is also a param "tracking.tags.<key>"
        for key in self.tags:
            if not key.strip() or len(key) > 200:
                raise PipelineError(
                    f"tracking.tags: a key must be 1 to 200 characters, got {key[:40]!r}"
                    f"{'...' if len(key) > 40 else ''} ({len(key)} characters)"
                )
        for name in ("experiment", "registered_model"):
            value = getattr(self, name)
            if value is not None and (not value.strip() or "'" in value or '"' in value):
                raise PipelineError(f"tracking.{name} must be a name without quotes, got {value!r}")


@dataclass(frozen=True)
class Config:
    model: ModelConfig
    ingest: IngestConfig
    # What the model does: one text -> a label, a pair of texts (NLI) -> a label, a sentence
    # -> its named entities (NER), a prompt -> its continuation (text generation, a causal
    # LM), or one text -> any number of labels (multi-label) (pipeline/tasks/; docs/tasks.md).
    task: Literal[
        "text-classification", "text-pair-classification", "token-classification",
        "text-generation", "multi-label-classification",
    ] = "text-classification"  # fmt: skip
    # Directory every relative path is resolved against (data/, models/, reports/ live here).
    root: str = "."
    prepare: PrepareConfig = field(default_factory=PrepareConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    publish: PublishConfig = field(default_factory=PublishConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    # task text-generation: condition prefix, sample prompts, decoding defaults, serve limits.
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    # Experiment tracking on MLflow (off unless tracking.enabled).
    tracking: TrackingConfig = field(default_factory=TrackingConfig)

    # Checks between sections that depend on the task (text_pair_columns for pairs, the
    # early-stopping metric, ...) are the task's own: pipeline.tasks.task_for(cfg).

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
