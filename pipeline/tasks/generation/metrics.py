"""Generation metrics: distinct-n and repetition of samples, and the n-gram baseline LM.

Words are whitespace-separated (Korean eojeol). ``distinct_n``: distinct word n-grams over all
samples' continuations / all their n-grams (Li et al., 2016). ``repetition_rate``: the share
of a continuation's word bigrams that already occurred earlier in the same continuation,
averaged over samples (0: no loop). The baseline is an interpolated bigram LM over the same
model tokens the perplexity counts (every token after a sequence's first, eos included):
p(t | s) = l * c(s, t) / c(s) + (1 - l) * (c(t) + 1) / (N + V), with l chosen on validation.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

LAMBDAS = (0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def ngrams(words: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct word n-grams / all word n-grams over ``texts`` (0 when there are none)."""
    grams = [g for t in texts for g in ngrams(t.split(), n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def repetition_rate(texts: Sequence[str]) -> float:
    """Mean share of each text's word bigrams that repeat an earlier bigram of that text."""
    rates = []
    for t in texts:
        grams = ngrams(t.split(), 2)
        if grams:
            rates.append(1 - len(set(grams)) / len(grams))
    return sum(rates) / len(rates) if rates else 0.0


class BigramLM:
    """Interpolated bigram LM over token ids (add-one unigram backoff); fit / perplexity."""

    def __init__(self, vocab_size: int, lam: float = 0.5) -> None:
        self.vocab_size, self.lam = vocab_size, lam

    def fit(self, seqs: Sequence[Sequence[int]]) -> BigramLM:
        self.uni: Counter = Counter(t for s in seqs for t in s[1:])
        self.ctx: Counter = Counter(a for s in seqs for a in s[:-1])
        self.bi: Counter = Counter(
            (a, b) for s in seqs for a, b in zip(s[:-1], s[1:], strict=False)
        )
        self.total = sum(self.uni.values())
        return self

    def perplexity(self, seqs: Sequence[Sequence[int]]) -> float:
        nll, count = 0.0, 0
        for s in seqs:
            for a, b in zip(s[:-1], s[1:], strict=False):
                uni = (self.uni[b] + 1) / (self.total + self.vocab_size)
                bi = self.bi[(a, b)] / self.ctx[a] if self.ctx[a] else uni
                nll -= math.log(self.lam * bi + (1 - self.lam) * uni)
                count += 1
        return math.exp(nll / max(count, 1))


def fit_baseline(
    train: Sequence[Sequence[int]], validation: Sequence[Sequence[int]], vocab_size: int
) -> BigramLM:
    """The bigram LM with the interpolation weight that fits ``validation`` best."""
    models = [BigramLM(vocab_size, lam).fit(train) for lam in LAMBDAS]
    return min(models, key=lambda m: m.perplexity(validation))
