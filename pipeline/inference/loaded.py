"""The model that the server and the predict command hold, and the answers they give.

``load_model`` loads a run directory or Hub id with its tokenizer, the max_seq_len it was
trained with, its label groups and its calibration (the run's calibration.json, with
``serve.calibration``; with ``serve.backend`` onnx or onnx-int8: the exported graph of the run
or of the Hub repo's onnx/ folder in ONNX Runtime, without TensorFlow); ``text_pipeline`` is
the reference answerer (``TextClassificationPipeline``); ``top_answers`` shapes scores like
the Inference API and ``mark_uncertain`` flags those below serve.min_score;
``clean_text``/``text_problem`` check one input sentence.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.calibration import Calibration, Kind
from pipeline.config import Config
from pipeline.errors import PipelineError
from pipeline.io import read_json
from pipeline.model.batched_classifier import BatchedClassifier
from pipeline.model.loading import ModelRef, load_trained, resolve_model_ref
from pipeline.model.onnx_classifier import OnnxClassifier, OnnxModel, load_exported
from pipeline.paths import Paths, RunDir
from pipeline.text import normalize_text

logger = logging.getLogger("pipeline.serve")


@dataclass
class LoadedModel:
    """A trained model with what serving it needs to know."""

    ref: ModelRef
    model: Any
    tokenizer: Any
    max_seq_len: int
    label2group: dict[str, str]
    # The run's calibration.json when serve.calibration is on and the model has one; None: the
    # scores are shown raw.
    calibration: Calibration | None = None

    @property
    def id2label(self) -> dict[int, str]:
        return {int(i): name for i, name in self.model.config.id2label.items()}

    @property
    def temperature(self) -> float:
        """What the logits are divided by before the softmax (1.0: raw scores)."""
        return self.calibration.temperature if self.calibration else 1.0

    def calibration_info(self) -> dict[str, Any] | str:
        """/info's ``calibration``: the temperature applied and what it was fitted on, or
        "none" (the scores are the raw softmax)."""
        if self.calibration is None:
            return "none"
        c = self.calibration
        return {"method": "temperature", "temperature": c.temperature, "fit_on": c.fit_on, "n": c.n}


def resolve(cfg: Config, model: str | None) -> ModelRef:
    """``--model`` (or the config's run) -> a run directory or Hub id; fails fast if missing."""
    return resolve_model_ref(Paths.from_config(cfg), cfg.train.run_name, model, allow_hub=True)


def load_model(cfg: Config, ref: ModelRef, auto_class: str,
               check_model: Callable[[Any, str], None] | None = None) -> LoadedModel:  # fmt: skip
    """Load the model (with the task's ``auto_class``; ``serve.backend`` onnx/onnx-int8: the
    ONNX graph of the run or Hub repo) and tokenizer; max_seq_len as trained (run.json),
    capped by the model. ``check_model`` (the task's ``Task.check_model``) refuses a model of
    another task."""
    backend = cfg.serve.backend
    if backend == "tf":
        if importlib.util.find_spec("tensorflow") is None:
            raise PipelineError(
                "serve.backend tf needs TensorFlow, which is not installed here: use --backend "
                "onnx or onnx-int8 (serve.backend) with a run exported by `make export`"
            )
        model, tokenizer = load_trained(ref, auto_class)
    else:  # a run's onnx/ export, or a published repo's (only that backend's files fetched)
        model, tokenizer = load_exported(ref, backend, auto_class)
    max_seq_len = cfg.model.max_seq_len
    label2group: dict[str, str] = {}
    if ref.run_dir is not None:
        run_json = RunDir(ref.run_dir).record
        if run_json.is_file():
            trained = read_json(run_json).get("config", {}).get("model", {}).get("max_seq_len")
            max_seq_len = int(trained or max_seq_len)
        if RunDir(ref.run_dir).labels.is_file():
            label2group = read_json(RunDir(ref.run_dir).labels).get("label2group") or {}
    else:
        label2group = _hub_label_groups(str(ref.hub_id))
    if check_model is not None:
        check_model(model.config, ref.source)
    multi = getattr(model.config, "problem_type", None) == "multi_label_classification"
    calibration = model_calibration(cfg, ref, "sigmoid" if multi else "softmax")
    max_seq_len = min(max_seq_len, int(getattr(model.config, "max_position_embeddings", 512)))
    logger.info("loaded %s (%d labels, max_seq_len %d)", ref.source, model.num_labels, max_seq_len)
    if calibration:
        logger.info(
            "scores calibrated: temperature %.4f (calibration.json)", calibration.temperature
        )
    else:
        why = "serve.calibration is off" if not cfg.serve.calibration else "no calibration.json"
        logger.info("scores raw (%s)", why)
    return LoadedModel(ref, model, tokenizer, max_seq_len, label2group, calibration)


def model_calibration(cfg: Config, ref: ModelRef, kind: Kind) -> Calibration | None:
    """The calibration.json beside the model: a run directory's, or a Hub repo's (cached or
    reachable, fetched as labels.json is); None when serve.calibration is off or the model has
    none (older runs, other people's models): its scores are served raw. ``kind``: the
    model's (its config's problem_type), which the file must match."""
    if not cfg.serve.calibration:
        return None
    if ref.run_dir is not None:
        path = RunDir(ref.run_dir).calibration
        return read_calibration(path, kind) if path.exists() else None
    found = hub_file(str(ref.hub_id), RunDir.CALIBRATION)
    return read_calibration(found, kind) if found else None


def read_calibration(path: Path, kind: Kind | None = None,
                     labels: list[str] | None = None) -> Calibration:  # fmt: skip
    """A run's calibration.json; anything but a JSON object with a temperature in the fit's
    range (and, given ``kind`` / ``labels``, of that kind with a threshold per label: see
    ``Calibration.check``) is one PipelineError naming the file."""
    if not path.is_file():
        raise PipelineError(f"{path}: not a file")
    try:
        data = read_json(path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise PipelineError(f"{path}: not a readable calibration file ({exc})") from None
    if not isinstance(data, dict):
        raise PipelineError(f"{path}: a calibration file holds a JSON object, got {data!r:.40}")
    try:
        calibration = Calibration.from_dict(data, str(path))
    except TypeError as exc:  # a field of the wrong shape
        raise PipelineError(f"{path}: {exc}") from None
    return calibration if kind is None else calibration.check(str(path), kind, labels)


def hub_file(repo_id: str, name: str) -> Path | None:
    """A published repo's file ``name`` (cached or reachable), or None: the repo has none, or
    the Hub cannot be reached and the file is not cached."""
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo_id, name))
    except Exception as exc:  # noqa: BLE001  (a repo without the file: none)
        logger.info("%s: no %s (%s)", repo_id, name, type(exc).__name__)
        return None


