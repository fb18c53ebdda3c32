"""Corpus papers extracted for tests that read a real paper's sections (the writer's budget, section roles).

Fixtures (module-scoped: extracted once per test module that asks):
- ``pynerf``: ``pynerf_neurips2023.pdf`` (NeurIPS, numbered headings and subsections) as a ``Paper``.
"""
from __future__ import annotations

import pytest

from chatpaper.pdf import extract_paper


@pytest.fixture(scope="module")
def pynerf(corpus_dir):
    """PyNeRF (NeurIPS 2023) extracted without figure crops."""
    return extract_paper(corpus_dir / "pynerf_neurips2023.pdf")
