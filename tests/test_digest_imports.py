"""The digest modules import one way (writer -> answer -> digest, no cycle) and only at module level."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "chatpaper"
DIGEST_MODULES = ("digest", "writer", "answer", "checks", "sections", "prompts")


def _imports(path: Path) -> tuple[set[str], list[str]]:
    """(chatpaper modules imported at module level, chatpaper imports inside functions) of one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top, inner = set(), []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("chatpaper"):
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("chatpaper")]
        if not names:
            continue
        if node in tree.body:
            top.update(n for n in names if (PACKAGE.parent / (n.replace(".", "/") + ".py")).is_file()
                       or (PACKAGE.parent / n.replace(".", "/") / "__init__.py").is_file())
        else:
            inner.append(f"{path.name}:{node.lineno} {names[0]}")
    return top, inner


def test_digest_modules_import_only_at_module_level():
    inner = [line for m in DIGEST_MODULES for line in _imports(PACKAGE / f"{m}.py")[1]]
    assert inner == []


def test_no_import_cycle_among_the_digest_modules():
    graph = {m: {n.split(".")[1] for n in _imports(PACKAGE / f"{m}.py")[0] if n.count(".") >= 1}
             & set(DIGEST_MODULES) for m in DIGEST_MODULES}

    def reaches(start: str, target: str, seen: set) -> bool:
        return any(n == target or (n not in seen and reaches(n, target, seen | {n})) for n in graph[start])

    assert [m for m in DIGEST_MODULES if reaches(m, m, {m})] == []
    assert "writer" not in graph["answer"] | graph["digest"] and "answer" in graph["writer"]
