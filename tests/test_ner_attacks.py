"""NER under a hostile user: literal ``<``/``>`` in sentences, whitespace inside markup, KLUE
TSV text holding ``<``, line numbers of odd line breaks, and the API on odd strings."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import IngestConfig
from pipeline.errors import PipelineError
from pipeline.tasks.ner.data import read_file, row
from pipeline.tasks.ner.markup import parse_markup, render_markup, spans_from_json

TYPES = ["PS", "LC", "OG", "DT", "TI", "QT"]


def ingest_cfg() -> IngestConfig:
    return IngestConfig(files=["x.txt"], text_columns=["문장"], entity_types=TYPES)


@pytest.mark.parametrize(
    ("marked", "text", "surfaces"),
    [
        (r"3 \< 5 이고 <부산:LC>에 갔다", "3 < 5 이고 부산에 갔다", ["부산"]),
        (r"사랑해 \<3 <김민수:PS>", "사랑해 <3 김민수", ["김민수"]),
        (r"<a\>b:OG> 는 화살표 -\> 다", "a>b 는 화살표 -> 다", ["a>b"]),
        (r"C:\temp <부산:LC>", r"C:\temp 부산", ["부산"]),  # other backslashes are text
    ],
)
def test_a_literal_angle_bracket_is_written_with_a_backslash(
    marked: str, text: str, surfaces: list[str]
) -> None:
    plain, spans = parse_markup(marked, TYPES, "x")
    assert plain == text
    assert [plain[s:e] for s, e, _ in spans] == surfaces
    assert render_markup(plain, spans) == marked  # reports write it back the same way


def test_an_unescaped_angle_bracket_says_how_to_write_it() -> None:
    with pytest.raises(PipelineError, match=r"f.txt, line 2: unclosed '<' at character 3.*\\<"):
        parse_markup("3 < 5", TYPES, "f.txt, line 2")
    with pytest.raises(PipelineError, match=r"closes no '<' \(write \\> for a literal"):
        parse_markup("5 > 3", TYPES, "f.txt, line 2")


@pytest.mark.parametrize(
    ("marked", "text", "entities"),
    [
        ("< 부산 :LC>에서", "부산 에서", [[0, 2, "LC"]]),
        ("나는 < 부산:LC> 에 갔다", "나는 부산 에 갔다", [[3, 5, "LC"]]),
        ("<김민수 :PS> <부산 시:LC>  ", "김민수 부산 시", [[0, 3, "PS"], [4, 8, "LC"]]),
    ],
)
def test_spaces_inside_markup_do_not_leave_double_or_edge_spaces(
    marked: str, text: str, entities: list
) -> None:
    plain, spans, _ = row(marked, TYPES, "x")
    assert plain == text
    assert [list(s) for s in spans_from_json(spans)] == entities


def test_klue_tsv_text_keeps_its_angle_brackets(tmp_path: Path) -> None:
    path = tmp_path / "klue.tsv"
    lines = ["## id\t3 < 5", "3\tO", " \tO", "<\tO", " \tO", "5\tB-QT", ">\tO", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    df = read_file(path, ingest_cfg())
    assert df["text"].tolist() == ["3 < 5>"]
    assert df["entities"].tolist() == ['[[4, 5, "QT"]]']


def test_text_file_line_numbers_count_only_newlines(tmp_path: Path) -> None:
    path = tmp_path / "s.txt"
    # a BOM, CRLF ends, and a U+2028 inside a line (str.splitlines would break there)
    path.write_bytes("\ufeff<부산:LC>에서\r\n\r\n<서울:LC>\u2028에서\r\n<부산:XX>\r\n".encode())
    with pytest.raises(PipelineError, match=r"s.txt, line 4: unknown entity type 'XX'"):
        read_file(path, ingest_cfg())
    path.write_bytes("\ufeff<부산:LC>에서\r\n\r\n<서울:LC>\u2028에서\r\n".encode())
    df = read_file(path, ingest_cfg())
    assert df["text"].tolist() == ["부산에서", "서울 에서"]
    assert df["source_row"].tolist() == [1, 3]


@pytest.fixture(scope="module")
def tagger(tmp_path_factory: pytest.TempPathFactory):
    """A real TF token classifier (tiny random BERT, 64 positions, no NFC in its tokenizer)
    biased to tag every piece B-PS, so that every piece comes back as an entity."""
    from transformers import AutoTokenizer, TFBertForTokenClassification

    from tests.tiny import make_tiny_bert

    words = ["김민수는", "부산에서", "왔다", "서울", "이영희", "2023"]
    ckpt = make_tiny_bert(tmp_path_factory.mktemp("bert"), [" ".join(words)] * 3)
    model = TFBertForTokenClassification.from_pretrained(
        str(ckpt), num_labels=3, id2label={0: "O", 1: "B-PS", 2: "I-PS"}
    )
    model.classifier.bias.assign([0.0, 3.0, 0.0])
    return model, AutoTokenizer.from_pretrained(str(ckpt))


def test_decomposed_hangul_and_zero_width_are_read_as_ingest_stored_them(tagger) -> None:
    import unicodedata

    from pipeline.tasks.ner.serve import predictor

    predict = predictor(*tagger, 64)
    nfc = "김민수는 부산에서 왔다"
    odd = unicodedata.normalize("NFD", "김민수는 부") + "\u200b산에서\r\n왔다"
    want, got = predict([nfc, odd])
    for e in got:
        assert odd[e["start"] : e["end"]] == e["word"]  # offsets index the string as sent
    # the model read the same pieces: same entities, same scores
    assert [unicodedata.normalize("NFC", e["word"]).replace("\u200b", "") for e in got] == [
        e["word"] for e in want
    ]
    assert [round(e["score"], 5) for e in got] == [round(e["score"], 5) for e in want]


def test_a_sentence_past_max_seq_len_is_read_to_its_end(tagger) -> None:
    from pipeline.tasks.ner.serve import predictor

    model, tokenizer = tagger
    text = " ".join(["김민수는 부산에서 왔다"] * 30 + ["이영희 서울"])
    pieces = len(tokenizer(text, add_special_tokens=False)["input_ids"])
    assert pieces > 64
    (found,) = predictor(model, tokenizer, 64)([text])
    assert len(found) == pieces  # one entity per piece: none dropped, none doubled by overlaps
    assert [e["start"] for e in found] == sorted({e["start"] for e in found})
    assert found[-1]["word"] == "서울" and found[-1]["end"] == len(text)


def test_predict_tags_number_cells_and_skips_empty_looking_ones(tagger) -> None:
    import json

    import pandas as pd

    from pipeline.tasks.ner.serve import entities_column, predictor

    predict = predictor(*tagger, 64)
    df = pd.DataFrame({"문장": ["  김민수는 왔다", None, "   ", 2023, "\u200b"]})
    out = entities_column(df, "문장", lambda texts, _: predict(texts), None)
    assert out["entities"].isna().tolist() == [False, True, True, False, True]
    first = json.loads(out["entities"][0])
    assert all("  김민수는 왔다"[e["start"] : e["end"]] == e["word"] for e in first)
    assert [e["word"] for e in json.loads(out["entities"][3])] == ["2023"]
    assert out["entities_marked"][3] == "<2023:PS>"


def test_predict_progress_counts_a_sheets_sentences() -> None:
    """predict's bar said "0sent" for a whole NER sheet: the labeller never reported progress."""
    import pandas as pd

    from pipeline.tasks import get_task
    from pipeline.tasks.ner.serve import EntityLabeller

    labeller = EntityLabeller(get_task("token-classification"), None, None, 64)
    labeller._loaded = object()  # no model: the answers below stand in for it
    labeller.annotate = lambda texts, loaded: [[] for _ in texts]
    counted: list[int] = []
    labeller.table(pd.DataFrame({"문장": ["가", None, "나", " "]}), "문장", None, counted.append)
    assert sum(counted) == 2


