"""The sentence-pair (NLI) task end to end with a tiny random BERT: data stages, train,
evaluate, the served API and page, predict on two columns, and the model card.

One project is built per module: the tiny pair corpus as a workbook, ingest -> prepare ->
split -> train (2 epochs) -> evaluate through each stage's ``main``.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pandas as pd
import pytest

from pipeline.config import load_config
from pipeline.data import ingest, prepare, split
from pipeline.evaluate import stage as evaluate
from pipeline.model.loading import ModelRef, load_trained
from pipeline.publish.files import collect
from pipeline.serve import predict
from tests.live_server import live_server, run_service
from tests.tiny import make_tiny_bert
from tests.tiny_pairs import pair_texts, tiny_pairs, write_pair_config, write_pair_workbook

pytestmark = pytest.mark.slow  # trains the tiny BERT on pairs


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained and evaluated pair project; returns its config path."""
    from pipeline.train import stage as train

    root = tmp_path_factory.mktemp("pairs")
    corpus = tiny_pairs(n_per_label=30)
    base = make_tiny_bert(root / "base", pair_texts(corpus))
    write_pair_workbook(root / "data/raw/pairs.xlsx", corpus)
    cfg = write_pair_config(
        root,
        model={"name_or_path": str(base), "max_seq_len": 32},
        train={
            "run_name": "pairs",
            "epochs": 2,
            "batch_size": 4,
            "learning_rate": 3e-3,
            "early_stopping": {"patience": 5},
        },  # fmt: skip
        evaluate={"batch_size": 16},
        serve={"max_inputs": 4, "max_wait_ms": 20},
    )
    for stage in (ingest, prepare, split, train, evaluate):
        assert stage.main(["--config", str(cfg)]) == 0
    return cfg


def test_train_and_evaluate_write_the_report_with_the_pair_baseline(project: Path) -> None:
    root = project.parent
    metrics = json.loads((root / "reports/pairs/metrics.json").read_text(encoding="utf-8"))
    assert 0 <= metrics["accuracy"] <= 1 and metrics["n"] == 18
    assert metrics["baseline"]["name"] == "tfidf-char-logreg"
    assert 0 <= metrics["baseline"]["accuracy"] <= 1
    preds = pd.read_parquet(root / "reports/pairs/predictions.parquet")
    assert list(preds.columns[:3]) == ["text", "text_pair", "label"]
    test = pd.read_parquet(root / "data/processed/test.parquet")
    assert preds["text_pair"].tolist() == test["text_pair"].tolist()


def test_the_pair_run_is_calibrated_on_its_validation_pairs(project: Path) -> None:
    from pipeline import calibration as cal
    from pipeline.model.batched_classifier import BatchedClassifier
    from pipeline.tasks import get_task

    root, task = project.parent, get_task("text-pair-classification")
    saved = json.loads((root / "models/pairs/calibration.json").read_text(encoding="utf-8"))
    val = pd.read_parquet(root / "data/processed/validation.parquet")
    model, tokenizer = load_trained(ModelRef(name="pairs", run_dir=root / "models/pairs"))
    logits = BatchedClassifier(model, tokenizer, 32, 8, task.encode).predict_logits(
        task.examples(val)
    )  # both sentences of each pair, as train read them
    y = val["label_id"].to_numpy()
    assert saved["n"] == len(val) and saved["nll_calibrated"] <= saved["nll_raw"]
    assert saved["nll_raw"] == pytest.approx(cal.nll(logits, y), abs=1e-4)
    assert saved["temperature"] == pytest.approx(cal.fit_temperature(logits, y), rel=1e-3)
    metrics = json.loads((root / "reports/pairs/metrics.json").read_text(encoding="utf-8"))
    assert metrics["calibration"]["temperature"] == saved["temperature"]


def test_the_batched_model_answers_as_the_transformers_pipeline_on_pairs(project: Path) -> None:
    """token_type_ids reach the model: the pipeline's pair answers are matched exactly."""
    from transformers import TextClassificationPipeline

    from pipeline.model.batched_classifier import BatchedClassifier
    from pipeline.tasks import get_task

    task = get_task("text-pair-classification")
    model, tokenizer = load_trained(ModelRef(name="pairs", run_dir=project.parent / "models/pairs"))
    examples = task.examples(pd.read_parquet(project.parent / "data/processed/test.parquet"))[:6]
    probs = BatchedClassifier(model, tokenizer, 32, 4, task.encode).predict_proba(examples)
    pipe = TextClassificationPipeline(model=model, tokenizer=tokenizer, framework="tf")
    for row, inputs in zip(probs, task.pipeline_inputs(examples), strict=True):
        want = {a["label"]: a["score"] for a in pipe(inputs, top_k=None)}
        got = {model.config.id2label[i]: float(p) for i, p in enumerate(row)}
        assert got == pytest.approx(want, abs=1e-5)
    ids, types = task.encode(tokenizer, examples, 32)
    assert all(t is not None and 1 in t for t in types)  # the hypothesis is segment 1


