"""The multi-label classifier's model card: pipeline/cards.py's label card with its own words,
and a section listing each label's threshold (calibration.json, published beside the model)
with its test precision, recall and F1."""

from __future__ import annotations

from typing import Any

from pipeline.cards import label_card
from pipeline.config import Config
from pipeline.io import read_json
from pipeline.model.loading import ModelRef
from pipeline.paths import Paths, RunDir
from pipeline.tasks.base import Card
from pipeline.tasks.classification.card import EMOTION

PER_LABEL_FIGURE = "figures/per_label_f1.png"
EXAMPLE = "시험에 붙어서 기쁘고 도와준 친구에게 정말 고마웠다."

USAGE = """import json

import numpy as np
from huggingface_hub import hf_hub_download
from transformers import AutoTokenizer, TFAutoModelForSequenceClassification

repo = "{repo}"
tokenizer = AutoTokenizer.from_pretrained(repo)
model = TFAutoModelForSequenceClassification.from_pretrained(repo)  # problem_type: sigmoid
with open(hf_hub_download(repo, "calibration.json")) as f:
    calibration = json.load(f)
logits = model(**tokenizer([{example}], return_tensors="tf")).logits.numpy()[0]
scores = 1 / (1 + np.exp(-logits / calibration["temperature"]))
names = [model.config.id2label[i] for i in range(len(scores))]
print([(n, round(float(p), 3)) for n, p in zip(names, scores)
       if p >= calibration["thresholds"][n]])"""

MULTILABEL = EMOTION | {
    "intro": "A Korean multi-label emotion classifier: `TFBertForSequenceClassification` "
    "(TensorFlow, `problem_type: multi_label_classification`, a sigmoid per label) fine-tuned "
    "from {base} to tell which of {n_labels} emotions{groups} a sentence expresses, any number "
    "at once. Each label has its own threshold, tuned on the validation split "
    "(`calibration.json`). Built by the korean-emotion-bert pipeline, training run {run}.",
    "tags": ["tensorflow", "bert", "text-classification", "multi-label-classification",
             "korean", "emotion"],
    "task_name": "Multi-label emotion classification",
    "eval_results": [
        ("f1", "Micro F1 (per-label thresholds)", "micro_f1", {"average": "micro"}),
        ("f1", "Macro F1 (per-label thresholds)", "macro_f1", {"average": "macro"}),
        ("accuracy", "Subset accuracy", "accuracy", None),
    ],
    "eval_rows": [("micro F1", "micro_f1"), ("macro F1", "macro_f1"),
                  ("samples F1", "samples_f1"), ("subset accuracy", "accuracy"),
                  ("Hamming loss", "hamming_loss")],
    "example": EXAMPLE,
    "usage": USAGE,
    "usage_note": "\n`calibration.json` holds the temperature and the per-label thresholds the "
    "pipeline's server applies.\n",
    "limitations": [
        "A label is chosen when its calibrated score reaches its threshold; thresholds were "
        "tuned on a small validation split, so rare labels keep 0.5 and may be missed.",
        "Trained on the sentences of one corpus; other domains and very long inputs (truncated "
        "to the max sequence length) may be classified worse than the test numbers say.",
        "The test split comes from the same corpus as the training data, so the numbers are "
        "an upper bound for other data.",
        "Not for decisions about people without human review.",
    ],
}  # fmt: skip


def thresholds_section(run: RunDir, metrics: dict[str, Any] | None) -> str:
    """Each label's threshold with its test precision, recall and F1 (markdown)."""
    if not run.calibration.is_file():
        return ""
    calibration = read_json(run.calibration)
    per_label = (metrics or {}).get("per_label") or {}
    rows = []
    for name, cut in calibration.get("thresholds", {}).items():
        s = per_label.get(name, {})
        cells = [f"{s[k]:.3f}" if k in s else "" for k in ("precision", "recall", "f1")]
        rows.append(f"| {name} | {cut:.3f} | {' | '.join(cells)} | {s.get('support', '')} |")
    return (
        "\n## Thresholds and per-label F1\n\nScores are the sigmoid of the logits divided by the "
        f"temperature {calibration['temperature']:.3f} (fitted on the validation split); a "
        "label is chosen when its score reaches its threshold.\n\n"
        "| label | threshold | precision | recall | F1 | support |\n"
        "|---|---:|---:|---:|---:|---:|\n" + "\n".join(rows) + "\n"
    )


def card(cfg: Config, ref: ModelRef, repo_id: str, record: dict[str, Any], force: bool,
         task_card: dict[str, Any]) -> Card:  # fmt: skip
    text, files, metrics = label_card(cfg, ref, repo_id, record, force, task_card)
    section = thresholds_section(RunDir(ref.run_dir), metrics)
    figure = Paths.from_config(cfg).figures_dir(ref.name) / "per_label_f1.png"
    if metrics and section and figure.is_file():  # the report's figure, in place of a confusion
        files.append((PER_LABEL_FIGURE, figure))  # matrix (a multi-label run has none)
        section += f"\n![Per-label F1 on the test split, beside the baseline]({PER_LABEL_FIGURE})\n"
    marker = "\n## Usage"
    text = text.replace(marker, section + marker, 1) if marker in text else text + section
    return Card(text, files, metrics)
