"""Shared test fixtures. Servers, the launched app, the browser and other shared fixtures live in tests/plugins/, one
module per component; shared helpers that are not fixtures in tests/fakes.py, tests/sample_paper.py and
tests/synthetic_papers.py. No test module imports another (tests/test_tests_layout.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus"
ARXIV_FIXTURES = SHARED / "fixtures" / "arxiv-api"

# One plugin may import another (app_server uses llm_server's free_port): mark them all for assertion rewriting
# before the first is imported, not one by one as each is registered.
pytest.register_assert_rewrite("tests.plugins")
pytest_plugins = sorted(f"tests.plugins.{p.stem}" for p in (Path(__file__).parent / "plugins").glob("[a-z]*.py"))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own cache folder, so no test sees another's cached records or digests."""
    monkeypatch.setenv("CHATPAPER_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The 16 real papers with ground truth (../shared/corpus)."""
    if not CORPUS.is_dir():
        pytest.fail(f"{CORPUS} is missing: the tests read ../shared beside the checkout")
    return CORPUS


@pytest.fixture(scope="session")
def arxiv_fixtures() -> Path:
    """Recorded arXiv API answers and the real PDF of 1111.2011v2 (../shared/fixtures/arxiv-api)."""
    return ARXIV_FIXTURES
