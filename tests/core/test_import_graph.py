"""The package's import graph has no cycles (type-checking-only imports aside).

A cycle hides which module is the lower layer and breaks as soon as one side's import moves
to the top of its module. Every import counts, including those inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import whisper_tune

SRC = Path(whisper_tune.__file__).resolve().parent.parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, modules: set[str]) -> set[str]:
    found: set[str] = set()
    for node in ast.iter_child_nodes(tree):
        if _is_type_checking(node):
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in modules else node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        found |= _imports(node, modules)
    return found


def import_graph(sources: dict[str, str]) -> dict[str, set[str]]:
    """Module -> the project modules it imports, from module name -> source text."""
    modules = set(sources)
    return {name: (_imports(ast.parse(text), modules) & modules) - {name} for name, text in sources.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                return [*path[path.index(target):], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_the_package_has_no_import_cycle():
    sources = {_module_name(p): p.read_text(encoding="utf-8") for p in (SRC / "whisper_tune").rglob("*.py")}
    graph = import_graph(sources)
    assert "whisper_tune.models.loading" in graph["whisper_tune.merge"]  # the graph sees real edges
    assert find_cycle(graph) is None


def test_a_cycle_through_a_function_level_import_is_found():
    sources = {
        "p.a": "from p.b import f\n",
        "p.b": "def f():\n    from p.a import g\n",
        "p.c": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from p.a import x\n",
    }
    assert find_cycle(import_graph(sources)) == ["p.a", "p.b", "p.a"]
    del sources["p.b"]
    assert find_cycle(import_graph(sources)) is None
