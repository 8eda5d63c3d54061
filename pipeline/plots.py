"""Matplotlib set up once for the whole pipeline: no display, and a font that renders Hangul."""

from __future__ import annotations

import functools


@functools.cache
def pyplot():
    """matplotlib.pyplot with the Agg backend and koreanize-matplotlib's NanumGothic font."""
    import matplotlib

    matplotlib.use("Agg")
    import koreanize_matplotlib  # noqa: F401  (registers and selects the Korean font)
    import matplotlib.pyplot as plt

    plt.rcParams["axes.unicode_minus"] = False  # the Korean font has no U+2212 minus
    return plt
