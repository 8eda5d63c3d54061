"""The sentence-pair (NLI) task through the data stages, its encoding and its API shape.

Fast: no model is trained (tests/test_pair_pipeline.py trains and serves one).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.config import load_config
from pipeline.data import ingest, prepare, split
from pipeline.data.prepare import drop_empty_and_duplicates
from pipeline.errors import PipelineError
from pipeline.fitting.length_buckets import batches
from pipeline.inference.api import RequestError, parse_request
from pipeline.tasks import TASKS, get_task, task_for
from tests.tiny_pairs import pair_texts, tiny_pairs, write_pair_config, write_pair_workbook
from tests.xlsx_helpers import expect_error, write_config, write_workbook

PAIR = get_task("text-pair-classification")
ROWS = [
    {
        "premise": "민수는 공원에서 달렸다.",
        "hypothesis": "민수는 운동을 했다.",
        "gold_label": "entailment",
    },
    {
        "premise": "지수는 집에 있었다.",
        "hypothesis": "지수는 밖에 나갔다.",
        "gold_label": "contradiction",
    },
    {
        "premise": "서연은 책을 샀다.",
        "hypothesis": "서연은 책을 좋아한다.",
        "gold_label": "neutral",
    },
]


def write_json(path: Path, value) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
    return path


# --- config -----------------------------------------------------------------------------------


def test_the_pair_task_needs_two_pair_columns_and_only_it_takes_them(tmp_path: Path) -> None:
    assert load_config(write_pair_config(tmp_path)).task == "text-pair-classification"
    cfg = write_pair_config(tmp_path, ingest={"text_pair_columns": ["premise"]})
    with pytest.raises(PipelineError, match="text_pair_columns to \\[first, second\\]"):
        task_for(load_config(cfg))
    cfg = write_pair_config(tmp_path)
    text = cfg.read_text(encoding="utf-8").replace("task: text-pair-classification\n", "")
    cfg.write_text(text, encoding="utf-8")
    with pytest.raises(PipelineError, match="text_pair_columns is set but task is"):
        task_for(load_config(cfg))
    assert {"text-classification", "text-pair-classification"} <= set(TASKS)  # and others


# --- ingest: xlsx, csv, json ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["xlsx", "csv", "json"])
def test_ingest_reads_one_pair_per_row_from_xlsx_csv_and_json(tmp_path: Path, kind: str) -> None:
    raw = tmp_path / "data/raw"
    if kind == "xlsx":
        write_pair_workbook(raw / "pairs.xlsx", pd.DataFrame(ROWS))
    elif kind == "csv":
        raw.mkdir(parents=True)
        pd.DataFrame(ROWS).to_csv(raw / "pairs.csv", index=False, encoding="utf-8-sig")
    else:
        write_json(raw / "pairs.json", [{**r, "guid": f"g{i}"} for i, r in enumerate(ROWS)])
    cfg = write_pair_config(tmp_path, ingest={"files": [f"data/raw/*.{kind}"]})
    assert ingest.main(["--config", str(cfg)]) == 0
    df = pd.read_parquet(tmp_path / "data/interim/sentences.parquet")
    assert df["text"].tolist() == [r["premise"] for r in ROWS]
    assert df["text_pair"].tolist() == [r["hypothesis"] for r in ROWS]
    assert df["label"].tolist() == [r["gold_label"] for r in ROWS]
    first = {"xlsx": 2, "csv": 2, "json": 1}[kind]  # Excel/CSV row (header is 1), JSON object
    assert df["source_row"].tolist() == [first, first + 1, first + 2]
    assert set(df["source_column"]) == {"premise+hypothesis"}


def test_csv_and_json_files_work_for_the_single_text_task_too(tmp_path: Path) -> None:
    rows = [{"문장": "고마워요", "감정": "감사"}, {"문장": "화가 나요", "감정": "분노"}]
    write_json(tmp_path / "data/raw/s.json", rows)
    ingest_cfg = {"files": ["data/raw/s.json"], "text_columns": ["문장"], "label_column": "감정"}
    cfg = write_config(tmp_path, ingest={**ingest_cfg, "group_column": None})
    assert ingest.main(["--config", str(cfg)]) == 0
    df = pd.read_parquet(tmp_path / "data/interim/sentences.parquet")
    assert df["text"].tolist() == ["고마워요", "화가 나요"] and "text_pair" not in df.columns
    assert df["source_row"].tolist() == [1, 2] and set(df["source_sheet"]) == {"json"}


BAD_FILES = {
    "missing pair column": (
        "x.xlsx",
        [["premise", "gold_label"], ["a", "entailment"]],
        "x.xlsx, sheet 'Sheet1': missing column(s) 'hypothesis'",
    ),
    "json not a list": ("x.json", {"premise": "a"}, "expected a non-empty JSON list of objects"),
    "json item not an object": (
        "x.json",
        [["a", "b", "c"]],
        "x.json, object 1: expected an object",
    ),
    "json object missing a key": (
        "x.json",
        [ROWS[0], {"premise": "a", "hypothesis": "b"}],
        "x.json, object 2: missing key(s) 'gold_label'",
    ),
    "json broken": ("x.json", "not json", "not valid UTF-8 JSON"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_pair_files_stop_ingest_with_one_line_naming_file_and_row(
    tmp_path: Path, capsys, case: str
) -> None:
    name, content, message = BAD_FILES[case]
    path = tmp_path / "data/raw" / name
    if name.endswith(".xlsx"):
        write_workbook(path, {"Sheet1": content})
    elif isinstance(content, str):
        path.parent.mkdir(parents=True)
        path.write_text("{" + content, encoding="utf-8")
    else:
        write_json(path, content)
    cfg = write_pair_config(tmp_path, ingest={"files": [f"data/raw/{name}"]})
    line = expect_error(ingest.main, ["--config", str(cfg)], capsys, tmp_path)
    assert message in line


def test_an_unknown_gold_label_stops_prepare_naming_it_and_its_row(tmp_path: Path, capsys) -> None:
    rows = [*ROWS, {"premise": "p", "hypothesis": "h", "gold_label": "maybe"}]
    write_json(tmp_path / "data/raw/nli.json", rows)
    table = [["gold_label", "id"], ["entailment", 0], ["neutral", 1], ["contradiction", 2]]
    write_workbook(tmp_path / "data/raw/labels.xlsx", {"Sheet1": table})
    cfg = write_pair_config(
        tmp_path,
        ingest={"files": ["data/raw/nli.json"]},
        prepare={"label_table": "data/raw/labels.xlsx", "label_name_column": "gold_label"},
    )
    assert ingest.main(["--config", str(cfg)]) == 0
    line = expect_error(prepare.main, ["--config", str(cfg)], capsys, tmp_path)
    assert "'maybe' (1 row)" in line and "first: nli.json, row 4" in line


# --- prepare and split ------------------------------------------------------------------------


def test_prepare_drops_pairs_with_an_empty_side_and_repeated_pairs_only() -> None:
    df = pd.DataFrame(
        {
            "text": ["전제", "전제", "전제", "", "다른 전제"],
            "text_pair": ["가설 하나", "가설 둘", "가설 하나", "가설", ""],
            "label": ["entailment", "neutral", "entailment", "neutral", "neutral"],
        }
    )
    kept, summary = drop_empty_and_duplicates(df, ("text", "text_pair"))
    assert list(zip(kept["text"], kept["text_pair"], strict=True)) == [
        ("전제", "가설 하나"),
        ("전제", "가설 둘"),  # the same premise with another hypothesis is another example
    ]
    assert summary["dropped"] == {"empty_text": 2, "empty_label": 0, "duplicate_text": 1}
    assert df.shape == (5, 3)  # input untouched


def test_data_stages_keep_every_pair_in_one_split_and_derive_sorted_labels(tmp_path: Path) -> None:
    corpus = tiny_pairs(n_per_label=20)
    extra = pd.DataFrame(
        [{**corpus.iloc[0].to_dict()}, {**corpus.iloc[1].to_dict(), "hypothesis": " "}]
    )
    write_pair_workbook(tmp_path / "data/raw/pairs.xlsx", pd.concat([corpus, extra]))
    cfg = write_pair_config(tmp_path)
    for stage in (ingest, prepare, split):
        assert stage.main(["--config", str(cfg)]) == 0
    report = json.loads((tmp_path / "data/interim/prepare_report.json").read_text(encoding="utf-8"))
    assert report["dropped"]["duplicate_text"] == 1 and report["dropped"]["empty_text"] == 1
    assert report["label_table"].startswith("derived from the data (sorted by name)")
    labels = json.loads((tmp_path / "data/interim/labels.json").read_text(encoding="utf-8"))
    assert list(labels["id2label"].values()) == sorted(["entailment", "neutral", "contradiction"])
    seen: dict[tuple[str, str], str] = {}
    premises: dict[str, set[str]] = {}
    for name in ("train", "validation", "test"):
        frame = pd.read_parquet(tmp_path / f"data/processed/{name}.parquet")
        assert set(frame["label"]) == {"entailment", "neutral", "contradiction"}  # stratified
        for pair in zip(frame["text"], frame["text_pair"], strict=True):
            assert pair not in seen, f"{pair} is in {seen[pair]} and {name}"
            seen[pair] = name
            premises.setdefault(pair[0], set()).add(name)
    assert len(seen) == len(corpus)
    assert any(len(s) > 1 for s in premises.values())  # a premise alone may recur: pairs count


def test_split_refuses_a_dataset_with_a_repeated_pair(tmp_path: Path, capsys) -> None:
    write_pair_workbook(tmp_path / "data/raw/pairs.xlsx", tiny_pairs(n_per_label=10))
    cfg = write_pair_config(tmp_path)
    assert ingest.main(["--config", str(cfg)]) == 0 and prepare.main(["--config", str(cfg)]) == 0
    dataset = tmp_path / "data/interim/dataset.parquet"
    df = pd.read_parquet(dataset)
    pd.concat([df, df.iloc[:1]]).to_parquet(dataset)
    line = expect_error(split.main, ["--config", str(cfg)], capsys, tmp_path)
    assert "occur more than once" in line and df["text"].iloc[0] in line


# --- encoding ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory):
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertTokenizerFast

    out = tmp_path_factory.mktemp("wordpiece")
    wp = BertWordPieceTokenizer(lowercase=False, strip_accents=False)
    wp.train_from_iterator(pair_texts(tiny_pairs()), vocab_size=300, min_frequency=1)
    wp.save_model(str(out))
    return BertTokenizerFast(vocab_file=str(out / "vocab.txt"), do_lower_case=False)


def test_pairs_are_encoded_with_segment_ids_and_truncated_longest_first(tokenizer) -> None:
    examples = [("민수는 오늘 공원에서 시간을 보냈다.", "민수는 오늘 공원에 갔다.")]
    ids, types = PAIR.encode(tokenizer, examples, max_len=64)
    sep = ids[0].index(tokenizer.sep_token_id)
    assert ids[0][0] == tokenizer.cls_token_id and ids[0][-1] == tokenizer.sep_token_id
    assert types[0] == [0] * (sep + 1) + [1] * (len(ids[0]) - sep - 1)
    assert ids[0] == tokenizer(*examples[0])["input_ids"]
    long = [("민수는 오늘 공원에서 시간을 보냈다. " * 10, "짧다.")]
    ids, types = PAIR.encode(tokenizer, long, max_len=16)
    assert len(ids[0]) == 16 and sum(types[0]) >= 2  # the long side lost tokens, not the short
    single_ids, single_types = get_task("text-classification").encode(tokenizer, ["짧다."], 16)
    assert single_types is None and single_ids[0][0] == tokenizer.cls_token_id


def test_batches_carry_the_segment_ids_padded_with_zeros(tokenizer) -> None:
    examples = PAIR.examples(
        pd.DataFrame(
            {
                "text": ["짧다.", "민수는 오늘 공원에서 시간을 보냈다."],
                "text_pair": ["길다.", "갔다."],
            }
        )
    )
    ids, types = PAIR.encode(tokenizer, examples, max_len=32)
    (x, y), *_ = batches(ids, np.array([0, 1]), 2, 32, 0, seed=None, types=types)
    for row, i in enumerate(np.argsort([len(v) for v in ids], kind="stable")):
        n = len(ids[i])
        assert x["token_type_ids"][row, :n].tolist() == types[i]
        assert not x["token_type_ids"][row, n:].any()


def test_baseline_and_pipeline_inputs_of_a_pair() -> None:
    assert PAIR.baseline_text([("전제", "가설")]) == ["전제 [SEP] 가설"]
    assert PAIR.pipeline_inputs([("전제", "가설")]) == [{"text": "전제", "text_pair": "가설"}]
    assert PAIR.texts([("a", "b"), ("c", "d")]) == ["a", "b", "c", "d"]


# --- the API shape ----------------------------------------------------------------------------


def parse(body) -> tuple[list, int]:
    return parse_request(
        body, max_inputs=4, num_labels=3, default_top_k=5, parse_inputs=PAIR.parse_inputs
    )


def test_the_api_takes_one_pair_or_a_list_of_pairs() -> None:
    one = {"inputs": {"text": " 전제 ", "text_pair": "가설"}}
    assert parse(one) == ([("전제", "가설")], 3)
    many = {"inputs": [{"text": "a", "text_pair": "b"}, {"text": "c", "text_pair": "d"}],
            "parameters": {"top_k": 2}}  # fmt: skip
    assert parse(many) == ([("a", "b"), ("c", "d")], 2)


BAD_PAIRS = {
    "text_pair without text": ({"text_pair": "가설"}, 'inputs" has no "text"'),
    "text without text_pair": ({"text": "전제"}, 'has no "text_pair"'),
    "a number for text": ({"text": 3, "text_pair": "b"}, '"inputs".text must be a string'),
    "a list for text_pair": ({"text": "a", "text_pair": ["b"]}, "text_pair must be a string"),
    "an empty side": ({"text": "a", "text_pair": " \u200b"}, "text_pair is empty"),
    "an unknown field": ({"text": "a", "text_pair": "b", "label": "x"}, "unknown field(s) label"),
    "a plain string": ("전제", '"inputs" must be {"text": "전제", "text_pair": "가설"}'),
    "a list of strings": (["a", "b"], "inputs[0] must be an object"),
    "an empty list": ([], '"inputs" must be'),
    "too many": ([{"text": "a", "text_pair": "b"}] * 5, "too many inputs: 5 pairs, at most 4"),
}


@pytest.mark.parametrize("case", BAD_PAIRS)
def test_bad_pair_requests_get_a_422_naming_the_problem(case: str) -> None:
    inputs, message = BAD_PAIRS[case]
    with pytest.raises(RequestError) as err:
        parse({"inputs": inputs})
    assert err.value.status == 422
    assert message in err.value.message
