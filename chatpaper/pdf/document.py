"""Open and validate a PDF: every way a file can be unreadable becomes a specific ``PdfError`` with a way out."""
from __future__ import annotations

import logging
from pathlib import Path

import pymupdf

from chatpaper.errors import (CorruptPdf, EmptyPdf, EncryptedPdf, NotAPdf, OversizedPdf, PdfError, TooManyPages)
from chatpaper.settings import Settings

log = logging.getLogger(__name__)

# ISO 32000 caps a page at 14,400 units (200 inches); anything larger is a broken or hostile file.
MAX_PAGE_POINTS = 14400
# An image whose declared size is beyond this many pixels would take gigabytes to decode (an "image bomb").
MAX_IMAGE_PIXELS = 400_000_000


def open_pdf(path: str | Path, settings: Settings) -> pymupdf.Document:
    """Open a PDF after checking it is one, is readable and is within the limits; raise a PdfError otherwise."""
    path = Path(path)
    if not path.is_file():
        raise PdfError(f"{path}: no such file; check the path")
    size = path.stat().st_size
    if size == 0:
        raise EmptyPdf(f"{path.name} is empty (0 bytes); the download or upload did not complete, try again")
    if size > settings.max_pdf_bytes:
        raise OversizedPdf(f"{path.name} is {size / 2**20:.1f} MB, over the {settings.max_pdf_mb:g} MB limit "
                           "(CHATPAPER_MAX_PDF_MB)")
    with path.open("rb") as fh:
        head = fh.read(1024)
    if b"%PDF-" not in head:
        kind = "an HTML page" if b"<html" in head.lower() or b"<!doctype" in head.lower() else "not a PDF"
        raise NotAPdf(f"{path.name} is {kind} (no %PDF header); give the PDF file itself, e.g. the arXiv /pdf/ link")
    try:
        doc = pymupdf.open(path, filetype="pdf")
    except Exception as exc:  # MuPDF raises plain RuntimeError/FileDataError for every kind of damage
        raise CorruptPdf(f"{path.name} is damaged and cannot be opened ({exc}); download it again") from None
    if doc.needs_pass or doc.is_encrypted:
        doc.close()
        raise EncryptedPdf(f"{path.name} is password-protected; save an unencrypted copy and try again")
    try:
        count = doc.page_count
    except Exception:
        count = 0
    if count == 0:
        doc.close()
        raise CorruptPdf(f"{path.name} has no readable pages (truncated or corrupt); download it again")
    if count > settings.max_pages:
        doc.close()
        raise TooManyPages(f"{path.name} has {count} pages, over the limit of {settings.max_pages} "
                           "(CHATPAPER_MAX_PAGES); split the file or raise the limit")
    return doc


def check_page(doc: pymupdf.Document, pno: int) -> None:
    """Refuse a page whose size is absurd; PyMuPDF would happily try to render it."""
    rect = doc[pno].rect
    if rect.width > MAX_PAGE_POINTS or rect.height > MAX_PAGE_POINTS or rect.width < 1 or rect.height < 1:
        raise OversizedPdf(f"page {pno + 1} measures {rect.width:.0f} x {rect.height:.0f} pt, outside what PDF allows "
                           f"(at most {MAX_PAGE_POINTS} pt a side); the file is broken or hostile")


def check_images(page: pymupdf.Page) -> None:
    """Refuse to render a page holding an image bomb (an image declared absurdly large)."""
    # get_images reads the image dictionaries only (no content stream run, no decoding): cheap on every page.
    for item in page.get_images(full=False):
        w, h = item[2], item[3]
        if w * h > MAX_IMAGE_PIXELS:
            raise OversizedPdf(f"page {page.number + 1} holds a {w} x {h} pixel image, beyond the "
                               f"{MAX_IMAGE_PIXELS // 1_000_000} megapixel limit; the file is broken or hostile")
