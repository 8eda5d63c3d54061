"""A classifier's model card: the emotion classifier's words (and NLI's), for pipeline/cards.py.

The card reads the run's labels, its held-out report (accuracy and macro F1 in the
``model-index``, the table against both baselines) and the confusion matrix; the text here says
what the model is, how to call it and what it cannot do; a calibrated run's card says how to
apply its temperature (calibration.json, published beside the model).
"""

from __future__ import annotations

from typing import Any

from pipeline.calibration import Calibration
from pipeline.cards import label_card
from pipeline.config import Config
from pipeline.inference.loaded import read_calibration
from pipeline.model.loading import ModelRef
from pipeline.paths import RunDir
from pipeline.tasks.base import Card

SEPARATOR = " [SEP] "  # how a pair is joined for the TF-IDF baseline and the Hub widget
NLI_EXAMPLE = {"text": "나는 오늘 친구와 영화를 봤다.", "text_pair": "나는 오늘 영화관에 갔다."}

USAGE = """from transformers import (AutoTokenizer, TFAutoModelForSequenceClassification,
                          TextClassificationPipeline)

repo = "{repo}"
tokenizer = AutoTokenizer.from_pretrained(repo)
model = TFAutoModelForSequenceClassification.from_pretrained(repo)
classify = TextClassificationPipeline(model=model, tokenizer=tokenizer, framework="tf", top_k=3)
print(classify({example}))"""

EMOTION = {
    "intro": "A Korean emotion classifier: `TFBertForSequenceClassification` (TensorFlow) "
    "fine-tuned from {base} to tell which of {n_labels} emotions{groups} a sentence expresses. "
    "Built by the korean-emotion-bert pipeline, training run {run}.",
    "tags": ["tensorflow", "bert", "text-classification", "korean", "emotion",
             "emotion-classification"],
    "task_type": "text-classification",
    "task_name": "Emotion classification",
    "pipeline_tag": "text-classification",
    "eval_results": [
        ("accuracy", "Accuracy", "accuracy", None),
        ("f1", "Macro F1", "macro_f1", {"average": "macro"}),
    ],
    "eval_rows": [("accuracy", "accuracy"), ("macro F1", "macro_f1"),
                  ("weighted F1", "weighted_f1")],
    "label_word": "emotion",
    "stratum": "emotion",
    "example": "친구가 약속을 어겨서 너무 화가 나요",
    "widget": None,
    "usage": USAGE,
    "usage_note": "\n`labels.json` in this repo maps each emotion to its major group. For a "
    "private repo, log in\nfirst (`hf auth login`) or pass `token=...`.\n",
    "limitations": [
        "One label per sentence: mixed or implicit emotions get a single, often arbitrary, "
        "label, and neighbouring sub-emotions of one major group are easily confused (see the "
        "confusion matrix).",
        "Trained on the sentences of one corpus; spoken or informal text, other domains, slang "
        "and very long inputs (truncated to the max sequence length) may be classified worse "
        "than the test numbers say.",
        "The test split comes from the same corpus as the training data, so the numbers are "
        "an upper bound for other data.",
        "Not for decisions about people (health, hiring, moderation) without human review.",
    ],
}  # fmt: skip

NLI = EMOTION | {
    "intro": "A Korean sentence-pair classifier (natural language inference: does the premise "
    "entail the hypothesis, contradict it, or neither?): `TFBertForSequenceClassification` "
    "(TensorFlow) fine-tuned from {base}; labels: {labels}. Built by the korean-emotion-bert "
    "pipeline, training run {run}.",
    "tags": ["tensorflow", "bert", "text-classification", "korean", "nli",
             "natural-language-inference"],
    "task_name": "Natural language inference",
    "label_word": "label",
    "stratum": "label",
    "example": NLI_EXAMPLE,
    # The Hub widget sends one text: the pair joined by the tokenizer's separator.
    "widget": [{"text": NLI_EXAMPLE["text"] + SEPARATOR + NLI_EXAMPLE["text_pair"]}],
    "usage_note": "",
    "limitations": [
        "One label per pair; pairs that need world knowledge or long reasoning are often "
        "misread.",
        "Trained on the pairs of one corpus; other domains and very long inputs (truncated to "
        "the max sequence length) may be classified worse than the test numbers say.",
        "The test split comes from the same corpus as the training data, so the numbers are "
        "an upper bound for other data.",
    ],
}  # fmt: skip


def card(cfg: Config, ref: ModelRef, repo_id: str, record: dict[str, Any], force: bool,
         task_card: dict[str, Any]) -> Card:  # fmt: skip
    text, files, metrics = label_card(cfg, ref, repo_id, record, force, task_card)
    calibration = RunDir(ref.run_dir).calibration
    if calibration.is_file():
        text = text.rstrip("\n") + "\n\n" + calibration_note(read_calibration(calibration))
    return Card(text, files, metrics)


def calibration_note(c: Calibration) -> str:
    """The card's word on calibration.json: what the temperature is and how to apply it."""
    nll = ""
    if c.nll_raw is not None and c.nll_calibrated is not None:
        nll = f", validation NLL {c.nll_raw:.4f} -> {c.nll_calibrated:.4f}"
    return (
        "## Calibrated scores\n\n"
        f"`calibration.json` holds a temperature T = {c.temperature:.4g}, fitted on the "
        f"{c.fit_on} split after training ({c.n} examples{nll}). The project's server and "
        "predict command divide the logits by T before the softmax, the temperature that made "
        "the validation scores match best how often the model was right there (the evaluation "
        "report's ECE says how well that holds on test); the snippet above shows the raw "
        "softmax. For the calibrated "
        "scores: `tf.nn.softmax(model(**inputs).logits / T)`. The predicted label is the same "
        "either way.\n"
    )
