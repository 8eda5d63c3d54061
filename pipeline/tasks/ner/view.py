"""The model's view of a served sentence, with a way back to the sentence as sent.

Ingest wrote the training sentences in NFC with zero-width characters removed
(``pipeline.tables.cells.normalize_text``); a client may send decomposed Hangul (NFD, as macOS
file names and some IMEs give it: ``김`` as three jamo) or a ZWSP inside a word, which the
tokenizer would read as other pieces. ``model_view`` gives the model the text ingest would
have written (whitespace kept as sent: the tokenizer splits on it either way) and, per character
of it, the span of the original string it came from, so that the answer's ``start``/``end``
index exactly the string the client holds.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))  # as normalize_text's


def _attaches(ch: str) -> bool:
    """A character NFC may merge into the one before it: a combining mark, a Hangul vowel or
    final consonant jamo (U+1160-U+11FF, U+D7B0-U+D7FF)."""
    return (
        unicodedata.combining(ch) != 0 or "\u1160" <= ch <= "\u11ff" or "\ud7b0" <= ch <= "\ud7ff"
    )


@dataclass(frozen=True)
class View:
    """``text``: what the model reads; ``starts[i]``/``ends[i]``: the original span of
    ``text[i]``."""

    text: str
    starts: list[int]
    ends: list[int]

    def original(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original string behind ``text[start:end]`` (``end > start``)."""
        return self.starts[start], self.ends[end - 1]


def model_view(sent: str) -> View:
    """NFC per cluster (a starter and what attaches to it), zero-width characters removed."""
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    i = 0
    while i < len(sent):
        j = i + 1
        while j < len(sent) and _attaches(sent[j]):
            j += 1
        for ch in unicodedata.normalize("NFC", sent[i:j]).translate(INVISIBLE):
            out.append(ch)
            starts.append(i)
            ends.append(j)
        i = j
    return View("".join(out), starts, ends)
