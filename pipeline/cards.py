"""The model card (README.md) of a model that predicts labels: YAML metadata + body.

``build_card(CardInputs) -> str`` is pure: the task's card role (classification, pairs, NER)
reads the run directory and the evaluation report (``label_card``) and hands their contents in
with its own pieces (``task_card``: what the model is, tags, the usage code, its limitations,
which metrics the model-index and the table show). The metadata is built with huggingface_hub's
``ModelCardData`` (language, license, library, pipeline tag, tags, base model, datasets and a
``model-index``), so the Hub and ``ModelCard`` read it back.

Long because: most of it is the card's text, a template that reads top to bottom.
"""

from __future__ import annotations

import contextlib
import html
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config import Config
from pipeline.errors import PipelineError
from pipeline.io import read_json
from pipeline.model.loading import HUB_ID, ModelRef, resolve_base_model
from pipeline.paths import Paths, RunDir

logger = logging.getLogger("pipeline.publish")
FIGURE_IN_REPO = "figures/confusion_matrix.png"


@dataclass(frozen=True)
class CardInputs:
    """Everything the card says, already read from disk."""

    repo_id: str
    run_name: str
    id2label: dict[str, str]
    label2group: dict[str, str]
    # reports/<run>/metrics.json (docs/contracts.md); None when published with --force.
    metrics: dict[str, Any] | None
    # models/<run>/run.json; {} when the run has none.
    run_record: dict[str, Any]
    license: str
    datasets: list[str] = field(default_factory=list)
    base_model: str | None = None
    dataset_name: str | None = None
    dataset_url: str | None = None
    # Path of the confusion-matrix figure inside the repo, or None.
    figure: str | None = None
    # The task's card pieces (pipeline/tasks/*: "intro" (a format string), "tags",
    # "task_name", "task_type", "pipeline_tag", "eval_results", "eval_rows", "label_word",
    # "stratum", "example", "widget", "usage", "limitations".
    task_card: dict[str, Any] = field(default_factory=dict)


def is_hub_id(name: str | None) -> bool:
    """``klue/bert-base`` is a Hub id; ``package:x``, ``./dir`` and ``/abs/path`` are not."""
    return bool(name) and not str(name).startswith((".", "/", "~")) and bool(HUB_ID.match(name))


def card_metadata(inp: CardInputs) -> Any:
    """The ``ModelCardData`` of the card (validated by huggingface_hub on construction)."""
    from huggingface_hub import EvalResult, ModelCardData

    eval_results = None
    if inp.metrics:
        dataset_type = inp.datasets[0] if inp.datasets else "custom"
        dataset_name = _dataset_name(inp)
        split = str(inp.metrics.get("split", "test"))
        common = {
            "task_type": inp.task_card["task_type"],
            "task_name": inp.task_card["task_name"],
            "dataset_type": dataset_type,
            "dataset_name": dataset_name,
            "dataset_split": split,
        }
        eval_results = [  # the task's metrics: (type, name, metrics key, args)
            EvalResult(**common, metric_type=kind, metric_name=name, metric_args=args,
                       metric_value=float(inp.metrics[key]))
            for kind, name, key, args in inp.task_card["eval_results"]
        ]  # fmt: skip
    return ModelCardData(
        language="ko",
        license=inp.license,
        library_name="transformers",
        pipeline_tag=inp.task_card["pipeline_tag"],
        tags=list(inp.task_card["tags"]),
        widget=inp.task_card.get("widget"),
        base_model=inp.base_model if is_hub_id(inp.base_model) else None,
        datasets=list(inp.datasets) or None,
        metrics=["accuracy", "f1"] if inp.metrics else None,
        model_name=inp.repo_id.split("/")[-1] if eval_results else None,
        eval_results=eval_results,
    )


def build_card(inp: CardInputs) -> str:
    """README.md text: ``---`` YAML metadata ``---`` then the markdown body."""
    meta = card_metadata(inp).to_yaml()
    body = "\n".join(
        [
            _intro(inp),
            _labels(inp),
            _data(inp),
            _training(inp),
            _evaluation(inp),
            _usage(inp),
            _limitations(inp),
        ]
    )
    return f"---\n{meta}\n---\n\n{body}"


# --------------------------------------------------------------------------------------------
# Body sections
# --------------------------------------------------------------------------------------------


