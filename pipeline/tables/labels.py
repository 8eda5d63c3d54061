"""Which major group each label belongs to, read off the data (prepare and evaluate share it)."""

from __future__ import annotations

import pandas as pd


def majority_groups(df: pd.DataFrame) -> dict[str, str]:
    """Each label's most common non-empty ``group`` in ``df`` (ties: the alphabetically first).

    The AI-Hub corpus files 고립된 and 혼란스러운 under two major groups; each gets the group
    most of its sentences carry. Labels never seen with a group are left out; a frame without
    a ``group`` column gives {}.
    """
    if "group" not in df.columns:
        return {}
    known = df.dropna(subset=["group"])
    known = known[known["group"].astype(str).str.strip() != ""]
    counts = known.groupby(["label", "group"]).size().reset_index(name="n")
    counts = counts.sort_values(["label", "n", "group"], ascending=[True, False, True])
    best = counts.drop_duplicates("label")
    return {
        str(label): str(group) for label, group in zip(best["label"], best["group"], strict=True)
    }
