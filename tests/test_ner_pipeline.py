"""NER end to end with a tiny random BERT: data stages, train (early stopping on val entity F1),
evaluate (entity scores beside the dictionary baseline), the served API (InferenceClient
included), predict on a sheet, the model card, and the ONNX export: evaluate, serve and predict
on onnx / onnx-int8 answering TF's entities, without importing TensorFlow.

One project per module: a tiny marked corpus as a text file, ingest -> prepare -> split ->
train -> evaluate through each stage's ``main``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml

from pipeline.config import load_config
from pipeline.data import ingest, prepare, split
from pipeline.evaluate import stage as evaluate
from pipeline.model.loading import ModelRef, load_base_classifier
from pipeline.publish.files import collect
from pipeline.serve import predict
from pipeline.tasks.ner.markup import parse_markup, spans_from_json
from pipeline.tasks.ner.metrics import entity_scores
from pipeline.tasks.ner.predict import predict_entities
from tests.live_server import live_server, run_service
from tests.tiny import make_tiny_bert

pytestmark = pytest.mark.slow  # trains the tiny BERT on entities

PEOPLE = ["민수", "지영", "서준", "하은", "도윤", "수아", "예준", "지호", "유나", "현우"]
PLACES = ["부산", "서울", "대전", "광주", "인천", "제주", "강릉", "전주"]
VERBS = ["갔다", "왔다", "머물렀다", "일했다", "살았다"]


def corpus(n: int = 90, seed: int = 0) -> list[str]:
    """Marked sentences; entities are whole words, so the tiny WordPiece can split them off."""
    rng, out = random.Random(seed), set()
    while len(out) < n:
        p, c, v = rng.choice(PEOPLE), rng.choice(PLACES), rng.choice(VERBS)
        form = rng.randrange(3)
        if form == 0:
            out.add(f"<{p}:PS> 님은 <{c}:LC> 지역에 {v}")
        elif form == 1:
            out.add(f"어제 <{c}:LC> 지역에서 <{p}:PS> 님이 {v}")
        else:
            out.add(f"<{p}:PS> 님과 <{rng.choice(PEOPLE)}:PS> 님이 함께 {v}")
    return sorted(out)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pipeline.train import stage as train

    root = tmp_path_factory.mktemp("ner")
    lines = corpus()
    plain = [parse_markup(x, None, "t")[0] for x in lines]
    base = make_tiny_bert(root / "base", plain)
    (root / "data/raw").mkdir(parents=True)
    (root / "data/raw/ner.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = root / "ner.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "root": str(root),
                "task": "token-classification",
                "ingest": {"files": ["data/raw/ner.txt"], "entity_types": ["PS", "LC"]},
                "model": {"name_or_path": str(base), "max_seq_len": 32},
                "train": {
                    "run_name": "ner",
                    "epochs": 6,
                    "batch_size": 8,
                    "learning_rate": 3e-3,
                    "early_stopping": {"monitor": "val_entity_f1", "patience": 6},
                },
                "evaluate": {"batch_size": 16},
                "serve": {"max_inputs": 4, "max_wait_ms": 20},
                "publish": {"license": "mit"},
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    for stage in (ingest, prepare, split, train, evaluate):
        assert stage.main(["--config", str(cfg)]) == 0
    return cfg


def test_training_learns_entities_far_above_an_untrained_model(project: Path) -> None:
    root = project.parent
    metrics = json.loads((root / "reports/ner/metrics.json").read_text(encoding="utf-8"))
    history = pd.read_csv(root / "models/ner/history.csv")
    assert "val_entity_f1" in history.columns
    # an untrained head on the same base: what a broken training run would score
    test = pd.read_parquet(root / "data/processed/test.parquet")
    tags = json.loads((root / "models/ner/labels.json").read_text())["id2label"]
    from transformers import AutoTokenizer

    untrained = load_base_classifier(
        root / "base", {int(i): t for i, t in tags.items()}, "TFAutoModelForTokenClassification"
    )
    tok = AutoTokenizer.from_pretrained(str(root / "base"))
    found = predict_entities(untrained, tok, test["text"].tolist(), 32)
    pred = [[(s, e, t) for s, e, t, _ in f] for f in found]
    gold = [spans_from_json(v) for v in test["entities"]]
    floor = entity_scores(gold, pred, ["LC", "PS"])["micro"]["f1"]
    assert metrics["entity_f1"] > floor + 0.4, (metrics["entity_f1"], floor)
    assert metrics["entity_f1"] > 0.6
    assert set(metrics["per_type"]) == {"LC", "PS"}
    assert metrics["baseline"]["name"] == "dictionary of training entities"
    report = (root / "reports/ner/report.md").read_text(encoding="utf-8")
    assert (
        "Worst sentences" in report
        and (root / "reports/ner/figures/confusion_matrix.png").is_file()
    )


@pytest.fixture(scope="module")
def server(project: Path):
    cfg = load_config(project)
    with live_server(run_service(cfg, project.parent / "models/ner")) as url:
        yield url


def test_the_api_answers_in_the_token_classification_shape(server: str) -> None:
    text = " 😀  민수 님은 부산 지역에 갔다!! 🎉 "
    response = httpx.post(f"{server}/predict", json={"inputs": text}, timeout=30)
    assert response.status_code == 200, response.text
    entities = response.json()
    assert isinstance(entities, list) and entities
    for e in entities:
        assert set(e) == {"entity_group", "score", "word", "start", "end"}
        assert text[e["start"] : e["end"]] == e["word"] and 0 <= e["score"] <= 1
    assert {(e["word"], e["entity_group"]) for e in entities} >= {("민수", "PS"), ("부산", "LC")}
    two = httpx.post(f"{server}/predict", json={"inputs": [text, "지영 님이 왔다"]}, timeout=30)
    assert len(two.json()) == 2 and isinstance(two.json()[0], list)
    assert httpx.get(f"{server}/info").json()["task"] == "token-classification"


def test_bad_requests_get_422_from_the_server(server: str) -> None:
    for body, message in (
        ({"inputs": ""}, "empty"),
        ({"inputs": 1}, "inputs"),
        ({"inputs": "a", "parameters": {"top_k": 2}}, "unknown parameter"),
    ):
        response = httpx.post(f"{server}/predict", json=body, timeout=30)
        assert response.status_code == 422, body
        assert message in response.json()["error"]


def test_huggingface_inference_client_reads_the_entities(server: str) -> None:
    import requests
    from huggingface_hub import InferenceClient, configure_http_backend

    client = InferenceClient(model=f"{server}/predict")
    text = "어제 서울 지역에서 하은 님이 왔다"
    configure_http_backend(requests.Session)  # HF_HUB_OFFLINE refuses even loopback otherwise
    try:
        answer = client.token_classification(text)
    finally:
        configure_http_backend()
    assert answer and all(text[a.start : a.end] == a.word for a in answer)
    assert {a.entity_group for a in answer} <= {"PS", "LC"}


def test_the_page_is_the_ner_page(server: str) -> None:
    page = httpx.get(server).text
    assert "개체명 인식" in page and "/static/ner.js" in page
    assert httpx.get(f"{server}/static/ner.js").status_code == 200


def test_predict_adds_an_entities_column_to_a_sheet(project: Path, tmp_path: Path) -> None:
    src, dst = tmp_path / "in.xlsx", tmp_path / "out.xlsx"
    pd.DataFrame({"문장": ["민수 님은 부산 지역에 갔다", None, "지호 님이 왔다"]}).to_excel(
        src, index=False
    )
    argv = ["--config", str(project), "--input", str(src), "--column", "문장", "--output", str(dst)]
    assert predict.main(argv) == 0
    out = pd.read_excel(dst, engine="calamine")
    assert out["entities"].isna().tolist() == [False, True, False]
    first = json.loads(out["entities"][0])
    assert all("민수 님은 부산 지역에 갔다"[e["start"] : e["end"]] == e["word"] for e in first)
    assert "<" in out["entities_marked"][0]
    assert predict.main(["--config", str(project), "민수 님은 부산 지역에 갔다"]) == 0


def test_the_model_card_says_token_classification_with_entity_f1(project: Path) -> None:
    cfg = load_config(project)
    ref = ModelRef(name="ner", run_dir=project.parent / "models/ner")
    _, card, _ = collect(cfg, ref, "user/ner")
    assert "pipeline_tag: token-classification" in card
    assert "Entity F1 (micro)" in card and "TokenClassificationPipeline" in card
    assert "TFBertForTokenClassification" in card


@pytest.fixture(scope="module")
def exported(project: Path) -> Path:
    """The project with its run exported (``python -m pipeline.export``). The tests that use
    it come last: evaluate --backend onnx rewrites the run's report."""
    from pipeline.export.stage import main as export

    assert export(["--config", str(project)]) == 0
    return project


