"""Scores people can act on: temperature scaling, calibration error, abstaining, thresholds.

Pure functions over arrays (no TensorFlow, no files), shared by every classification task:

    t = fit_temperature(val_logits, val_y)                # softmax: one scalar, min val NLL
    probs = scaled_probs(test_logits, t)                  # argmax unchanged: t > 0
    ece(confidence(probs), correct(probs, test_y))        # 15 equal-width bins
    coverage_curve(confidence(probs), correct(probs, y))  # answered share and accuracy per cut

    t = fit_temperature(val_logits, val_Y, kind="sigmoid")  # multi-label: one scalar, min BCE
    cuts = tune_thresholds(scaled_probs(val_logits, t, "sigmoid"), val_Y)  # per label, max F1

SciPy is imported inside the functions that need it: a serve-only install (requirements-serve.txt,
no SciPy) applies a calibration.json with NumPy only (``rescaled`` for probabilities;
pipeline/model/batched_classifier.py divides the logits).

Temperature scaling (Guo et al., 2017) divides the logits by one positive scalar, so it changes
how sure the scores look and never which label ranks first (or which side of a threshold tuned
after it a score falls). The temperature is searched on log scale within [0.05, 20].
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

Kind = Literal["softmax", "sigmoid"]
BINS = 15
LOG_T_BOUNDS = (float(np.log(0.05)), float(np.log(20.0)))


@dataclass(frozen=True)
class Calibration:
    """What a run's calibration.json holds (RunDir.CALIBRATION, published with the model):
    the temperature fitted on the validation split, the validation NLL before and after it,
    and for multi-label runs one threshold per label (by label name)."""

    temperature: float
    kind: Kind = "softmax"
    fit_on: str = "validation"
    n: int = 0
    nll_raw: float | None = None
    nll_calibrated: float | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    # Scores measured on the validation split with and without the thresholds (multi-label:
    # micro and macro F1 at the tuned thresholds and at 0.5).
    validation: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"method": "temperature", **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str) -> Calibration:
        """Parse a calibration.json; ``where`` names the file in the error."""
        from pipeline.errors import PipelineError

        temperature = data.get("temperature")
        low, high = np.exp(LOG_T_BOUNDS)
        if not _number(temperature) or not low * 0.999 <= temperature <= high * 1.001:
            # Outside the fit's range the logits / T overflow or vanish in float32 (NaN scores,
            # another label): not a file train wrote.
            raise PipelineError(
                f"{where}: temperature must be a number in [{low:.2f}, {high:.0f}] (the range "
                f"train fits it in), got {temperature!r}"
            )
        if data.get("kind", "softmax") not in ("softmax", "sigmoid"):
            raise PipelineError(f"{where}: kind must be softmax or sigmoid, got {data['kind']!r}")
        thresholds = data.get("thresholds", {})
        if not isinstance(thresholds, dict) or not all(
            _number(v) and 0 <= v <= 1 for v in thresholds.values()
        ):
            raise PipelineError(
                f"{where}: thresholds must map each label to a number in [0, 1], got "
                f"{thresholds!r:.80}"
            )
        if not isinstance(data.get("validation", {}), dict):
            raise PipelineError(f"{where}: validation must be an object of scores")
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**{**known, "temperature": float(temperature)})

    def check(self, where: str, kind: Kind, labels: list[str] | None = None) -> Calibration:
        """This calibration, if it is one of a ``kind`` model (and, with ``labels``, has a
        threshold for each of them and no other): else one PipelineError naming the file."""
        from pipeline.errors import PipelineError

        if self.kind != kind:
            raise PipelineError(
                f"{where}: a {self.kind} calibration, but this model's scores are {kind}: it is "
                "not this run's file (delete it, or retrain)"
            )
        if labels is not None and set(self.thresholds) != set(labels):
            missing = sorted(set(labels) - set(self.thresholds))
            unknown = sorted(set(self.thresholds) - set(labels))
            raise PipelineError(
                f"{where}: thresholds do not match the model's labels (missing: {missing}, "
                f"unknown: {unknown})"
            )
        return self


def _number(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)


def scaled_probs(
    logits: np.ndarray, temperature: float = 1.0, kind: Kind = "softmax"
) -> np.ndarray:
    """Probabilities of ``logits / temperature``: row-wise softmax, or a sigmoid per label."""
    from scipy.special import expit, log_softmax

    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    if kind == "sigmoid":
        return expit(z)
    return np.exp(log_softmax(z, axis=-1))


def rescaled(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax scores ``probs`` as ``softmax(logits / temperature)`` gives them (float32): the
    log of a softmax differs from the logits by one constant per row, so softmax(log p / T)
    equals softmax(logits / T). For answerers that return probabilities, not logits
    (transformers' TextClassificationPipeline); NumPy only."""
    probs = np.asarray(probs, dtype=np.float64)
    if temperature == 1.0:
        return probs.astype(np.float32)
    with np.errstate(divide="ignore"):  # a score that underflowed to 0 stays 0
        z = np.log(probs) / float(temperature)
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return (z / z.sum(axis=-1, keepdims=True)).astype(np.float32)


