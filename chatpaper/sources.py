"""What to digest, named once at the edge: an arXiv reference (``ArxivRef``) or a PDF on this machine (``LocalPdf``).

The app turns a visitor's text into an ``ArxivRef`` only (a visitor must never make the server read one of its
files) and an upload into a ``LocalPdf``; the CLI reads either from one argument with ``parse_source``. The
pipeline's stages take the typed value and never parse a string again.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from chatpaper.arxiv_source import ArxivRef
from chatpaper.errors import InvalidSource


@dataclass(frozen=True)
class LocalPdf:
    """A PDF file on this machine: an upload, or a path given to the CLI. Its facts come from the PDF itself."""

    path: Path  #: the file (a string is taken as a path)

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    def __str__(self) -> str:
        return self.path.name


#: A paper to digest: an arXiv reference or a local PDF.
Source = Union[ArxivRef, LocalPdf]


def parse_source(text: str) -> Source:
    """The CLI's paper argument: an existing file (or a path ending in .pdf) is a local PDF, anything else an arXiv
    id or link.

    Raises:
        InvalidSource: nothing given, no such file, or neither a file nor an arXiv id or link.
    """
    text = (text or "").strip()
    if not text:
        raise InvalidSource("Nothing to digest: give an arXiv id or link, or a PDF.")
    path = Path(text).expanduser()
    if path.is_file():
        return LocalPdf(path)
    if text.lower().endswith(".pdf") and not re.match(r"https?://", text, re.I):
        raise InvalidSource(f"No such file: {text}. Give an existing PDF path, or an arXiv id or link.")
    return ArxivRef.parse(text)


__all__ = ["ArxivRef", "LocalPdf", "Source", "parse_source"]
