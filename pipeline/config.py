"""One typed configuration for every stage, loaded from YAML.

    python -m pipeline.config --config configs/default.yaml            # print the resolved config
    python -m pipeline.config --config configs/default.yaml --get train.run_name

Each stage reads only its own section. Unknown keys, missing required keys and values of the
wrong type are errors that name the key. Single keys can be overridden from the command line
with dotted names: ``--set split.seed=1 --set train.learning_rate=3e-5`` (values are parsed as
YAML, so ``1e-5``, ``true`` and ``[a, b]`` mean what they look like).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from pipeline.errors import PipelineError

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
    # Column holding the label of the row's sentences (AI-Hub: 감정_소분류).
    label_column: str = "감정_소분류"
    # Optional column with the label's major group (AI-Hub: 감정_대분류); null if none.
    group_column: str | None = "감정_대분류"
    # Numbers or dates found in a text column: "convert" them to text, or "reject" the file.
    non_text: Literal["convert", "reject"] = "convert"
    # One example per text cell ("sentence") or per row ("row": the row's text cells joined).
    unit: Literal["sentence", "row"] = "sentence"
    # Text of an example built from columns, e.g. "{상황키워드} {성별} | {text}"; {text} is the
    # sentence (unit sentence) or the joined text cells (unit row); null: just {text}.
    template: str | None = None


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
    # Metric watched after every epoch.
    monitor: Literal["val_accuracy", "val_loss"] = "val_accuracy"
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
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    # Seed for Python, NumPy and TensorFlow.
    seed: int = 42
    # Ask TensorFlow for deterministic ops (slower).
    deterministic: bool = False
    # mixed_float16 on GPU; ignored on CPU.
    mixed_precision: bool = False

    def __post_init__(self) -> None:
        # The run directory is replaced as a whole: "" or ".." would replace models/ or worse.
        parts = self.run_name.replace("\\", "/").split("/")
        if Path(self.run_name).is_absolute() or any(p in ("", ".", "..") for p in parts):
            raise PipelineError(
                f"train.run_name {self.run_name!r} must be a name under models/, such as 'demo' "
                "or 'sweep/trial' (no empty, '.' or '..' parts, not absolute)"
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
class ServeConfig:
    # Address to bind (127.0.0.1: this machine only); --host / --port override.
    host: str = "127.0.0.1"
    port: int = 8000
    # Micro-batching: concurrent requests run through the model together. false: every request
    # calls the TextClassificationPipeline on its own (the naive service the bench compares).
    batching: bool = True
    # Most sentences run through the model together.
    max_batch_size: int = 32
    # How long the first request of a batch waits for company, in milliseconds.
    max_wait_ms: float = 5.0
    # Most sentences in one request.
    max_inputs: int = 64
    # Largest request body, in bytes (larger ones are refused before they are parsed).
    max_body_bytes: int = 65536
    # Emotions returned when the request does not say.
    top_k: int = 5
    # Seconds a request body may take to arrive in full; a slower one gets 408 and is closed.
    body_timeout_s: float = 10.0
    # Seconds an idle keep-alive connection stays open after its last response (uvicorn's).
    keep_alive_s: float = 5.0


@dataclass(frozen=True)
class Config:
    model: ModelConfig
    ingest: IngestConfig
    # Directory every relative path is resolved against (data/, models/, reports/ live here).
    root: str = "."
    prepare: PrepareConfig = field(default_factory=PrepareConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    publish: PublishConfig = field(default_factory=PublishConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def read_yaml_mapping(path: Path, what: str) -> dict[str, Any]:
    """The top-level mapping of a YAML file (``what``: "config", "sweep", for the messages)."""
    if not path.is_file():
        raise PipelineError(f"{what} file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PipelineError(
            f"{path}: not a UTF-8 text file (byte {exc.start} is {exc.object[exc.start]:#04x}); "
            f"give a YAML {what} file"
        ) from None
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise PipelineError(yaml_error_line(path, exc)) from None
    if not isinstance(raw, dict):
        raise PipelineError(f"{path}: the top level must be a mapping")
    return raw


def yaml_error_line(path: Path, exc: yaml.YAMLError) -> str:
    """``path:line:column: not valid YAML: problem (context)`` in one line."""
    mark = getattr(exc, "problem_mark", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    return f"{where}: not valid YAML: {problem}" + (f" ({context})" if context else "")


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Read a YAML config, apply ``key.sub=value`` overrides, and build a checked Config."""
    path = Path(path)
    raw = read_yaml_mapping(path, "config")
    for item in overrides or []:
        key, value = parse_override(item)
        set_dotted(raw, key, value)
    return from_dict(Config, raw, where=str(path))


