"""pipeline/calibration.py: temperature scaling, ECE, the coverage curve, per-label thresholds."""

import numpy as np
import pytest

from pipeline import calibration as cal


def overconfident(n: int = 2000, k: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits drawn calibrated at temperature 1, then multiplied by 3 (too sure)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, size=(n, k))
    p = cal.scaled_probs(logits)
    y = np.array([rng.choice(k, p=row) for row in p])
    return logits * 3.0, y


def test_temperature_recovers_the_overconfidence_and_lowers_nll() -> None:
    logits, y = overconfident()
    t = cal.fit_temperature(logits, y)
    assert 2.5 < t < 3.5
    assert cal.nll(logits, y, t) < cal.nll(logits, y) - 0.1
    before = cal.ece(cal.confidence(cal.scaled_probs(logits)), cal.correct(logits, y))
    after = cal.ece(cal.confidence(cal.scaled_probs(logits, t)), cal.correct(logits, y))
    assert after < before / 2


def test_temperature_never_changes_a_label() -> None:
    logits, _ = overconfident(n=500)
    for t in (0.05, 0.7, 3.0, 20.0):
        assert (cal.scaled_probs(logits, t).argmax(1) == logits.argmax(1)).all()


def test_calibrated_logits_keep_temperature_one() -> None:
    logits, y = overconfident()
    assert cal.fit_temperature(logits / 3.0, y) == pytest.approx(1.0, abs=0.15)
    assert cal.fit_temperature(np.zeros((0, 3)), np.zeros(0)) == 1.0


def test_sigmoid_temperature_and_nll_match_bce() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(0, 2, size=(3000, 4))
    y = (rng.random(z.shape) < cal.scaled_probs(z, kind="sigmoid")).astype(int)
    t = cal.fit_temperature(z * 4, y, kind="sigmoid")
    assert 3.3 < t < 4.7
    p = cal.scaled_probs(z, kind="sigmoid")
    bce = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert cal.nll(z, y, kind="sigmoid") == pytest.approx(bce, rel=1e-9)


def test_reliability_bins_and_ece_by_hand() -> None:
    conf = np.array([0.05, 0.95, 0.95, 1.0])
    hit = np.array([0.0, 1.0, 0.0, 1.0])
    table = cal.reliability(conf, hit, bins=10)
    assert table["count"] == [1, 0, 0, 0, 0, 0, 0, 0, 0, 3]  # 1.0 lands in the last bin
    assert table["accuracy"][9] == pytest.approx(2 / 3)
    expected = (1 * 0.05 + 3 * abs(2 / 3 - (0.95 + 0.95 + 1.0) / 3)) / 4
    assert cal.ece(conf, hit, bins=10) == pytest.approx(expected)


def test_coverage_curve_counts_answers_and_their_accuracy() -> None:
    rows = cal.coverage_curve(np.array([0.2, 0.6, 0.9]), np.array([0, 1, 1]), [0.0, 0.5, 0.95])
    assert [r["coverage"] for r in rows] == pytest.approx([1.0, 2 / 3, 0.0])
    assert rows[0]["accuracy"] == pytest.approx(2 / 3)
    assert rows[1]["accuracy"] == 1.0 and rows[2]["accuracy"] is None


def test_thresholds_maximise_each_labels_f1_and_rare_labels_keep_the_default() -> None:
    probs = np.array([[0.30, 0.9], [0.20, 0.8], [0.10, 0.7], [0.05, 0.6]])
    y = np.array([[1, 1], [1, 0], [0, 0], [0, 0]])
    cuts = cal.tune_thresholds(probs, y, min_positives=2)
    # both positives above, F1 1.0 (0.5 would give 0): midway between 0.20 and the next, 0.10
    assert cuts[0] == pytest.approx(0.15)
    assert cuts[1] == 0.5  # one positive: too rare to tune
    assert (probs[:, 0] >= cuts[0]).tolist() == [True, True, False, False]


def test_a_threshold_is_not_on_a_score_so_rounding_keeps_the_choices() -> None:
    rng = np.random.default_rng(3)
    probs = rng.random((300, 4))
    y = (rng.random((300, 4)) < probs).astype(int)
    cuts = cal.tune_thresholds(probs, y)
    chosen = probs >= cuts
    assert not np.isin(cuts, probs).any()
    assert ((probs >= np.round(cuts, 6)) == chosen).all()
    assert ((probs.astype(np.float32) >= cuts) == chosen).all()


def test_the_record_round_trips_and_refuses_a_bad_temperature() -> None:
    from pipeline.errors import PipelineError

    rec = cal.Calibration(1.7, n=10, nll_raw=2.0, nll_calibrated=1.5)
    assert cal.Calibration.from_dict(rec.to_dict(), "x.json") == rec
    # 0, negative, outside the fit's range (1e-50: NaN scores in float32; 1e300: all equal)
    for t in (0, -1.5, 1e-50, 1e300, float("nan"), "1.5", True, None):
        with pytest.raises(PipelineError, match="x.json: temperature must be a number in"):
            cal.Calibration.from_dict({"temperature": t}, "x.json")


@pytest.mark.parametrize(
    "thresholds", ["abc", None, [0.5], {"a": "x"}, {"a": 2.0}, {"a": -0.1}, {"a": float("nan")}]
)
def test_thresholds_must_be_numbers_between_0_and_1(thresholds: object) -> None:
    from pipeline.errors import PipelineError

    with pytest.raises(PipelineError, match="x.json: thresholds must map each label"):
        cal.Calibration.from_dict({"temperature": 1.0, "thresholds": thresholds}, "x.json")


def test_a_file_of_another_kind_or_other_labels_is_refused() -> None:
    from pipeline.errors import PipelineError

    multi = cal.Calibration(0.5, "sigmoid", thresholds={"a": 0.3, "b": 0.5})
    assert multi.check("x.json", "sigmoid", ["b", "a"]) is multi
    with pytest.raises(PipelineError, match="a sigmoid calibration, but this model's scores"):
        multi.check("x.json", "softmax")
    with pytest.raises(PipelineError, match=r"missing: \['c'\], unknown: \['b'\]"):
        multi.check("x.json", "sigmoid", ["a", "c"])
