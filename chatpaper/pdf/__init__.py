"""PDF extraction (issue 3): read any paper PDF into a typed ``Paper`` with plain PyMuPDF, fast.

Stages, one module each: ``document`` (open and validate), ``layout`` (text lines and blocks, page furniture),
``columns`` (reading order), ``figures`` (captions, regions, crops), ``tables`` (cells), ``headings`` (sections), ``front`` (title,
authors, abstract), ``links`` and ``release`` (the paper's own code or project page).
"""
from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import pymupdf

from chatpaper.paper import Paper
from chatpaper.pdf.columns import reading_order
from chatpaper.pdf.document import check_images, check_page, open_pdf
from chatpaper.pdf.figures import extract_figures, render_crop
from chatpaper.errors import CorruptPdf, PdfError
from chatpaper.pdf.front import FrontMatter, read_abstract, read_header
from chatpaper.pdf.headings import build_sections, extend_multiline, find_headings
from chatpaper.pdf.layout import PageText, body_size, mark_footnotes, mark_furniture, read_page
from chatpaper.pdf.links import find_links
from chatpaper.pdf.release import find_mentions, own_code
from chatpaper.settings import Settings

__all__ = ["extract_paper"]

log = logging.getLogger(__name__)

SCANNED_WARNING = "no text layer: scanned PDF"
_PAGE_DPI = 100  # the first-page screenshot: readable, small and quick to encode
_MIN_CHARS_PER_PAGE = 20


def extract_paper(path: str | Path, images_dir: str | Path | None = None, settings: Settings | None = None) -> Paper:
    """Read a paper PDF into a ``Paper``; figure crops and the first page go to ``images_dir`` as PNG.

    Raises:
        PdfError (a subclass naming the problem) when the file is empty, not a PDF, damaged, encrypted, over the
        page or size limits, or has absurd page or image sizes.
    """
    start = time.perf_counter()
    settings = settings or Settings.from_env()
    doc = open_pdf(path, settings)
    images = Path(images_dir) if images_dir else None
    if images is not None:
        images.mkdir(parents=True, exist_ok=True)
    paper = Paper(pages=doc.page_count, path=str(path), **own_identifiers(doc))
    try:
        pages = _read_pages(doc, paper.warnings)
        _check_not_truncated(doc, pages, path)
        if sum(len(ln.text) for p in pages for ln in p.lines) < _MIN_CHARS_PER_PAGE * len(pages):
            _check_not_blank(doc, path)
            paper.warnings.append(SCANNED_WARNING)
            if images is not None:
                paper.first_page_image = _page_images(doc, images, paper.warnings)
            paper.seconds = round(time.perf_counter() - start, 4)
            return paper
        _read_structure(doc, pages, images, paper)
        if images is not None:
            check_images(doc[0])
            paper.first_page_image = render_crop(doc[0], tuple(doc[0].rect), images / "page-001.png", _PAGE_DPI)
    finally:
        doc.close()
    paper.seconds = round(time.perf_counter() - start, 4)
    log.debug("extracted %s: %d pages in %.3f s", path, paper.pages, paper.seconds)
    return paper


_STAMP = re.compile(r"arXiv:\s?(?:\d{4}\.\d{4,5}|[a-z-]+(?:\.[A-Z]{2})?/\d{7})v\d+\s+\[[\w.-]+\]\s+\d{1,2}\s\w{3}\s\d{4}")
_DOI = re.compile(r"\b10\.\d{4,9}/[^\s<>\"{}]+")


def own_identifiers(doc: pymupdf.Document) -> dict[str, str]:
    """What a PDF says about its own identity: creation date and DOI from its metadata, and the stamp arXiv
    prints in the left margin of page 1 of every PDF it serves (id, version, primary class, date)."""
    meta = doc.metadata or {}
    try:
        xmp = doc.get_xml_metadata() or ""
    except Exception:  # a malformed XMP stream: the rest of the PDF is still readable
        xmp = ""
    doi = re.search(r"<prism:doi>\s*(10\.[^<\s]+)|doi:\s*(10\.\S+)", xmp + " " + (meta.get("subject") or ""), re.I)
    stamp = ""
    if doc.page_count:
        found = _STAMP.search(re.sub(r"\s+", " ", doc[0].get_text("text", clip=_left_margin(doc[0]))))
        stamp = found.group(0) if found else ""
    return {"created": meta.get("creationDate") or "", "doi": next((g for g in doi.groups() if g), "") if doi else "",
            "arxiv_stamp": stamp}


def _left_margin(page: pymupdf.Page) -> pymupdf.Rect:
    r = page.rect
    return pymupdf.Rect(r.x0, r.y0, r.x0 + r.width * 0.12, r.y1)


