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


#: Import edges allowed to close a cycle, each with its reason. Both sides import inside functions.
ALLOWED_CYCLE_EDGES: dict[tuple[str, str], str] = {
    ("whisper_tune.cloud.submit", "whisper_tune.cloud.modal_app"):
        "Modal needs the app's entry points at module level in modal_app, and they call submit; submit "
        "runs that app. modal is an optional extra, so submit imports modal_app only when it runs a job.",
}


def import_graph(sources: dict[str, str]) -> dict[str, set[str]]:
    """Module -> the project modules it imports, from module name -> source text."""
    modules = set(sources)
    graph = {name: (_imports(ast.parse(text), modules) & modules) - {name} for name, text in sources.items()}
    for source, target in ALLOWED_CYCLE_EDGES:
        graph.get(source, set()).discard(target)
    return graph


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


# --- imports at the top, unless they keep heavy libraries out of a module ---------------------

#: Libraries that take seconds to import (torch, and what imports it) or that are optional extras
#: (modal, huggingface_hub: the ``cloud`` extra): only these may be imported inside functions, so
#: that commands that do not need them (export, inspect, check, manifest) never load them.
HEAVY = frozenset({"torch", "transformers", "peft", "accelerate", "datasets", "matplotlib", "modal", "huggingface_hub"})
#: The CLI imports library modules inside its handlers so that ``whisper-tune --help`` loads
#: none of them; ``whisper_tune.demo`` is imported at start-up for the stage list --help shows.
LAZY_BY_DESIGN = ("whisper_tune.cli", "whisper_tune.demo")


def _top_level(tree: ast.Module) -> set[str]:
    """Modules a module imports when it is imported (not in functions, not for type checking)."""
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if _is_type_checking(node) or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            for child in ("body", "orelse", "finalbody"):
                visit(getattr(node, child, []))
            for handler in getattr(node, "handlers", []):
                visit(handler.body)

    visit(tree.body)
    return found


def lazy_imports_without_reason(sources: dict[str, str]) -> list[str]:
    """Function-level imports of project modules that bring no heavy library the importing
    module does not already load: each should be at the top of its module."""
    trees = {name: ast.parse(text) for name, text in sources.items()}
    tops = {name: _top_level(tree) for name, tree in trees.items()}
    memo: dict[str, frozenset[str]] = {}

    def heavy(module: str, seen: frozenset[str] = frozenset()) -> frozenset[str]:
        if module in memo:
            return memo[module]
        libraries: set[str] = set()
        for target in tops.get(module, ()):
            if target.split(".")[0] in HEAVY:
                libraries.add(target.split(".")[0])
            elif target in trees and target not in seen:
                libraries |= heavy(target, seen | {module})
        memo[module] = frozenset(libraries)
        return memo[module]

    problems = []
    for name, tree in sorted(trees.items()):
        if name.startswith(LAZY_BY_DESIGN):
            continue
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if not isinstance(node, ast.ImportFrom) or not node.module or node.module not in trees:
                    continue
                targets = {node.module} | {f"{node.module}.{a.name}" for a in node.names} & set(trees)
                if not set().union(*(heavy(t) for t in targets)) - heavy(name):
                    problems.append(f"{name}:{node.lineno} imports {node.module} inside {function.name}()")
    return problems


def test_project_imports_sit_at_the_top_unless_they_keep_torch_out():
    sources = {_module_name(p): p.read_text(encoding="utf-8") for p in (SRC / "whisper_tune").rglob("*.py")}
    assert lazy_imports_without_reason(sources) == []


def test_a_needless_lazy_import_is_found():
    sources = {
        "p.a": "def f():\n    from p.light import x\n\ndef g():\n    from p.heavy import y\n",
        "p.light": "import numpy\n",
        "p.heavy": "import torch\n",
        "p.b": "import torch\n\ndef f():\n    from p.heavy import y\n",
    }
    assert lazy_imports_without_reason(sources) == [
        "p.a:2 imports p.light inside f()", "p.b:4 imports p.heavy inside f()"]
