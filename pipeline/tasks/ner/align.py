"""Character spans <-> word-piece tags, through the fast tokenizer's offsets.

Korean entities end inside words (``<부산:LC>에서``), so the unit tagged is the word piece, not
the space-separated word: every piece gets a tag (``B-T`` for the first piece of an entity of
type T, ``I-T`` for the rest, ``O`` outside; special tokens -100, ignored by loss and metrics).
A piece belongs to an entity when its characters (leading whitespace left out: XLM-R's ``▁``
pieces start at the space) overlap the entity. transformers' ``TokenClassificationPipeline``
with ``aggregation_strategy="simple"`` groups exactly these piece tags back into entities.

``piece_spans`` decodes predicted tags back to character spans with the strict IOB2 rule
(seqeval's ``mode="strict"``: an entity starts at ``B-T`` and continues over ``I-T`` only; a
stray ``I-T`` is no entity), so a model is credited only for well-formed entities.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.tasks.ner.markup import Span

IGNORE = -100


def bio_tags(types: Sequence[str]) -> list[str]:
    """``["O", "B-T1", "I-T1", "B-T2", ...]`` over sorted ``types``: the model's id2label."""
    return ["O"] + [f"{p}-{t}" for t in sorted(types) for p in ("B", "I")]


def trimmed(text: str, offsets: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Offsets with leading whitespace left out; special tokens keep (0, 0)."""
    out = []
    for start, end in offsets:
        while start < end and text[start].isspace():
            start += 1
        out.append((start, end))
    return out


def piece_labels(
    text: str,
    offsets: Sequence[tuple[int, int]],
    special: Sequence[int],
    spans: Sequence[Span],
    tag2id: dict[str, int],
) -> list[int]:
    """A tag id per piece (``special[i]`` 1: -100) from the sentence's entity spans."""
    labels = []
    started: set[int] = set()
    for (start, end), is_special in zip(trimmed(text, offsets), special, strict=True):
        if is_special or start >= end:
            labels.append(IGNORE if is_special else tag2id["O"])
            continue
        tag = "O"
        for k, (s, e, kind) in enumerate(spans):
            if start < e and end > s:
                tag = f"{'I' if k in started else 'B'}-{kind}"
                started.add(k)
                break
        labels.append(tag2id[tag])
    return labels


def iob2_entities(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Strict IOB2 entities of a tag sequence as (first, last + 1, type) index ranges."""
    out = []
    current: list | None = None
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, kind = tag.partition("-")
        if current is not None and not (prefix == "I" and kind == current[2]):
            out.append((current[0], i, current[2]))
            current = None
        if prefix == "B":
            current = [i, i + 1, kind]
    return out


def piece_spans(
    text: str, offsets: Sequence[tuple[int, int]], tags: Sequence[str]
) -> list[tuple[int, int, str, int, int]]:
    """Predicted piece tags -> (start, end, type, first piece, last piece + 1) char spans."""
    cut = trimmed(text, offsets)
    return [(cut[a][0], cut[b - 1][1], kind, a, b) for a, b, kind in iob2_entities(tags)]
