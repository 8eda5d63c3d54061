"""NER's evaluation: entity-level scores, the dictionary baseline, a type confusion matrix,
the worst sentences marked (report.py writes report.md and the figure; the evaluate stage
writes metrics.json and run.json, all at once).

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
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.errors import PipelineError
from pipeline.io import sha256_file, write_parquet, write_text
from pipeline.model.loading import ModelRef, load_trained
from pipeline.paths import Paths, RunDir
from pipeline.tables.outputs import to_excel_as_text
from pipeline.tasks.base import EvaluateRequest, Evaluation
from pipeline.tasks.ner.markup import render_markup, spans_from_json, spans_to_json
from pipeline.tasks.ner.metrics import (
    DictionaryBaseline,
    char_types,
    entity_scores,
    sentence_errors,
)
from pipeline.tasks.ner.predict import predict_entities
from pipeline.tasks.ner.report import confusion_figure, markdown

logger = logging.getLogger("pipeline.evaluate")
N_WORST = 15


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


def evaluate(req: EvaluateRequest) -> Evaluation:
    """Score the run of ``req`` on the split (or ``--input``) against the dictionary baseline."""
    if req.classifier is not None:
        raise PipelineError("--classifier is for task text-generation (it checks samples)")
    if req.label_column is not None:  # was silently ignored
        raise PipelineError(
            "--label-column: NER's gold entities are the <text:TYPE> markup in the text column "
            "(--text-column); give no --label-column"
        )
    cfg, paths, run = req.cfg, req.paths, RunDir(req.ref.run_dir)
    data, data_path = read_data(paths, cfg, req.input_file, req.text_column)
    if data.empty:
        raise PipelineError(f"{data_path}: no sentences to evaluate")
    types = run.read(RunDir.LABELS)["entity_types"]
    texts = data["text"].tolist()
    gold = [spans_from_json(v) for v in data["entities"]]
    backend = cfg.serve.backend
    model, tokenizer = load_backend(req.ref, backend)
    max_len = int(
        req.run_info.get("config", {}).get("model", {}).get("max_seq_len") or cfg.model.max_seq_len
    )
    t0 = time.perf_counter()
    found = predict_entities(model, tokenizer, texts, max_len, cfg.evaluate.batch_size)
    predict_s = time.perf_counter() - t0
    pred = [[(s, e, t) for s, e, t, _ in f] for f in found]
    side_by_side = [] if req.ref.run_dir is None else on_each_backend(
        req.ref, texts, gold, types, max_len, cfg.evaluate.batch_size
    )  # fmt: skip
    train = pd.read_parquet(paths.split_file("train"), columns=["text", "entities"])
    base = DictionaryBaseline().fit(
        train["text"].tolist(), [spans_from_json(v) for v in train["entities"]]
    )
    inputs = {"split": cfg.evaluate.split} if req.input_file is None else {"input": str(data_path)}
    metrics = {**inputs, "n": len(texts), **summary(gold, pred, texts, types)}
    metrics["baseline"] = {
        "name": DictionaryBaseline.name,
        **summary(gold, base.predict(texts), texts, types),
    }
    metrics["below_baseline"] = metrics["entity_f1"] < metrics["baseline"]["entity_f1"]
    metrics["tokenizer_ceiling_f1"] = tokenizer_ceiling(tokenizer, texts, gold, max_len, types)
    metrics["data"] = {"split_sha256": sha256_file(data_path)}
    metrics["model"] = req.name
    metrics["backend"] = backend
    if len(side_by_side) > 1:  # the run has an ONNX export: every backend on the same sentences
        metrics["backends"] = side_by_side
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
    logger.info(
        "entity F1 %.4f (baseline %.4f)", metrics["entity_f1"], metrics["baseline"]["entity_f1"]
    )

    def write(out: Path) -> None:
        write_parquet(out / "predictions.parquet", preds)
        to_excel_as_text(preds, out / "predictions.xlsx", sheet_name="predictions")
        confusion_figure(texts, gold, pred, types, out / "figures" / "confusion_matrix.png")
        write_text(out / RunDir.REPORT, markdown(req.name, metrics, types, worst.head(N_WORST)))

    m = metrics
    return Evaluation(
        metrics=metrics,
        n=len(texts),
        write=write,
        inputs={"data": data_path, "model": run.weights},
        summary=f"{m['model']}: entity F1 {m['entity_f1']:.4f} (precision "
        f"{m['entity_precision']:.4f}, recall {m['entity_recall']:.4f}), macro F1 "
        f"{m['macro_f1']:.4f}; dictionary baseline entity F1 {m['baseline']['entity_f1']:.4f} "
        f"on {len(texts)} sentences",
        record={"predict_s": predict_s, "command": req.command},
    )


def load_backend(ref: ModelRef, backend: str) -> tuple[Any, Any]:
    """(model, tokenizer) of the run on ``backend``: TF, or its ONNX export (fp32, int8)."""
    if backend == "tf":
        return load_trained(ref, "TFAutoModelForTokenClassification")
    from pipeline.model.onnx_classifier import load_onnx

    if ref.run_dir is None:
        raise PipelineError(f"--backend {backend} needs a local run with an onnx/ export")
    return load_onnx(ref.run_dir, backend, "TFAutoModelForTokenClassification")


def on_each_backend(ref: ModelRef, texts: list[str], gold: list[Any], types: list[str],
                    max_len: int, batch_size: int) -> list[dict[str, Any]]:  # fmt: skip
    """With an ONNX export: one row per backend the run has (TF, fp32, int8) on the same
    sentences: entity F1, the share of sentences whose entities are TF's, sentences/s."""
    from pipeline.model.onnx_classifier import exported_backends

    backends = exported_backends(ref)
    if len(backends) < 2:
        return []
    found: dict[str, tuple[list[Any], float]] = {}
    for backend in backends:
        try:
            model, tokenizer = load_backend(ref, backend)
        except PipelineError as exc:  # a damaged comparison graph: the report goes on without it
            logger.warning("%s left out of the backends table: %s", backend, exc)
            continue
        predict_entities(model, tokenizer, texts[:2], max_len, batch_size)  # warm up
        t0 = time.perf_counter()
        spans = predict_entities(model, tokenizer, texts, max_len, batch_size)
        found[backend] = ([[x[:3] for x in f] for f in spans], time.perf_counter() - t0)
    rows = []
    for backend, (pred, secs) in found.items():
        scores = entity_scores(gold, pred, types)
        same = np.mean([set(a) == set(b) for a, b in zip(pred, found["tf"][0], strict=True)])
        rows.append({
            "backend": backend,
            "entity_f1": round(scores["micro"]["f1"], 6),
            "macro_f1": round(scores["macro"]["f1"], 6),
            "sentences_as_tf": round(float(same), 6),
            "sentences_per_s": round(len(texts) / max(secs, 1e-9), 1),
        })  # fmt: skip
    return rows
