"""The sweep file: its schema, and the trials it defines (pure: no processes, no files but it).

A sweep file names a base config and the values to try, as dotted config keys; see
pipeline/sweep/stage.py for an example and docs/config.md for every key. ``expand`` checks
each axis against the config schema (the key exists, is not a section, every value has the right
type) and names the trials from their values (``lr2e-05_bs64``).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pipeline.config import (
    Config,
    check_training_values,
    from_dict,
    get_dotted,
    read_yaml_mapping,
    with_overrides,
)
from pipeline.errors import PipelineError
from pipeline.tasks import task_for

ALIASES = {
    "learning_rate": "lr",
    "batch_size": "bs",
    "epochs": "ep",
    "max_seq_len": "len",
    "warmup_ratio": "wu",
    "weight_decay": "wd",
    "optimizer": "opt",
}
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
SET_BY_SWEEP = ("train.run_name",)  # keys no axis may change
TRAINED_FROM = ("model.", "train.")  # the sections a train run reads


@dataclass(frozen=True)
class TrialResources:
    # CPUs a Ray trial reserves (its `python -m pipeline.train` process).
    cpu: float = 1.0
    # GPUs a Ray trial reserves (fractions share one GPU).
    gpu: float = 0.0


@dataclass(frozen=True)
class SweepConfig:
    # Sweep name: reports/sweeps/<name>/ and models/<name>/<trial>/.
    name: str
    # Base config every trial starts from.
    base: str
    # Validation metric that picks the best trial (never the test split; val_entity_f1: NER).
    metric: Literal["val_accuracy", "val_loss", "val_entity_f1"] = "val_accuracy"
    # Trials running at once, each in its own process (local engine).
    parallel: int = 1
    # Where trials run: local processes, or Ray Tune trials on a Ray cluster (docs/cluster.md).
    engine: Literal["local", "ray"] = "local"
    # Ray engine: what each trial reserves; the cluster runs as many at once as fit.
    resources_per_trial: TrialResources = field(default_factory=TrialResources)
    # Ray engine: none runs every trial to its end; asha stops poor trials early (Tune's ASHA
    # on the sweep's metric per epoch).
    scheduler: Literal["none", "asha"] = "none"
    # Dotted keys applied to the base for every trial.
    overrides: dict[str, Any] = field(default_factory=dict)
    # Grids of {dotted key: [values]}: every combination of each grid is a trial (`grid:` for
    # a single one).
    grids: list[dict[str, list[Any]]] = field(default_factory=list)
    # Explicit trials: {dotted key: value}.
    trials: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Trial:
    name: str
    values: dict[str, Any]  # axis key -> value
    cfg: Config  # base + overrides + values, run_name = <sweep>/<trial>


# --------------------------------------------------------------------------------------------
# The sweep file and its trials (pure)
# --------------------------------------------------------------------------------------------


def load_sweep(path: str | Path) -> SweepConfig:
    path = Path(path)
    raw = read_yaml_mapping(path, "sweep")
    where = str(path)
    # from_dict checks the plain keys; the mappings of dotted keys are checked here.
    parts = {k: raw.pop(k) for k in ("overrides", "grid", "grids", "trials") if k in raw}
    sweep = from_dict(SweepConfig, raw, where)
    if not NAME.fullmatch(sweep.name):
        raise PipelineError(f"{where}: name {sweep.name!r} may hold only letters, digits, _.+-")
    if sweep.parallel < 1:
        raise PipelineError(f"{where}: parallel must be at least 1, got {sweep.parallel}")
    _check_ray_keys(sweep, where)
    grids = parts.get("grids") or []
    if not isinstance(grids, list):
        raise PipelineError(f"{where}: grids must be a list of mappings")
    grids = ([parts["grid"]] if parts.get("grid") is not None else []) + grids
    trials = parts.get("trials") or []
    if not isinstance(trials, list):
        raise PipelineError(f"{where}: trials must be a list of mappings")
    if not grids and not trials:
        raise PipelineError(f"{where}: defines no trials (give grid, grids or trials)")
    return dataclasses.replace(
        sweep,
        overrides=_mapping(parts.get("overrides") or {}, f"{where}: overrides", empty=True),
        grids=[_mapping(g, f"{where}: grids[{i}]") for i, g in enumerate(grids)],
        trials=[_mapping(t, f"{where}: trials[{i}]") for i, t in enumerate(trials)],
    )


def _check_ray_keys(sweep: SweepConfig, where: str) -> None:
    res = sweep.resources_per_trial
    for key, value in (("cpu", res.cpu), ("gpu", res.gpu)):
        if not (math.isfinite(value) and value >= 0):
            raise PipelineError(
                f"{where}: resources_per_trial.{key} must be 0 or more, got {value}"
            )
    if res.cpu == 0 and res.gpu == 0:
        raise PipelineError(f"{where}: resources_per_trial must reserve a cpu or a gpu")
    if sweep.engine == "local" and sweep.scheduler != "none":
        raise PipelineError(f"{where}: scheduler {sweep.scheduler} needs engine: ray")


def _mapping(raw: Any, where: str, empty: bool = False) -> dict[str, Any]:
    if not isinstance(raw, dict) or not (raw or empty):
        raise PipelineError(f"{where} must be a non-empty mapping of dotted config keys")
    return {str(k): _number(v) for k, v in raw.items()}


def _number(value: Any) -> Any:
    """YAML 1.1 reads 2e-5 as text; numbers people type stay numbers (as in --set)."""
    if isinstance(value, list):
        return [_number(v) for v in value]
    if isinstance(value, str) and NUMBER.fullmatch(value.strip()):
        return float(value) if any(c in value for c in ".eE") else int(value)
    return value


def expand(sweep: SweepConfig, base: Config, where: str = "sweep") -> list[Trial]:
    """Every trial of the sweep, checked against the config schema, duplicates merged."""
    for key, value in sweep.overrides.items():
        _check_axis(base, key, value, f"{where}: overrides", what="")
    base = _apply(base, sweep.overrides, f"{where}: overrides")
    combos: list[tuple[str, dict[str, Any]]] = []
    for i, grid in enumerate(sweep.grids):
        at = f"{where}: grids[{i}]"
        for key, values in grid.items():
            if not isinstance(values, list):
                raise PipelineError(f"{at}: axis {key} must be a list of values, got {values!r}")
            if not values:
                raise PipelineError(f"{at}: axis {key} is empty (give at least one value)")
            for value in values:
                _check_axis(base, key, value, at)
        combos += [(at, dict(zip(grid, c, strict=True))) for c in itertools.product(*grid.values())]
    for i, values in enumerate(sweep.trials):
        for key, value in values.items():
            _check_axis(base, key, value, f"{where}: trials[{i}]")
        combos.append((f"{where}: trials[{i}]", values))
    trials: list[Trial] = []
    seen: dict[str, dict[str, Any]] = {}
    for at, values in combos:
        name = trial_name(values)
        if name in seen:  # two one-axis grids meeting at the base point: one trial
            if seen[name] != values:
                raise PipelineError(f"{at}: trial name {name} also names {seen[name]}")
            continue
        seen[name] = values
        cfg = with_overrides(base, values | {"train.run_name": f"{sweep.name}/{name}"})
        try:  # what train would refuse, refused before any trial starts
            check_training_values(cfg)
            task_for(cfg)  # the task's own checks (a probe head on NER, its monitors, ...)
        except PipelineError as exc:
            raise PipelineError(f"{at}: trial {name}: {exc}") from exc
        trials.append(Trial(name, values, cfg))
    return trials


def _apply(base: Config, values: dict[str, Any], at: str) -> Config:
    try:
        return with_overrides(base, values)
    except PipelineError as exc:
        raise PipelineError(f"{at}: {str(exc).removeprefix('overrides: ')}") from exc


def _check_axis(base: Config, key: str, value: Any, at: str, what: str = "axis ") -> None:
    if key in SET_BY_SWEEP:
        raise PipelineError(f"{at}: {what}{key}: the sweep sets {key} itself")
    if isinstance(value, float) and not math.isfinite(value):
        raise PipelineError(f"{at}: {what}{key}: {value} is not a finite number")
    try:
        current = get_dotted(base, key)
    except PipelineError:
        raise PipelineError(f"{at}: {what}{key}: no such config key") from None
    if dataclasses.is_dataclass(current):
        raise PipelineError(f"{at}: {what}{key} is a section: sweep one of its keys")
    if not key.startswith(TRAINED_FROM):
        raise PipelineError(
            f"{at}: {what}{key}: a trial trains from the model.* and train.* keys only "
            "(the data stages do not run per trial)"
        )
    _apply(base, {key: value}, f"{at}: {what}{key}")


def trial_name(values: dict[str, Any]) -> str:
    """``{"train.learning_rate": 2e-5, "train.batch_size": 64}`` -> ``lr2e-05_bs64``."""
    parts = []
    for key, value in values.items():
        last = key.rsplit(".", 1)[-1]
        parts.append(ALIASES.get(last, last) + format_value(value))
    return re.sub(r"[^A-Za-z0-9_.+-]", "-", "_".join(parts))


def format_value(value: Any) -> str:
    if isinstance(value, list):
        return "-".join(format_value(v) for v in value)
    if isinstance(value, float) and value != 0 and not 0.01 <= abs(value) < 1e5:
        mantissa, exponent = f"{value:.6e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{exponent}"
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)
