"""Tiny, fast stand-ins for the real data and model, built in code for the tests.

- ``tiny_corpus``: a few labeled Korean sentences per class, varied enough to learn from;
- ``write_processed``: those sentences laid out exactly as the split stage writes them
  (data/interim/labels.json, data/processed/{train,validation,test}.parquet, manifest.json),
  so downstream stages are tested on known inputs;
- ``make_tiny_bert``: a randomly initialised 2-layer BERT with a WordPiece vocabulary trained
  on the corpus with the ``tokenizers`` library, saved like a Hub checkpoint.
"""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd

from pipeline.io import sha256_file, write_json, write_parquet

# (label, major group, words that mark it)
TINY_LABELS = [
    ("신이 난", "기쁨", ["신나요", "최고예요", "너무 좋아요", "행복해요"]),
    ("감사하는", "기쁨", ["고마워요", "감사해요", "덕분이에요", "은혜예요"]),
    ("노여워하는", "분노", ["화가 나요", "열받아요", "용서 못 해요", "억울해요"]),
    ("불안한", "불안", ["걱정돼요", "초조해요", "무서워요", "떨려요"]),
]
SUBJECTS = [
    "친구가",
    "엄마가",
    "회사에서",
    "학교에서",
    "오늘",
    "어제",
    "동생이",
    "선생님이",
    "팀장님이",
]
EVENTS = [
    "시험 결과를 알려줬어",
    "선물을 줬어",
    "약속을 어겼어",
    "전화를 안 받아",
    "일을 도와줬어",
    "발표를 했어",
    "돈을 빌려 갔어",
    "여행을 가자고 했어",
    "소식을 전했어",
]


def tiny_corpus(n_per_class: int = 30, seed: int = 0) -> pd.DataFrame:
    """Unique sentences ``subject event, marker`` for each tiny label."""
    rng = random.Random(seed)
    rows = []
    for label, group, markers in TINY_LABELS:
        seen: set[str] = set()
        while len(seen) < n_per_class:
            text = f"{rng.choice(SUBJECTS)} {rng.choice(EVENTS)}. {rng.choice(markers)}"
            if rng.random() < 0.5:
                text += f" 정말 {rng.choice(markers)}"
            if text in seen:
                continue
            seen.add(text)
            rows.append({"text": text, "label": label, "group": group})
    return pd.DataFrame(rows)


def write_processed(root: Path, df: pd.DataFrame | None = None, seed: int = 0) -> dict:
    """Write labels.json, the three splits and the manifest under ``root`` (6:2:2 per class)."""
    df = tiny_corpus(seed=seed) if df is None else df
    names = [label for label, _, _ in TINY_LABELS if label in set(df["label"])]
    label2id = {name: i for i, name in enumerate(names)}
    groups = {label: group for label, group, _ in TINY_LABELS}
    df = df.assign(label_id=df["label"].map(label2id).astype("int64"))
    parts: dict[str, list[pd.DataFrame]] = {"train": [], "validation": [], "test": []}
    for _, g in df.groupby("label_id", sort=True):
        g = g.sample(frac=1.0, random_state=seed)
        n_train, n_val = int(len(g) * 0.6), int(len(g) * 0.2)
        parts["train"].append(g.iloc[:n_train])
        parts["validation"].append(g.iloc[n_train : n_train + n_val])
        parts["test"].append(g.iloc[n_train + n_val :])
    labels = {
        "id2label": {str(i): n for n, i in label2id.items()},
        "label2group": {n: groups[n] for n in names},
    }
    write_json(root / "data/interim/labels.json", labels)
    manifest: dict = {
        "splits": {},
        "labels": {
            "path": "data/interim/labels.json",
            "sha256": sha256_file(root / "data/interim/labels.json"),
        },
    }
    for split, frames in parts.items():
        frame = pd.concat(frames).reset_index(drop=True)
        path = root / f"data/processed/{split}.parquet"
        write_parquet(path, frame)
        manifest["splits"][split] = {
            "path": f"data/processed/{split}.parquet",
            "rows": len(frame),
            "sha256": sha256_file(path),
            "class_counts": {
                str(k): int(v) for k, v in frame["label"].value_counts().sort_index().items()
            },
        }
    write_json(root / "data/processed/manifest.json", manifest)
    return manifest


def make_tiny_bert(out_dir: Path, texts: list[str], max_positions: int = 64, seed: int = 0) -> Path:
    """Save a random 2-layer BERT (TF weights, drawn from ``seed``) with a WordPiece vocab."""
    import tf_keras
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertTokenizerFast, TFBertModel

    out_dir.mkdir(parents=True, exist_ok=True)
    wp = BertWordPieceTokenizer(lowercase=False, strip_accents=False)
    wp.train_from_iterator(texts, vocab_size=400, min_frequency=1)
    wp.save_model(str(out_dir))
    tokenizer = BertTokenizerFast(
        vocab_file=str(out_dir / "vocab.txt"), do_lower_case=False, model_max_length=max_positions
    )
    tokenizer.save_pretrained(str(out_dir))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_positions,
    )
    tf_keras.utils.set_random_seed(seed)  # the same tiny BERT in every session
    model = TFBertModel(config)
    model(model.dummy_inputs)
    model.save_pretrained(str(out_dir))
    return out_dir
