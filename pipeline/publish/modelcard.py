"""The model card (README.md) the publish stage pushes with the model: YAML metadata + body.

``build_card(CardInputs) -> str`` is pure: the publish stage reads the run directory and the
evaluation report and hands their contents in. The metadata is built with huggingface_hub's
``ModelCardData`` (language, license, library, pipeline tag, tags, base model, datasets and a
``model-index`` with the test accuracy and macro F1), so the Hub and ``ModelCard`` read it back.

Long because: most of it is the card's text, a template that reads top to bottom.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
TAGS = ["tensorflow", "bert", "text-classification", "korean", "emotion", "emotion-classification"]


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
    # The task's own card pieces (pipeline/tasks/): "what" (the intro's model description),
    # "tags", "task_name", "example" (the usage call's input), "widget"; {}: the emotion card.
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
            "task_type": inp.task_card.get("task_type", "text-classification"),
            "task_name": inp.task_card.get("task_name", "Emotion classification"),
            "dataset_type": dataset_type,
            "dataset_name": dataset_name,
            "dataset_split": split,
        }
        own = [  # the task's metrics (NER: entity F1, ...): (type, name, metrics key, args)
            EvalResult(**common, metric_type=kind, metric_name=name, metric_args=args,
                       metric_value=float(inp.metrics[key]))
            for kind, name, key, args in inp.task_card.get("eval_results", [])
        ]  # fmt: skip
        eval_results = own or [
            EvalResult(
                **common,
                metric_type="accuracy",
                metric_name="Accuracy",
                metric_value=float(inp.metrics["accuracy"]),
            ),
            EvalResult(
                **common,
                metric_type="f1",
                metric_name="Macro F1",
                metric_args={"average": "macro"},
                metric_value=float(inp.metrics["macro_f1"]),
            ),
        ]
    return ModelCardData(
        language="ko",
        license=inp.license,
        library_name="transformers",
        pipeline_tag=inp.task_card.get("pipeline_tag", "text-classification"),
        tags=list(inp.task_card.get("tags", TAGS)),
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
    base = _code(base) if base else "a BERT checkpoint"
    group_text = f" in {len(groups)} major groups ({', '.join(groups)})" if groups else ""
    if "what" in inp.task_card:
        ordered = sorted(inp.id2label.items(), key=lambda kv: int(kv[0]))
        names = ", ".join(_md(n) for _, n in ordered)
        return (
            f"# {_md(inp.repo_id.split('/')[-1])}\n\n"
            f"{inp.task_card['what']}: "
            f"`{inp.task_card.get('model_class', 'TFBertForSequenceClassification')}` "
            "(TensorFlow) fine-tuned "
            f"from {base}; labels: {names}. Built by the korean-emotion-bert pipeline, training "
            f"run {_code(inp.run_name)}.\n"
        )
    return (
        f"# {_md(inp.repo_id.split('/')[-1])}\n\n"
        f"A Korean emotion classifier: `TFBertForSequenceClassification` (TensorFlow) fine-tuned "
        f"from {base} to tell which of {len(inp.id2label)} emotions{group_text} a sentence "
        f"expresses. Built by the korean-emotion-bert pipeline, training run "
        f"{_code(inp.run_name)}.\n"
    )


def _labels(inp: CardInputs) -> str:
    rows = [
        f"| {_md(i)} | {_md(name)} | {_md(inp.label2group.get(name, ''))} |"
        for i, name in sorted(inp.id2label.items(), key=lambda kv: int(kv[0]))
    ]
    word = inp.task_card.get("label_word", "emotion")  # NER: tag
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
        f"{inp.task_card.get('stratum', 'emotion')} "
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
    rows = [
        ("accuracy", m.get("accuracy"), base.get("accuracy")),
        ("macro F1", m.get("macro_f1"), base.get("macro_f1")),
        ("weighted F1", m.get("weighted_f1"), base.get("weighted_f1")),
    ]
    if "eval_rows" in inp.task_card:  # the task's own table (NER: entity scores)
        rows = [(name, m.get(key), base.get(key)) for name, key in inp.task_card["eval_rows"]]
    for k in sorted((m.get("top_k_accuracy") or {}), key=int):
        if k != "1":
            top = (base.get("top_k_accuracy") or {}).get(k)
            rows.append((f"top-{k} accuracy", m["top_k_accuracy"][k], top))
    if m.get("group_accuracy") is not None:
        rows.append(("major-group accuracy", m["group_accuracy"], base.get("group_accuracy")))
    raw_name = base.get("name", "baseline")
    name = _md(raw_name)
    split = _md(m.get("split", "test"))
    table = "\n".join(
        f"| {_md(k)} | {_md(_num(v))} | {_md(_num(b))} |" for k, v, b in rows if v is not None
    )
    text = (
        f"## Evaluation\n\nOn the held-out {split} split "
        f"({_md(m.get('n', '?'))} sentences), against a {_code(raw_name)} baseline fitted on "
        "the same training split and scored on the same sentences:\n\n"
        f"| metric | this model | {name} |\n|---|---:|---:|\n{table}\n"
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
    example = repr(inp.task_card.get("example", "친구가 약속을 어겨서 너무 화가 나요"))
    example = example.replace("'", '"')
    if "usage" in inp.task_card:
        code = inp.task_card["usage"].format(repo=inp.repo_id, example=example)
        return f"## Usage\n\n```python\n{code}\n```\n"
    return f"""## Usage

```python
from transformers import (AutoTokenizer, TFAutoModelForSequenceClassification,
                          TextClassificationPipeline)

repo = "{inp.repo_id}"
tokenizer = AutoTokenizer.from_pretrained(repo)
model = TFAutoModelForSequenceClassification.from_pretrained(repo)
classify = TextClassificationPipeline(model=model, tokenizer=tokenizer, framework="tf", top_k=3)
print(classify({example}))
```

`labels.json` in this repo maps each emotion to its major group. For a private repo, log in
first (`hf auth login`) or pass `token=...`.
"""


def _limitations(inp: CardInputs) -> str:
    if "limitations" in inp.task_card:  # the task's own (NER)
        return "## Limitations\n\n" + "".join(f"- {x}\n" for x in inp.task_card["limitations"])
    return (
        "## Limitations\n\n"
        "- One label per sentence: mixed or implicit emotions get a single, often arbitrary, "
        "label, and neighbouring sub-emotions of one major group are easily confused (see the "
        "confusion matrix).\n"
        "- Trained on the sentences of one corpus; spoken or informal text, other domains, slang "
        "and very long inputs (truncated to the max sequence length) may be classified worse "
        "than the test numbers say.\n"
        "- The test split comes from the same corpus as the training data, so the numbers are "
        "an upper bound for other data.\n"
        "- Not for decisions about people (health, hiring, moderation) without human review.\n"
    )


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
