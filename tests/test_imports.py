"""The package's imports, read with ``ast``: one way (no cycle among chatpaper modules) and at the top of modules.

A function-level import of a chatpaper module hides a dependency (and usually a cycle it works around); only the CLI
entry points may import lazily, so that ``--help`` starts fast. SDKs (openai, llama_cpp, transformers...) stay
lazy everywhere: they are not chatpaper modules, and their import errors become install hints.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "chatpaper"
LAZY_ALLOWED = {"chatpaper.cli", "chatpaper.__main__"}  #: the CLI entry points


def _name(path: Path) -> str:
    """The dotted module name of a file of the package (a package's __init__ is the package)."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _targets(node: ast.Import | ast.ImportFrom) -> list[str]:
    """The chatpaper modules an import statement loads (``from chatpaper import plan`` loads chatpaper.plan)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    elif node.level == 0 and node.module:
        names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    else:
        raise AssertionError(f"relative import at line {node.lineno}: write the absolute chatpaper name")
    found = [n for n in names if n in MODULES and n != "chatpaper"]
    return found or ([node.module] if isinstance(node, ast.ImportFrom) and node.module in MODULES else [])


def _imports(path: Path) -> tuple[set[str], list[str]]:
    """(chatpaper modules imported at module level, "line: module" of those imported inside a function)."""
    top: set[str] = set()
    inner: list[str] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for target in _targets(child):
                    (inner.append(f"{child.lineno}: {target}") if in_function else top.add(target))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    top.discard("chatpaper")
    return top, inner


GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def _cycle_from(start: str) -> list[str] | None:
    """One import cycle through ``start`` (as a path of module names), or None."""
    stack, seen = [(start, [start])], set()
    while stack:
        name, path = stack.pop()
        for nxt in sorted(GRAPH.get(name, (set(), []))[0]):
            if nxt == start:
                return path + [start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, path + [nxt]))
    return None


def test_the_walk_sees_the_package():
    assert {"chatpaper.pipeline", "chatpaper.backends", "chatpaper.backends.local", "chatpaper.pdf.layout"} <= set(MODULES)
    top, _ = GRAPH["chatpaper.pipeline"]
    assert "chatpaper.writer" in top and "chatpaper.settings" in top


def test_no_import_cycle_among_chatpaper_modules():
    cycles = {" -> ".join(c) for c in map(_cycle_from, MODULES) if c}
    assert cycles == set()


def test_chatpaper_modules_are_imported_at_the_top_outside_the_cli():
    lazy = {name: inner for name, (_, inner) in GRAPH.items() if inner and name not in LAZY_ALLOWED}
    assert lazy == {}


def test_the_check_catches_a_cycle_and_a_lazy_import(tmp_path):
    """The walk itself, on a made-up module: a function-level import is reported with its line."""
    source = tmp_path / "m.py"
    source.write_text("import os\nfrom chatpaper import plan\n\ndef f():\n    from chatpaper.render import escape\n",
                      encoding="utf-8")
    top, inner = _imports(source)
    assert top == {"chatpaper.plan"} and inner == ["5: chatpaper.render"]
    GRAPH["fake.a"], GRAPH["fake.b"] = ({"fake.b"}, []), ({"fake.a"}, [])
    try:
        assert _cycle_from("fake.a") == ["fake.a", "fake.b", "fake.a"]
    finally:
        del GRAPH["fake.a"], GRAPH["fake.b"]
