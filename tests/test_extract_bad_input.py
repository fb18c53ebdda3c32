"""Bad input: every unreadable file gets its own PdfError subclass and a message saying what to do.

The files are generated here with PyMuPDF (encrypted, image-only, huge pages) or by hand (bytes).
"""
from __future__ import annotations

import os
import zlib

import pymupdf
import pytest

from chatpaper import cli
from chatpaper.errors import CorruptPdf, EmptyPdf, EncryptedPdf, NotAPdf, OversizedPdf, PdfError, TooManyPages
from chatpaper.pdf import SCANNED_WARNING, extract_paper
from chatpaper.settings import Settings
from tests.conftest import CORPUS


def _text_pdf(path, pages: int = 1, **save) -> str:
    doc = pymupdf.open()
    for n in range(pages):
        doc.new_page().insert_text((72, 72), f"A page of text number {n + 1}, long enough to count as a text layer.")
    doc.save(path, **save)
    return str(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.pdf"
    path.write_bytes(b"")
    with pytest.raises(EmptyPdf, match="empty"):
        extract_paper(path)


def test_html_page_saved_as_pdf(tmp_path):
    path = tmp_path / "page.pdf"
    path.write_bytes(b"<!DOCTYPE html><html><body>Rate limit exceeded</body></html>")
    with pytest.raises(NotAPdf, match="HTML"):
        extract_paper(path)


def test_other_bytes(tmp_path):
    path = tmp_path / "image.pdf"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(2000))
    with pytest.raises(NotAPdf, match="not a PDF"):
        extract_paper(path)


def test_truncated_download(tmp_path):
    path = tmp_path / "truncated.pdf"
    path.write_bytes((CORPUS / "specter_acl2020.pdf").read_bytes()[:3000])
    with pytest.raises(CorruptPdf, match="download it again"):
        extract_paper(path)


@pytest.mark.parametrize("keep", [4000, 20000, 60000, 200000])
def test_download_cut_off_midway_is_not_read_as_blank_pages(tmp_path, keep):
    path = tmp_path / "cut.pdf"
    path.write_bytes((CORPUS / "specter_acl2020.pdf").read_bytes()[:keep])
    with pytest.raises(CorruptPdf, match="download it again"):
        extract_paper(path)


def test_blank_pdf_is_refused(tmp_path):
    path = tmp_path / "blank.pdf"
    doc = pymupdf.open()
    for _ in range(3):
        doc.new_page()
    doc.save(path)
    with pytest.raises(CorruptPdf, match="nothing on them"):
        extract_paper(path)


def test_pdf_with_zero_pages(tmp_path):
    path = tmp_path / "zero.pdf"
    path.write_bytes(b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
                     b"trailer<</Root 1 0 R>>\n%%EOF\n")
    with pytest.raises(CorruptPdf, match="no readable pages"):
        extract_paper(path)


def test_random_bytes_behind_pdf_header(tmp_path):
    path = tmp_path / "random.pdf"
    path.write_bytes(b"%PDF-1.7\n" + os.urandom(20000))
    with pytest.raises(CorruptPdf):
        extract_paper(path)


def test_encrypted(tmp_path):
    path = _text_pdf(tmp_path / "locked.pdf", encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="secret", owner_pw="owner")
    with pytest.raises(EncryptedPdf, match="password"):
        extract_paper(path)


def test_too_many_pages_names_the_limit(tmp_path):
    path = _text_pdf(tmp_path / "long.pdf", pages=5)
    with pytest.raises(TooManyPages, match=r"5 pages, over the limit of 3"):
        extract_paper(path, settings=Settings(max_pages=3))
    assert extract_paper(path, settings=Settings(max_pages=5)).pages == 5


def test_file_over_size_limit(tmp_path):
    path = _text_pdf(tmp_path / "big.pdf")
    with pytest.raises(OversizedPdf, match="MB limit"):
        extract_paper(path, settings=Settings(max_pdf_mb=0.0001))


def test_absurd_page_size(tmp_path):
    doc = pymupdf.open()
    doc.new_page(width=50000, height=50000).insert_text((72, 72), "tiny text on a giant page")
    path = tmp_path / "huge.pdf"
    doc.save(path)
    with pytest.raises(OversizedPdf, match="50000 x 50000 pt"):
        extract_paper(path)


def test_image_bomb_is_refused_before_rendering(tmp_path):
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 72), "A paper whose first page holds an image declared 60000 x 60000 pixels. " * 3)
    pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 8, 8), False)
    page.insert_image(pymupdf.Rect(72, 100, 500, 500), pixmap=pix)
    xref = page.get_images()[0][0]
    # A tiny compressed stream that claims to be 3.6 gigapixels: decoding it would take ~10 GB.
    doc.update_stream(xref, zlib.compress(b"\0" * 1000), new=False, compress=False)
    for key, value in (("Width", "60000"), ("Height", "60000"), ("Filter", "/FlateDecode"), ("SMask", "null")):
        doc.xref_set_key(xref, key, value)
    path = tmp_path / "bomb.pdf"
    doc.save(path)
    with pytest.raises(OversizedPdf, match="60000 x 60000 pixel image"):
        extract_paper(path, images_dir=tmp_path / "img")


def test_scanned_pdf_returns_page_images_with_warning(tmp_path):
    src = pymupdf.open(CORPUS / "max_margin_multi_instance_learning_2011.pdf")
    doc = pymupdf.open()
    for pno in range(2):
        pix = src[pno].get_pixmap(dpi=60)
        doc.new_page(width=src[pno].rect.width, height=src[pno].rect.height).insert_image(src[pno].rect, pixmap=pix)
    path = tmp_path / "scan.pdf"
    doc.save(path)
    paper = extract_paper(path, images_dir=tmp_path / "img")
    assert SCANNED_WARNING in paper.warnings
    assert paper.pages == 2 and paper.title == "" and paper.sections == []
    assert paper.first_page_image and os.path.getsize(paper.first_page_image) > 1024
    assert sorted(os.listdir(tmp_path / "img")) == ["page-001.png", "page-002.png"]


def test_missing_file(tmp_path):
    with pytest.raises(PdfError, match="no such file"):
        extract_paper(tmp_path / "nope.pdf")


def test_cli_prints_one_line_and_exits_1(tmp_path, capsys):
    path = tmp_path / "empty.pdf"
    path.write_bytes(b"")
    assert cli.main(["extract", str(path), "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: empty.pdf is empty") and captured.err.count("\n") == 1
