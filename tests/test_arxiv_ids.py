"""parse_arxiv_id: every form users paste, and the forms it must refuse."""
from __future__ import annotations

import pytest

from chatpaper.arxiv_source import parse_arxiv_id
from chatpaper.errors import InvalidSource


@pytest.mark.parametrize("text, expected", [
    ("2401.16144", ("2401.16144", None)),
    ("2401.16144v2", ("2401.16144", 2)),
    ("arXiv:2401.16144", ("2401.16144", None)),
    ("arxiv: 2401.16144v3", ("2401.16144", 3)),
    ("ARXIV:2401.16144V2", ("2401.16144", 2)),
    ("https://arxiv.org/abs/2401.16144", ("2401.16144", None)),
    ("https://arxiv.org/abs/2401.16144v2", ("2401.16144", 2)),
    ("http://arxiv.org/abs/2401.16144v2", ("2401.16144", 2)),
    ("https://arxiv.org/pdf/2401.16144", ("2401.16144", None)),
    ("https://arxiv.org/pdf/2401.16144v1", ("2401.16144", 1)),
    ("https://arxiv.org/pdf/2401.16144v1.pdf", ("2401.16144", 1)),
    ("https://arxiv.org/html/2401.16144v1", ("2401.16144", 1)),
    ("https://arxiv.org/html/2401.16144v1/", ("2401.16144", 1)),
    ("https://arxiv.org/abs/2401.16144v2?context=cs.CV#S3", ("2401.16144", 2)),
    ("https://export.arxiv.org/abs/2401.16144", ("2401.16144", None)),
    ("https://www.arxiv.org/pdf/2401.16144v4.pdf", ("2401.16144", 4)),
    ("arxiv.org/abs/2401.16144", ("2401.16144", None)),
    ("www.arxiv.org/abs/2401.16144v1", ("2401.16144", 1)),
    ("0704.0001", ("0704.0001", None)),  # first new-style id: four digits after the dot
    ("1111.2011v2", ("1111.2011", 2)),
    ("hep-th/9901001", ("hep-th/9901001", None)),
    ("hep-th/9901001v1", ("hep-th/9901001", 1)),
    ("math.GT/0309136v2", ("math/0309136", 2)),  # the subject class is not part of the canonical id
    ("https://arxiv.org/abs/math.GT/0309136", ("math/0309136", None)),
    ("https://arxiv.org/pdf/hep-th/9901001v1.pdf", ("hep-th/9901001", 1)),
    ("arXiv:cond-mat/0101001", ("cond-mat/0101001", None)),
    ("  2401.16144  ", ("2401.16144", None)),
    ("\t2401.16144v2\n", ("2401.16144", 2)),
    ("<https://arxiv.org/abs/2401.16144>", ("2401.16144", None)),
    ("(arXiv:2401.16144v2).", ("2401.16144", 2)),
    ('"2401.16144",', ("2401.16144", None)),
    ("[hep-th/9901001];", ("hep-th/9901001", None)),
    ("\u201chttps://arxiv.org/abs/2401.16144\u201d", ("2401.16144", None)),
])
def test_every_id_form(text, expected):
    assert parse_arxiv_id(text) == expected


@pytest.mark.parametrize("text", [
    "", "   ", "abc", "2401", "2401.161", "2401.161445", "2413.16144", "2400.16144", "2401.16144v0",
    "hep-th/99010", "arXiv:", "the paper 2401.16144", "https://arxiv.org/list/cs.CV/recent",
    "https://arxiv.org/", "ftp://arxiv.org/abs/2401.16144", "file:///tmp/paper.pdf", "/tmp/paper.pdf",
])
def test_bad_forms_say_what_is_expected(text):
    with pytest.raises(InvalidSource, match="2401.16144") as info:
        parse_arxiv_id(text)
    assert "arXiv id or link" in str(info.value)


@pytest.mark.parametrize("text, host", [
    ("https://example.com/abs/2401.16144", "example.com"),
    ("http://127.0.0.1:8000/pdf/2401.16144", "127.0.0.1"),
    ("https://arxiv.org.evil.example/abs/2401.16144", "arxiv.org.evil.example"),
    ("https://arxiv.org@evil.example/abs/2401.16144", "evil.example"),
    ("https://www.semanticscholar.org/arxiv/2401.16144", "www.semanticscholar.org"),
    ("alphaxiv.org/abs/2401.16144", "alphaxiv.org"),
])
def test_links_to_other_hosts_are_refused(text, host):
    with pytest.raises(InvalidSource, match="only arXiv links are fetched") as info:
        parse_arxiv_id(text)
    assert host in str(info.value)