def _hub_label_groups(repo_id: str) -> dict[str, str]:
    """label2group from a published repo's labels.json, if it has one (cached or reachable)."""
    from huggingface_hub import hf_hub_download

    try:
        return read_json(Path(hf_hub_download(repo_id, RunDir.LABELS))).get("label2group") or {}
    except Exception:  # noqa: BLE001  (groups are optional)
        return {}


def text_pipeline(loaded: LoadedModel) -> Any:
    """The reference answerer: ``TextClassificationPipeline(model, tokenizer, framework="tf")``."""
    from transformers import TextClassificationPipeline

    return TextClassificationPipeline(
        model=loaded.model, tokenizer=loaded.tokenizer, framework="tf"
    )


def pipeline_proba(pipe: Any, texts: list[Any], max_seq_len: int) -> np.ndarray:
    """The pipeline's softmax scores as a (len(texts), num_labels) array in id order.

    ``texts``: sentences, or the task's ``pipeline_inputs`` ({"text", "text_pair"} dicts)."""
    label2id = {name: int(i) for i, name in pipe.model.config.id2label.items()}
    answers = pipe(list(texts), top_k=None, truncation=True, max_length=max_seq_len)
    out = np.zeros((len(texts), len(label2id)), dtype=np.float32)
    for row, answer in enumerate(answers):
        for item in answer:
            out[row, label2id[item["label"]]] = item["score"]
    return out


def top_answers(probs: np.ndarray, id2label: dict[int, str], k: int) -> list[list[dict]]:
    """Per row, the k best ``{"label", "score"}`` best first (ties in id order, as the pipeline)."""
    best = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return [
        [{"label": id2label[int(j)], "score": float(row[j])} for j in cols]
        for row, cols in zip(probs, best, strict=True)
    ]


def mark_uncertain(answers: list[list[dict]], min_score: float) -> list[int]:
    """Add ``"uncertain": true`` to the best answer of every input whose best score is below
    ``min_score`` (serve.min_score; 0: none is); returns those inputs' positions. The scores
    stay: the flag is one more key, which ``InferenceClient.text_classification`` keeps as an
    attribute of that element."""
    unsure = [i for i, answer in enumerate(answers) if answer and answer[0]["score"] < min_score]
    for i in unsure:
        answers[i][0]["uncertain"] = True
    return unsure


def clean_text(text: str) -> str:
    """``text`` as ingest wrote the training sentences (pipeline/text.py: NFC, zero-width
    characters removed, whitespace runs one space, trimmed); "" when nothing is left but
    whitespace, zero-width and control characters (NUL, U+200B, U+FEFF, ...): such text is empty.
    """
    return normalize_text(text)


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be classified (a lone surrogate: not encodable as UTF-8), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"holds a lone surrogate U+{ord(text[exc.start]):04X} at character {exc.start + 1}"
    return None


def batched_classifier(loaded: LoadedModel, batch_size: int, encode: Any = None) -> Any:
    """The model in length-sorted batches; ``encode``: the task's (pairs), None: one text.
    An ONNX graph runs in ``OnnxClassifier``, a TF model in ``BatchedClassifier``; both divide
    the logits by the model's calibration temperature before the softmax."""
    kind = OnnxClassifier if isinstance(loaded.model, OnnxModel) else BatchedClassifier
    clf = kind(loaded.model, loaded.tokenizer, loaded.max_seq_len, batch_size, encode)
    clf.temperature = loaded.temperature  # the run's calibration (1.0: raw)
    return clf


def column_texts(df: Any, column: str) -> list[str]:
    """The cleaned cells of a table's ``column`` ("" for empty ones); unencodable text is a
    PipelineError naming the row."""
    texts = [clean_text(str(v)) if _has_text(v) else "" for v in df[column]]
    for i, text in enumerate(texts):
        if problem := text_problem(text):
            raise PipelineError(f"row {i + 2} of column {column!r} {problem}: not valid text")
    return texts


def _has_text(value: Any) -> bool:
    return (
        value is not None
        and not (isinstance(value, float) and np.isnan(value))
        and bool(str(value).strip())
    )
