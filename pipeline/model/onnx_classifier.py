"""ONNX Runtime inference for an exported run (``python -m pipeline.export``), without TensorFlow.

A sequence classifier is read by ``OnnxClassifier`` below; a NER model is called as the TF one
is (``OnnxModel.__call__``, pipeline/tasks/ner/predict.py and windows.py).

    models/<run>/onnx/model.onnx            fp32, ONNX Runtime's transformer fusions: "onnx"
    models/<run>/onnx/model_quantized.onnx  int8 weights, head and embeddings float: "onnx-int8"
    models/<run>/onnx/config.json, tokenizer files, export.json (how the export was checked)

    model, tokenizer = load_onnx(run_dir, "onnx")
    clf = OnnxClassifier(model, tokenizer, max_seq_len=64, batch_size=32)
    probs = clf.predict_proba(["오늘 너무 기뻐요"])     # the same answers as BatchedClassifier

A published run (``make publish`` pushes onnx/) is served from its Hub id: ``load_exported``
downloads only that backend's graph, config.json and the tokenizer files under onnx/ into the
Hugging Face cache (pipeline/model/hub.py) and loads them as a run's export.

The batching (length-sorted, little padding) is ``PaddedClassifier``'s, shared with the TF path.
This module imports neither TensorFlow nor anything that does: a serve install without
TensorFlow (docs/onnx.md) runs it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from pipeline.errors import PipelineError
from pipeline.io import read_json
from pipeline.model.batched_classifier import PaddedClassifier
from pipeline.model.hub import hub_snapshot
from pipeline.model.loading import TOKENIZER_FILES, ModelRef

logger = logging.getLogger(__name__)

ONNX_DIR = "onnx"  # the folder transformers.js and Optimum read
EXPORT_RECORD = "export.json"
BACKEND_FILES = {"onnx": "model.onnx", "onnx-int8": "model_quantized.onnx"}
BACKENDS = ("tf", *BACKEND_FILES)
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def onnx_file(run_dir: Path, backend: str) -> Path:
    """The graph file of ``backend`` in a run's onnx/ folder; a missing one is one message that
    says what to do (an int8 file the export's quality gate refused says by how much)."""
    path = Path(run_dir) / ONNX_DIR / BACKEND_FILES[backend]
    if path.is_file():
        return path
    record = path.parent / EXPORT_RECORD
    int8 = read_json(record).get("int8", {}) if record.is_file() else {}
    if backend == "onnx-int8" and int8.get("written") is False:
        raise PipelineError(
            f"{path} was not written: {int8.get('reason', 'the quality gate refused it')} "
            f"(see {record}); serve backend onnx instead"
        )
    raise PipelineError(
        f"{path} not found: export the run first (make export MODEL={Path(run_dir).name})"
    )


def hub_export(repo_id: str, backend: str) -> Path:
    """A published repo's onnx/ files that ``backend`` needs (its graph, config.json and the
    tokenizer files; not the other graph), downloaded into the Hugging Face cache; returns the
    snapshot folder, which ``load_onnx`` reads as a run directory."""
    graph = f"{ONNX_DIR}/{BACKEND_FILES[backend]}"

    def pick(files: set[str]) -> list[str]:
        if graph not in files:
            refused = (
                " (the export's int8 quality gate may have refused it: the repo's model card "
                "says so in its ONNX section); serve backend onnx instead"
                if backend == "onnx-int8"
                else "; publish a run exported by `make export`, or serve backend tf"
            )
            raise PipelineError(f"Hub repo {repo_id} has no {graph}{refused}")
        if f"{ONNX_DIR}/config.json" not in files:
            raise PipelineError(f"Hub repo {repo_id} has no {ONNX_DIR}/config.json")
        others = {f"{ONNX_DIR}/{name}" for name in BACKEND_FILES.values()}
        folder = [f for f in files if f.startswith(f"{ONNX_DIR}/") and f not in others]
        if not any(f.split("/")[-1] in TOKENIZER_FILES or f.endswith(".model") for f in folder):
            raise PipelineError(f"Hub repo {repo_id} has no tokenizer files under {ONNX_DIR}/")
        # the repo's own config.json too: load_onnx checks the export names its labels
        return [graph, *folder, *(["config.json"] if "config.json" in files else [])]

    return hub_snapshot(repo_id, pick, "--model")


def load_exported(ref: ModelRef, backend: str, auto_class: str | None = None
                  ) -> tuple[OnnxModel, Any]:  # fmt: skip
    """(model, tokenizer) of ``backend`` for ``ref``: a run directory's export, or a Hub
    repo's onnx/ folder (``hub_export``); ``auto_class`` (the task's) refuses another task's."""
    if ref.run_dir is not None:
        return load_onnx(ref.run_dir, backend, auto_class)
    return load_onnx(hub_export(str(ref.hub_id), backend), backend, auto_class)


def exported_backends(ref: ModelRef) -> list[str]:
    """tf, and the ONNX backends whose file the onnx/ folder of ``ref`` (a ``ModelRef``) holds."""
    folder = ref.run_dir / ONNX_DIR if ref.run_dir is not None else None
    if folder is None or not folder.is_dir():
        return ["tf"]
    found = [b for b in BACKEND_FILES if (folder / BACKEND_FILES[b]).is_file()]
    for backend in sorted(set(BACKEND_FILES) - set(found)):
        logger.info(
            "%s: no %s in %s (see its export.json)", backend, BACKEND_FILES[backend], folder
        )
    return ["tf", *found]


def session(path: Path) -> Any:
    """An ONNX Runtime CPU session with every graph optimization on, its threads not spinning.

    ONNX Runtime's intra-op threads spin while they wait for work by default. On a machine that
    other work shares (the demo's 2-core VM ran at load 4-5 besides) a spinning thread holds a
    core the others need: the demo model answered 17 sentences/s one at a time with spinning
    and 36-39 without, 22 and 60 in batches of 32 (benchmarks/onnx.py; docs/onnx.md)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001  (ONNX Runtime's own types: InvalidProtobuf, Fail...)
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
        raise PipelineError(
            f"{path} is not a graph ONNX Runtime can load ({why}); export the run again "
            "(make export)"
        ) from exc


class OnnxModel:
    """An exported graph with the run's model config: what ``LoadedModel.model`` offers the
    server and predict (``config.id2label``, ``num_labels``), plus the session."""

    def __init__(self, path: Path, config: Any, backend: str) -> None:
        self.path, self.config, self.backend = path, config, backend
        self.session = session(path)
        self.input_names = [i.name for i in self.session.get_inputs()]
        width = self.session.get_outputs()[0].shape[-1]
        if isinstance(width, int) and width != len(config.id2label):
            raise PipelineError(
                f"{path} answers {width} scores per prediction but {path.parent / 'config.json'} "
                f"names {len(config.id2label)} labels: the graph and its config come from "
                "different runs; export the run again (make export)"
            )

    @property
    def num_labels(self) -> int:
        return len(self.config.id2label)

    def __call__(self, inputs: dict[str, np.ndarray], training: bool = False) -> Any:
        """``model(inputs, training=False).logits`` as the TF model answers it (NER's
        predict.py calls either the same way)."""
        ids = np.asarray(inputs["input_ids"])
        segments = inputs.get("token_type_ids")
        segments = np.zeros_like(ids) if segments is None else np.asarray(segments)
        logits = self.logits(ids, np.asarray(inputs["attention_mask"]), segments)
        return SimpleNamespace(logits=logits)

    def logits(self, ids: np.ndarray, mask: np.ndarray, segments: np.ndarray) -> np.ndarray:
        feed = dict(zip(INPUTS, (ids, mask, segments), strict=True))
        feed = {name: feed[name].astype(np.int32, copy=False) for name in self.input_names}
        return self.session.run(None, feed)[0].astype(np.float32, copy=False)


def load_onnx(run_dir: Path, backend: str, auto_class: str | None = None
              ) -> tuple[OnnxModel, Any]:  # fmt: skip
    """(model, tokenizer) of a run's exported ``backend`` ("onnx" or "onnx-int8"). Refused with
    one line: a graph of another task (``auto_class``, the task's), a folder without tokenizer
    files, labels other than the run's own (its config.json, which the export copied)."""
    from transformers import AutoConfig

    from pipeline.model.loading import check_architecture, has_tokenizer_files, load_tokenizer

    path = onnx_file(run_dir, backend)
    folder = path.parent
    if not has_tokenizer_files(folder):
        raise PipelineError(
            f"{folder} has no tokenizer files ({', '.join(TOKENIZER_FILES)}): export the run "
            "again (make export)"
        )
    try:
        config = AutoConfig.from_pretrained(str(folder))
        if auto_class is not None:
            check_architecture(config, auto_class, str(folder))
        _check_labels(config, folder, Path(run_dir) / "config.json")
        tokenizer = load_tokenizer(folder)
    except (OSError, ValueError) as exc:
        raise PipelineError(f"cannot load {folder}: {exc}") from exc
    logger.info("ONNX Runtime %s: %s", backend, path)
    return OnnxModel(path, config, backend), tokenizer


def _check_labels(config: Any, folder: Path, run_config: Path) -> None:
    """The export's labels (onnx/config.json) must be the run's, id for id: a reordered copy
    would serve every answer under another label's name."""
    if not run_config.is_file():
        return
    own = {int(i): str(n) for i, n in config.id2label.items()}
    run = {int(i): str(n) for i, n in read_json(run_config).get("id2label", {}).items()}
    if run and own != run:
        differ = sorted(i for i in set(own) | set(run) if own.get(i) != run.get(i))
        shown = ", ".join(f"{i}: {own.get(i)} vs {run.get(i)}" for i in differ[:3])
        raise PipelineError(
            f"{folder / 'config.json'} and {run_config} name different labels ({shown}"
            f"{', ...' if len(differ) > 3 else ''}): the export is not this run's; export the "
            "run again (make export)"
        )


class OnnxClassifier(PaddedClassifier):
    """An exported sequence classifier behind ``PaddedClassifier`` (the TF path's batching)."""

    def __init__(
        self,
        model: OnnxModel,
        tokenizer: Any,
        max_seq_len: int,
        batch_size: int = 64,
        encode: Any = None,
    ) -> None:
        id2label = {int(i): name for i, name in model.config.id2label.items()}
        super().__init__(tokenizer, max_seq_len, batch_size, id2label, encode)
        self.model = model

    def _logits(self, ids: np.ndarray, mask: np.ndarray, segments: np.ndarray) -> np.ndarray:
        return self.model.logits(ids, mask, segments)