def _intro(inp: CardInputs) -> str:
    groups = sorted({_md(g) for g in inp.label2group.values()})
    base = inp.base_model or _base_name_or_path(inp)
    ordered = sorted(inp.id2label.items(), key=lambda kv: int(kv[0]))
    text = inp.task_card["intro"].format(
        base=_code(base) if base else "a BERT checkpoint",
        n_labels=len(inp.id2label),
        groups=f" in {len(groups)} major groups ({', '.join(groups)})" if groups else "",
        labels=", ".join(_md(n) for _, n in ordered),
        run=_code(inp.run_name),
    )
    return f"# {_md(inp.repo_id.split('/')[-1])}\n\n{text}\n"


def _labels(inp: CardInputs) -> str:
    rows = [
        f"| {_md(i)} | {_md(name)} | {_md(inp.label2group.get(name, ''))} |"
        for i, name in sorted(inp.id2label.items(), key=lambda kv: int(kv[0]))
    ]
    word = inp.task_card["label_word"]
    return f"## Labels\n\n| id | {word} | major group |\n|---:|---|---|\n" + "\n".join(rows) + "\n"


def _data(inp: CardInputs) -> str:
    splits = (inp.run_record.get("data") or {}).get("splits") or {}
    lines = ["## Training data", ""]
    source = _md(_dataset_name(inp))
    url = inp.dataset_url
    safe_url = url and re.match(r"^https?://[^\s()<>\[\]]+$", url)
    lines.append(f"Source: [{source}]({url})" if safe_url else f"Source: {source}")
    lines.append("")
    split_cfg = (inp.run_record.get("config") or {}).get("split") or {}
    ratios = ":".join(f"{r * 10:g}" for r in split_cfg.get("ratios") or [])
    lines.append(
        f"Sentences are de-duplicated, then split {ratios or 'train/validation/test'} per "
        f"{inp.task_card['stratum']} "
        f"(stratified, seed {split_cfg.get('seed', '?')}) so that no sentence is in two splits."
    )
    if splits:
        lines += ["", "| split | sentences |", "|---|---:|"]
        lines += [
            f"| {_md(name)} | {_md(info.get('rows', '?'))} |" for name, info in splits.items()
        ]
    if inp.metrics and "n" in inp.metrics and "test" not in splits:
        lines.append(f"\nTest sentences evaluated: {_md(inp.metrics['n'])}")
    return "\n".join(lines) + "\n"


def _training(inp: CardInputs) -> str:
    rec = inp.run_record
    if not rec:
        return "## Training\n\nThe run directory has no training record (run.json).\n"
    train = (rec.get("config") or {}).get("train") or {}
    model = (rec.get("config") or {}).get("model") or {}
    es = train.get("early_stopping") or {}
    best = rec.get("best_metric") or {}
    versions = rec.get("versions") or {}
    rows = [
        ("base checkpoint", _code(_base_name_or_path(inp) or "?")),
        ("max sequence length", model.get("max_seq_len")),
        ("optimizer", train.get("optimizer")),
        ("learning rate", train.get("learning_rate")),
        ("batch size", train.get("batch_size")),
        ("max epochs", train.get("epochs")),
        (
            "early stopping",
            f"{es.get('monitor')}, min_delta {es.get('min_delta')}, patience {es.get('patience')}"
            if es
            else None,
        ),
        ("epochs run", rec.get("epochs_run")),
        ("best epoch (weights kept)", rec.get("best_epoch")),
        (f"best {best.get('name', 'metric')}", _num(best.get("value"))),
        ("stopped because", rec.get("stop_reason")),
        ("seed", train.get("seed")),
        ("device", rec.get("device")),
        (
            "libraries",
            ", ".join(
                f"{k} {versions[k]}" for k in ("tensorflow", "transformers") if k in versions
            ),
        ),
    ]
    table = "\n".join(
        f"| {_md(k)} | {v if k == 'base checkpoint' else _md(v)} |"
        for k, v in rows
        if v not in (None, "")
    )
    return "## Training\n\n| hyperparameter | value |\n|---|---|\n" + table + "\n"


