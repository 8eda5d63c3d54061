"""A classifier's evaluation: the test split (or any workbook/CSV) -> metrics, figures, report.

Predictions come from ``BatchedClassifier`` (length-sorted batches, few padded shapes), equal to
``TextClassificationPipeline`` one sentence at a time, or with ``serve.backend`` onnx/onnx-int8
from the run's ONNX export; a run with an export is also scored on every backend it has
(backends.py), side by side in the report. Beside the model, two baselines fitted on
the same train split: TF-IDF character n-grams + logistic regression (baseline.py) and the
frozen base encoder's mean embeddings + logistic regression, C chosen on validation
(embedding_baseline.py); a model below either on macro F1 is flagged at the top of the report
and as ``below_baseline`` in metrics.json. Major groups come from labels.json, completed from the
data's group column. The scores shown are the run's calibrated ones (calibration.json, unless
serve.calibration is off; calibrated.py adds the calibration section and its figures). Files:
metrics.json (the stage writes it), classification_report.{txt,csv,
json}, predictions.{parquet,xlsx}, figures/, report.md, report.html (report.py).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.errors import PipelineError
from pipeline.inference.loaded import read_calibration
from pipeline.io import read_json, sha256_file, write_json, write_parquet
from pipeline.model.loading import resolve_base_model
from pipeline.paths import Paths, RunDir
from pipeline.tables.labels import majority_groups
from pipeline.tables.outputs import to_csv_as_text, to_excel_as_text
from pipeline.tasks.base import EvaluateRequest, Evaluation
from pipeline.tasks.classification import backends, calibrated, report
from pipeline.tasks.classification.baseline import CharNgramBaseline
from pipeline.tasks.classification.embedding_baseline import EmbeddingBaseline, embedding_prefix
from pipeline.tasks.classification.inputs import check_labels, read_input, read_split
from pipeline.tasks.classification.metrics import (
    SCORE_KEYS,
    class_report,
    most_confused,
    predictions_frame,
    score,
)

logger = logging.getLogger("pipeline.evaluate")

N_CONFUSED = 15
N_MISCLASSIFIED = 20
OLD_SPLIT_RULE = "unknown (the manifest predates split rules: stratified by label, per sentence)"
BASELINE_KEYS = ("accuracy", "macro_f1", "weighted_f1", "top_k_accuracy", "group_accuracy")


def evaluate(task: Any, req: EvaluateRequest) -> Evaluation:
    """Score the run of ``req`` on its data; ``task`` (single text or pairs) reads examples."""
    if req.classifier is not None:
        raise PipelineError("--classifier is for task text-generation (it checks samples)")
    cfg, paths, run = req.cfg, req.paths, RunDir(req.ref.run_dir)
    labels_file = run.labels if run.labels.is_file() else paths.labels
    label2group = read_json(labels_file).get("label2group", {}) if labels_file.is_file() else {}
    manifest = read_json(paths.manifest) if paths.manifest.is_file() else None
    if req.input_file is not None:
        data_path = req.input_file
        label_column = req.label_column or cfg.ingest.label_column
        first, pair = (task.input_columns(cfg.ingest) + [None])[:2]
        text_column, group = req.text_column or first, cfg.ingest.group_column
        data = read_input(data_path, text_column, label_column, group, pair, cfg.ingest.encoding)
        where: dict[str, Any] = {"input": shown_path(paths, data_path)}
    else:
        data, data_path = read_split(paths, cfg.evaluate.split)
        where = {"split": cfg.evaluate.split}
    if data.empty:
        raise PipelineError(f"{data_path}: no sentences to evaluate")
    label2group = complete_groups(label2group, [data, train_groups(paths)])

    id2label = run.read(run.CONFIG).get("id2label", {})
    names = [id2label[str(i)] for i in range(len(id2label))]
    label2id = {n: i for i, n in enumerate(names)}
    known = check_labels(data["label"], label2id, cfg.evaluate.unknown_labels, str(data_path))
    skipped = int((~known).sum())
    data = data[known].reset_index(drop=True)
    if data.empty:
        raise PipelineError(f"{data_path}: no sentence left after skipping unknown labels")
    y_true = data["label"].map(label2id).to_numpy()

    from tqdm import tqdm

    max_seq_len = req.run_info.get("config", {}).get("model", {}).get("max_seq_len")
    max_seq_len = int(max_seq_len or cfg.model.max_seq_len)
    backend, batch_size = cfg.serve.backend, cfg.evaluate.batch_size

    def make(name: str) -> Any:
        return backends.classifier(task, req.ref, name, max_seq_len, batch_size)

    clf = make(backend)
    t0 = time.perf_counter()
    with tqdm(total=len(data), desc="predict", unit="sent", mininterval=2) as bar:
        logits = clf.predict_logits(task.examples(data), progress=bar.update)
    predict_s = time.perf_counter() - t0
    logger.info("predicted %d sentences in %.1fs (%s)", len(data), predict_s, backend)
    run_calibration = (
        read_calibration(run.calibration, "softmax") if run.calibration.exists() else None
    )
    calibration = calibrated.evaluated(logits, y_true, run_calibration, cfg.serve.calibration)
    probs = calibration.probs  # calibrated or raw: the same labels either way

    def scored(p: Any) -> dict[str, Any]:
        return score(y_true, p, names, label2group)

    on_each = backends.exported_backends(req.ref)
    side_by_side = (
        backends.compare(make, task.examples(data), on_each, scored) if len(on_each) > 1 else []
    )
    scores = scored(probs)
    metrics: dict[str, Any] = {**where, "n": len(data)}
    metrics |= {k: scores[k] for k in SCORE_KEYS}  # the order of docs/contracts.md
    text_report, dict_report = class_report(y_true, probs.argmax(axis=1), names)
    baseline = fit_baseline(paths, data, label2id, names, label2group, task)
    metrics["baseline"] = baseline and {
        "name": CharNgramBaseline.name,
        **{k: baseline[k] for k in BASELINE_KEYS},
    }
    embedding = fit_embedding_baseline(task, req, data, label2id, names, label2group)
    metrics["embedding_baseline"] = embedding and {
        k: embedding[k] for k in ("name", "encoder", "prefix", "C", *BASELINE_KEYS)
    }
    beaten_by = [b for b in (baseline, embedding) if b and metrics["macro_f1"] < b["macro_f1"]]
    metrics["below_baseline"] = bool(beaten_by) if baseline or embedding else None
    for b in beaten_by:
        logger.warning(
            "the model's macro F1 %.4f is below the %s baseline's %.4f",
            metrics["macro_f1"], b.get("name", CharNgramBaseline.name), b["macro_f1"],
        )  # fmt: skip
    metrics["data"] = {"split_sha256": sha256_file(data_path)}
    if req.input_file is None:
        metrics["data"]["split_rule"] = (manifest or {}).get("rule", OLD_SPLIT_RULE)
    metrics["model"] = req.name
    if side_by_side:  # the run has an ONNX export: every backend on the same sentences
        metrics["backends"] = side_by_side
    metrics["calibration"] = calibration.metrics
    preds = predictions_frame(data, probs, names)
    wrong = preds[~preds["correct"]]
    inputs = report.ReportInputs(
        model=req.name,
        model_dir=run.path,
        metrics=metrics,
        baseline=baseline,
        embedding_baseline=embedding,
        names=names,
        label2group=label2group,
        y_true=y_true,
        y_pred=probs.argmax(axis=1),
        class_report=text_report,
        confused=most_confused(y_true, probs.argmax(axis=1), names, N_CONFUSED),
        misclassified=wrong.sample(n=min(N_MISCLASSIFIED, len(wrong)), random_state=0),
        config=cfg.to_dict(),
        manifest=manifest if req.input_file is None else None,
        run_info=req.run_info,
        sweep_results=sweep_results(paths, run.path),
        skipped_unknown=skipped,
        command=req.command,
        run_backend=backend,
        min_score=cfg.serve.min_score,
    )

    def write(out: Path) -> None:
        (out / "classification_report.txt").write_text(text_report, encoding="utf-8")
        write_json(out / "classification_report.json", dict_report)
        report_csv = out / "classification_report.csv"  # label names from the data: as text
        to_csv_as_text(pd.DataFrame(dict_report).T, report_csv, index=True)
        write_parquet(out / "predictions.parquet", preds)
        to_excel_as_text(preds, out / "predictions.xlsx", sheet_name="predictions")
        report.write_report(out, inputs)

    m = metrics
    return Evaluation(
        metrics=metrics,
        n=len(data),
        write=write,
        inputs={"data": data_path, "model": run.weights},
        summary=f"{m['model']}: accuracy {m['accuracy']:.4f}, macro F1 {m['macro_f1']:.4f}, "
        f"top-3 {m['top_k_accuracy']['3']:.4f} on {len(data)} sentences",
        record={
            "skipped_unknown_labels": skipped,
            "backend": backend,
            "sentences_per_s": round(len(data) / predict_s, 1),
            "predict_s": predict_s,
        },
    )


def shown_path(paths: Paths, path: Path) -> str:
    """``path`` relative to the project root when it lies under it, else as given."""
    try:
        return path.resolve().relative_to(paths.root).as_posix()
    except ValueError:
        return str(path)


def train_groups(paths: Paths) -> pd.DataFrame:
    """The train split's label and group columns (empty when it is missing or has no groups)."""
    path = paths.split_file("train")
    if not path.is_file():
        return pd.DataFrame(columns=["label", "group"])
    frame = pd.read_parquet(path)
    return frame[["label", "group"]] if "group" in frame.columns else frame[["label"]]


