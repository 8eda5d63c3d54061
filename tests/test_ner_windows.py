"""NER's batched windows: the same entities as transformers' pipeline, in fewer model calls,
and a long sentence read a turn at a time gives the same answer as read whole."""

from __future__ import annotations

import math
import unicodedata

import pytest

WORDS = ["김민수는", "부산에서", "왔다", "서울", "이영희", "2023"]
LONG = " ".join(["김민수는 부산에서 왔다 이영희"] * 120 + ["서울"])
TEXTS = [
    "김민수는 부산에서 왔다",
    LONG,
    unicodedata.normalize("NFD", LONG[:300]),  # decomposed Hangul, several windows
    "\ufb2c" * 60 + " 서울",  # NFC makes each of these three characters
    "이영희 🇰🇷👩‍👩‍👧 서울 😀 2023",
    "김민수는\r\n부산에서\r\n\r\n왔다\u200b 서울",
    "가" * 400,  # one word past WordPiece's 100 characters: one [UNK]
    "가 " * 150,
    "   ",
    "서울",
]


async def still_here() -> bool:
    """``disconnected`` of a client that waits for its answer."""
    return False


@pytest.fixture(scope="module")
def tagger(tmp_path_factory: pytest.TempPathFactory):
    """A tiny random TF BERT token classifier (64 positions) whose labels vary piece by piece,
    so that groups start, continue and end in many places."""
    from transformers import AutoTokenizer, TFBertForTokenClassification

    from tests.tiny import make_tiny_bert

    ckpt = make_tiny_bert(tmp_path_factory.mktemp("bert"), [" ".join(WORDS)] * 3)
    labels = ["O", "B-PS", "I-PS", "B-LC", "I-LC"]
    model = TFBertForTokenClassification.from_pretrained(
        str(ckpt), num_labels=len(labels), id2label=dict(enumerate(labels))
    )
    return model, AutoTokenizer.from_pretrained(str(ckpt))


def entity_pipeline(model, tokenizer, max_len: int | None = 64):
    """The reference: transformers' pipeline as serve ran it before batching (windows of
    ``max_len`` pieces, ``stride`` a quarter of it; None: one window, no stride)."""
    import copy

    from transformers import TokenClassificationPipeline

    from pipeline.tasks.ner.groups import stride

    if max_len is None:
        return TokenClassificationPipeline(
            model=model, tokenizer=tokenizer, framework="tf", aggregation_strategy="simple"
        )
    windowed = copy.copy(tokenizer)  # the loaded tokenizer keeps its own length
    windowed.model_max_length = max_len
    return TokenClassificationPipeline(
        model=model,
        tokenizer=windowed,
        framework="tf",
        aggregation_strategy="simple",
        stride=stride(max_len),
    )


def _pipeline_entities(model, tokenizer, text: str) -> list[dict]:
    """What the served entities were before batching: the pipeline, text by text."""
    from pipeline.tasks.ner.serve import shape
    from pipeline.tasks.ner.view import model_view

    pipe = entity_pipeline(model, tokenizer, 64)
    view = model_view(text)
    return shape(text, pipe(view.text), view) if view.text.strip() else []


def _same(got: list[dict], want: list[dict]) -> None:
    assert [(e["entity_group"], e["word"], e["start"], e["end"]) for e in got] == [
        (e["entity_group"], e["word"], e["start"], e["end"]) for e in want
    ]
    for g, w in zip(got, want, strict=True):
        assert g["score"] == pytest.approx(w["score"], abs=1e-5)


def test_batched_windows_give_the_pipelines_entities(tagger) -> None:
    from pipeline.tasks.ner.serve import predictor

    model, tokenizer = tagger
    predict = predictor(model, tokenizer, 64, batch=4)
    got = predict(TEXTS)
    assert sum(len(found) for found in got) > 50  # the comparison compares something
    for text, found in zip(TEXTS, got, strict=True):
        _same(found, _pipeline_entities(model, tokenizer, text))
        for e in found:
            assert text[e["start"] : e["end"]] == e["word"]


def test_a_long_text_costs_one_model_call_per_batch_of_windows(tagger) -> None:
    import tensorflow as tf

    from pipeline.tasks.ner.serve import predictor

    model, tokenizer = tagger
    n_windows = len(predictor(model, tokenizer, 64).tagger.read(LONG).chunks)
    assert n_windows > 8
    calls = []
    inner = model.call

    def counted(*args, **kwargs):
        calls.append(1)
        return inner(*args, **kwargs)

    tf.config.run_functions_eagerly(True)  # traced or not, every model call runs ``call``
    model.call = counted
    try:
        predict = predictor(model, tokenizer, 64, batch=4)
        (found,) = predict([LONG])
    finally:
        del model.call
        tf.config.run_functions_eagerly(False)
    assert found
    assert len(calls) <= math.ceil(n_windows / 4)
    assert predict.tagger.calls == math.ceil(n_windows / 4)


