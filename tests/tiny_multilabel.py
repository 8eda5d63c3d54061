"""A tiny multi-label project built in code: a workbook of sentences with 1-2 of 4 labels each
(one label holding the separator), its label table, a tiny random BERT, and the config that
takes it through ingest -> prepare -> split -> train -> evaluate (``multilabel_project`` in
conftest.py: trained once per session, for tests/test_multilabel_pipeline.py and
tests/test_multilabel_onnx.py)."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd

from tests.tiny import EVENTS, SUBJECTS, TINY_LABELS, make_tiny_bert

ML_LABELS = ["기쁨", "감사", "분노, 짜증", "불안"]  # one holds the separator
MARKERS = [markers for _, _, markers in TINY_LABELS]


def tiny_multilabel(n: int = 200, seed: int = 0) -> pd.DataFrame:
    """Unique sentences ``subject event. marker [marker]``: 1-2 labels each, a marker of each."""
    rng = random.Random(seed)
    rows, seen = [], set()
    while len(rows) < n:
        chosen = sorted(rng.sample(range(4), rng.choice([1, 1, 2])))
        text = f"{rng.choice(SUBJECTS)} {rng.choice(EVENTS)}."
        text += "".join(f" {rng.choice(MARKERS[j])}" for j in chosen)
        if text not in seen:
            seen.add(text)
            rows.append({"문장": text, "감정": ", ".join(ML_LABELS[j] for j in chosen)})
    return pd.DataFrame(rows)


def build_project(root: Path) -> Path:
    """Write the project under ``root``, run every stage through its ``main``; its config."""
    from pipeline.data import ingest, prepare, split
    from pipeline.evaluate import stage as evaluate
    from pipeline.train import stage as train
    from tests.conftest import write_config

    (root / "data/raw").mkdir(parents=True)
    corpus = tiny_multilabel()
    corpus.to_excel(root / "data/raw/ml.xlsx", index=False)
    table = pd.DataFrame({"감정": ML_LABELS, "id": range(len(ML_LABELS))})
    table.to_excel(root / "data/raw/labels.xlsx", index=False)
    base = make_tiny_bert(root / "base", corpus["문장"].tolist())
    cfg = {
        "root": str(root),
        "task": "multi-label-classification",
        "ingest": {"files": ["data/raw/ml.xlsx"], "text_columns": ["문장"], "label_column": "감정",
                   "group_column": None},
        "prepare": {"label_table": "data/raw/labels.xlsx", "label_name_column": "감정",
                    "label_separator": ","},
        "model": {"name_or_path": str(base), "max_seq_len": 32},
        "train": {"run_name": "ml", "epochs": 14, "batch_size": 8, "learning_rate": 2e-3,
                  "early_stopping": {"monitor": "val_micro_f1", "patience": 14}},
        "evaluate": {"batch_size": 64},
        "serve": {"max_inputs": 4, "max_wait_ms": 20},
        "publish": {"license": "mit"},
    }  # fmt: skip
    path = write_config(root / "config.yaml", cfg)
    for stage in (ingest, prepare, split, train, evaluate):
        assert stage.main(["--config", str(path)]) == 0
    return path
