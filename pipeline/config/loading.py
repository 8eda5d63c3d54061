"""Loading a config: YAML -> the typed ``Config``, dotted ``--set`` overrides, checks.

Unknown keys, missing required keys, values of the wrong type and a section or key written
twice in one mapping (YAML would silently keep the last) are errors that name the key (and the
file and line). Single keys can be overridden from the command line with dotted names:
``--set split.seed=1 --set train.learning_rate=3e-5`` (values are parsed as YAML, so ``1e-5``,
``true`` and ``[a, b]`` mean what they look like; a text key takes the value as written, so
``--set train.run_name=1.0`` names the run "1.0").
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml

from pipeline.config.schema import Config
from pipeline.errors import PipelineError


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
        check_unique_keys(path, yaml.compose(text, Loader=yaml.SafeLoader))
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise PipelineError(yaml_error_line(path, exc)) from None
    if not isinstance(raw, dict):
        raise PipelineError(f"{path}: the top level must be a mapping")
    return raw


def check_unique_keys(path: Path, node: yaml.Node | None, prefix: str = "") -> None:
    """Refuse a mapping that names a key twice: ``path:line:column: ... appears twice``.

    YAML keeps the last copy and drops the first without a word, so a second ``train:`` section
    would silently undo the first. Keys merged in with ``<<:`` may be overridden (that is what
    merging is for).
    """
    if isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            check_unique_keys(path, item, f"{prefix}[{i}]")
        return
    if not isinstance(node, yaml.MappingNode):
        return
    first: dict[str, int] = {}
    for key_node, value_node in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
            continue
        dotted = f"{prefix}.{key_node.value}" if prefix else key_node.value
        mark = key_node.start_mark
        if key_node.value in first:
            raise PipelineError(
                f"{path}:{mark.line + 1}:{mark.column + 1}: section or key {dotted!r} appears "
                f"twice (first on line {first[key_node.value]}); YAML would keep only the last, "
                "so write it once"
            )
        first[key_node.value] = mark.line + 1
        check_unique_keys(path, value_node, dotted)


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
        if (
            not isinstance(value, str)
            and _takes_text(key)
            and not (value is None and _optional(key))
        ):
            value = item.partition("=")[2].strip()  # a run name "1.0" or "2024" stays as written
        set_dotted(raw, key, value)
    return from_dict(Config, raw, where=str(path))


def _key_type(key: str) -> Any:
    """The declared type of dotted ``key`` in the Config schema, or None for an unknown key."""
    tp: Any = Config
    for part in key.split("."):
        if not dataclasses.is_dataclass(tp):
            return None
        hints = typing.get_type_hints(tp)
        if part not in hints:
            return None
        tp = hints[part]
    return tp


def _takes_text(key: str) -> bool:
    tp = _key_type(key)
    return tp is str or (typing.get_origin(tp) in (typing.Union, types.UnionType)
                         and str in typing.get_args(tp))  # fmt: skip


def _optional(key: str) -> bool:
    return type(None) in typing.get_args(_key_type(key))


def parse_override(item: str) -> tuple[str, Any]:
    """``"train.learning_rate=3e-5"`` -> ``("train.learning_rate", 3e-05)``."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise PipelineError(f"override {item!r} must look like section.key=value")
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PipelineError(f"override {item!r}: value is not valid YAML: {problem}") from exc
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
    if origin is dict:
        if not isinstance(value, dict):
            raise PipelineError(f"{where}: {key} must be a mapping, got {value!r}")
        return {
            _coerce(args[0], k, where, f"{key} key"): _coerce(args[1], v, where, f"{key}.{k}")
            for k, v in value.items()
        }
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
        if isinstance(value, bool | int | float):  # YAML read 1.0, 2024 or yes as a value
            raise PipelineError(f"{where}: {key} must be text, got {value!r} (quote it: '{value}')")
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
