"""Write docs/config.md, the reference of every config key, from the typed config itself.

    python scripts/config_reference.py           # (re)write docs/config.md
    python scripts/config_reference.py --check   # exit 1 if docs/config.md is out of date
    make docs

Keys, types and defaults come from the frozen dataclasses (``pipeline.config.Config`` and its
sections, ``pipeline.sweep_spec.SweepConfig``); a key's meaning is the comment written above its
field in the source (or at the end of its line). A field written right below another one with
no comment of its own shares that one's comment (``host`` / ``port``); any other field without
a comment is an error naming it, so the reference never has an empty row.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import io
import json
import sys
import textwrap
import tokenize
import types
import typing
from pathlib import Path
from typing import Any, Literal

from pipeline.config import Config
from pipeline.errors import PipelineError
from pipeline.io import write_text
from pipeline.sweep.spec import SweepConfig

REPO = Path(__file__).resolve().parents[1]
OUTPUT = REPO / "docs" / "config.md"

HEADER = """\
# Config reference

Generated from the typed config (`pipeline/config/schema.py`) by `scripts/config_reference.py`:
run `make docs` after changing a key; do not edit this page by hand (a test fails when it is
out of date). A config file is YAML with the sections below; keys that are not listed are
refused, as are values of the wrong type and a section or key written twice (YAML would keep
only the last: `c.yaml:7:1: section or key 'train' appears twice (first on line 3)`). Any key
can be overridden on the command line with its dotted name: `--set train.learning_rate=3e-5`;
a text key takes the value as written (`--set train.run_name=1.0` names the run "1.0").
"""

SWEEP_HEADER = """\
## Sweep files (`configs/sweeps/*.yaml`)

The keys of a sweep file (schema: `pipeline/sweep/spec.py`). The mappings
take dotted config keys from the tables above (`train.learning_rate`, `model.max_seq_len`).
"""


@dataclasses.dataclass(frozen=True)
class Key:
    name: str  # the key within its section
    type: str
    default: str
    meaning: str


@dataclasses.dataclass(frozen=True)
class Section:
    name: str  # dotted: "train.early_stopping"; "" for the top level
    required: bool  # a config must give it (the section has no default)
    keys: list[Key]


# --------------------------------------------------------------------------------------------
# Reading the dataclasses and their comments
# --------------------------------------------------------------------------------------------


def field_comments(cls: type) -> dict[str, str]:
    """``{field: comment}`` from the source of dataclass ``cls`` (see the module docstring)."""
    lines, start = inspect.getsourcelines(cls)
    source = textwrap.dedent("".join(lines))
    comments: dict[int, str] = {}  # 1-based line in ``source`` -> its comment text
    code_lines: set[int] = set()
    skip = (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER)
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
        elif tok.type not in skip:
            code_lines.update(range(tok.start[0], tok.end[0] + 1))
    body = typing.cast(ast.ClassDef, ast.parse(source).body[0]).body
    names = {f.name for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)

    def sections_of(*fields: str) -> bool:  # a section never shares a comment
        return any(dataclasses.is_dataclass(hints[f]) for f in fields)

    found: dict[str, str] = {}
    previous: tuple[str, int] | None = None  # the last field and the line it ends on
    for node in body:
        if not (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id in names
        ):
            previous = None
            continue
        name, line = node.target.id, node.lineno
        above = []
        i = line - 1
        while i in comments and i not in code_lines:
            above.insert(0, comments[i])
            i -= 1
        end = node.end_lineno or line
        inline = [comments[n] for n in range(line, end + 1) if n in comments]
        text = " ".join(above + inline)
        grouped = previous and previous[1] == line - 1 and not sections_of(previous[0], name)
        if not text and grouped:
            text = found[previous[0]]  # a group of fields under one comment
        found[name] = text
        previous = (name, end)
    return found


def type_name(tp: Any) -> str:
    """A config type as a reader says it: ``list[str] | None`` -> ``list of text, or null``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [type_name(a) for a in args if a is not type(None)]
        return " or ".join(inner) + (", or null" if type(None) in args else "")
    if origin is Literal:
        return " or ".join(json.dumps(a, ensure_ascii=False) for a in args)
    if origin is list:
        return f"list of {type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping of {type_name(args[0])} to {type_name(args[1])}" if args else "mapping"
    simple = {str: "text", int: "integer", float: "number", bool: "true/false", Any: "any value"}
    if tp in simple:
        return simple[tp]
    if dataclasses.is_dataclass(tp):
        return "section"
    raise TypeError(f"no reader's name for config type {tp!r}")  # a type this script lacks


