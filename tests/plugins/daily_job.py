"""The daily job on recorded arXiv answers: the loopback arXiv serving a fixed search result whose PDFs are real
corpus papers, and the scripted backend handed out wherever the job asks for one.

Fixtures: ``arxiv`` (the loopback arXiv answering any search with ``FEED``) and ``backend`` (a ScriptedBackend
answering with ``scripted_reply``, put in place of ``get_backend``). ``run(out, ...)`` runs the job as the CLI does.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from chatpaper import daily
from chatpaper.settings import Settings
from tests.conftest import CORPUS
from tests.fakes import ScriptedBackend, scripted_reply

QUERY = 'ti:NeRF OR abs:"neural radiance field"'
# Real recorded arXiv entries (the 'testing' search pages), in relevance order as arXiv gave them. With --date
# 2025-01-31 --days 21 the window is 2025-01-11..2025-01-31: three of them are inside it.
FEED = ["2502.07719v2",  # 2025-02-11: after --date
        "2501.09657v1",  # 2025-01-16: On the Energy Consumption of Test Generation
        "2501.17461v1",  # 2025-01-29: AugmenTest
        "2412.18843v1",  # 2024-12-25: before the window
        "2501.11550v1",  # 2025-01-20: Practical Pipeline-Aware Regression Test Optimization
        "2501.05022v4"]  # 2025-01-09: before the window
IN_WINDOW = ["2501.17461v1", "2501.11550v1", "2501.09657v1"]  # newest first
PDFS = {"2501.17461v1": "mapreduce_osdi2004.pdf", "2501.11550v1": "phrase_generation_vectors_acl2014.pdf",
        "2501.09657v1": "max_margin_multi_instance_learning_2011.pdf"}


@pytest.fixture
def backend(monkeypatch) -> ScriptedBackend:
    """The scripted backend, handed out by get_backend wherever the pipeline and the daily job ask for one."""
    fake = ScriptedBackend(scripted_reply)
    monkeypatch.setattr("chatpaper.backends.get_backend", lambda settings: fake)
    return fake


@pytest.fixture
def arxiv(arxiv_server):
    """The loopback arXiv answering any search with FEED, each paper's PDF a real corpus paper."""
    arxiv_server.add_feed("*", FEED)
    for vid, name in PDFS.items():
        arxiv_server.pdfs[vid] = CORPUS / name
    return arxiv_server


def settings(**changes) -> Settings:
    return Settings.from_env().replace(**{"languages": "en,zh", **changes})


def run(out: Path, date: str = "2025-01-31", days: int = 21, max_results: int = 30, messages=None, **changes) -> Path:
    """The daily job as the CLI calls it, its progress lines collected."""
    return daily.run_daily(QUERY, None, date, days, max_results, out, "NeRF", settings(**changes),
                           (messages if messages is not None else []).append)


