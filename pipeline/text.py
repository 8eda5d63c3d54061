"""The one text normalisation: what ingest stores and what serving reads, character for character.

A model only answers well on text in the form it was trained on, so ingest (every sentence and
label of a workbook or CSV), serve (a request), predict (a sentence or a sheet cell) and
``evaluate --input`` all call ``normalize_text``: Unicode NFC (decomposed Hangul, as macOS
writes it, becomes composed), zero-width characters removed, every whitespace run one space,
the ends stripped, and text made only of control or format characters (NUL, U+200E) empty.

``normalize_label`` is the same for label and group names, plus compatibility folding (NFKC):
``ＰＯＳ`` and ``POS``, or ``①`` and ``1``, name one class. Hangul compatibility jamo (ㅋ, ㅠ)
are kept as written: NFKC would turn them into conjoining jamo that render as broken syllables.
"""

from __future__ import annotations

import functools
import unicodedata

# Zero-width space, non-joiner, joiner, word joiner, BOM: invisible, and not whitespace to split().
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"
_INVISIBLE = dict.fromkeys(map(ord, INVISIBLE))
_COMPAT_JAMO = range(0x3130, 0x3190)  # Hangul Compatibility Jamo: kept out of NFKC


def normalize_text(text: str) -> str:
    """NFC, zero-width characters removed, whitespace runs -> one space, ends stripped.

    Text left with nothing but control or format characters (categories Cc, Cf) is "".
    """
    text = " ".join(unicodedata.normalize("NFC", text).translate(_INVISIBLE).split())
    if all(c == " " or unicodedata.category(c) in ("Cc", "Cf") for c in text):
        return ""
    return text


@functools.lru_cache(maxsize=65536)  # a corpus has few label names, each on many rows
def normalize_label(text: str) -> str:
    """``normalize_text`` with compatibility forms folded (NFKC), Hangul compatibility jamo kept
    (half-width jamo become them)."""
    return normalize_text("".join(map(_fold, unicodedata.normalize("NFC", text))))


def _fold(char: str) -> str:
    """One character's compatibility decomposition (NFKD), stopping at compatibility jamo."""
    if ord(char) in _COMPAT_JAMO:
        return char
    kind, _, code = unicodedata.decomposition(char).partition(" ")
    if kind == "<narrow>" and " " not in code and int(code, 16) in _COMPAT_JAMO:
        return chr(int(code, 16))  # half-width ﾡ -> ㄱ (NFKD would go on to a conjoining jamo)
    return unicodedata.normalize("NFKD", char)