def _evaluation(inp: CardInputs) -> str:
    m = inp.metrics
    if not m:
        return "## Evaluation\n\nThis model was published without an evaluation report.\n"
    base = m.get("baseline") or {}
    more = [b for b in [m.get("embedding_baseline")] if b]  # the frozen-encoder baseline
    rows = [(name, key, m.get(key)) for name, key in inp.task_card["eval_rows"]]
    for k in sorted((m.get("top_k_accuracy") or {}), key=int):
        if k != "1":
            rows.append((f"top-{k} accuracy", ("top_k_accuracy", k), m["top_k_accuracy"][k]))
    if m.get("group_accuracy") is not None:
        rows.append(("major-group accuracy", "group_accuracy", m["group_accuracy"]))

    def of(b: dict[str, Any], key: Any) -> Any:
        return (b.get(key[0]) or {}).get(key[1]) if isinstance(key, tuple) else b.get(key)

    raw_name = base.get("name", "baseline")
    names = [_md(raw_name), *(_md(b["name"]) for b in more)]
    split = _md(m.get("split", "test"))
    table = "\n".join(
        "| "
        + " | ".join(_md(_num(x)) for x in (k, v, of(base, key), *(of(b, key) for b in more)))
        + " |"
        for k, key, v in rows
        if v is not None
    )
    baselines = f"a {_code(raw_name)} baseline" + "".join(
        f" and a {_code(b['name'])} baseline" for b in more
    )
    text = (
        f"## Evaluation\n\nOn the held-out {split} split "
        f"({_md(m.get('n', '?'))} sentences), against {baselines} fitted on "
        "the same training split and scored on the same sentences:\n\n"
        f"| metric | this model | {' | '.join(names)} |\n|---|---:|{'---:|' * len(names)}\n"
        f"{table}\n"
    )
    if base.get("accuracy") is not None and base["accuracy"] >= m["accuracy"]:
        text += (
            f"\n**The {_code(raw_name)} baseline is at least as accurate as this model on this "
            "split.**\n"
        )
    if inp.figure:
        text += f"\n![Confusion matrix on the {split} split]({inp.figure})\n"
    return text


def _usage(inp: CardInputs) -> str:
    example = repr(inp.task_card["example"]).replace("'", '"')
    code = inp.task_card["usage"].format(repo=inp.repo_id, example=example)
    return f"## Usage\n\n```python\n{code}\n```\n" + inp.task_card.get("usage_note", "")


def _limitations(inp: CardInputs) -> str:
    return "## Limitations\n\n" + "".join(f"- {x}\n" for x in inp.task_card["limitations"])


# --------------------------------------------------------------------------------------------


def _dataset_name(inp: CardInputs) -> str:
    if inp.dataset_name:
        return inp.dataset_name
    files = ((inp.run_record.get("config") or {}).get("ingest") or {}).get("files") or []
    names = [str(f).rsplit("/", 1)[-1] for f in files]
    return "workbooks " + ", ".join(names) if names else "the project's workbooks"


def _base_name_or_path(inp: CardInputs) -> str | None:
    """The training run's model.name_or_path; a local directory is named, not located."""
    name = (inp.run_record.get("base_model") or {}).get("name_or_path") or (
        (inp.run_record.get("config") or {}).get("model") or {}
    ).get("name_or_path")
    if not name or is_hub_id(name) or name.startswith("package:"):
        return name
    return "local checkpoint " + name.rstrip("/").rsplit("/", 1)[-1]


def _md(value: Any) -> str:
    """Text from the data, safe in markdown and in the HTML it renders to: no tags, no entity,
    no table break, no link, one line."""
    text = " ".join(str(value).split())
    text = html.escape(text, quote=True)
    for char in "\\`[]|":
        text = text.replace(char, "\\" + char)
    return text


def _code(value: Any) -> str:
    """A name shown as inline code: backticks inside it are dropped, so it cannot break out."""
    text = " ".join(str(value).replace("`", "'").split())
    return f"`{text}`"


