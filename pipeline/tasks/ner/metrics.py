"""Entity-level scores, the token-level type confusion, and the dictionary baseline.

``entity_scores`` counts an entity as found only when its start, end and type all match a gold
entity of the same sentence (the strict, exact-match rule of seqeval's entity scores):
precision, recall and F1 per type, micro (over all entities) and macro (mean over types).
``char_types`` labels each character by the type of the entity covering it ("O" outside), so
the confusion matrix shows which types the model mixes up, whatever the boundaries.
``DictionaryBaseline`` tags every training-set entity string wherever it occurs (longest match
first, no overlaps), with the type it most often had in training.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from pipeline.tasks.ner.markup import Span


def _prf(tp: int, n_pred: int, n_gold: int) -> dict[str, float]:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f}


def entity_scores(
    gold: Sequence[Sequence[Span]], pred: Sequence[Sequence[Span]], types: Sequence[str]
) -> dict[str, Any]:
    """Per-type and micro/macro P/R/F1 of exact-match entities, sentence by sentence."""
    tp: Counter[str] = Counter()
    n_gold: Counter[str] = Counter()
    n_pred: Counter[str] = Counter()
    for g, p in zip(gold, pred, strict=True):
        gs, ps = {tuple(x) for x in g}, {tuple(x) for x in p}
        n_gold.update(t for _, _, t in gs)
        n_pred.update(t for _, _, t in ps)
        tp.update(t for _, _, t in gs & ps)
    per_type = {
        t: {**_prf(tp[t], n_pred[t], n_gold[t]), "support": n_gold[t]} for t in sorted(types)
    }
    micro = _prf(sum(tp.values()), sum(n_pred.values()), sum(n_gold.values()))
    scored = [v for v in per_type.values() if v["support"]]
    macro = {
        k: sum(v[k] for v in scored) / len(scored) if scored else 0.0
        for k in ("precision", "recall", "f1")
    }
    return {
        "per_type": per_type,
        "micro": micro,
        "macro": macro,
        "support": sum(n_gold.values()),
        "predicted": sum(n_pred.values()),
    }


def char_types(text: str, spans: Sequence[Span]) -> list[str]:
    """The entity type covering each non-space character of ``text`` ("O": none)."""
    out = ["O"] * len(text)
    for s, e, t in spans:
        out[s:e] = [t] * (e - s)
    return [t for t, ch in zip(out, text, strict=True) if not ch.isspace()]


def sentence_errors(gold: Sequence[Span], pred: Sequence[Span]) -> int:
    """Entities missed plus entities wrongly predicted in one sentence."""
    gs, ps = {tuple(x) for x in gold}, {tuple(x) for x in pred}
    return len(gs - ps) + len(ps - gs)


class DictionaryBaseline:
    """Tag every training entity string wherever it occurs, with its most common type."""

    name = "dictionary of training entities"

    def fit(self, texts: Sequence[str], spans: Sequence[Sequence[Span]]) -> DictionaryBaseline:
        seen: dict[str, Counter[str]] = {}
        for text, sentence in zip(texts, spans, strict=True):
            for s, e, t in sentence:
                seen.setdefault(text[s:e], Counter())[t] += 1
        # most common type; ties: the alphabetically first
        self.table = {w: min(c, key=lambda t: (-c[t], t)) for w, c in seen.items()}
        self.words = sorted(self.table, key=lambda w: (-len(w), w))  # longest first
        return self

    def predict(self, texts: Sequence[str]) -> list[list[Span]]:
        out = []
        for text in texts:
            taken = [False] * len(text)
            found: list[Span] = []
            for word in self.words:
                at = text.find(word)
                while at != -1:
                    end = at + len(word)
                    if not any(taken[at:end]):
                        taken[at:end] = [True] * len(word)
                        found.append((at, end, self.table[word]))
                    at = text.find(word, at + 1)
            out.append(sorted(found))
        return out
