"""The config reference (docs/config.md): generated from the typed config, checked up to date."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from pipeline.errors import PipelineError

REPO = Path(__file__).resolve().parents[1]


def _load_script() -> Any:
    spec = importlib.util.spec_from_file_location(
        "config_reference", REPO / "scripts/config_reference.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


ref = _load_script()


def test_docs_config_md_is_up_to_date() -> None:
    """Fails when a config key changed without `make docs` (regenerated in memory here)."""
    current = (REPO / "docs/config.md").read_text(encoding="utf-8")
    assert current == ref.render(), "docs/config.md is out of date: run `make docs`"


def test_every_key_of_the_config_is_in_the_reference() -> None:
    text = ref.render()
    assert "| `learning_rate` | number | `2e-05` | Peak learning rate. |" in text
    assert "### `train.early_stopping`" in text and "## `model` (required)" in text
    assert "| `early_stopping` | section | (its keys' defaults) | see [train.early_st" in text
    assert '| `non_text` | "convert" or "reject" | `"convert"` |' in text
    assert "| `grids` | list of mapping of text to list of any value | `[]` |" in text


# --- reading comments and types from a dataclass's source --------------------------------------


@dataclass(frozen=True)
class _Inner:
    # How deep.
    depth: int = 1


@dataclass(frozen=True)
class _Example:
    # First line of the comment,
    # and its second line.
    name: str
    size: int = 3  # at the end of its line
    # Shared by a group of fields.
    low: float = 0.0
    high: float = 1.0
    inner: _Inner = field(default_factory=_Inner)
    choice: Literal["a", "b"] | None = None  # pick <one> | none

    # Tags.
    tags: list[str] = field(default_factory=lambda: ["x", "가"])


@dataclass(frozen=True)
class _Uncommented:
    # Commented.
    first: int = 1

    second: bool = True


def test_comments_above_at_the_end_of_the_line_and_shared_by_a_group() -> None:
    assert ref.field_comments(_Example) == {
        "name": "First line of the comment, and its second line.",
        "size": "at the end of its line",
        "low": "Shared by a group of fields.",
        "high": "Shared by a group of fields.",
        "inner": "",  # a section shares no comment
        "choice": "pick <one> | none",
        "tags": "Tags.",
    }


def test_sections_tables_types_and_defaults() -> None:
    top, inner = ref.sections(_Example, "ex")
    assert (top.name, inner.name, inner.required) == ("ex", "ex.inner", False)
    assert inner.keys == [ref.Key("depth", "integer", "`1`", "How deep.")]
    assert [(k.name, k.type, k.default) for k in top.keys] == [
        ("name", "text", "**required**"),
        ("size", "integer", "`3`"),
        ("low", "number", "`0.0`"),
        ("high", "number", "`1.0`"),
        ("inner", "section", "(its keys' defaults)"),
        ("choice", '"a" or "b", or null', "`null`"),
        ("tags", "list of text", '`["x", "가"]`'),
    ]
    assert top.keys[4].meaning == "see [ex.inner](#exinner)"


def test_a_key_without_a_comment_is_an_error_naming_it() -> None:
    with pytest.raises(PipelineError, match=r"test_config_reference.py: config key s.second "):
        ref.sections(_Uncommented, "s")


def test_type_names_and_the_table_escape_markdown() -> None:
    assert ref.type_name(list[str] | None) == "list of text, or null"
    assert ref.type_name(Literal["a", "b"]) == '"a" or "b"'
    assert ref.type_name(dict[str, Any]) == "mapping of text to any value"
    row = ref.table([ref.Key("choice", '"a" or "b"', "`null`", "pick <one> | none")])
    assert row.splitlines()[2] == '| `choice` | "a" or "b" | `null` | pick &lt;one> \\| none |'


def test_check_says_when_the_file_is_missing_or_out_of_date(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "config.md"
    assert ref.main(["--check", "--output", str(out)]) == 1
    assert f"{out} is missing" in capsys.readouterr().err
    assert ref.main(["--output", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == ref.render()
    assert ref.main(["--check", "--output", str(out)]) == 0
    out.write_text(ref.render().replace("Peak learning rate.", "Old meaning."), encoding="utf-8")
    assert ref.main(["--check", "--output", str(out)]) == 1
    assert "is out of date: the config changed; run `make docs`" in capsys.readouterr().err
    assert "Old meaning." in out.read_text(encoding="utf-8")  # --check never writes