def test_a_long_text_read_a_turn_at_a_time_is_answered_the_same(tagger) -> None:
    from pipeline.tasks.ner.serve import predictor
    from pipeline.tasks.ner.windows import Reading

    model, tokenizer = tagger
    whole = predictor(model, tokenizer, 64, batch=4)(TEXTS)
    turns = predictor(model, tokenizer, 64, batch=4, budget=3)
    results: list = list(TEXTS)
    rounds = 0
    while pending := [i for i, r in enumerate(results) if isinstance(r, (str, Reading))]:
        calls_before = turns.tagger.calls
        for i, r in zip(pending, turns([results[i] for i in pending]), strict=True):
            results[i] = r
        rounds += 1
        # short texts are answered in the first turn; later turns read 3 long windows at most
        assert rounds == 1 or turns.tagger.calls - calls_before == 1
    assert rounds > 3
    for got, want in zip(results, whole, strict=True):
        _same(got, want)


def test_the_server_answers_a_short_request_between_the_turns_of_a_long_one(tagger) -> None:
    import asyncio
    from types import SimpleNamespace

    from pipeline.inference.microbatcher import MicroBatcher
    from pipeline.tasks.ner.serve import EntityServer, predictor

    model, tokenizer = tagger
    predict = predictor(model, tokenizer, 64, batch=2, budget=2)
    server = EntityServer.__new__(EntityServer)  # the model side only: no config, no loading
    server.cfg = SimpleNamespace(serve=SimpleNamespace(max_inputs=8))
    server.batcher = MicroBatcher(predict, max_batch_size=32, max_wait_ms=1)
    order: list[str] = []

    async def ask(name: str, inputs: object) -> object:
        answer, _ = await server.answer({"inputs": inputs}, still_here)
        order.append(name)
        return answer

    async def both() -> tuple[object, object]:
        long = asyncio.ensure_future(ask("long", LONG))
        await asyncio.sleep(0)  # the long request is queued first
        return await asyncio.gather(long, ask("short", ["서울", "이영희 서울"]))

    server.batcher.start()
    try:
        long_answer, short_answer = asyncio.run(both())
    finally:
        server.batcher.stop()
    assert order == ["short", "long"]
    _same(long_answer, _pipeline_entities(model, tokenizer, LONG))
    assert [len(found) for found in short_answer] == [
        len(_pipeline_entities(model, tokenizer, t)) for t in ["서울", "이영희 서울"]
    ]


def _server(predict):
    from types import SimpleNamespace

    from pipeline.inference.microbatcher import MicroBatcher
    from pipeline.tasks.ner.serve import EntityServer

    server = EntityServer.__new__(EntityServer)  # the model side only: no config, no loading
    server.cfg = SimpleNamespace(serve=SimpleNamespace(max_inputs=8))
    server.batcher = MicroBatcher(predict, max_batch_size=32, max_wait_ms=1)
    return server


def test_a_request_whose_client_is_gone_is_not_submitted_again(tagger) -> None:
    import asyncio

    from pipeline.inference.api import RequestError
    from pipeline.tasks.ner.serve import predictor

    model, tokenizer = tagger
    predict = predictor(model, tokenizer, 64, batch=2, budget=2)
    turns: list[int] = []

    def counted(items: list) -> list:
        turns.append(len(items))
        return predict(items)

    server = _server(counted)
    polls: list[int] = []

    async def disconnected() -> bool:
        polls.append(len(turns))
        return len(turns) >= 1  # gone once the first turn was read

    async def run() -> tuple[object, object]:
        try:
            await server.answer({"inputs": LONG}, disconnected)
        except RequestError as exc:
            gone = exc.status
        else:
            gone = None
        return gone, (await server.answer({"inputs": ["서울", "이영희 서울"]}, still_here))[0]

    server.batcher.start()
    try:
        gone, short_answer = asyncio.run(run())
    finally:
        server.batcher.stop()
    assert gone == 499
    assert turns == [1, 2]  # the long one's first turn, then the short request only
    assert polls == [0, 1]
    assert [len(found) for found in short_answer] == [
        len(_pipeline_entities(model, tokenizer, t)) for t in ["서울", "이영희 서울"]
    ]