def complete_groups(label2group: dict[str, str], frames: list[pd.DataFrame]) -> dict[str, str]:
    """``label2group`` with the labels it lacks filled in from the data's group column (each
    label's most common group, as prepare does), so group accuracy does not depend on the
    label table or labels.json having a group for every label."""
    with_groups = [f for f in frames if "group" in f.columns]
    found = majority_groups(pd.concat(with_groups)) if with_groups else {}
    return {**{k: v for k, v in found.items() if k not in label2group}, **label2group}


def fit_baseline(
    paths: Paths,
    data: pd.DataFrame,
    label2id: dict[str, int],
    names: list[str],
    label2group: dict[str, str],
    task: Any,
) -> dict[str, Any] | None:
    """TF-IDF char n-gram baseline on the task's ``baseline_text`` (pairs: ``a [SEP] b``),
    fitted on the train split, scored on ``data``."""
    train_path = paths.split_file("train")
    if not train_path.is_file():
        logger.warning("no %s: the report has no baseline", train_path)
        return None
    train = pd.read_parquet(train_path, columns=[*task.columns, "label"])
    train = train[train["label"].isin(list(label2id))]
    if train["label"].nunique() < 2:
        logger.warning("train split has fewer than 2 known labels: no baseline")
        return None
    t0 = time.perf_counter()
    y = train["label"].map(label2id).tolist()
    clf = CharNgramBaseline().fit(task.baseline_text(task.examples(train)), y)
    probs = clf.predict_proba_for(task.baseline_text(task.examples(data)), range(len(names)))
    logger.info("baseline fitted and scored in %.1fs", time.perf_counter() - t0)
    y_true = data["label"].map(label2id).to_numpy()
    return score(y_true, probs, names, label2group)


