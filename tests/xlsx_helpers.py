"""Helpers for the data-stage tests: real workbooks and configs in a temporary project root."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import openpyxl
import yaml

AIHUB_HEADER = ["연령", "성별", "감정_대분류", "감정_소분류", "사람문장1", "시스템문장1",
                "사람문장2", "시스템문장2", "사람문장3", "시스템문장3"]  # fmt: skip


def write_workbook(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    """An .xlsx with one sheet per entry; each value is the sheet's rows (header first)."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def aihub_row(group: str, label: str, *sentences: str | None) -> list[object]:
    turns = list(sentences) + [None] * (3 - len(sentences))
    return ["청년", "여성", group, label, turns[0], "네.", turns[1], "그렇군요.", turns[2], "음."]


def write_config(root: Path, **sections: dict) -> Path:
    """config.yaml under ``root`` (root: that directory); keyword arguments replace sections."""
    cfg = {
        "root": str(root),
        "model": {"name_or_path": "unused-by-the-data-stages"},
        "ingest": {"files": ["data/raw/*.xlsx"]},
        "prepare": {"label_table": None},
    }
    for name, values in sections.items():
        cfg[name] = {**cfg.get(name, {}), **values}
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def outputs(root: Path) -> list[str]:
    """Every file the stages may have written (data/interim, data/processed), temp files too."""
    found = []
    for folder in ("data/interim", "data/processed"):
        found += [p.relative_to(root).as_posix() for p in (root / folder).rglob("*") if p.is_file()]
    return sorted(found)


def expect_error(main: Callable[[list[str]], int], argv: list[str], capsys, root: Path) -> str:
    """Run a stage's main: exit code 2, one "error: ..." line last on stderr, no outputs left.

    Returns that line. ``root`` is the project root: its data/interim and data/processed must
    hold the same files after the call as before (the stage's inputs).
    """
    before = set(outputs(root))
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and err.rstrip().endswith(errors[0])  # one line, the last
    assert set(outputs(root)) == before  # nothing new, no temporary file left behind
    return errors[0]
