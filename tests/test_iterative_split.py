"""Iterative stratification (pipeline/stratify.py): rare labels in every part, shares kept,
the same seed the same parts."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from pipeline.stratify import iterative_split

RATIOS = [0.6, 0.2, 0.2]


def random_sets(n: int, labels: int, seed: int) -> list[list[str]]:
    """Label sets with a long tail: label j appears with probability ~ 1 / (j + 2)."""
    rng = np.random.default_rng(seed)
    sets = []
    for _ in range(n):
        chosen = [f"L{j}" for j in range(labels) if rng.random() < 0.6 / (j + 1)]
        sets.append(chosen or [f"L{rng.integers(labels)}"])
    return sets


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_every_label_with_three_examples_lands_in_every_split(seed: int) -> None:
    sets = random_sets(300, 12, seed)
    sets += [["rare", "L0"], ["rare"], ["rare", "L1"]]  # exactly three: one per part
    parts = iterative_split(sets, RATIOS, seed)
    counts = Counter(label for s in sets for label in s)
    for label, n in counts.items():
        where = {int(parts[i]) for i, s in enumerate(sets) if label in s}
        if n >= 3:
            assert where == {0, 1, 2}, (label, n, where)


def test_shares_follow_the_ratios_for_common_labels() -> None:
    sets = random_sets(600, 6, 7)
    parts = iterative_split(sets, RATIOS, 7)
    assert np.bincount(parts, minlength=3) / len(sets) == pytest.approx(RATIOS, abs=0.02)
    for label in ("L0", "L1"):
        rows = [i for i, s in enumerate(sets) if label in s]
        share = np.bincount(parts[rows], minlength=3) / len(rows)
        assert share == pytest.approx(RATIOS, abs=0.03)


def test_the_same_seed_gives_the_same_parts_and_another_seed_others() -> None:
    sets = random_sets(200, 8, 3)
    first = iterative_split(sets, RATIOS, 42)
    assert np.array_equal(first, iterative_split(sets, RATIOS, 42))
    assert not np.array_equal(first, iterative_split(sets, RATIOS, 43))


def test_examples_without_labels_are_spread_too() -> None:
    sets = [[]] * 10 + [["a"]] * 10
    parts = iterative_split(sets, [0.5, 0.25, 0.25], 0)
    assert (parts >= 0).all() and np.bincount(parts, minlength=3).tolist() == [10, 5, 5]


def test_it_beats_a_random_split_on_rare_labels() -> None:
    """A plain shuffle leaves some rare label out of a part; the iterative split does not."""
    sets = random_sets(150, 20, 11)
    rare = [lab for lab, n in Counter(x for s in sets for x in s).items() if 3 <= n <= 6]
    assert rare
    parts = iterative_split(sets, RATIOS, 11)
    shuffled = np.random.default_rng(11).permutation(np.repeat([0, 1, 2], [90, 30, 30]))

    def missing(assign: np.ndarray) -> int:
        return sum(
            len({0, 1, 2} - {int(assign[i]) for i, s in enumerate(sets) if lab in s})
            for lab in rare
        )

    assert missing(parts) == 0 < missing(shuffled)
