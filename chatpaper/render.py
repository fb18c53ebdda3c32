"""Markdown for a digest: per language or bilingual, figures linked relatively (for a zip) or embedded.

Everything that comes from a paper or a model is escaped, so HTML or Markdown inside a paper renders as text.
"""
from __future__ import annotations

from chatpaper.digest import Digest
from chatpaper.paper import Paper, Record


def render_paper_block(record: Record, paper: Paper, digest: Digest, images_rel_dir: str | None = None, *,
                       embed_images: bool = False) -> str:
    """One paper's block in one language: heading, Summary, Key Takeaways and the numbered list 1-8 (and figures
    linked under ``images_rel_dir`` when given). The daily post reuses it per paper."""
    raise NotImplementedError


def render_markdown(record: Record, paper: Paper, digests: dict[str, Digest], *, language: str = "bilingual",
                    images_rel_dir: str | None = None, embed_images: bool = False, meta: dict | None = None) -> str:
    """A whole digest document: metadata header, the block per language ("en", "zh" or "bilingual"), figures."""
    raise NotImplementedError