def fit_embedding_baseline(
    task: Any,
    req: EvaluateRequest,
    data: pd.DataFrame,
    label2id: dict[str, int],
    names: list[str],
    label2group: dict[str, str],
) -> dict[str, Any] | None:
    """The frozen base encoder's mean embeddings + logistic regression (C chosen on the
    validation split), fitted on the train split, scored on ``data``; None (logged) when the
    base model or the train and validation splits are not at hand."""
    cfg, paths = req.cfg, req.paths
    model_cfg = req.run_info.get("config", {}).get("model", {})
    base = model_cfg.get("name_or_path") or cfg.model.name_or_path
    frames = []
    for split in ("train", "validation"):
        path = paths.split_file(split)
        if not path.is_file():
            logger.warning("no %s: the report has no embedding baseline", path)
            return None
        frame = pd.read_parquet(path, columns=[*task.columns, "label"])
        frames.append(frame[frame["label"].isin(list(label2id))])
    train, val = frames
    if train["label"].nunique() < 2 or val.empty:
        logger.warning("too few known labels in train/validation: no embedding baseline")
        return None
    try:
        checkpoint = resolve_base_model(base, paths)
    except PipelineError as exc:
        logger.warning("no embedding baseline: the base model is not at hand (%s)", exc)
        return None
    t0 = time.perf_counter()
    run_publish = req.run_info.get("config", {}).get("publish", {})  # the run's origin, then ours
    prefix = embedding_prefix(base, run_publish.get("base_model") or cfg.publish.base_model)
    max_len = int(model_cfg.get("max_seq_len") or cfg.model.max_seq_len)
    clf = EmbeddingBaseline(checkpoint, prefix, max_len, task.encode, cfg.evaluate.batch_size)
    clf.fit(
        task.examples(train),
        train["label"].map(label2id).tolist(),
        validation=(task.examples(val), val["label"].map(label2id).tolist()),
    )
    probs = clf.predict_proba_for(task.examples(data), range(len(names)))
    logger.info("embedding baseline fitted and scored in %.1fs", time.perf_counter() - t0)
    y_true = data["label"].map(label2id).to_numpy()
    info = {"name": EmbeddingBaseline.name, "encoder": base, "prefix": prefix, "C": clf.C_}
    return info | score(y_true, probs, names, label2group)


def sweep_results(paths: Paths, run_dir: Path) -> str | None:
    """results.md of the sweep a run belongs to (models/<sweep>/<trial>), if there is one."""
    parent = run_dir.resolve().parent
    if parent == paths.models.resolve():
        return None
    results = paths.sweep_dir(parent.name) / "results.md"
    return results.read_text(encoding="utf-8") if results.is_file() else None
