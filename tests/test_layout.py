"""The package layout: the packages' order, no import circle, short files.

Parses every module under pipeline/ with ``ast`` (nothing is imported), builds the graph of
imports between pipeline modules (at module level and inside functions), and fails on any
cycle, on any import against the order stages -> tasks -> shared pieces (a task package never
imports a stage; a shared piece imports neither), and on any file over MAX_LINES unless its
docstring has a "Long because:" line.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "pipeline"
MAX_LINES = 300


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(text: str, here: str, is_package: bool, known: set[str]) -> set[str]:
    """The pipeline modules that module ``here`` (source ``text``) imports, anywhere in it.

    ``from pipeline.x import y`` counts pipeline.x.y when that is a module, else pipeline.x;
    relative imports are resolved against ``here``.
    """
    package = here if is_package else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                if f"{base}.{alias.name}" in known:
                    found.add(f"{base}.{alias.name}")
                elif base in known:
                    found.add(base)
    found.discard(here)
    return found


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    return {
        name: imports_of(
            path.read_text(encoding="utf-8"), name, path.name == "__init__.py", set(mods)
        )
        for name, path in mods.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_between_pipeline_modules() -> None:
    graph = import_graph()
    assert graph["pipeline.train.stage"] >= {"pipeline.fitting.loop", "pipeline.config"}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


STAGES = ("data", "train", "sweep", "evaluate", "export", "publish", "serve")
TASKS = ("tasks",)


def layer(module: str) -> str:
    """ "stage", "task" or "shared": where a pipeline module stands in the order."""
    part = module.split(".")[1] if module.count(".") else ""
    return "stage" if part in STAGES else "task" if part in TASKS else "shared"


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Imports against the order: a task importing a stage, a shared piece a task or stage."""
    rank = {"stage": 2, "task": 1, "shared": 0}
    return sorted(
        f"{a} -> {b}"
        for a, targets in graph.items()
        for b in targets
        if rank[layer(b)] > rank[layer(a)]
    )


def test_tasks_sit_below_the_stages_and_shared_pieces_below_both() -> None:
    graph = import_graph()
    assert {layer(m) for m in graph} == {"stage", "task", "shared"}
    assert upward_imports(graph) == []
    # the stages do use the tasks, and the tasks the shared fit loop and inference
    assert any(layer(b) == "task" for b in graph["pipeline.train.stage"])
    assert "pipeline.fitting.loop" in graph["pipeline.tasks.classification.fit"]


def test_an_upward_import_is_found() -> None:
    graph = {"pipeline.tasks.x": {"pipeline.serve.api"}, "pipeline.io": {"pipeline.tasks"}}
    assert upward_imports(graph) == [
        "pipeline.io -> pipeline.tasks",
        "pipeline.tasks.x -> pipeline.serve.api",
    ]


def test_function_level_relative_and_submodule_imports_count() -> None:
    known = {
        "pipeline.cli",
        "pipeline.config",
        "pipeline.io",
        "pipeline.fitting",
        "pipeline.fitting.loop",
    }
    text = (
        "def main():\n    from pipeline.cli import run_cli\n"
        "from .io import write_json\nfrom pipeline.fitting import loop\nimport pipeline.config\n"
    )
    found = imports_of(text, "pipeline.probe", False, known)
    assert found == {"pipeline.cli", "pipeline.io", "pipeline.fitting.loop", "pipeline.config"}


def test_the_cycle_finder() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
    # config.py and cli.py imported each other before the layout issue: this is that cycle.
    assert find_cycle({"pipeline.cli": {"pipeline.config"}, "pipeline.config": {"pipeline.cli"}})


def test_no_file_over_the_line_limit_without_a_reason() -> None:
    long = []
    for name, path in modules().items():
        lines = path.read_text(encoding="utf-8").count("\n")
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        if lines > MAX_LINES and "Long because:" not in doc:
            long.append(f"{name} ({lines} lines)")
    assert not long, f"over {MAX_LINES} lines without 'Long because:' in the docstring: {long}"


def test_no_task_name_is_spelled_outside_the_tasks_and_the_schema() -> None:
    """A stage asks the task (pipeline.tasks.task_for), never tests its name."""
    from pipeline.tasks import TASKS

    found = []
    for name, path in modules().items():
        if name.startswith("pipeline.tasks") or name == "pipeline.config.schema":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in TASKS:
                found.append(f"{name}:{node.lineno} {node.value!r}")
    assert found == []


def test_no_stage_forks_on_a_task_hook() -> None:
    """No ``own = task.x(...); if own is not None`` left in a stage: every task fills its roles."""
    forks = [
        str(p.relative_to(PACKAGE))
        for part in STAGES
        for p in (PACKAGE / part).rglob("*.py")
        if "own is not None" in p.read_text(encoding="utf-8")
        or "own is None" in p.read_text(encoding="utf-8")
    ]
    assert forks == []