def test_export_checks_entities_and_evaluate_compares_the_backends(exported: Path) -> None:
    """make export on the NER run: fp32 word-piece logits match TF's on validation, the int8
    gate compares entity F1; evaluate --backend onnx finds TF's entities and shows every
    backend side by side."""
    from pipeline.io import read_json

    project, root = exported, exported.parent
    record = read_json(root / "models/ner/onnx/export.json")
    parity = record["parity"]
    assert parity["labels_identical"] and parity["max_abs_logit_diff"] < 1e-3
    assert parity["predictions"] > parity["n"]  # one row per word piece, not per sentence
    gate = record["int8"]
    assert gate["metric"] == "entity_f1" and gate["tf"] > 0.6
    assert gate["onnx"] == gate["tf"]
    assert record["fused_operators"].get("Attention") == 2  # the tiny BERT's two layers

    tf_metrics = read_json(root / "reports/ner/metrics.json")
    assert evaluate.main(["--config", str(project), "--backend", "onnx"]) == 0
    metrics = read_json(root / "reports/ner/metrics.json")
    assert metrics["backend"] == "onnx" and metrics["entity_f1"] == tf_metrics["entity_f1"]
    rows = {r["backend"]: r for r in metrics["backends"]}
    assert list(rows)[:2] == ["tf", "onnx"]
    assert rows["onnx"]["sentences_as_tf"] == 1.0
    assert rows["onnx"]["entity_f1"] == rows["tf"]["entity_f1"] == tf_metrics["entity_f1"]
    assert "onnx (reported above)" in (root / "reports/ner/report.md").read_text("utf-8")