def default_text(f: dataclasses.Field) -> str | None:
    """The default as YAML would spell it; None when the key is required."""
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return None
    if dataclasses.is_dataclass(value):
        return "(its keys' defaults)"
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, int | float):
        return f"`{value!r}`"
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def sections(cls: type, name: str = "") -> list[Section]:
    """The section of dataclass ``cls`` followed by its subsections, in field order."""
    hints = typing.get_type_hints(cls)
    comments = field_comments(cls)
    where = inspect.getsourcefile(cls)
    keys, below = [], []
    for f in dataclasses.fields(cls):
        dotted = f"{name}.{f.name}" if name else f.name
        tp = hints[f.name]
        default = default_text(f)
        if dataclasses.is_dataclass(tp):
            sub = sections(tp, dotted)
            below += [dataclasses.replace(sub[0], required=default is None), *sub[1:]]
            meaning = comments[f.name] or f"see [{dotted}](#{anchor(dotted)})"
            keys.append(Key(f.name, "section", default or "**required**", meaning))
            continue
        if not comments[f.name]:
            raise PipelineError(
                f"{where}: config key {dotted} ({cls.__name__}.{f.name}) has no comment above "
                "it: write one line saying what it does"
            )
        keys.append(Key(f.name, type_name(tp), default or "**required**", comments[f.name]))
    return [Section(name, False, keys), *below]


def anchor(heading: str) -> str:
    """GitHub's anchor of a ``## `heading` `` line: lower case, dots and backticks dropped."""
    return "".join(c for c in heading.lower() if c.isalnum() or c in "-_")


# --------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------


def cell(text: str) -> str:
    """Markdown table cell: ``|`` escaped, ``<name>`` shown as text (not taken for HTML)."""
    return text.replace("|", "\\|").replace("<", "&lt;").replace("\n", " ")


def table(keys: list[Key]) -> str:
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    rows += [
        f"| `{k.name}` | {cell(k.type)} | {cell(k.default)} | {cell(k.meaning)} |" for k in keys
    ]
    return "\n".join(rows) + "\n"


def render() -> str:
    """The whole of docs/config.md for the config as it is now."""
    parts = [HEADER]
    config = sections(Config)
    top, rest = config[0], config[1:]
    parts.append("## Top level\n\n" + table(top.keys))
    for s in rest:
        level = "#" * (2 + s.name.count("."))
        required = " (required)" if s.required else ""
        parts.append(f"{level} `{s.name}`{required}\n\n" + table(s.keys))
    parts.append(SWEEP_HEADER)
    for s in sections(SweepConfig):
        title = f"### `{s.name}` (sweep file)\n\n" if s.name else ""  # a nested mapping
        parts.append(title + table(s.keys))
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the config reference (docs/config.md).")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is out of date")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="default: docs/config.md")
    args = parser.parse_args(argv)
    try:
        text = render()
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return exc.exit_code
    current = args.output.read_text(encoding="utf-8") if args.output.is_file() else None
    if args.check:
        if current != text:
            state = "missing" if current is None else "out of date"
            print(  # noqa: T201
                f"{args.output} is {state}: the config changed; run `make docs` "
                "(python scripts/config_reference.py) and commit the result",
                file=sys.stderr,
            )
            return 1
        print(f"{args.output} is up to date")  # noqa: T201
        return 0
    if current != text:
        write_text(args.output, text)
    print(f"wrote {args.output}" if current != text else f"{args.output} is up to date")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
