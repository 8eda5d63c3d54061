"""The classifiers' ``calibrate`` role on the tiny model trained by the real train stage: the
run's calibration.json, and the evaluate report's calibration section (before/after, figures).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline import calibration as cal
from pipeline.config import load_config
from pipeline.evaluate.stage import main as evaluate
from pipeline.io import read_json
from pipeline.model.batched_classifier import BatchedClassifier
from pipeline.model.loading import ModelRef, load_trained
from pipeline.tasks import task_for
from tests.conftest import write_config

pytestmark = pytest.mark.slow  # the shared tiny run is trained once per session


def split_logits(run_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The run's raw logits on a split of its project, and the label ids."""
    root = run_dir.parent.parent
    frame = pd.read_parquet(root / f"data/processed/{split}.parquet")
    model, tokenizer = load_trained(ModelRef(name=run_dir.name, run_dir=run_dir))
    task = task_for(load_config(root / "config.yaml"))
    clf = BatchedClassifier(model, tokenizer, 32, 16, task.encode)
    return clf.predict_logits(task.examples(frame)), frame["label_id"].to_numpy()


def test_training_fits_a_temperature_that_lowers_validation_nll(trained_run: Path) -> None:
    saved = read_json(trained_run / "calibration.json")
    assert saved == read_json(trained_run / "run.json")["calibration"]
    assert saved["method"] == "temperature" and saved["kind"] == "softmax"
    assert saved["fit_on"] == "validation"
    logits, y = split_logits(trained_run, "validation")
    assert saved["n"] == len(y)
    t = saved["temperature"]
    assert t > 0
    assert saved["nll_calibrated"] <= saved["nll_raw"]  # 1.0 is among the candidates
    assert saved["nll_raw"] == pytest.approx(cal.nll(logits, y), abs=1e-4)
    assert saved["nll_calibrated"] == pytest.approx(cal.nll(logits, y, t), abs=1e-4)
    # the fitted temperature is the validation NLL's minimum within the searched range (a
    # barely trained model's best may lie below it: then the bound is the best it can do)
    for other in (t * 0.8, t * 1.25):
        if 0.05 <= other <= 20:
            assert cal.nll(logits, y, other) > cal.nll(logits, y, t)
    scaled = cal.scaled_probs(logits, t)
    assert (scaled.argmax(axis=1) == logits.argmax(axis=1)).all()


def test_an_over_sure_model_gets_a_larger_temperature_and_a_lower_nll(trained_run: Path) -> None:
    """The role on the trained model with its head scaled until its best temperature is 4
    (every logit 4 times too large: as sure of itself as a model trained far too long): the
    fitted temperature follows, and the validation NLL drops."""
    root = trained_run.parent.parent
    cfg = load_config(root / "config.yaml")
    task = task_for(cfg)
    model, tokenizer = load_trained(ModelRef(name="tiny", run_dir=trained_run))
    val = pd.read_parquet(root / "data/processed/validation.parquet")
    labels = read_json(trained_run / "labels.json")

    def scale_head(factor: float) -> None:  # every logit times factor: the best T too
        model.classifier.set_weights([w * factor for w in model.classifier.get_weights()])

    t = task.calibrate(cfg, model, tokenizer, val, labels).temperature
    for _ in range(3):  # a barely trained model's best T may lie below the searched range
        if 0.06 < t < 19:
            break
        scale_head(1.0 / t)
        t = task.calibrate(cfg, model, tokenizer, val, labels).temperature
    assert 0.06 < t < 19, t  # now t is the model's best temperature
    scale_head(4.0 / t)
    after = task.calibrate(cfg, model, tokenizer, val, labels)
    assert after.temperature == pytest.approx(4.0, rel=0.01)
    assert after.nll_raw > after.nll_calibrated + 0.05
    assert after.n == len(val)


@pytest.fixture()
def project(tmp_path: Path, trained_run: Path) -> Path:
    """A copy of the shared trained project (the fixture must not change); its config."""
    root = tmp_path / "project"
    shutil.copytree(trained_run.parent.parent, root)
    cfg = yaml.safe_load((root / "config.yaml").read_text(encoding="utf-8"))
    return write_config(root / "config.yaml", {**cfg, "root": str(root)})