# Longer than one window of the run's 32 pieces (~3 characters a piece): many windows.
LONG = " ".join(parse_markup(x, None, "t")[0] for x in corpus(20, seed=1))
TEXTS = ["민수 님은 부산 지역에 갔다", " 😀  어제 서울 지역에서 하은 님이  왔다!! ", LONG]


def _same_entities(got: list, want: list, tol: float) -> None:
    """The same entities (type, word, offsets); scores within ``tol``."""
    assert [[(e["entity_group"], e["word"], e["start"], e["end"]) for e in found] for found in got
            ] == [[(e["entity_group"], e["word"], e["start"], e["end"]) for e in found]
                  for found in want]  # fmt: skip
    for g, w in zip(sum(got, []), sum(want, []), strict=True):
        assert g["score"] == pytest.approx(w["score"], abs=tol)


@pytest.mark.parametrize(("backend", "tol"), [("onnx", 1e-4), ("onnx-int8", 0.05)])
def test_serve_on_onnx_answers_the_tf_servers_entities(
    exported: Path, server: str, backend: str, tol: float
) -> None:
    """The app on the exported graph (serve --backend onnx / onnx-int8) answers the TF
    server's entities, a text of many windows included; /info names the backend."""
    assert len(LONG) > 300
    body = {"inputs": TEXTS}
    want = httpx.post(f"{server}/predict", json=body, timeout=60).json()
    assert sum(len(found) for found in want) > 10 and len(want[2]) > 8
    cfg = load_config(exported, [f"serve.backend={backend}"])
    with live_server(run_service(cfg, exported.parent / "models/ner")) as url:
        got = httpx.post(f"{url}/predict", json=body, timeout=60).json()
        one = httpx.post(f"{url}/predict", json={"inputs": LONG}, timeout=60).json()
        info = httpx.get(f"{url}/info").json()
    assert info["serve"]["backend"] == backend and info["task"] == "token-classification"
    if backend == "onnx":
        _same_entities(got, want, tol)
        _same_entities([one], [want[2]], tol)
        return
    # int8 moves a borderline piece's tag now and then (its activations are scaled per
    # batch): most of TF's entities, the same where both found one
    for found, tf_found in ((got, want), ([one], [want[2]])):
        keyed = [{(e["start"], e["end"]): e for e in f} for f in found]
        tf_keyed = [{(e["start"], e["end"]): e for e in f} for f in tf_found]
        shared = [
            (k[at], t[at]) for k, t in zip(keyed, tf_keyed, strict=True) for at in k if at in t
        ]
        assert len(shared) >= 0.8 * sum(len(t) for t in tf_keyed)
        for g, w in shared:
            assert g["entity_group"] == w["entity_group"] and g["word"] == w["word"]
            assert g["score"] == pytest.approx(w["score"], abs=tol)