def parse_override(item: str) -> tuple[str, Any]:
    """``"train.learning_rate=3e-5"`` -> ``("train.learning_rate", 3e-05)``."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise PipelineError(f"override {item!r} must look like section.key=value")
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError as exc:
        raise PipelineError(f"override {item!r}: value is not valid YAML: {exc}") from exc
    # YAML 1.1 reads 3e-5 as a string; numbers people type should stay numbers.
    if isinstance(value, str):
        try:
            value = float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            pass
    return key.strip(), value


def set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    """Set ``raw["a"]["b"] = value`` for ``key = "a.b"``, creating sections as needed."""
    node = raw
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise PipelineError(f"override {key!r}: {part!r} is not a section")
        node = child
    node[parts[-1]] = value


def with_overrides(cfg: Config, values: dict[str, Any]) -> Config:
    """A new Config with dotted keys replaced (used by sweeps); checked like a loaded one."""
    raw = cfg.to_dict()
    for key, value in values.items():
        set_dotted(raw, key, value)
    return from_dict(Config, raw, where="overrides")


T = typing.TypeVar("T")


def from_dict(cls: type[T], raw: Any, where: str, prefix: str = "") -> T:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys and wrong types."""
    if not isinstance(raw, dict):
        raise PipelineError(f"{where}: {prefix.rstrip('.') or 'config'} must be a mapping")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        names = ", ".join(prefix + k for k in unknown)
        raise PipelineError(f"{where}: unknown config key(s): {names}")
    values = {}
    for name, f in fields.items():
        key = prefix + name
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise PipelineError(f"{where}: missing required config key: {key}")
            continue
        values[name] = _coerce(hints[name], raw[name], where, key)
    try:
        return cls(**values)
    except PipelineError as exc:  # a value check of the section (__post_init__)
        raise PipelineError(f"{where}: {exc}") from exc


def _coerce(tp: Any, value: Any, where: str, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value if value is not None else {}, where, key + ".")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, where, key)
    if origin is Literal:
        if value not in args:
            allowed = ", ".join(repr(a) for a in args)
            raise PipelineError(f"{where}: {key} must be one of {allowed}, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise PipelineError(f"{where}: {key} must be a list, got {value!r}")
        return [_coerce(args[0], v, where, f"{key}[{i}]") for i, v in enumerate(value)]
    if tp is float:
        if isinstance(value, str) and re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+", value):
            value = float(value)  # YAML 1.1 reads 2e-5 (no dot) as text; it is a number
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PipelineError(f"{where}: {key} must be a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise PipelineError(f"{where}: {key} must be an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise PipelineError(f"{where}: {key} must be true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise PipelineError(f"{where}: {key} must be text, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {tp!r} for {key}")  # a bug in this module


def check_training_values(cfg: Config) -> None:
    """Value checks of the model and train sections, beyond their types (train, sweep)."""
    t = cfg.train
    for key, value in (("learning_rate", t.learning_rate), ("batch_size", t.batch_size)):
        if not (value > 0 and math.isfinite(value)):
            raise PipelineError(f"train.{key} must be a positive number, got {value!r}")
    if t.epochs < 1:
        raise PipelineError(f"train.epochs must be at least 1, got {t.epochs}")
    if cfg.model.max_seq_len < 3:
        raise PipelineError(f"model.max_seq_len must be at least 3, got {cfg.model.max_seq_len}")
    if not 0 <= t.warmup_ratio < 1:
        raise PipelineError(f"train.warmup_ratio must be in [0, 1), got {t.warmup_ratio}")
    if not 0 <= t.label_smoothing < 1:
        raise PipelineError(f"train.label_smoothing must be in [0, 1), got {t.label_smoothing}")
    if not (t.head_lr_multiplier > 0 and math.isfinite(t.head_lr_multiplier)):
        raise PipelineError(
            f"train.head_lr_multiplier must be a positive number, got {t.head_lr_multiplier}"
        )
    for key, value in (
        ("weight_decay", t.weight_decay),
        ("early_stopping.min_delta", t.early_stopping.min_delta),
        ("early_stopping.patience", t.early_stopping.patience),
    ):
        if not (value >= 0 and math.isfinite(value)):
            raise PipelineError(f"train.{key} must be zero or more, got {value}")
    if not 0 <= t.seed <= 2**32 - 1:
        raise PipelineError(f"train.seed must be in [0, 2**32 - 1], got {t.seed}")


def get_dotted(cfg: Config, key: str) -> Any:
    node: Any = cfg
    for part in key.split("."):
        if not dataclasses.is_dataclass(node) or not hasattr(node, part):
            raise PipelineError(f"unknown config key: {key}")
        node = getattr(node, part)
    return node


def main(argv: list[str] | None = None) -> int:
    from pipeline.cli import add_config_args, run_cli

    parser = argparse.ArgumentParser(description="Print the resolved config, or one key of it.")
    add_config_args(parser)
    parser.add_argument("--get", help="dotted key to print, e.g. train.run_name")

    def work(args: argparse.Namespace, cfg: Config) -> None:
        value = get_dotted(cfg, args.get) if args.get else cfg
        if dataclasses.is_dataclass(value):  # the whole config or a section: YAML
            value = yaml.safe_dump(dataclasses.asdict(value), allow_unicode=True, sort_keys=False)
        print(value)  # noqa: T201

    return run_cli(parser, work, argv, quiet=True)


if __name__ == "__main__":
    raise SystemExit(main())