def _check_not_truncated(doc: pymupdf.Document, pages: list[PageText], path: str | Path) -> None:
    """A cut-off download opens (MuPDF repairs it) as pages with nothing on them: refuse it rather than digest a page."""
    if not doc.is_repaired:
        return
    blank = sum(1 for p in pages if not p.lines and not _shows_something(doc[p.number]))
    if blank * 2 > len(pages):
        raise CorruptPdf(f"{Path(path).name} is truncated or damaged: {blank} of its {len(pages)} pages are blank; "
                         "download it again")


def _shows_something(page: pymupdf.Page) -> bool:
    return bool(page.get_images(full=False) or page.get_drawings())


def _check_not_blank(doc: pymupdf.Document, path: str | Path) -> None:
    """Without text, a page must show something (a scan, a drawing); a truncated file opens as blank pages."""
    if any(_shows_something(doc[pno]) for pno in range(doc.page_count)):
        return
    why = "it is truncated or damaged" if doc.is_repaired else "it is blank"
    raise CorruptPdf(f"{Path(path).name} has {doc.page_count} pages but nothing on them: {why}; download it again")


def _read_pages(doc: pymupdf.Document, warnings: list[str]) -> list[PageText]:
    pages = []
    for pno in range(doc.page_count):
        check_page(doc, pno)
        page = doc[pno]
        try:
            pages.append(read_page(page, pno))
        except Exception as exc:  # one damaged page should not cost the whole paper
            log.warning("page %d: text not readable: %s", pno + 1, exc)
            warnings.append(f"page {pno + 1}: text could not be read ({exc})")
            pages.append(PageText(number=pno, width=page.rect.width, height=page.rect.height))
    return pages


def _read_structure(doc: pymupdf.Document, pages: list[PageText], images: Path | None, paper: Paper) -> None:
    """Fill the paper's fields from the parsed pages (order matters: figures mark lines before text is read).

    Each stage is guarded: a layout no rule foresaw costs that stage's fields (and adds a warning), not the paper.
    """
    warn = paper.warnings
    body = body_size(pages)
    mark_furniture(pages, body)
    # The front page: page 1, unless it is (nearly) blank, a cover sheet without a text layer.
    first = next((p for p in pages[:3] if sum(len(ln.text) for ln in p.lines) >= 200), pages[0])
    front = _stage("front matter", lambda: read_header(first, body), FrontMatter(), warn)
    paper.figures = _stage("figures", lambda: extract_figures(doc, pages, body, images, paper.tables), [], warn)
    _stage("footnotes", lambda: mark_footnotes(pages, body), None, warn)
    ordered = [ln for p in pages for b in reading_order(p) for ln in b.lines]
    headings = _stage("headings", lambda: extend_multiline(find_headings(ordered, body), ordered), [], warn)
    _stage("abstract", lambda: read_abstract(front, first, ordered), None, warn)
    # Nothing before the abstract (title, author lines) is a section heading, nor is a repeat of the title.
    abstract_at = next((i for i, ln in enumerate(ordered) if ln.role == "abstract"), -1)
    if abstract_at >= 0:
        keep = {id(ln) for ln in ordered[abstract_at:]}
        headings = [h for h in headings if id(h.line) in keep]
    headings = [h for h in headings if _squash(h.text) != _squash(front.title)]
    paper.title, paper.authors, paper.abstract = front.title, front.authors, front.abstract
    paper.affiliations, paper.first_author_affiliations = front.affiliations, front.first_author_affiliations
    paper.sections = _stage("sections", lambda: build_sections(headings, ordered), [], warn)
    paper.links = _stage("links", lambda: find_links(doc, pages), [], warn)
    tops = [(h.line, h.text) for h in headings if h.level == 1]
    paper.code = _stage("code link", lambda: own_code(find_mentions(doc, pages, ordered, tops, body), paper.title), None, warn)
    if not paper.title:
        warn.append("no title found on page 1")


def _stage(name: str, run, default, warnings: list[str]):
    """Run one extraction stage; an unexpected failure becomes a warning and the stage's empty result."""
    try:
        return run()
    except PdfError:
        raise
    except Exception as exc:  # noqa: BLE001 - one stage must not cost the whole paper
        log.exception("extraction stage %s failed", name)
        warnings.append(f"{name} could not be read ({type(exc).__name__}: {exc})")
        return default


def _squash(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalnum())


def _page_images(doc: pymupdf.Document, images: Path, warnings: list[str]) -> str | None:
    """A scanned PDF: write every page as PNG (what can be shown without OCR); returns page 1's path."""
    first = None
    for pno in range(doc.page_count):
        check_images(doc[pno])
        written = render_crop(doc[pno], tuple(doc[pno].rect), images / f"page-{pno + 1:03d}.png", _PAGE_DPI)
        first = first or written
    warnings.append(f"wrote {doc.page_count} page images to {images}")
    return first
