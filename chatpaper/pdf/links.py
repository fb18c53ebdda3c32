"""Links: URLs the paper links or prints (code repositories, project pages), in order of appearance."""
from __future__ import annotations

import re

import pymupdf

from chatpaper.pdf.layout import PageText

_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"'{}|\\^`\[\]]+|\b(?:github\.com|gitlab\.com|huggingface\.co|bitbucket\.org)/[^\s<>\"'{}|\\^`\[\]]+", re.I)
_SKIP = re.compile(r"^(mailto:|file:|#)|doi\.org/|arxiv\.org/abs/\d{4}\.\d+v?\d*$", re.I)


def _clean(url: str) -> str:
    url = url.rstrip(".,;:)]}>'\"")
    if not re.match(r"^[a-z]+://", url, re.I):
        url = "https://" + url
    return url


def find_links(doc: pymupdf.Document, pages: list[PageText]) -> list[str]:
    """Unique http(s) URLs: link annotations first seen per page, plus URLs printed in the text."""
    out: list[str] = []
    seen: set[str] = set()

    def add(url: str) -> None:
        url = _clean(url)
        key = url.lower().rstrip("/")
        if key not in seen and not _SKIP.search(url) and "." in url.split("://", 1)[-1]:
            seen.add(key)
            out.append(url)

    for p in pages:
        # Walking the link chain is several times cheaper than Page.get_links(), which builds a dict per link.
        page = doc[p.number]  # held: links refer back to their page weakly
        link = page.first_link
        while link:
            uri = link.uri if link.is_external else ""
            if uri and uri.lower().startswith(("http://", "https://")):
                add(uri)
            link = link.next
        text = " ".join(ln.text for ln in p.lines)
        for m in _URL.finditer(text):
            add(m.group(0))
    # A printed URL broken over two lines is read as its first half; the linked full URL makes it redundant.
    return [u for u in out if not any(v != u and v.startswith(u) for v in out)]
