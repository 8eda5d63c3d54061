"""Entity markup in and out: inline ``<부산:LC>`` (KLUE-NER / nlpbook) and KLUE's character BIO.

An entity is a span ``(start, end, type)`` of character offsets into the plain sentence
(``text[start:end]`` is the entity's surface), stored as a JSON list of ``[start, end, type]``.

- ``parse_markup``: ``"<한국해양대학교:OG> 학생들이 <부산:LC>에서"`` -> plain text + spans. An
  unclosed ``<``, a ``>`` without ``<``, a missing or unknown type, an empty entity and a ``<``
  inside an entity (nesting) are errors naming the place. A literal ``<`` or ``>`` (``3 \\< 5``)
  is written with a backslash, ``\\<`` / ``\\>``; any other backslash is an ordinary character.
- ``render_markup``: the inverse (reports mark sentences this way).
- ``read_char_bio``: KLUE-NER's TSV, one ``char<TAB>tag`` line per character, sentences separated
  by blank lines, ``## id<TAB>marked sentence`` comment lines skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

from pipeline.errors import PipelineError

Span = tuple[int, int, str]
TYPE_NAME = re.compile(r"^(?!O$)[A-Z][A-Z_]*$")  # PS, LC, OG, DT, TI, QT, ...; O is no type


def parse_markup(marked: str, types: Iterable[str] | None, where: str) -> tuple[str, list[Span]]:
    """Plain text and entity spans of an inline-marked sentence; PipelineError naming ``where``.

    ``types``: the allowed entity types (None: any upper-case name such as ``PS``).
    """
    allowed = None if types is None else set(types)
    plain: list[str] = []
    spans: list[Span] = []
    length, i = 0, 0
    while i < len(marked):
        ch = marked[i]
        if ch == "\\" and marked[i + 1 : i + 2] in ("<", ">"):  # an escaped literal \< or \>
            plain.append(marked[i + 1])
            length += 1
            i += 2
            continue
        if ch == ">":
            raise PipelineError(
                f"{where}: '>' at character {i + 1} closes no '<' (write \\> for a literal '>')"
            )
        if ch != "<":
            plain.append(ch)
            length += 1
            i += 1
            continue
        body, close = _entity_body(marked, i, where)
        surface, sep, kind = body.rpartition(":")
        shown = marked[i + 1 : close]
        if not sep or not kind:
            raise PipelineError(
                f"{where}: entity <{shown}> at character {i + 1} has no type "
                "(write <surface:TYPE>, e.g. <부산:LC>)"
            )
        if allowed is not None and kind in allowed and not TYPE_NAME.match(kind):
            raise PipelineError(
                f"ingest.entity_types: {kind!r} is not a type name (upper-case letters and _, "
                "e.g. LC; O is the outside tag)"
            )
        if (allowed is not None and kind not in allowed) or not TYPE_NAME.match(kind):
            known = f" (known: {', '.join(sorted(allowed))})" if allowed is not None else ""
            raise PipelineError(
                f"{where}: unknown entity type {kind!r} in <{shown}> at character {i + 1}{known}"
            )
        if not surface.strip():
            raise PipelineError(f"{where}: empty entity <{shown}> at character {i + 1}")
        spans.append((length, length + len(surface), kind))
        plain.append(surface)
        length += len(surface)
        i = close + 1
    return "".join(plain), spans


def _entity_body(marked: str, i: int, where: str) -> tuple[str, int]:
    """The unescaped ``surface:TYPE`` of the entity whose ``<`` is at ``i``, and its ``>``."""
    body: list[str] = []
    j = i + 1
    while j < len(marked):
        ch = marked[j]
        if ch == "\\" and marked[j + 1 : j + 2] in ("<", ">"):
            body.append(marked[j + 1])
            j += 2
            continue
        if ch == ">":
            return "".join(body), j
        if ch == "<":
            raise PipelineError(
                f"{where}: '<' at character {j + 1} inside the entity opened at "
                f"character {i + 1}: nested entities are not supported "
                "(write \\< for a literal '<')"
            )
        body.append(ch)
        j += 1
    raise PipelineError(
        f"{where}: unclosed '<' at character {i + 1} (no '>' after it; write \\< for a literal '<')"
    )


def escape(text: str) -> str:
    """``text`` with ``<`` and ``>`` written ``\\<`` and ``\\>`` (literal, not markup)."""
    return text.replace("<", "\\<").replace(">", "\\>")


def render_markup(text: str, spans: Iterable[Span]) -> str:
    """``text`` with each span written ``<surface:TYPE>`` (spans must not overlap); a literal
    ``<`` or ``>`` is escaped, so that ``parse_markup`` reads the result back exactly."""
    out, at = [], 0
    for start, end, kind in sorted(spans):
        out.append(escape(text[at:start]) + f"<{escape(text[start:end])}:{kind}>")
        at = end
    return "".join(out) + escape(text[at:])


def spans_to_json(spans: Iterable[Span]) -> str:
    return json.dumps([[s, e, t] for s, e, t in sorted(spans)], ensure_ascii=False)


def spans_from_json(value: str) -> list[Span]:
    return [(int(s), int(e), str(t)) for s, e, t in json.loads(value)]


def strip_spans(text: str, spans: Iterable[Span]) -> list[Span]:
    """Spans with surrounding whitespace moved out of them (text is NFC-collapsed later)."""
    out = []
    for start, end, kind in spans:
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            out.append((start, end, kind))
    return out


def read_char_bio(path: Path, types: Iterable[str] | None) -> list[tuple[int, str, list[Span]]]:
    """KLUE-NER's character-BIO TSV -> (first line number, text, spans) per sentence."""
    allowed = None if types is None else set(types)
    try:
        lines = path.read_text(encoding="utf-8-sig").split("\n")
    except UnicodeDecodeError as exc:
        raise PipelineError(f"{path}: not UTF-8 text ({exc})") from exc
    out: list[tuple[int, str, list[Span]]] = []
    chars: list[str] = []
    spans: list[Span] = []
    first = 0

    def flush() -> None:
        if chars:
            out.append((first, "".join(chars), list(spans)))
        chars.clear()
        spans.clear()

    for number, line in enumerate(lines, 1):
        line = line.rstrip("\r")
        if line.startswith("##"):  # "## id<TAB>marked", "##" headers (no char line starts so)
            continue
        if not line.strip("\t"):
            flush()
            continue
        char, tab, tag = line.rpartition("\t")
        where = f"{path.name}, line {number}"
        if not tab or len(char) != 1:
            raise PipelineError(f"{where}: expected one character, a tab and a tag, got {line!r}")
        if not chars:
            first = number
        if tag != "O":
            prefix, _, kind = tag.partition("-")
            if prefix not in ("B", "I") or not kind:
                raise PipelineError(f"{where}: tag {tag!r} is not O, B-TYPE or I-TYPE")
            if (allowed is not None and kind not in allowed) or not TYPE_NAME.match(kind):
                raise PipelineError(f"{where}: unknown entity type {kind!r}")
            continues = spans and spans[-1][1] == len(chars) and spans[-1][2] == kind
            if prefix == "I" and not continues:
                raise PipelineError(f"{where}: {tag} does not continue a {kind} entity")
            if prefix == "I":
                spans[-1] = (spans[-1][0], len(chars) + 1, kind)
            else:
                spans.append((len(chars), len(chars) + 1, kind))
        chars.append(char)
    flush()
    return out