def nll(
    logits: np.ndarray, y: np.ndarray, temperature: float = 1.0, kind: Kind = "softmax"
) -> float:
    """Mean negative log-likelihood of the true labels (softmax: ids (n,); sigmoid: 0/1 (n, k),
    averaged over every (example, label) cell, i.e. binary cross-entropy)."""
    from scipy.special import log_softmax

    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    if kind == "sigmoid":
        t = np.asarray(y, dtype=np.float64)
        # -[t log s(z) + (1-t) log(1-s(z))] = softplus(z) - t z, written to stay finite.
        return float(np.mean(np.logaddexp(0.0, z) - t * z))
    logp = log_softmax(z, axis=-1)
    return float(-np.mean(logp[np.arange(len(z)), np.asarray(y, dtype=int)]))


def fit_temperature(logits: np.ndarray, y: np.ndarray, kind: Kind = "softmax") -> float:
    """The temperature minimising ``nll`` on (validation) logits and labels; 1.0 without data."""
    from scipy.optimize import minimize_scalar

    if len(logits) == 0:
        return 1.0
    result = minimize_scalar(
        lambda log_t: nll(logits, y, float(np.exp(log_t)), kind),
        bounds=LOG_T_BOUNDS,
        method="bounded",
        options={"xatol": 1e-4},
    )
    best = float(np.exp(result.x))
    # The bounded search may stop a hair away from 1.0 on data it cannot improve: keep 1.0 then.
    return best if nll(logits, y, best, kind) < nll(logits, y, 1.0, kind) else 1.0


def confidence(probs: np.ndarray) -> np.ndarray:
    """The top score of each row (what a single-label answer is as sure as)."""
    return np.asarray(probs).max(axis=-1)


def correct(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """1.0 where the top label is the true one, else 0.0."""
    return (np.asarray(probs).argmax(axis=-1) == np.asarray(y)).astype(np.float64)


def reliability(conf: np.ndarray, outcome: np.ndarray, bins: int = BINS) -> dict[str, list]:
    """Equal-width bins over [0, 1]: each bin's mean confidence, mean outcome (accuracy, or the
    positive rate for per-label scores) and count; empty bins are kept with count 0."""
    conf = np.asarray(conf, dtype=np.float64).ravel()
    outcome = np.asarray(outcome, dtype=np.float64).ravel()
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    safe = np.maximum(count, 1)
    mean_conf = np.bincount(which, weights=conf, minlength=bins) / safe
    mean_out = np.bincount(which, weights=outcome, minlength=bins) / safe
    return {
        "edges": edges.tolist(),
        "confidence": mean_conf.tolist(),
        "accuracy": mean_out.tolist(),
        "count": count.astype(int).tolist(),
    }


def ece(conf: np.ndarray, outcome: np.ndarray, bins: int = BINS) -> float:
    """Expected calibration error: the count-weighted mean |accuracy - confidence| over bins."""
    table = reliability(conf, outcome, bins)
    count = np.asarray(table["count"], dtype=np.float64)
    if count.sum() == 0:
        return 0.0
    gap = np.abs(np.asarray(table["accuracy"]) - np.asarray(table["confidence"]))
    return float((gap * count).sum() / count.sum())


def coverage_curve(conf: np.ndarray, outcome: np.ndarray, thresholds: np.ndarray | None = None
                   ) -> list[dict[str, float]]:  # fmt: skip
    """For each minimum score: the share of examples answered (top score >= it) and the
    accuracy of those answers (None when none is answered), to choose ``serve.min_score``."""
    conf = np.asarray(conf, dtype=np.float64)
    outcome = np.asarray(outcome, dtype=np.float64)
    cuts = np.round(np.linspace(0.0, 0.95, 20), 2) if thresholds is None else thresholds
    rows = []
    for cut in cuts:
        answered = conf >= cut
        n = int(answered.sum())
        rows.append(
            {
                "min_score": float(cut),
                "coverage": n / len(conf) if len(conf) else 0.0,
                "accuracy": float(outcome[answered].mean()) if n else None,
            }
        )
    return rows


def tune_thresholds(probs: np.ndarray, y: np.ndarray, min_positives: int = 3,
                    default: float = 0.5) -> np.ndarray:  # fmt: skip
    """One threshold per label maximising that label's F1 on (validation) scores ``probs``
    (n, k) against 0/1 truth ``y``; a label with fewer than ``min_positives`` positives keeps
    ``default`` (too rare to tune). Candidates are the scores themselves (and ``default``);
    ties go to the one nearest ``default``; the threshold is then put midway between the chosen
    score and the next lower one."""
    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y).astype(bool)
    cuts = np.full(probs.shape[1], float(default))
    for j in range(probs.shape[1]):
        positives = int(y[:, j].sum())
        if positives < min_positives:
            continue
        candidates = np.unique(np.concatenate([probs[:, j], [default]]))
        predicted = probs[:, j][None, :] >= candidates[:, None]  # (candidates, n)
        tp = (predicted & y[:, j][None, :]).sum(axis=1)
        f1 = 2 * tp / np.maximum(predicted.sum(axis=1) + positives, 1)
        best = np.flatnonzero(f1 == f1.max())
        pick = best[np.argmin(np.abs(candidates[best] - default))]
        # Midway to the next lower score, not on a score: the same choices on these scores, and
        # a score rounded or recomputed in float32 cannot fall on the other side of it.
        cut = candidates[pick]
        cuts[j] = cut if pick == 0 or cut == default else (cut + candidates[pick - 1]) / 2
    return cuts
