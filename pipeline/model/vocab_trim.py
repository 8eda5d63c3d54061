"""Trim a multilingual checkpoint's vocabulary to the pieces a corpus needs (``model.trim_vocab``).

multilingual-e5-small spends 96M of its 118M weights on a 250k-piece embedding matrix, most of
it for scripts a Korean corpus never uses, and every Adam step updates all of it. Trimming keeps

- the special tokens (``<s> <pad> </s> <unk> <mask>``),
- every piece the tokenizer produces on the training texts (train and validation splits),
- every single-character piece, so text the corpus never showed still tokenizes (into shorter
  pieces) instead of turning into ``<unk>``,

and renumbers tokenizer and embedding rows together, keeping their order. The trimmed
checkpoint is cached by the sha256 of its inputs and kept ids, next to the full one. Only
SentencePiece-unigram tokenizers (the XLM-R family) can be trimmed this way.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import PipelineError
from pipeline.io import read_json, sha256_file

logger = logging.getLogger(__name__)

WORD_EMBEDDINGS = "bert.embeddings.word_embeddings.weight"


def pieces_to_keep(tokenizer_json: dict[str, Any], used_ids: Iterable[int]) -> list[int]:
    """Sorted ids: special tokens, single-character pieces, and ``used_ids``."""
    vocab = tokenizer_json["model"]["vocab"]
    keep = {int(t["id"]) for t in tokenizer_json.get("added_tokens", [])}
    keep |= {int(i) for i in used_ids}
    keep |= {i for i, (piece, _) in enumerate(vocab) if len(piece.removeprefix("▁")) <= 1}
    return sorted(keep)


def trim_unigram(tokenizer_json: dict[str, Any], keep: Sequence[int]) -> dict[str, Any]:
    """A copy of a Unigram ``tokenizer.json`` holding only the ``keep`` ids, renumbered."""
    model = tokenizer_json["model"]
    if model.get("type") != "Unigram":
        raise PipelineError(
            "model.trim_vocab needs a SentencePiece-unigram tokenizer (XLM-R family), "
            f"this one is {model.get('type')}"
        )
    new_id = {old: new for new, old in enumerate(keep)}
    out = json.loads(json.dumps(tokenizer_json))  # deep copy
    out["model"]["vocab"] = [model["vocab"][i] for i in keep]
    if model.get("unk_id") is not None:
        out["model"]["unk_id"] = new_id[model["unk_id"]]
    for token in out.get("added_tokens", []):
        token["id"] = new_id[token["id"]]
    specials = (out.get("post_processor") or {}).get("special_tokens", {})
    for special in specials.values():
        special["ids"] = [new_id[i] for i in special["ids"]]
    return out


def trimmed_checkpoint(checkpoint: Path, texts: Sequence[str], cache: Path) -> Path:
    """``checkpoint`` with its vocabulary trimmed to ``texts`` (cached under ``cache``)."""
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    from pipeline.model.packaged import write_checkpoint

    tokenizer_path = checkpoint / "tokenizer.json"
    weights = checkpoint / "model.safetensors"
    if not tokenizer_path.is_file() or not weights.is_file():
        raise PipelineError(
            f"model.trim_vocab: {checkpoint} needs tokenizer.json and model.safetensors"
        )
    tokenizer_json = json.loads(tokenizer_path.read_text(encoding="utf-8"))
    if tokenizer_json["model"].get("type") != "Unigram":
        trim_unigram(tokenizer_json, [])  # raises the message
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    used = {i for enc in tokenizer.encode_batch(list(texts)) for i in enc.ids}
    keep = pieces_to_keep(tokenizer_json, used)
    digest = hashlib.sha256(
        json.dumps({"source": str(checkpoint.resolve()), "keep": keep}).encode()
    ).hexdigest()[:12]
    target = cache / f"{checkpoint.name}-trim-{digest}"
    if (target / "conversion.json").is_file():
        return target
    logger.info(
        "trimming %s: %d of %d pieces (%d used by the %d training texts)",
        *(checkpoint.name, len(keep), len(tokenizer_json["model"]["vocab"]), len(used), len(texts)),
    )
    state = load_file(str(weights))
    if WORD_EMBEDDINGS not in state:
        raise PipelineError(f"model.trim_vocab: {weights} has no {WORD_EMBEDDINGS}")
    state[WORD_EMBEDDINGS] = np.ascontiguousarray(state[WORD_EMBEDDINGS][keep])
    config = read_json(checkpoint / "config.json") | {"vocab_size": len(keep)}
    source_record = checkpoint / "conversion.json"
    record = {
        "what": f"{checkpoint.name} with its vocabulary trimmed to the training texts",
        "trimmed_from": str(checkpoint),
        "source": read_json(source_record) if source_record.is_file() else None,
        "vocab": {"kept": len(keep), "of": len(tokenizer_json["model"]["vocab"])},
        "sha256": {"source:model.safetensors": sha256_file(weights)},
    }
    write_checkpoint(target, config, state, trim_unigram(tokenizer_json, keep), record)
    return target
