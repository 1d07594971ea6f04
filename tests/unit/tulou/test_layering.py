"""The module graph has no import cycle and production code never imports the tests.

import-linter (``lint-imports``, pyproject.toml) checks which component may import which; this
checks what it cannot: that no set of modules imports itself round (imports under
``TYPE_CHECKING`` are not imports at run time and do not count), found with grimp, the graph
library import-linter is built on.
"""

from __future__ import annotations

import grimp

ROOTS = ("tulou", "crypto", "gateway", "detect", "soc", "backup", "compliance", "lab")


def _cycles(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root) & modules)))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    imported = graph.find_modules_directly_imported_by(child) & modules
                    work.append((child, iter(sorted(imported))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
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


def test_no_import_cycles_and_no_tests_in_production() -> None:
    graph = grimp.build_graph(*ROOTS, exclude_type_checking_imports=True)
    modules = {m for m in graph.modules if m.split(".")[0] in ROOTS}
    assert _cycles(graph, modules) == []
    into_tests = sorted(
        m for m in modules for imported in graph.find_modules_directly_imported_by(m)
        if imported == "tests" or imported.startswith("tests.")
    )  # fmt: skip
    assert into_tests == []


def test_the_cycle_finder_finds_cycles() -> None:
    """The finder itself, on a graph with a known cycle (a -> b -> c -> a) and a tail."""
    graph = grimp.ImportGraph()
    for module in ("p", "p.a", "p.b", "p.c", "p.d"):
        graph.add_module(module)
    for importer, imported in (("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.d", "p.a")):
        graph.add_import(importer=importer, imported=imported)
    assert _cycles(graph, {"p.a", "p.b", "p.c", "p.d"}) == [["p.a", "p.b", "p.c"]]