@pytest.mark.parametrize(
    ("name", "content"),
    [("e.txt", ""), ("e.txt", "\ufeff\r\n  \r\n"), ("e.tsv", ""), ("e.tsv", "## id\tx\n\n")],
)
def test_an_empty_text_or_tsv_file_is_named(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(PipelineError, match=rf"{name}: no sentences"):
        read_file(path, ingest_cfg())


@pytest.mark.parametrize("params", [0, False, "", [], "simple"])
def test_parameters_that_are_not_an_object_are_refused(params: object) -> None:
    from pipeline.inference.api import RequestError
    from pipeline.tasks.ner.serve import parse_request

    with pytest.raises(RequestError, match=r'"parameters" must be an object') as err:
        parse_request({"inputs": "김민수", "parameters": params}, 8)
    assert err.value.status == 422


def test_o_is_not_an_entity_type_and_a_bad_configured_type_is_named() -> None:
    with pytest.raises(PipelineError, match=r"x: unknown entity type 'O'"):
        parse_markup("<부산:O>", None, "x")  # O would collide with the no-entity stratum
    with pytest.raises(PipelineError, match=r"ingest.entity_types: 'lc' is not a type name"):
        parse_markup("<부산:lc>", ["lc"], "x")


def test_klue_tsv_with_tab_only_separators_and_bare_comment_lines(tmp_path: Path) -> None:
    path = tmp_path / "klue.tsv"
    lines = ["##", "##\tlicense", "## id-1\t<부산:LC>", "부\tB-LC", "산\tI-LC", "\t", "#\tO", ""]
    path.write_text("\r\n".join(lines), encoding="utf-8")
    df = read_file(path, ingest_cfg())
    assert df["text"].tolist() == ["부산", "#"]
    assert df["source_row"].tolist() == [4, 7]


def test_a_request_too_long_to_read_in_windows_is_refused_before_the_model() -> None:
    from pipeline.inference.api import RequestError
    from pipeline.tasks.ner.serve import MAX_REQUEST_CHARS, parse_request

    long = "김민수는 부산에 갔다. " * (MAX_REQUEST_CHARS // 13 + 1)
    with pytest.raises(RequestError, match=f"at most {MAX_REQUEST_CHARS}") as err:
        parse_request({"inputs": [long[:100], long]}, 8)
    assert err.value.status == 413
    assert parse_request({"inputs": long[:MAX_REQUEST_CHARS]}, 8) == [long[:MAX_REQUEST_CHARS]]


def test_a_request_that_grows_under_nfc_past_the_cap_is_refused() -> None:
    """The cap counts what the model reads: U+FB2C is one character sent, three in NFC."""
    from pipeline.inference.api import RequestError
    from pipeline.tasks.ner.serve import MAX_REQUEST_CHARS, parse_request

    assert MAX_REQUEST_CHARS == 5000
    for n in (5000, 1700, 1667):  # 15,000, 5,100 and 5,001 characters in NFC
        with pytest.raises(RequestError, match="grows under NFC normalisation") as err:
            parse_request({"inputs": "\ufb2c" * n}, 8)
        assert err.value.status == 413
        assert f"{3 * n} characters" in err.value.message
    with pytest.raises(RequestError, match="NFC"):
        parse_request({"inputs": ["\ufb2c" * 1000, "\ufb2c" * 700]}, 8)  # the request in all
    assert parse_request({"inputs": "\ufb2c" * 1666}, 8) == ["\ufb2c" * 1666]  # 4,998 in NFC


def test_the_ner_page_takes_as_many_characters_as_the_api() -> None:
    import re
    from pathlib import Path

    from pipeline.tasks.ner.serve import MAX_REQUEST_CHARS

    static = Path(__file__).resolve().parents[1] / "pipeline" / "serve" / "static"
    boxes = re.findall(r"<textarea[^>]*>", (static / "ner.html").read_text(encoding="utf-8"))
    assert [re.search(r'maxlength="(\d+)"', b).group(1) for b in boxes] == [str(MAX_REQUEST_CHARS)]
