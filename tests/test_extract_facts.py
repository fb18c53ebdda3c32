"""Facts v2 on generated papers (issue 12): the paper's own code link, affiliations from the title block and
first-page footnotes, the first author's affiliation, figure crops kept to their column, numbered tables as data.

Each rule reads wording, typography or position in general; these papers put the same facts in layouts and with
wording the corpus does not have, and put other people's repositories next to the paper's own.
"""
from __future__ import annotations

import pymupdf
import pytest

from chatpaper.pdf import extract_paper
from tests.test_extract_holdout import _BODY, Writer, _front


def _paper(tmp_path, build, columns: int = 1):
    doc = pymupdf.open()
    w = Writer(doc, columns)
    build(w)
    doc.save(tmp_path / "p.pdf")
    return extract_paper(tmp_path / "p.pdf")


def _start(w: Writer, abstract: str = "") -> None:
    _front(w, ["Streaming Fits for Noisy Sensors"], "Ana Souza<sup>1</sup> and Karl Berg<sup>2</sup>",
           ["<sup>1</sup>University of Oxford, UK", "<sup>2</sup>ETH Zurich, Switzerland"])
    w.html("<p><b>Abstract</b></p>", space=2)
    w.para(1, abstract)


def _footnote(w: Writer, mark: str, text: str) -> None:
    """A footnote at the foot of the current page, in small type under a short rule."""
    w.page.draw_line((w.left, 700), (w.left + 120, 700), width=0.5)
    w.page.insert_htmlbox(pymupdf.Rect(w.left, 704, w.right, 740),
                          f"<p style='font-size:8px'><sup>{mark}</sup>{text}</p>",
                          css="body {font-family: serif; font-size: 8px;}")


def _references(w: Writer, *entries: str) -> None:
    w.heading("References", size=12)
    for n, e in enumerate(entries, 1):
        w.html(f"<p style='font-size:8px'>[{n}] {e}</p>", space=2)


def test_code_sentence_in_the_abstract_wins_over_cited_repositories(tmp_path):
    """"Code is available at" in the abstract names the release; a codebase the method builds on (introduction),
    a baseline's code and a library in the references never do."""
    def build(w):
        _start(w, "We fit streams. Code is available at https://github.com/asouza/streamfit. ")
        w.heading("1 Introduction", size=12)
        w.para(1, "Our implementation is based on the codebase of Lee et al. at https://github.com/lee/basefit. ")
        w.para(1, "For the baseline we use the authors' code from https://github.com/other/kalman. ")
        _references(w, "J. Doe. FitLib. https://github.com/doe/fitlib, 2020.")
    p = _paper(tmp_path, build)
    assert p.code == "https://github.com/asouza/streamfit"
    assert "https://github.com/lee/basefit" in p.links  # still a link of the paper, just not its code


def test_release_in_a_footnote_is_read_with_the_sentence_that_carries_its_mark(tmp_path):
    """"We release our code.¹" in the introduction, the URL alone in footnote 1; a second footnote gives a tool
    the authors used."""
    def build(w):
        _start(w)
        w.heading("1 Introduction", size=12)
        w.para(1, "We release our code and trained models<sup>1</sup> to ease follow-up work. ")
        w.para(1, "Plots are drawn with a plotting tool<sup>2</sup>. ")
        w.page.draw_line((w.left, 690), (w.left + 120, 690), width=0.5)
        w.page.insert_htmlbox(pymupdf.Rect(w.left, 694, w.right, 740),
                              "<p style='font-size:8px'><sup>1</sup>https://gitlab.com/streams/fit-release</p>"
                              "<p style='font-size:8px'><sup>2</sup>https://github.com/plots/plotkit</p>",
                              css="body {font-family: serif; font-size: 8px;}")
    p = _paper(tmp_path, build)
    assert p.code == "https://gitlab.com/streams/fit-release"


def test_project_page_in_the_title_block(tmp_path):
    """A project site printed under the authors is the paper's release even with no "code" word."""
    def build(w):
        _front(w, ["Streaming Fits for Noisy Sensors"], "Ana Souza and Karl Berg",
               ["University of Oxford, UK", "https://streamfits.github.io"])
        w.html("<p><b>Abstract</b></p>", space=2)
        w.para(1)
        w.heading("1 Introduction", size=12)
        w.para(1, "We compare with the code of Kim et al. (https://github.com/kim/sensors). ")
    p = _paper(tmp_path, build)
    assert p.code == "https://streamfits.github.io"


@pytest.mark.parametrize("sentence", [
    "Models are downloaded from https://huggingface.co/ for all runs. ",
    "We use the official implementation of the baseline at https://github.com/base/line. ",
    "The supplementary material is available at https://streamfits.github.io/supp.pdf. ",
])
def test_no_release_means_none(tmp_path, sentence):
    """Only others' code, a bare host or a document link: the paper releases nothing, and says so by None."""
    def build(w):
        _start(w)
        w.heading("1 Introduction", size=12)
        w.para(1, sentence)
        _references(w, "A. Author. Tool. https://github.com/a/tool, 2021.")
    assert _paper(tmp_path, build).code is None
