"""NER's fast pieces: markup, KLUE's character BIO, piece alignment, strict IOB2 decoding
(checked against seqeval), entity scores, the dictionary baseline, the data stages on real
files, and the API's request checks and answer offsets."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest

from pipeline.config import load_config
from pipeline.data import ingest, prepare, split
from pipeline.errors import PipelineError
from pipeline.inference.api import RequestError
from pipeline.tasks import get_task, task_for
from pipeline.tasks.ner.align import bio_tags, iob2_entities, piece_labels, piece_spans
from pipeline.tasks.ner.data import read_file
from pipeline.tasks.ner.markup import parse_markup, read_char_bio, render_markup
from pipeline.tasks.ner.metrics import DictionaryBaseline, entity_scores
from pipeline.tasks.ner.serve import parse_request, shape
from tests.xlsx_helpers import write_workbook

TYPES = ["PS", "LC", "OG", "DT", "TI", "QT"]


def test_markup_round_trip() -> None:
    marked = "<한국해양대학교:OG> 학생들이 <부산:LC>에서 <3시 30분:TI>에 만났다."
    text, spans = parse_markup(marked, TYPES, "x")
    assert text == "한국해양대학교 학생들이 부산에서 3시 30분에 만났다."
    assert [text[s:e] for s, e, _ in spans] == ["한국해양대학교", "부산", "3시 30분"]
    assert [t for _, _, t in spans] == ["OG", "LC", "TI"]
    assert render_markup(text, spans) == marked


@pytest.mark.parametrize(
    ("marked", "message"),
    [
        ("<부산:LC에서", "unclosed '<' at character 1"),
        ("나는 <부산:XX>에 갔다", "unknown entity type 'XX'"),
        ("<<부산:LC>:LC>", "nested entities"),
        ("<부산>에서", "has no type"),
        ("부산>에서", "'>' at character 3 closes no '<'"),
        ("< :LC>에서", "empty entity"),
    ],
)
def test_bad_markup_is_named(marked: str, message: str) -> None:
    with pytest.raises(PipelineError, match=message) as err:
        parse_markup(marked, TYPES, "f.xlsx, row 7")
    assert "f.xlsx, row 7" in str(err.value)


def test_klue_char_bio(tmp_path: Path) -> None:
    path = tmp_path / "klue.tsv"
    rows = [
        "## id-1\t<부산:LC>에 가",
        "부\tB-LC",
        "산\tI-LC",
        "에\tO",
        " \tO",
        "가\tO",
        "",
        "## id-2\t<김:PS>",
        "김\tB-PS",
        "",
    ]
    path.write_text("\n".join(rows), encoding="utf-8")
    got = read_char_bio(path, TYPES)
    assert got == [(2, "부산에 가", [(0, 2, "LC")]), (9, "김", [(0, 1, "PS")])]
    cfg = load_config(_config(tmp_path, ["klue.tsv"])).ingest
    rows = read_file(path, cfg)  # what ingest stores: text, entities, the type set
    assert rows["text"].tolist() == ["부산에 가", "김"]
    assert rows["entities"].tolist() == ['[[0, 2, "LC"]]', '[[0, 1, "PS"]]']
    assert rows["label"].tolist() == ["LC", "PS"] and rows["source_row"].tolist() == [2, 9]
    path.write_text("부\tO\n산\tI-LC\n", encoding="utf-8")
    with pytest.raises(PipelineError, match=r"klue.tsv, line 2: I-LC does not continue"):
        read_char_bio(path, TYPES)


def test_strict_iob2_matches_seqeval() -> None:
    seqeval = pytest.importorskip("seqeval.metrics.sequence_labeling")
    from seqeval.scheme import IOB2, Entities

    cases = [
        ["B-PS", "I-PS", "O", "B-LC"],
        ["I-PS", "I-PS", "O", "B-LC", "I-LC"],  # a stray I: no entity in strict mode
        ["B-PS", "I-LC", "B-LC", "B-LC", "I-LC", "O"],
        ["O", "O"],
    ]
    for tags in cases:
        ours = sorted(iob2_entities(tags))
        theirs = sorted(
            (e.start, e.end, e.tag) for e in Entities([tags], IOB2, suffix=False).entities[0]
        )
        assert ours == theirs, tags
    gold = [["B-PS", "I-PS", "O", "B-LC"], ["B-DT", "O"]]
    pred = [["B-PS", "I-PS", "O", "B-OG"], ["I-DT", "O"]]
    to_spans = lambda seqs: [iob2_entities(s) for s in seqs]  # noqa: E731
    ours = entity_scores(to_spans(gold), to_spans(pred), ["PS", "LC", "OG", "DT"])
    kw = {"mode": "strict", "scheme": IOB2}
    assert ours["micro"]["f1"] == pytest.approx(seqeval.f1_score(gold, pred, **kw))
    assert ours["micro"]["precision"] == pytest.approx(seqeval.precision_score(gold, pred, **kw))
    assert ours["micro"]["recall"] == pytest.approx(seqeval.recall_score(gold, pred, **kw))


def test_entity_scores_by_hand() -> None:
    gold = [[(0, 2, "LC"), (4, 7, "PS")], [(1, 3, "DT")]]
    pred = [[(0, 2, "LC"), (4, 6, "PS")], [(1, 3, "DT"), (5, 6, "LC")]]
    s = entity_scores(gold, pred, ["LC", "PS", "DT"])
    # tp 2 (LC, DT) of 4 predicted and 3 gold
    assert s["micro"] == pytest.approx({"precision": 0.5, "recall": 2 / 3, "f1": 4 / 7})
    assert s["per_type"]["PS"]["f1"] == 0.0
    assert s["per_type"]["LC"]["f1"] == pytest.approx(2 / 3)  # 1 of 2 predicted, 1 of 1 gold
    assert s["macro"]["f1"] == pytest.approx((2 / 3 + 0 + 1) / 3)


def test_dictionary_baseline_tags_training_strings() -> None:
    base = DictionaryBaseline().fit(["부산에 갔다", "서울 부산"], [[(0, 2, "LC")], [(0, 2, "LC")]])
    assert base.predict(["부산과 서울, 대구"]) == [[(0, 2, "LC"), (4, 6, "LC")]]


def test_piece_labels_and_decoding_with_a_real_fast_tokenizer(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from tests.tiny import make_tiny_bert

    text = "김민수는 부산에서 왔다"
    ckpt = make_tiny_bert(tmp_path / "bert", [text, "부산 서울 김민수"])
    tok = AutoTokenizer.from_pretrained(str(ckpt))
    tags = bio_tags(["LC", "PS"])
    tag2id = {t: i for i, t in enumerate(tags)}
    enc = tok(text, return_offsets_mapping=True, return_special_tokens_mask=True)
    spans = [(0, 3, "PS"), (5, 7, "LC")]
    labels = piece_labels(text, enc["offset_mapping"], enc["special_tokens_mask"], spans, tag2id)
    assert labels[0] == labels[-1] == -100
    named = ["O" if i == -100 else tags[i] for i in labels]
    assert named.count("B-PS") == 1 and named.count("B-LC") == 1
    decoded = piece_spans(text, enc["offset_mapping"], named)
    # a piece that runs past an entity ("김민수는", "부산에서" as one piece here) carries the
    # entity's tag: the decoded span covers the gold one and ends at the piece's end
    got = sorted((s, e, t) for s, e, t, _, _ in decoded)
    assert [t for _, _, t in got] == ["PS", "LC"]
    for (s, e, _), (gs, ge, _) in zip(got, spans, strict=True):
        assert s == gs and e >= ge and text[s:e].strip() == text[s:e]


def test_api_shape_offsets_index_the_text_exactly() -> None:
    text = "  😀 <김민수>, 부산!! 🎉서울  "
    start = text.index("김민수")
    groups = [
        {
            "entity_group": "PS",
            "score": 0.9,
            "word": "김민수",
            "start": start - 1,
            "end": start + 3,
        },
        {
            "entity_group": "LC",
            "score": 0.8,
            "word": "부산",
            "start": text.index("부산"),
            "end": text.index("부산") + 2,
        },
        {
            "entity_group": "LC",
            "score": 0.7,
            "word": "서울",
            "start": text.index("서울") - 1,
            "end": text.index("서울") + 2,
        },
    ]
    out = shape(text, groups)
    for e in out:
        assert text[e["start"] : e["end"]] == e["word"]
        assert e["word"] == e["word"].strip()
    assert [e["word"] for e in out] == ["<김민수", "부산", "🎉서울"]
    assert set(out[0]) == {"entity_group", "score", "word", "start", "end"}


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"inputs": 3}, 422, "inputs"),
        ({"text": "문장"}, 422, "unknown field"),
        ({"inputs": "문장", "parameters": {"aggregation_strategy": "first"}}, 422, "simple"),
        ({"inputs": "문장", "parameters": {"top_k": 3}}, 422, "unknown parameter"),
        ({"inputs": "문장", "parameters": {"stride": 4}}, 422, "stride"),
        ({"inputs": ["a"] * 9}, 422, "too many"),
    ],
)
def test_bad_requests_are_422_naming_the_field(body: dict, status: int, message: str) -> None:
    with pytest.raises(RequestError, match=message) as err:
        parse_request(body, max_inputs=8)
    assert err.value.status == status


def test_requests_keep_single_or_list() -> None:
    assert parse_request({"inputs": "문장"}, 8).single
    got = parse_request({"inputs": ["가", "나"], "parameters": {"aggregation_strategy": None}}, 8)
    assert list(got) == ["가", "나"] and not got.single


def _config(tmp_path: Path, files: list[str], **extra: str) -> Path:
    cfg = tmp_path / "ner.yaml"
    lines = [
        "root: .",
        "task: token-classification",
        "ingest:",
        f"  files: {json.dumps(files)}",
        "  text_columns: [문장]",
        "  entity_types: [PS, LC, OG, DT, TI, QT]",
        "model:",
        "  name_or_path: none",
    ]
    lines += [f"{k}: {v}" for k, v in extra.items()]
    cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return cfg


def test_data_stages_on_a_sheet_and_a_text_file(tmp_path: Path) -> None:
    rows = [
        [f"<{p}:PS>는 <{c}:LC>에서 일했다."]
        for p in ("민수", "지영", "서준", "하은", "도윤", "수아", "예준", "지호")
        for c in ("부산", "서울")
    ]
    rows.append(rows[0])  # a repeat: prepare drops it
    write_workbook(tmp_path / "data/raw/s.xlsx", {"Sheet1": [["문장"], *rows]})
    lines = [
        f"<{d}:DT> <{t}:TI>에 만났다." for d in ("어제", "오늘", "내일") for t in ("3시", "4시")
    ]
    (tmp_path / "data/raw/s.txt").write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    cfg = load_config(_config(tmp_path, ["data/raw/s.xlsx", "data/raw/s.txt"]))
    cfg = dataclasses.replace(cfg, root=str(tmp_path))
    assert ingest.run(cfg).rows == 23
    result = prepare.run(cfg)
    assert result.rows_out == 22
    labels = json.loads((tmp_path / "data/interim/labels.json").read_text())
    assert labels["entity_types"] == ["DT", "LC", "PS", "TI"]
    assert labels["tags"]["0"] == "O" and "B-TI" in labels["tags"].values()
    split.run(cfg)
    frames = {
        s: pd.read_parquet(tmp_path / f"data/processed/{s}.parquet")
        for s in ("train", "validation", "test")
    }
    texts = [set(f["text"]) for f in frames.values()]
    assert not (texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2])
    for f in frames.values():  # both type sets in every split
        assert set(f["label"]) == {"LC+PS", "DT+TI"}
    first = frames["train"].iloc[0]
    spans = json.loads(first["entities"])
    assert all(first["text"][s:e] for s, e, _ in spans)


def test_bad_markup_in_a_sheet_names_file_column_and_row(tmp_path: Path) -> None:
    rows = [["문장"], ["<민수:PS>는 왔다"], ["<부산:LC에서"]]
    write_workbook(tmp_path / "data/raw/bad.xlsx", {"Sheet1": rows})
    cfg = load_config(_config(tmp_path, ["data/raw/bad.xlsx"]))
    cfg = dataclasses.replace(cfg, root=str(tmp_path))
    with pytest.raises(PipelineError, match=r"bad.xlsx, sheet .*column '문장', row 3: unclosed"):
        ingest.run(cfg)


def test_val_entity_f1_only_for_ner(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "ingest: {files: [x.xlsx]}\nmodel: {name_or_path: x}\n"
        "train: {early_stopping: {monitor: val_entity_f1}}\n",
        encoding="utf-8",
    )
    with pytest.raises(PipelineError, match="val_entity_f1 is not a metric of task text-class"):
        task_for(load_config(cfg))
    ner = _config(tmp_path, ["x.xlsx"], train="{class_weights: balanced}")
    with pytest.raises(PipelineError, match="class_weights apply to sentence labels"):
        task_for(load_config(ner))
    probe = _config(tmp_path, ["x.xlsx"], train="{head_init: probe}")
    with pytest.raises(PipelineError, match="head_init: probe is for sequence classification"):
        task_for(load_config(probe))
    for override in ("ingest.template=X {text}", "ingest.unit=row"):  # were silently ignored
        with pytest.raises(PipelineError, match="do not apply to task token-classification"):
            task_for(load_config(_config(tmp_path, ["x.xlsx"]), [override]))
    assert get_task("token-classification").card_pieces["pipeline_tag"] == "token-classification"


def test_evaluate_refuses_a_label_column(tmp_path: Path) -> None:
    from pipeline.model.loading import ModelRef
    from pipeline.paths import Paths
    from pipeline.tasks import EvaluateRequest

    cfg = load_config(_config(tmp_path, ["x.xlsx"]))
    request = EvaluateRequest(
        cfg, Paths(tmp_path), ModelRef("ner", tmp_path), "ner", {}, tmp_path / "in.xlsx",
        None, "문장", None, "evaluate",
    )  # fmt: skip
    with pytest.raises(PipelineError, match="--label-column: NER's gold entities are the"):
        get_task("token-classification").evaluate(request)


def test_a_sweep_trial_of_a_ner_run_reports_its_val_entity_f1(tmp_path: Path) -> None:
    from pipeline.sweep.report import trial_result

    (tmp_path / "run.json").write_text('{"best_epoch": 2, "epochs_run": 3, "stop_reason": "x"}')
    history = {
        "epoch": [1, 2, 3],
        "val_accuracy": [0.5, 0.9, 0.8],
        "val_loss": [1.0, 0.5, 0.6],
        "val_entity_f1": [0.1, 0.7, 0.6],
        "seconds": [1.0, 1.0, 1.0],
    }
    pd.DataFrame(history).to_csv(tmp_path / "history.csv", index=False)
    row, _ = trial_result(tmp_path)
    assert row["val_entity_f1"] == 0.7 and row["best_epoch"] == 2
