"""The test suite's own layout: only pytest imports a test module. Shared fixtures live in tests/plugins/ (conftest
registers each), shared helpers in plain modules beside the tests (fakes.py, sample_paper.py, synthetic_papers.py):
a test module imported by another would tie the two together and hand its fixtures on unseen."""
from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent


def imported_modules(source: str, package: str) -> list[tuple[int, str]]:
    """(line, dotted name) of every module ``source`` imports, relative imports resolved against ``package``; for
    ``from X import Y`` both X and X.Y (Y may be a module)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0]
                base = f"{parent}.{base}" if base else parent
            found += [(node.lineno, base)] + [(node.lineno, f"{base}.{a.name}") for a in node.names]
    return found


def is_test_module(name: str) -> bool:
    """Whether a dotted name is a test module of this suite (tests.test_*)."""
    parts = name.split(".")
    return len(parts) >= 2 and parts[0] == "tests" and parts[1].startswith("test_")


def test_no_module_imports_a_test_module():
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        package = ".".join(path.relative_to(TESTS.parent).parent.parts)
        offenders += [f"{path.relative_to(TESTS.parent)}:{line} imports {name}"
                      for line, name in imported_modules(path.read_text(encoding="utf-8"), package)
                      if is_test_module(name)]
    assert offenders == [], "move what they share into tests/plugins/ or a helper module:\n" + "\n".join(offenders)


def test_the_check_sees_every_form_of_import():
    source = "\n".join(["from tests.test_digest import make_paper", "import tests.test_daily",
                        "from tests import test_browser", "from .test_visitor import Listener",
                        "from tests.fakes import ScriptedBackend", "from tests.plugins.browser import open_tab"])
    flagged = [name for _, name in imported_modules(source, "tests") if is_test_module(name)]
    assert flagged == ["tests.test_digest", "tests.test_digest.make_paper", "tests.test_daily", "tests.test_browser",
                       "tests.test_visitor", "tests.test_visitor.Listener"]
