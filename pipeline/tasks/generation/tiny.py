"""A tiny random GPT-2 built by code: the offline base model of tests and the demo.

``model.name_or_path: tiny:gpt2`` asks for it. Its BPE tokenizer is trained (with the
``tokenizers`` library) on the training split's sequences over characters, words marked by
``▁`` as in KoGPT2 (byte-level BPE would let sampling emit broken UTF-8), with KoGPT2's special
tokens (bos/eos ``</s>``, unk ``<unk>``, pad ``<pad>``, mask ``<mask>``); the weights are a random
init from a fixed seed. The checkpoint lands in ``.cache/base-models/tiny-gpt2-<hash>/``,
the hash covering the texts and the sizes below, so the same data gives the same model.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

from pipeline.io import atomic_dir

logger = logging.getLogger(__name__)

SCHEME = "tiny:gpt2"
SPECIAL = {
    "bos_token": "</s>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "pad_token": "<pad>",
    "mask_token": "<mask>",
}
SIZES = {"vocab_size": 1200, "n_positions": 128, "n_embd": 64, "n_layer": 2, "n_head": 4}
SEED = 0


def build_tiny_gpt2(texts: Sequence[str], cache: Path) -> Path:
    """The tiny GPT-2 checkpoint for ``texts`` (built once, then reused from ``cache``)."""
    digest = hashlib.sha256(json.dumps([list(texts), SIZES, SEED]).encode()).hexdigest()[:12]
    final = cache / f"tiny-gpt2-{digest}"
    if (final / "config.json").is_file():
        return final
    logger.info("building the tiny GPT-2 (%s) from %d texts into %s", SIZES, len(texts), final)
    final.parent.mkdir(parents=True, exist_ok=True)
    with atomic_dir(final) as tmp:
        tokenizer = train_tokenizer(texts)
        tokenizer.save_pretrained(str(tmp))
        random_model(tokenizer).save_pretrained(str(tmp))
    return final


def train_tokenizer(texts: Sequence[str]) -> object:
    """A character BPE tokenizer trained on ``texts`` (deterministic for the same texts)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = list(dict.fromkeys(SPECIAL.values()))
    tok = Tokenizer(models.BPE(unk_token=SPECIAL["unk_token"]))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    trainer = trainers.BpeTrainer(
        vocab_size=SIZES["vocab_size"], special_tokens=specials, show_progress=False
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, model_max_length=SIZES["n_positions"], **SPECIAL
    )


def random_model(tokenizer: object) -> object:
    """A TFGPT2LMHeadModel with random weights from a fixed seed, sized by ``SIZES``."""
    import tf_keras
    from transformers import GPT2Config, TFGPT2LMHeadModel

    tf_keras.utils.set_random_seed(SEED)
    config = GPT2Config(
        **{**SIZES, "vocab_size": len(tokenizer)},
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = TFGPT2LMHeadModel(config)
    model(model.dummy_inputs, training=False)
    return model
