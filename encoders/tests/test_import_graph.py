"""The trainer's import graph: no cycles, and only the CLI parses arguments.

Built with ``ast`` from the sources (every import statement, including those inside functions
and under ``TYPE_CHECKING``), so a lazy import that closes a cycle is caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1]
PACKAGE = PACKAGE_DIR.name  # "encoders"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py")) if "tests" not in p.relative_to(PACKAGE_DIR).parts}


def _resolve_relative(current: str, is_package: bool, level: int, module: str | None) -> str:
    base = current.split(".")
    base = base if is_package else base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Modules of the package that ``name`` imports (``from a import b`` counts a.b when it is a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_relative(name, path.name == "__init__.py", node.level, node.module) if node.level else (node.module or "")
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            # `import encoders.a.b` imports encoders.a.b; keep the deepest known module
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = package_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path [a, b, ..., a], or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for root in sorted(graph):
        if state.get(root):
            continue
        path: list[str] = [root]
        stack = [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def test_the_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    # a module as the checker must read it: imports inside functions, under TYPE_CHECKING,
    # relative and `from package import module` all count, or it proves nothing
    source = tmp_path / "probe.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "import numpy\n"
        "from encoders import fewshot\n"
        "from .pairs import crop\n"
        "if TYPE_CHECKING:\n"
        "    from encoders.splits import UtdSplit\n"
        "def run():\n"
        "    from encoders.cli.models import cmd_train\n"
        "    import encoders.data.windows\n",
        encoding="utf-8",
    )
    found = imports_of("encoders.probe", source, package_modules())
    assert found == {"encoders.fewshot", "encoders.pairs", "encoders.splits", "encoders.cli.models", "encoders.data.windows"}


def test_the_trainer_has_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_a_cycle_is_found_when_one_exists() -> None:
    graph = import_graph()
    graph["encoders.experiments"] = graph["encoders.experiments"] | {"encoders.cli.models"}
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1] and "encoders.cli.models" in cycle and "encoders.experiments" in cycle


#: the entry points: the CLI, and stand-alone developer scripts run with ``python3 -m``
ENTRY_POINTS = (f"{PACKAGE}.cli", f"{PACKAGE}.tools", f"{PACKAGE}.__main__")


def is_entry_point(name: str) -> bool:
    return any(name == e or name.startswith(e + ".") for e in ENTRY_POINTS)


@pytest.mark.parametrize("name", sorted(package_modules()))
def test_only_the_entry_points_parse_arguments(name: str) -> None:
    path = package_modules()[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    uses_argparse = any(
        (isinstance(n, ast.Import) and any(a.name == "argparse" for a in n.names)) or (isinstance(n, ast.ImportFrom) and n.module == "argparse") for n in ast.walk(tree)
    )
    assert not uses_argparse or is_entry_point(name), f"{path}: library code must take typed configs, not parse arguments"


def test_library_code_never_imports_an_entry_point() -> None:
    graph = import_graph()
    upward = sorted(f"{name} -> {target}" for name, targets in graph.items() if not is_entry_point(name) for target in targets if is_entry_point(target))
    assert upward == []