def test_a_turn_cuts_into_windows_only_the_long_texts_it_has_room_for(tagger) -> None:
    from pipeline.tasks.ner.serve import predictor
    from pipeline.tasks.ner.windows import Reading

    model, tokenizer = tagger
    turns = predictor(model, tokenizer, 64, batch=8, budget=8)
    mid = LONG[:1000]
    n = len(turns.tagger.read(mid).chunks)
    assert 2 < n < 8
    texts = [mid] * 12 + ["서울", "이영희 서울"]
    cut: list[str] = []  # the texts cut into windows (the pipeline's preprocess)
    read = turns.tagger.read
    turns.tagger.read = lambda text: cut.append(text) or read(text)
    fill = math.ceil(8 / n)  # the long texts that fill a turn's 8 windows
    results: list = list(texts)
    reads: list[int] = []
    while pending := [i for i, r in enumerate(results) if isinstance(r, (str, Reading))]:
        before = len(cut)
        for i, r in zip(pending, turns([results[i] for i in pending]), strict=True):
            results[i] = r
        reads.append(len(cut) - before)
        if len(reads) == 1:
            # the long texts that fill the turn's 8 windows; the short ones are read and answered
            assert reads == [fill + 2]
            assert isinstance(results[fill], str) and results[-2:] == [
                _pipeline_entities(model, tokenizer, t) for t in texts[-2:]
            ]
        assert turns.tagger.calls <= len(reads)  # one call (8 windows) a turn
    assert sum(reads) == len(texts)  # each text cut into windows once
    assert max(reads[1:]) <= fill
    _same(results[0], _pipeline_entities(model, tokenizer, mid))


def _views() -> list[str]:
    from pipeline.tasks.ner.view import model_view

    return [v.text for v in map(model_view, TEXTS) if v.text.strip()]


@pytest.mark.parametrize("max_len", [64, None])
def test_the_windows_are_the_pipelines(tagger, max_len: int | None) -> None:
    """groups.windows cuts every text (long ones, NFD, emoji, CR LF, an [UNK] word) into the
    pipeline preprocess's windows: the same ids, masks, segments, offsets, padding."""
    from pipeline.tasks.ner.groups import windows

    model, tokenizer = tagger
    pipe = entity_pipeline(model, tokenizer, max_len)
    for text in _views():
        want = list(pipe.preprocess(text, **pipe._preprocess_params))
        got = windows(tokenizer, text, max_len)
        assert len(got) == len(want) and (max_len is not None or len(got) == 1)
        for g, w in zip(got, want, strict=True):
            assert sorted(g.inputs) == sorted(k for k in w if k in g.inputs)
            for key, row in g.inputs.items():
                assert row.tolist() == w[key].numpy()[0].tolist(), key
            assert g.special.tolist() == w["special_tokens_mask"].numpy()[0].tolist()
            assert g.offsets.tolist() == w["offset_mapping"].numpy()[0].tolist()
    assert len(windows(tokenizer, LONG, 64)) > 8


def test_the_groups_are_the_pipelines_on_the_same_logits(tagger) -> None:
    """groups.entity_groups answers what the pipeline's postprocess answers for the same
    windows and logits, to the last bit (scores included): random logits, so that groups
    start, continue, end and overlap across windows everywhere."""
    import numpy as np
    import tensorflow as tf

    from pipeline.tasks.ner.groups import entity_groups, windows

    model, tokenizer = tagger
    pipe = entity_pipeline(model, tokenizer, 64)
    id2label = {int(i): t for i, t in model.config.id2label.items()}
    rng = np.random.default_rng(0)
    n_groups = overlapped = 0
    for text in _views() * 3:
        chunks = list(pipe.preprocess(text, **pipe._preprocess_params))
        logits = [
            rng.normal(0, 2, (c["input_ids"].shape[-1], len(id2label))).astype(np.float32)
            for c in chunks
        ]
        pairs = zip(chunks, logits, strict=True)
        outputs = [{**c, "logits": tf.constant(x[None])} for c, x in pairs]
        want = pipe.postprocess(outputs, **pipe._postprocess_params)
        got = entity_groups(tokenizer, id2label, text, windows(tokenizer, text, 64), logits)
        assert got == want
        n_groups += len(got)
        overlapped += len(chunks) > 1
    assert n_groups > 500 and overlapped > 3


def test_an_exported_graph_tags_as_the_tf_model(tagger, tmp_path) -> None:
    """The tiny model converted to ONNX (pipeline.export's conversion) behind ``OnnxModel``:
    the Tagger finds the TF model's entities in every text, a turn at a time too."""
    from pipeline.export.convert import to_onnx
    from pipeline.model.onnx_classifier import OnnxModel
    from pipeline.tasks.ner.serve import predictor
    from pipeline.tasks.ner.windows import Reading

    model, tokenizer = tagger
    to_onnx(model, tmp_path / "model.onnx", tmp_path / "raw.onnx")
    graph = OnnxModel(tmp_path / "model.onnx", model.config, "onnx")
    want = predictor(model, tokenizer, 64, batch=4)(TEXTS)
    assert sum(len(found) for found in want) > 50
    for got, w in zip(predictor(graph, tokenizer, 64, batch=4)(TEXTS), want, strict=True):
        _same(got, w)
    turns = predictor(graph, tokenizer, 64, batch=4, budget=3)
    results: list = list(TEXTS)
    while pending := [i for i, r in enumerate(results) if isinstance(r, (str, Reading))]:
        for i, r in zip(pending, turns([results[i] for i in pending]), strict=True):
            results[i] = r
    for got, w in zip(results, want, strict=True):
        _same(got, w)