def _num(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


# --------------------------------------------------------------------------------------------
# Reading what the card says: the run directory and its held-out report
# --------------------------------------------------------------------------------------------


def label_card(
    cfg: Config, ref: ModelRef, repo_id: str, record: dict[str, Any], force: bool,
    task_card: dict[str, Any],
) -> tuple[str, list[tuple[str, Path]], dict[str, Any] | None]:  # fmt: skip
    """The card of a run that predicts labels (a classifier, NER), with the report files it
    shows: (card text, [(path in repo, file)], the report's metrics or None)."""
    paths, run = Paths.from_config(cfg), RunDir(ref.run_dir)
    labels = read_json_object(run.labels)
    check_label_names(run, labels)
    metrics_path = paths.report_dir(ref.name) / RunDir.METRICS
    metrics = read_metrics(metrics_path, ref.name, force, cfg.evaluate.split)
    for _, _, key, _ in task_card["eval_results"] if metrics else []:  # was a KeyError
        value = metrics.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PipelineError(
                f"{metrics_path}: {key} must be a number, got {value!r} (a report of another "
                "task? run evaluate with this config)"
            )
    figure = paths.figures_dir(ref.name) / "confusion_matrix.png"
    if metrics and not figure.is_file():
        logger.warning("no confusion-matrix figure at %s: the card goes without it", figure)
    files = [(RunDir.METRICS, metrics_path)] if metrics else []
    if metrics and figure.is_file():
        files.append((FIGURE_IN_REPO, figure))
    text = build_card(
        CardInputs(
            repo_id=repo_id,
            run_name=ref.name,
            id2label=labels.get("id2label") or {},
            label2group=labels.get("label2group") or {},
            metrics=metrics,
            run_record=record,
            license=cfg.publish.license,
            datasets=list(cfg.publish.datasets),
            base_model=base_model_id(cfg, record, paths),
            dataset_name=cfg.publish.dataset_name,
            dataset_url=cfg.publish.dataset_url,
            figure=FIGURE_IN_REPO if metrics and figure.is_file() else None,
            task_card=task_card,
        )
    )
    return text, files, metrics


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON file holding an object, or one error naming it."""
    if not path.is_file():
        raise PipelineError(f"{path} not found")
    try:
        data = read_json(path)
    except ValueError as exc:
        raise PipelineError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise PipelineError(f"{path}: expected a JSON object")
    return data


def check_label_names(run: RunDir, labels: dict[str, Any]) -> None:
    """config.json must carry the label names, or the Hub widget shows LABEL_n."""
    config = read_json_object(run.config)
    names = {str(k): v for k, v in (config.get("id2label") or {}).items()}
    expected = {str(k): v for k, v in (labels.get("id2label") or {}).items()}
    if not expected:
        raise PipelineError(f"{run.labels}: id2label is missing or empty")
    if names != expected:
        raise PipelineError(
            f"{run.config}: id2label does not match labels.json "
            "(the model would show the wrong label names)"
        )


def read_metrics(
    path: Path, run_name: str, force: bool, held_out: str = "test"
) -> dict[str, Any] | None:
    """The run's held-out report (metrics.json); None with ``force`` when there is none."""
    if not path.is_file():
        if force:
            logger.warning("no evaluation report %s; publishing without test metrics", path)
            return None
        raise PipelineError(
            f"no evaluation report {path}: run `make evaluate MODEL={run_name}` first, "
            "or pass --force to publish without test metrics"
        )
    metrics = read_json_object(path)
    for key in ("accuracy", "macro_f1"):
        value = metrics.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PipelineError(f"{path}: {key} must be a number, got {value!r}")
    if metrics.get("model") not in (None, run_name):
        raise PipelineError(f"{path}: the report is for model {metrics['model']!r}, not {run_name}")
    # The card calls these numbers held-out results: only evaluate's report on the config's
    # split may say so, never an ad-hoc `evaluate --input` report.
    if "input" in metrics or metrics.get("split") != held_out:
        what = (
            f"input {metrics['input']}" if "input" in metrics else f"split {metrics.get('split')!r}"
        )
        raise PipelineError(
            f"{path}: the report is of {what}, not the held-out {held_out!r} split: run "
            f"`make evaluate MODEL={run_name}` to write the {held_out} report"
        )
    return metrics


def base_model_id(cfg: Config, record: dict[str, Any], paths: Paths) -> str | None:
    """publish.base_model, else the run's base if it is a Hub id, else its config's origin."""
    if cfg.publish.base_model:
        return cfg.publish.base_model
    base = record.get("base_model") or {}
    name = base.get("name_or_path") or cfg.model.name_or_path
    if is_hub_id(name) and not paths.resolve(name).exists():
        return name
    checkpoint = Path(base["resolved"]) if base.get("resolved") else None
    if checkpoint is None or not checkpoint.is_dir():
        with contextlib.suppress(PipelineError):
            checkpoint = resolve_base_model(name, paths) if not is_hub_id(name) else None
    if checkpoint is not None and (checkpoint / "config.json").is_file():
        origin = read_json(checkpoint / "config.json").get("_name_or_path")
        if is_hub_id(origin) and not Path(origin).exists():
            return origin
    return None
