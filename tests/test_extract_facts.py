"""Facts v2 on generated papers (issue 12): the paper's own code link, affiliations from the title block and
first-page footnotes, the first author's affiliation, figure crops kept to their column, numbered tables as data.

Each rule reads wording, typography or position in general; these papers put the same facts in layouts and with
wording the corpus does not have, and put other people's repositories next to the paper's own.
"""
from __future__ import annotations

import pymupdf
import pytest

from chatpaper.pdf import extract_paper
from tests.synthetic_papers import BODY, Writer, front_matter


def _paper(tmp_path, build, columns: int = 1):
    doc = pymupdf.open()
    w = Writer(doc, columns)
    build(w)
    doc.save(tmp_path / "p.pdf")
    return extract_paper(tmp_path / "p.pdf")


def _start(w: Writer, abstract: str = "") -> None:
    front_matter(w, ["Streaming Fits for Noisy Sensors"], "Ana Souza<sup>1</sup> and Karl Berg<sup>2</sup>",
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
        front_matter(w, ["Streaming Fits for Noisy Sensors"], "Ana Souza and Karl Berg",
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


# ---------------------------------------------------------------------------------------------------------------
# Affiliations


def test_affiliations_in_a_first_page_footnote_by_mark(tmp_path):
    """ICML-style: marks after the names, the affiliations in a first-page footnote (several per line, split by
    their marks, a department before its university, addresses after), an equal-contribution note and a
    correspondence note beside them."""
    def build(w):
        front_matter(w, ["Pruning Channels by Their Fisher Information"],
                      "Mei Chen<sup>*1</sup>, Omar Said<sup>*2</sup> and Lena Vogt<sup>2,3</sup>", [])
        w.html("<p><b>Abstract</b></p>", space=2)
        w.para(2)
        w.heading("1 Introduction", size=12)
        w.para(3)
        _footnote(w, "*", "Equal contribution <sup>1</sup>Department of Automation, Zhejiang University, Hangzhou, "
                          "China <sup>2</sup>Acme Vision Research, Seattle, WA, USA <sup>3</sup>Max Planck Institute "
                          "for Informatics, Saarbrücken, Germany. Correspondence to: Mei Chen &lt;mei@zju.edu.cn&gt;.")
    p = _paper(tmp_path, build, columns=2)
    assert p.authors == ["Mei Chen", "Omar Said", "Lena Vogt"]
    assert p.affiliations == ["Zhejiang University", "Acme Vision Research", "Max Planck Institute for Informatics"]
    assert p.first_author_affiliations == ["Zhejiang University"]


def test_affiliations_in_an_is_with_footnote(tmp_path):
    """IEEE journal style: no affiliation under the names; "A and B are with ..." footnotes, e-mail notes inside;
    the first author is found by name, not by a shared surname."""
    def build(w):
        front_matter(w, ["Mapping Forests from Space"], "Kyle Gao, Linlin Xu and Yina Gao", [])
        w.html("<p><b><i>Abstract</i>—We map forests. " + BODY + "</b></p>")
        w.heading("I. Introduction", caps=True, centred=True)
        w.para(3)
        w.page.insert_htmlbox(pymupdf.Rect(w.left, 680, 300, 750),
                              "<p style='font-size:8px'>• Yina Gao is with the Faculty of Forestry, University of "
                              "Toronto (e-mail: yina@utoronto.ca).</p><p style='font-size:8px'>• Kyle Gao and Linlin "
                              "Xu are with the Department of Geography, University of Waterloo, Waterloo, ON N2L 3G1, "
                              "Canada (e-mail: kg@uwaterloo.ca).</p>", css="body {font-family: serif; font-size: 8px;}")
    p = _paper(tmp_path, build, columns=2)
    assert p.affiliations == ["University of Toronto", "University of Waterloo"]
    assert p.first_author_affiliations == ["University of Waterloo"]


def test_stacked_affiliation_blocks_under_each_name(tmp_path):
    """An author grid: under each name a lab over its university (one affiliation: the university), or an
    institute over a university (two institutions), then a street address and an e-mail (neither)."""
    def build(w):
        w.html("<p style='text-align:center;font-size:18px;font-weight:bold'>Seeing Through Fog</p>", space=10, wide=True)
        top = w.y
        for i, lines in enumerate((["Ana Souza", "Robot Vision Lab", "University of Leeds", "ana@leeds.ac.uk"],
                                   ["Karl Berg", "Howard Physics Institute", "Lund University",
                                    "12 Harbour Road, Lund, Sweden", "karl@lu.se"])):
            x0 = 90 + i * 230
            w.page.insert_htmlbox(pymupdf.Rect(x0, top, x0 + 200, top + 120),
                                  "".join(f"<p style='text-align:center;font-size:{12 if k == 0 else 10}px'>{t}</p>"
                                          for k, t in enumerate(lines)),
                                  css="body {font-family: serif;}")
        w.y = top + 125
        w.html("<p><b>Abstract</b></p>", space=2)
        w.para(2)
    p = _paper(tmp_path, build)
    assert p.authors == ["Ana Souza", "Karl Berg"]
    assert p.affiliations == ["University of Leeds", "Howard Physics Institute", "Lund University"]
    assert p.first_author_affiliations == ["University of Leeds"]


@pytest.mark.parametrize("printed, want", [
    ("Paul G. Allen School of Computer Science &amp; Engineering, University of Washington", ["University of Washington"]),
    ("Agency for Science, Technology and Research (A*STAR), Singapore", ["Agency for Science, Technology and Research (A*STAR)"]),
    ("Fitten Tech, Beijing, China", ["Fitten Tech"]),
    ("Google, Inc.", ["Google, Inc."]),
    ("University of Toronto, Vector Institute", ["University of Toronto", "Vector Institute"]),
])
def test_an_affiliation_reduces_to_its_institution(tmp_path, printed, want):
    """The top-level organisation as printed: the unit before it and the address after it dropped, a name that
    runs on past a comma kept whole, a legal suffix kept, a second organisation after the first kept."""
    def build(w):
        front_matter(w, ["Seeing Through Fog"], "Ana Souza and Karl Berg", [printed])
        w.html("<p><b>Abstract</b></p>", space=2)
        w.para(2)
    p = _paper(tmp_path, build)
    assert p.affiliations == want


# ---------------------------------------------------------------------------------------------------------------
# Figure crops


def _text_inside(pdf, page_no: int, bbox) -> list[str]:
    """Lines of text wholly inside a crop's box."""
    page = pymupdf.open(pdf)[page_no - 1]
    clip = pymupdf.Rect(bbox)
    return [" ".join(s["text"] for s in ln["spans"]).strip() for b in page.get_text("dict", clip=clip)["blocks"]
            for ln in b.get("lines", []) if pymupdf.Rect(ln["bbox"]) in clip + (-1, -1, 1, 1)]


def test_half_width_figure_keeps_to_its_column(tmp_path):
    """Two columns; a plot in the left column whose drawing carries a background box across the page (an included
    figure's frame) beside the right column's paragraphs: the crop is the left column's plot, without the other
    column's text, and the plot's tick labels in the margin stay in it."""
    doc = pymupdf.open()
    w = Writer(doc, 2)
    front_matter(w, ["Column Bound Figures"], "Ana Souza and Karl Berg", ["University of Oxford, UK"])
    w.html("<p><b>Abstract</b></p>")
    w.para(2)
    w.new_page()
    top = w.y
    w.page.draw_rect(pymupdf.Rect(40, top - 4, 560, top + 124), color=None, fill=(1, 1, 1))  # the frame of the import
    plot = w.drawing(110)
    for k in range(4):  # y-axis tick labels left of the axis, in the margin
        w.page.insert_text((plot.x0 - 12, plot.y1 - k * 30), f"{70 + 2 * k}", fontsize=5)
    w.html("<p style='font-size:9px'>Figure 2: Accuracy against latency for the pruned networks.</p>")
    w.para(4)
    w.col = 1
    w.y = top
    w.para(6)
    doc.save(tmp_path / "p.pdf")
    p = extract_paper(tmp_path / "p.pdf")
    (fig,) = p.figures
    x0, y0, x1, y1 = fig.bbox
    assert x1 < 315 and y1 - y0 >= 105  # the right column starts at x = 315
    inside = _text_inside(tmp_path / "p.pdf", fig.page, fig.bbox)
    assert not any("We study the problem" in t for t in inside), inside
    assert {"70", "76"} <= set(inside)  # the ticks are the figure's own labels


def test_running_head_inside_the_type_area_stays_out_of_a_crop(tmp_path):
    """LNCS sets the running head inside the type area, just above the text; a figure at the top of a page grows
    up to the line above it, but never into the running head (the same words at the same height on every page)."""
    doc = pymupdf.open()
    w = Writer(doc, 1)
    w.top = 110.0
    front_matter(w, ["Heads Inside the Frame"], "Ana Souza and Karl Berg", ["University of Oxford, UK"])
    w.html("<p><b>Abstract</b></p>")
    w.para(2)
    for n in range(3):
        w.new_page()
        w.y = w.top
        if n == 1:
            w.y = 100  # the figure starts right under the running head
            w.drawing(120)
            w.html("<p style='font-size:9px'>Figure 1: Recall of the retrieval stage over the rounds.</p>")
        w.para(8)
    for page in doc:
        if page.number:
            page.insert_text((220, 96), f"{page.number + 1}    A. Souza and K. Berg", fontsize=9, fontname="tiro")
    doc.save(tmp_path / "p.pdf")
    p = extract_paper(tmp_path / "p.pdf")
    (fig,) = p.figures
    assert fig.page == 3 and fig.bbox[1] >= 98
    assert not any("Souza" in t for t in _text_inside(tmp_path / "p.pdf", 3, fig.bbox))
    assert not any("Souza and K. Berg" in s.text for s in p.sections)


# ---------------------------------------------------------------------------------------------------------------
# Tables


def test_corpus_table_caption_page_crop_and_cells(corpus_dir, tmp_path):
    """A real numbered table (ICML 2021, booktabs rules only, in the left column of page 8): caption, page, PNG
    crop and cells, header row first."""
    p = extract_paper(corpus_dir / "group_fisher_pruning_icml2021.pdf", images_dir=tmp_path)
    table = next(t for t in p.tables if t.label == "Table 3")
    assert table.page == 8 and table.caption.startswith("Table 3: Prune RegNetX on ImageNet.")
    assert table.rows[0][:3] == ["model", "T1 (%)", "F (109)"]
    assert ["RegX-3.2G", "78.72", "3.176", "15.29", "11.36", "65.99"] in table.rows
    assert table.markdown.startswith("| model | T1 (%) |") and "| RegX-3.2G | 78.72 | 3.176 |" in table.markdown
    assert table.image and open(table.image, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert [t.label for t in p.tables] == [f"Table {n}" for n in range(1, 7)]
    assert not any("78.72" in s.text for s in p.sections)  # the cells stay out of the running text


ROWS = [["Kalman", "71.2", "60.5", "1.0 ms"], ["Particle", "74.8", "63.1", "9.5 ms"], ["Ours", "78.3", "66.0", "2.2 ms"]]


@pytest.mark.parametrize("caption_on_top", [True, False])
def test_generated_table_beside_its_caption(tmp_path, caption_on_top):
    """A booktabs table of numbers in a two-column paper, its caption on top (most styles) or under it (ACL),
    another ruled table below: the rows and columns come back as printed, from the table next to the caption,
    and the table's text is not in the sections."""
    caption = "<p style='font-size:9px'>Table 1: Accuracy and latency of the compared methods.</p>"

    def build(w):
        _start(w)
        w.heading("1 Results", size=12)
        w.para(1)
        w.keep(150)
        if caption_on_top:
            w.html(caption, space=3)
        x0, x1 = w._col_x()
        top = w.y
        w.page.draw_line((x0, top), (x1, top), width=0.8)  # booktabs: horizontal rules only
        for r, row in enumerate([["Method", "Acc.", "F1", "Latency"]] + ROWS):
            y = top + 12 + r * 12
            for c, cell in enumerate(row):
                w.page.insert_text((x0 + 4 + c * 58, y), cell, fontsize=8, fontname="tiro")
            if r == 0:
                w.page.draw_line((x0, y + 3), (x1, y + 3), width=0.4)
        w.y = top + 12 * (len(ROWS) + 1) + 6
        w.page.draw_line((x0, w.y), (x1, w.y), width=0.8)
        w.y += 8
        if not caption_on_top:
            w.html(caption, space=14)
            w.table(3)  # the next table's rules, farther from this caption
        w.para(2)
    p = _paper(tmp_path, build, columns=2)
    (table,) = p.tables
    assert table.label == "Table 1" and table.page == 1 and table.caption.startswith("Table 1: Accuracy and latency")
    assert table.rows == [["Method", "Acc.", "F1", "Latency"]] + ROWS
    assert "| Kalman | 71.2 | 60.5 | 1.0 ms |" in table.markdown
    assert "Kalman" not in " ".join(s.text for s in p.sections)
