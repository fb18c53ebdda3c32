"""Benchmarks of chatpaper: ``python -m benchmarks NAME [options]``; ``python -m benchmarks --help`` lists them.

Each benchmark is a module here with a ``main(argv) -> int``; they use chatpaper's public API only. Shared data
(``../shared``: the corpus, the fixtures) is found from the repository root, or from ``CHATPAPER_SHARED``.
"""
from __future__ import annotations

import os
from pathlib import Path

#: The repository root (the folder holding ``benchmarks/`` and ``chatpaper/``).
REPO = Path(__file__).resolve().parent.parent
#: The benchmark names, in the order ``--help`` lists them; each is a module ``benchmarks.NAME``.
NAMES = ("extract", "memory", "backend", "units", "digest", "latex", "ask")


def shared_dir() -> Path:
    """The team's shared folder: ``$CHATPAPER_SHARED``, else ``../shared`` beside the repository root."""
    return Path(os.environ.get("CHATPAPER_SHARED") or REPO.parent / "shared")


def corpus_dir() -> Path:
    """The shared corpus of papers the extraction benchmarks read."""
    return shared_dir() / "corpus"
