"""The pipeline: source -> record and PDF -> extraction -> digests -> Markdown, for the app, the CLI and the daily job.

``digest_events`` is the one generator the app consumes (see "Pipeline events" in the contracts); the CLI's
``digest_to_markdown`` and ``load_record`` are thin wrappers over the same stages.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from chatpaper.digest import Digest
from chatpaper.paper import Paper, Record
from chatpaper.settings import Settings

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass
class DigestResult:
    """Everything one digest run produced."""

    record: Record  #: the paper's facts (arXiv metadata, or the PDF's own for an upload)
    paper: Paper  #: what the extractor read from the PDF
    digests: dict[str, Digest]  #: by language, only those that succeeded
    markdown: dict[str, str]  #: "en", "zh", "bilingual" (relative image links)
    markdown_path: Path  #: bilingual .md written in out_dir, figures in out_dir/<images>/
    zip_path: Path  #: the .md and its figures
    warnings: list[str] = field(default_factory=list)  #: non-fatal problems, for the user


@dataclass
class PipelineEvent:
    """One progress step of ``digest_events``."""

    stage: str  #: "fetching" | "extracting" | "summarising" | "translating" | "rendering" | "done"
    message: str  #: one human-readable progress line
    fraction: float  #: 0..1 overall
    language: str | None = None  #: language being written, while summarising or translating
    text: str | None = None  #: the digest text so far for ``language`` (full, not a delta) while streaming
    warning: str | None = None  #: a non-fatal problem (e.g. Chinese failed, English kept)
    result: DigestResult | None = None  #: only on the final "done" event


def load_record(source: str, settings: Settings, progress: Progress | None = None) -> Record:
    """The record of a paper: arXiv metadata (PDF downloaded into the cache), or a local PDF's own facts."""
    raise NotImplementedError


def prepare(source: str | None, pdf_path: str | None, settings: Settings, progress: Progress | None = None,
            images_dir: Path | None = None) -> tuple[Record, Paper]:
    """Fetch (arXiv) or accept (upload) a paper and extract it: the record and the paper, ready to digest."""
    raise NotImplementedError


def digest_events(source: str | None, pdf_path: str | None, settings: Settings, *,
                  cancel: threading.Event | None = None, out_dir: Path | None = None) -> Iterator[PipelineEvent]:
    """Digest one paper, yielding progress (with the streamed text) and finally a "done" event with the result."""
    raise NotImplementedError


def digest_to_markdown(source: str, settings: Settings, out: str | None = None, embed_images: bool = False,
                       progress: Progress | None = None) -> str:
    """Digest one paper and return its bilingual Markdown (written to ``out`` with its figures when given)."""
    raise NotImplementedError