def test_predict_on_onnx_prints_and_writes_the_tf_entities(
    exported: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """predict --backend onnx: the TF lines for sentences, the TF entities in a sheet."""
    lines = {}
    for backend in ("tf", "onnx"):
        assert predict.main(["--config", str(exported), "--backend", backend, *TEXTS]) == 0
        lines[backend] = capsys.readouterr().out
    assert lines["onnx"] == lines["tf"] and lines["tf"].count("  PS  ") > 3
    src = tmp_path / "in.xlsx"
    pd.DataFrame({"문장": [TEXTS[0], None, LONG]}).to_excel(src, index=False)
    sheets = {}
    for backend in ("tf", "onnx"):
        dst = tmp_path / f"{backend}.xlsx"
        argv = ["--config", str(exported), "--backend", backend, "--input", str(src)]
        assert predict.main([*argv, "--column", "문장", "--output", str(dst)]) == 0
        sheets[backend] = pd.read_excel(dst, engine="calamine")
        assert sheets[backend]["entities"].isna().tolist() == [False, True, False]
    found = {b: [json.loads(s["entities"][i]) for i in (0, 2)] for b, s in sheets.items()}
    _same_entities(found["onnx"], found["tf"], 1e-4)
    assert len(found["tf"][1]) > 8
    assert sheets["onnx"]["entities_marked"].equals(sheets["tf"]["entities_marked"])


NO_TF_SCRIPT = """
import asyncio, json, sys
from pathlib import Path
from pipeline.config import load_config
from pipeline.model.loading import ModelRef
from pipeline.tasks import task_for
import pipeline.serve.stage, pipeline.serve.predict
texts = json.loads(sys.argv[3])
answers = {}
for backend in ("onnx", "onnx-int8"):
    cfg = load_config(sys.argv[1], [f"serve.backend={backend}"])
    server = task_for(cfg).server(cfg, ModelRef(name="ner", run_dir=Path(sys.argv[2])))
    server.load()
    assert server.error is None, server.error
    async def gone():
        return False
    answers[backend], _ = asyncio.run(server.answer({"inputs": texts}, gone))
    server.close()
    labeller = task_for(cfg).labeller(cfg, None, 8)
    assert labeller.lines(texts, 5, {}).count("  PS  ") > 3
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tf_keras", "keras"))
assert not loaded, loaded[:5]
print(json.dumps(answers))
"""


def test_ner_on_onnx_imports_no_tensorflow(exported: Path, server: str) -> None:
    """In a fresh process of the full venv, the server and predict of NER on onnx and
    onnx-int8 load the export and answer, a long text included, without importing
    TensorFlow; the fp32 answers are the TF server's entities."""
    import subprocess
    import sys

    run_dir = exported.parent / "models/ner"
    done = subprocess.run(
        [sys.executable, "-c", NO_TF_SCRIPT, str(exported), str(run_dir), json.dumps(TEXTS)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answers = json.loads(done.stdout.strip().splitlines()[-1])
    want = httpx.post(f"{server}/predict", json={"inputs": TEXTS}, timeout=60).json()
    _same_entities(answers["onnx"], want, 1e-4)
    assert len(answers["onnx-int8"]) == len(TEXTS) and len(answers["onnx-int8"][2]) > 8
