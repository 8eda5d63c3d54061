"""Iterative stratification of label sets (Sechidis, Tsoumakas and Vlahavas, 2011): a split
for multi-label data where every label keeps its share in every part as far as the sets allow.

    parts = iterative_split([["기쁨", "설렘"], ["슬픔"], ...], [0.6, 0.2, 0.2], seed=42)
    # parts[i]: the part (0 train, 1 validation, 2 test) of example i

The algorithm: each part wants ``ratio * n`` examples, and ``ratio * n_l`` of label l's. Take
the label with the fewest examples still unassigned (ties: a seeded coin), and give each of its
examples (in a seeded order) to the part that wants that label most; ties go to the part that
wants the most examples overall, then to the coin. Rare labels go first, so they are spread
before the common ones fill the parts. One change to the paper: a part that has none of the
label yet comes first (then one lacking more of the example's other labels), so a label with
at least as many examples as parts lands in every part. Examples without labels go to the part
that wants the most examples. Pure: the same sets, ratios and seed give the same parts.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np


def iterative_split(
    sets: Sequence[Sequence[Hashable]], ratios: Sequence[float], seed: int
) -> np.ndarray:
    """The part (an index into ``ratios``) of every example of ``sets`` (its labels)."""
    rng = np.random.default_rng(seed)
    n, k = len(sets), len(ratios)
    ratio = np.asarray(ratios, dtype=np.float64)
    labels = sorted({label for s in sets for label in s}, key=repr)
    at = {label: j for j, label in enumerate(labels)}
    rows = [sorted({at[label] for label in s}) for s in sets]
    members: list[list[int]] = [[] for _ in labels]
    for i, row in enumerate(rows):
        for j in row:
            members[j].append(i)
    wanted = ratio[:, None] * np.array([len(m) for m in members], dtype=np.float64)[None, :]
    wanted_total = ratio * n
    have = np.zeros((k, len(labels)), dtype=np.int64)
    part = np.full(n, -1, dtype=np.int64)
    coin = rng.random(len(labels))  # ties between equally rare labels

    def assign(i: int, best: int) -> None:
        part[i] = best
        wanted[best, rows[i]] -= 1
        have[best, rows[i]] += 1
        wanted_total[best] -= 1

    left = np.array([len(m) for m in members], dtype=np.int64)
    while (left > 0).any():
        open_labels = np.flatnonzero(left > 0)
        label = open_labels[np.lexsort((coin[open_labels], left[open_labels]))[0]]
        for i in rng.permutation(members[label]):
            if part[i] >= 0:
                continue
            others = [j for j in rows[i] if j != label]
            tie = rng.random(k)
            best = max(
                range(k),
                key=lambda s: (
                    have[s, label] == 0,
                    int((have[s, others] == 0).sum()),
                    wanted[s, label],
                    wanted_total[s],
                    tie[s],
                ),
            )
            assign(int(i), best)
            left[rows[i]] -= 1
    for i in np.flatnonzero(part < 0):  # no labels at all
        assign(int(i), int(np.argmax(wanted_total + rng.random(k) * 1e-9)))
    return part
