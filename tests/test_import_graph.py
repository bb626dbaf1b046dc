"""No import circle in sgplan/ (issue 14 "Done when"): the module graph, counting every import a
module makes anywhere in its code (function-level imports too, so a lazy import cannot hide a
circle), has no strongly connected component of more than one module."""

from __future__ import annotations

import ast
from pathlib import Path

import sgplan

ROOT = Path(sgplan.__file__).parent


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1]) + (f".{base}" if base else "")
                for alias in node.names:
                    candidate = f"{base}.{alias.name}"
                    if candidate in modules:
                        deps.add(candidate)
                    elif base in modules:
                        deps.add(base)
            elif isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names if alias.name in modules)
        deps.discard(name)
        graph[name] = deps
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_circle_finder_finds_a_circle() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_in_sgplan() -> None:
    graph = import_graph()
    assert "sgplan.config.template_blocks" in graph["sgplan.config.instance"]  # the graph sees imports
    assert circles(graph) == []


def _package(name: str) -> str:
    return ".".join(name.split(".")[:2])


def test_no_import_circle_between_packages() -> None:
    # DESIGN §7's data flow: e.g. the fake is built on the cloud protocol, never the reverse.
    packages: dict[str, set[str]] = {}
    for name, deps in import_graph().items():
        packages.setdefault(_package(name), set()).update(_package(d) for d in deps if _package(d) != _package(name))
    assert circles(packages) == []
    assert "sgplan.cloud" in packages["sgplan.fakecloud"]


# What the HCL syntax layer may use besides itself: the shared values and the filesystem guard.
HCL_MAY_IMPORT = {"sgplan", "sgplan.cachestore", "sgplan.collector", "sgplan.diagnostics", "sgplan.model", "sgplan.safefs"}


def test_the_syntax_layer_knows_nothing_of_meaning() -> None:
    graph = import_graph()
    outside = {(name, dep) for name, deps in graph.items() if _package(name) == "sgplan.hcl"
               for dep in deps if _package(dep) != "sgplan.hcl" and dep not in HCL_MAY_IMPORT}
    assert outside == set()
    assert any(_package(d) == "sgplan.hcl" for d in graph["sgplan.config.evaluate"])  # meaning builds on syntax