@pytest.fixture(scope="module")
def server(project: Path):
    cfg = load_config(project)
    with live_server(run_service(cfg, project.parent / "models/pairs")) as url:
        yield url


def test_the_api_answers_pairs_with_three_classes(server: str) -> None:
    one = {
        "inputs": {
            "text": "민수는 오늘 공원에서 시간을 보냈다.",
            "text_pair": "민수는 오늘 공원에 갔다.",
        }
    }
    response = httpx.post(f"{server}/predict", json=one, timeout=30)
    assert response.status_code == 200, response.text
    (answer,) = response.json()
    assert sorted(a["label"] for a in answer) == ["contradiction", "entailment", "neutral"]
    assert sum(a["score"] for a in answer) == pytest.approx(1, abs=1e-4)
    two = {"inputs": [one["inputs"], {"text": "지수는 쉬었다.", "text_pair": "지수는 잤다."}],
           "parameters": {"top_k": 1}}  # fmt: skip
    body = httpx.post(f"{server}/predict", json=two, timeout=30).json()
    assert [len(a) for a in body] == [1, 1]
    assert httpx.get(f"{server}/info").json()["task"] == "text-pair-classification"


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"text_pair": "가설"}, '"inputs" has no "text"'),
        ({"text": 1, "text_pair": "가설"}, "must be a string"),
        ("한 문장", '"inputs" must be {"text"'),
    ],
)
def test_bad_pair_requests_get_422_from_the_server(server: str, inputs, message: str) -> None:
    response = httpx.post(f"{server}/predict", json={"inputs": inputs}, timeout=30)
    assert response.status_code == 422
    assert message in response.json()["error"]


def test_the_page_has_two_boxes(server: str) -> None:
    page = httpx.get(server).text
    assert 'id="text"' in page and 'id="text_pair"' in page and "전제" in page and "가설" in page
    schema = httpx.get(f"{server}/openapi.json").json()
    body = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert "text_pair" in json.dumps(body["schema"]["properties"]["inputs"])


def test_predict_labels_a_sheet_of_pairs_from_two_columns(project: Path, tmp_path: Path) -> None:
    sheet = tiny_pairs(n_per_label=2, seed=5).drop(columns="gold_label")
    sheet.loc[1, "hypothesis"] = None  # a row missing a side gets no prediction
    src, dst = tmp_path / "in.xlsx", tmp_path / "out.xlsx"
    sheet.to_excel(src, index=False)
    argv = [
        "--config",
        str(project),
        "--input",
        str(src),
        "--column",
        "premise",
        "--output",
        str(dst),
    ]
    assert predict.main([*argv, "--pair-column", "hypothesis"]) == 0
    out = pd.read_excel(dst, engine="calamine")
    assert out["predicted_label"].isna().tolist() == [i == 1 for i in range(len(sheet))]
    assert set(out["predicted_label"].dropna()) <= {"entailment", "neutral", "contradiction"}
    assert predict.main(argv) == 2  # a pair task needs --pair-column
    assert predict.main(["--config", str(project), "전제 문장", "가설 문장"]) == 0
    assert predict.main(["--config", str(project), "전제 문장"]) == 2  # sentences come in twos


def test_the_model_card_shows_a_pair_widget_and_usage(project: Path) -> None:
    cfg = load_config(project)
    ref = ModelRef(name="pairs", run_dir=project.parent / "models/pairs")
    _, card, _ = collect(cfg, ref, "user/pairs")
    assert "natural language inference" in card and "nli" in card
    assert "widget:" in card and "[SEP]" in card
    assert '"text_pair":' in card  # the usage example passes a pair


def test_export_keeps_pairs_and_their_segments(project: Path) -> None:
    """Last (it adds onnx/ to the run): the exported pair model gets token_type_ids and
    answers pairs as TF does, through the onnx backend of serve."""
    from pipeline.export.stage import main as export
    from pipeline.io import read_json

    assert export(["--config", str(project)]) == 0
    record = read_json(project.parent / "models/pairs/onnx/export.json")
    assert record["parity"]["labels_identical"] and record["parity"]["max_abs_logit_diff"] < 1e-4
    premise = "민수는 오늘 공원에서 시간을 보냈다."
    hypotheses = ("민수는 오늘 공원에 갔다.", "민수는 오늘 공원에 가지 않았다.")
    body = {"inputs": [{"text": premise, "text_pair": h} for h in hypotheses]}
    answers = {}
    for backend in ("tf", "onnx"):
        cfg = load_config(project, [f"serve.backend={backend}"])
        with live_server(run_service(cfg, project.parent / "models/pairs")) as url:
            answers[backend] = httpx.post(f"{url}/predict", json=body, timeout=30).json()
    for got, want in zip(answers["onnx"], answers["tf"], strict=True):
        assert [a["label"] for a in got] == [a["label"] for a in want]
        assert [a["score"] for a in got] == pytest.approx([a["score"] for a in want], abs=1e-5)
