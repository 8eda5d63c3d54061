"""Evaluate for NER: entity-level scores, the dictionary baseline, a type confusion matrix,
the worst sentences marked, written to reports/<run>/ at once (metrics.json, report.md,
predictions.{parquet,xlsx}, figures/confusion_matrix.png, run.json).

metrics.json: ``entity_f1`` / ``entity_precision`` / ``entity_recall`` (micro, exact spans and
types), ``macro_f1`` (mean F1 over the types present), ``accuracy`` (share of non-space
characters whose entity type, or O, is right), ``per_type``, ``baseline`` (the same numbers for
the dictionary baseline fitted on the train split), ``below_baseline`` and
``tokenizer_ceiling_f1``: the entity F1 of the gold entities themselves once turned into piece
tags and back, the most any model with this tokenizer can reach (a piece such as ``시에`` that
runs past an entity's end takes the entity's tag, so its span ends with the piece).
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.errors import PipelineError
from pipeline.io import (
    atomic_dir,
    provenance,
    read_json,
    sha256_file,
    to_excel_as_text,
    write_json,
    write_parquet,
    write_text,
)
from pipeline.model.loading import TF_WEIGHTS, load_trained, resolve_model_ref
from pipeline.paths import Paths
from pipeline.tasks.ner.markup import render_markup, spans_from_json, spans_to_json
from pipeline.tasks.ner.metrics import (
    DictionaryBaseline,
    char_types,
    entity_scores,
    sentence_errors,
)
from pipeline.tasks.ner.predict import predict_entities
from pipeline.tasks.ner.render import confusion_figure, markdown

logger = logging.getLogger("pipeline.evaluate")
N_WORST = 15


@dataclass(frozen=True)
class NerEvaluateResult:
    report_dir: Path
    metrics: dict[str, Any]
    n: int
    skipped_unknown: int = 0


def summary(gold: list, pred: list, texts: list[str], types: list[str]) -> dict[str, Any]:
    s = entity_scores(gold, pred, types)
    chars_true = [t for text, g in zip(texts, gold, strict=True) for t in char_types(text, g)]
    chars_pred = [t for text, p in zip(texts, pred, strict=True) for t in char_types(text, p)]
    acc = float(np.mean([a == b for a, b in zip(chars_true, chars_pred, strict=True)]))
    return {
        "entity_f1": s["micro"]["f1"],
        "entity_precision": s["micro"]["precision"],
        "entity_recall": s["micro"]["recall"],
        "macro_f1": s["macro"]["f1"],
        "accuracy": acc,
        "per_type": s["per_type"],
        "entities": s["support"],
        "predicted": s["predicted"],
    }


def tokenizer_ceiling(
    tokenizer: Any, texts: list[str], gold: list, max_len: int, types: list
) -> float:
    """Entity F1 of the gold spans passed through piece tags (align.py) and decoded back."""
    from pipeline.tasks.ner.align import bio_tags, piece_labels, piece_spans
    from pipeline.tasks.ner.predict import encode_with_offsets

    tags = bio_tags(types)
    tag2id = {t: i for i, t in enumerate(tags)}
    enc = encode_with_offsets(tokenizer, texts, max_len)
    back = []
    for i, (text, spans) in enumerate(zip(texts, gold, strict=True)):
        ids = piece_labels(
            text, enc["offset_mapping"][i], enc["special_tokens_mask"][i], spans, tag2id
        )
        named = ["O" if k < 0 else tags[k] for k in ids]
        back.append(
            [(s, e, t) for s, e, t, _, _ in piece_spans(text, enc["offset_mapping"][i], named)]
        )
    return entity_scores(gold, back, types)["micro"]["f1"]


def read_data(paths: Paths, cfg: Any, input_file: Any, text_column: str | None) -> Any:
    from pipeline.tasks.ner.data import read_file, row

    if input_file is None:
        path = paths.split_file(cfg.evaluate.split)
        if not path.is_file():
            raise PipelineError(f"{path} not found: run `make data` first")
        return pd.read_parquet(path, columns=["text", "entities"]), path
    path = paths.resolve(input_file)
    if not path.is_file():
        raise PipelineError(f"{path}: file not found (--input)")
    own = read_file(path, cfg.ingest)
    if own is not None:
        return own[["text", "entities"]], path
    column = text_column or cfg.ingest.text_columns[0]
    table = (
        pd.read_csv(path, dtype=object, keep_default_na=False)
        if path.suffix == ".csv"
        else pd.read_excel(path, dtype=object, engine="calamine", keep_default_na=False)
    )
    if column not in table.columns:
        raise PipelineError(f"{path.name}: no column {column!r} (has: {list(table.columns)})")
    rows = [
        row(str(v), cfg.ingest.entity_types, f"{path.name}, row {i + 2}")
        for i, v in enumerate(table[column])
        if str(v).strip()
    ]
    return pd.DataFrame({"text": [r[0] for r in rows], "entities": [r[1] for r in rows]}), path


def evaluate(
    cfg: Any,
    model_ref: str | None,
    input_file: Any,
    text_column: str | None,
    config_path: str | None,
) -> NerEvaluateResult:
    started = time.time()
    paths = Paths.from_config(cfg)
    ref = resolve_model_ref(paths, cfg.train.run_name, model_ref)
    run_dir = ref.run_dir
    name = (
        run_dir.relative_to(paths.models).as_posix()
        if paths.models in run_dir.parents
        else ref.name
    )
    data, data_path = read_data(paths, cfg, input_file, text_column)
    if data.empty:
        raise PipelineError(f"{data_path}: no sentences to evaluate")
    types = read_json(run_dir / "labels.json")["entity_types"]
    texts = data["text"].tolist()
    gold = [spans_from_json(v) for v in data["entities"]]
    model, tokenizer = load_trained(ref, "TFAutoModelForTokenClassification")
    max_len = int(
        read_json(run_dir / "run.json").get("config", {}).get("model", {}).get("max_seq_len")
        or cfg.model.max_seq_len
    )
    t0 = time.perf_counter()
    found = predict_entities(model, tokenizer, texts, max_len, cfg.evaluate.batch_size)
    predict_s = time.perf_counter() - t0
    pred = [[(s, e, t) for s, e, t, _ in f] for f in found]
    train = pd.read_parquet(paths.split_file("train"), columns=["text", "entities"])
    base = DictionaryBaseline().fit(
        train["text"].tolist(), [spans_from_json(v) for v in train["entities"]]
    )
    where = {"split": cfg.evaluate.split} if input_file is None else {"input": str(input_file)}
    metrics = {**where, "n": len(texts), **summary(gold, pred, texts, types)}
    metrics["baseline"] = {
        "name": DictionaryBaseline.name,
        **summary(gold, base.predict(texts), texts, types),
    }
    metrics["below_baseline"] = metrics["entity_f1"] < metrics["baseline"]["entity_f1"]
    metrics["tokenizer_ceiling_f1"] = tokenizer_ceiling(tokenizer, texts, gold, max_len, types)
    metrics["data"] = {"split_sha256": sha256_file(data_path)}
    metrics["model"] = name
    preds = pd.DataFrame(
        {
            "text": texts,
            "entities": data["entities"].tolist(),
            "predicted": [spans_to_json(p) for p in pred],
            "gold_marked": [render_markup(t, g) for t, g in zip(texts, gold, strict=True)],
            "predicted_marked": [render_markup(t, p) for t, p in zip(texts, pred, strict=True)],
            "errors": [sentence_errors(g, p) for g, p in zip(gold, pred, strict=True)],
        }
    )
    worst = preds[preds["errors"] > 0].sort_values("errors", ascending=False, kind="stable")
    out_dir = (
        paths.report_dir(name)
        if input_file is None
        else paths.adhoc_report_dir(name, data_path.stem)
    )
    with atomic_dir(out_dir) as tmp:
        write_json(tmp / "metrics.json", metrics)
        write_parquet(tmp / "predictions.parquet", preds)
        to_excel_as_text(preds, tmp / "predictions.xlsx", sheet_name="predictions")
        confusion_figure(texts, gold, pred, types, tmp / "figures" / "confusion_matrix.png")
        write_text(tmp / "report.md", markdown(name, metrics, types, worst.head(N_WORST)))
        record = provenance(
            cfg.to_dict(), {"data": data_path, "model": run_dir / TF_WEIGHTS}, started
        )
        record |= {
            "model": name,
            "model_dir": str(run_dir),
            "predict_s": predict_s,
            "command": f"make evaluate CONFIG={config_path or '<config>'}",
        }
        write_json(tmp / "run.json", record)
        if input_file is None and (out_dir / "adhoc").is_dir():  # keep the ad-hoc reports
            shutil.copytree(out_dir / "adhoc", tmp / "adhoc")
    logger.info(
        "entity F1 %.4f (baseline %.4f); report written to %s",
        metrics["entity_f1"],
        metrics["baseline"]["entity_f1"],
        out_dir / "report.md",
    )
    return NerEvaluateResult(out_dir, metrics, len(texts))