def test_the_report_measures_calibration_and_never_changes_a_label(project: Path) -> None:
    root = project.parent
    out = root / "reports/tiny"
    assert evaluate(["--config", str(project), "--no-calibration"]) == 0
    raw_metrics = read_json(out / "metrics.json")
    raw_preds = pd.read_parquet(out / "predictions.parquet")
    assert evaluate(["--config", str(project), "--set", "serve.min_score=0.4"]) == 0
    metrics = read_json(out / "metrics.json")
    preds = pd.read_parquet(out / "predictions.parquet")

    # the same labels, accuracy and F1; other scores
    assert preds["predicted"].tolist() == raw_preds["predicted"].tolist()
    for key in ("accuracy", "macro_f1", "weighted_f1", "top_k_accuracy", "group_accuracy"):
        assert metrics[key] == raw_metrics[key], key
    assert not np.allclose(preds["score"], raw_preds["score"], atol=1e-4)

    # the scores shown are softmax(logits / T) of the raw logits
    logits, y = split_logits(root / "models/tiny", "test")
    t = read_json(root / "models/tiny/calibration.json")["temperature"]
    want = cal.scaled_probs(logits, t).max(axis=1)
    assert np.allclose(preds["score"], want, atol=1e-5)
    assert np.allclose(raw_preds["score"], cal.scaled_probs(logits).max(axis=1), atol=1e-5)

    c = metrics["calibration"]
    assert c["temperature"] == t and c["applied"] is True and c["bins"] == 15
    assert raw_metrics["calibration"]["applied"] is False
    assert c["nll_raw"] == pytest.approx(cal.nll(logits, y), abs=1e-5)
    assert c["nll_calibrated"] == pytest.approx(cal.nll(logits, y, t), abs=1e-5)
    raw_conf, cal_conf = cal.scaled_probs(logits).max(axis=1), want
    right = (logits.argmax(axis=1) == y).astype(float)
    assert c["ece_raw"] == pytest.approx(cal.ece(raw_conf, right), abs=1e-5)
    assert c["ece_calibrated"] == pytest.approx(cal.ece(cal_conf, right), abs=1e-5)
    assert sum(c["reliability"]["calibrated"]["count"]) == len(y)
    # coverage of the shown scores: all answered at 0, the share falls as min_score rises
    cover = c["coverage"]
    assert cover[0] == {"min_score": 0.0, "coverage": 1.0, "accuracy": metrics["accuracy"]}
    shares = [row["coverage"] for row in cover]
    assert shares == sorted(shares, reverse=True)
    at = next(row for row in cover if row["min_score"] == 0.4)
    assert at["coverage"] == pytest.approx(float(np.mean(want >= 0.4)), abs=1e-6)
    assert cover != raw_metrics["calibration"]["coverage"]

    md = (out / "report.md").read_text(encoding="utf-8")
    assert "## Calibration" in md and "ECE (15 bins)" in md and "### Coverage by min_score" in md
    assert f"T = {t:.4g}" in md and "serve.min_score is 0.4" in md
    for fig in ("reliability.png", "coverage.png"):
        assert (out / "figures" / fig).read_bytes()[:4] == b"\x89PNG"
        assert f"figures/{fig}" in md
    assert "reliability.png" in json.dumps(sorted(p.name for p in (out / "figures").iterdir()))


def test_a_run_without_calibration_is_reported_raw(project: Path) -> None:
    root = project.parent
    (root / "models/tiny/calibration.json").unlink()
    assert evaluate(["--config", str(project)]) == 0
    c = read_json(root / "reports/tiny/metrics.json")["calibration"]
    assert c["temperature"] is None and c["applied"] is False
    assert c["ece_calibrated"] is None and c["ece_raw"] > 0
    md = (root / "reports/tiny/report.md").read_text(encoding="utf-8")
    assert "has no calibration.json" in md


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "not a readable calibration file"),
        ('{"temperature": -1.5}', "temperature must be a number in [0.05, 20]"),
        ('{"temperature": 1e-50}', "temperature must be a number in [0.05, 20]"),
        ('{"temperature": 1.2, "kind": "sigmoid"}', "a sigmoid calibration, but this model"),
        ("[1.2]", "a calibration file holds a JSON object"),
    ],
)
def test_a_bad_calibration_file_is_one_error_naming_it(
    project: Path, capsys: pytest.CaptureFixture, content: str, match: str
) -> None:
    path = project.parent / "models/tiny/calibration.json"
    path.write_text(content, encoding="utf-8")
    assert evaluate(["--config", str(project)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"error: {path}") and match in err[-1], err[-1]
    assert not (project.parent / "reports/tiny").exists()


def test_multi_label_scores_are_measured_per_label_without_a_coverage_curve(tmp_path: Path) -> None:
    """The section a multi-label task reuses: sigmoid scores, 0/1 truth per label."""
    from pipeline.calibration import Calibration
    from pipeline.tasks.classification import calibrated

    rng = np.random.default_rng(0)
    y = (rng.random((60, 3)) < 0.3).astype(int)
    logits = np.where(y == 1, 3.0, -3.0) + rng.normal(0, 2, y.shape)  # over-sure
    t = cal.fit_temperature(logits, y, kind="sigmoid")
    result = calibrated.evaluated(logits, y, Calibration(t, kind="sigmoid"), applied=True)
    m = result.metrics
    assert m["kind"] == "sigmoid" and m["coverage"] == []
    assert np.allclose(result.probs, cal.scaled_probs(logits, t, "sigmoid"))
    assert m["nll_calibrated"] < m["nll_raw"]
    assert sum(m["reliability"]["raw"]["count"]) == y.size  # every (sentence, label) score
    figures = calibrated.write_figures(tmp_path, m, "ml")
    assert [f for _, f in figures] == ["reliability.png"] and (
        tmp_path / "reliability.png"
    ).is_file()
    md = "\n".join(calibrated.markdown(m, len(y)))
    assert "mean score" in md and "Coverage" not in md
