"""A tiny sentence-pair (NLI) corpus built in code, and a project that holds it as files.

Each premise says where someone went; its hypothesis names the same place (entailment), the
same place negated (contradiction) or another place (neutral), so the pair, not the hypothesis
alone, tells the label.
"""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import yaml

from tests.xlsx_helpers import write_workbook

LABELS = ["entailment", "neutral", "contradiction"]
NAMES = ["민수는", "지수는", "서연은", "준호는", "하은은", "도윤은"]
PLACES = ["공원", "도서관", "식당", "시장", "카페", "학교"]


def tiny_pairs(n_per_label: int = 24, seed: int = 0) -> pd.DataFrame:
    """Distinct (premise, hypothesis, gold_label) rows, ``n_per_label`` of each label."""
    rng = random.Random(seed)
    rows, seen = [], set()
    for label in LABELS:
        n = 0
        while n < n_per_label:
            name, place = rng.choice(NAMES), rng.choice(PLACES)
            other = rng.choice([p for p in PLACES if p != place])
            premise = f"{name} 오늘 {place}에서 시간을 보냈다."
            hypothesis = {
                "entailment": f"{name} 오늘 {place}에 갔다.",
                "contradiction": f"{name} 오늘 {place}에 가지 않았다.",
                "neutral": f"{name} 오늘 {other}에 갔다.",
            }[label]
            if (premise, hypothesis) in seen:
                continue
            seen.add((premise, hypothesis))
            rows.append({"premise": premise, "hypothesis": hypothesis, "gold_label": label})
            n += 1
    return pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)


def pair_texts(df: pd.DataFrame) -> list[str]:
    return [*df["premise"], *df["hypothesis"]]


def write_pair_workbook(path: Path, df: pd.DataFrame) -> Path:
    rows = [list(df.columns), *df.itertuples(index=False, name=None)]
    return write_workbook(path, {"Sheet1": [list(r) for r in rows]})


def write_pair_config(root: Path, **sections: dict) -> Path:
    """config.yaml of a pair project under ``root``; keyword arguments extend sections."""
    cfg: dict = {
        "root": str(root),
        "task": "text-pair-classification",
        "model": {"name_or_path": "unused-by-the-data-stages"},
        "ingest": {
            "files": ["data/raw/*.xlsx"],
            "text_pair_columns": ["premise", "hypothesis"],
            "label_column": "gold_label",
            "group_column": None,
        },
        "prepare": {"label_table": None},
    }
    for name, values in sections.items():
        cfg[name] = {**cfg.get(name, {}), **values}
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path
