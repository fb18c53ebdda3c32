"""Generalisation: a real paper outside the corpus (arXiv 1111.2011v2, REVTeX) checked against its arXiv record, and
synthetic papers (made with PyMuPDF by tests/synthetic_papers.py) in layouts the corpus may lack (issue 3: the
thresholds are also checked on papers we do not have)."""
from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET

import pymupdf
import pytest

from chatpaper.paper import Paper
from chatpaper.pdf import extract_paper
from tests.synthetic_papers import BODY, CSS, LAYOUTS, Writer, front_matter, raster

_ATOM = {"a": "http://www.w3.org/2005/Atom"}


def _fold(text: str) -> str:
    """Lower case without accents or punctuation, for comparing with arXiv's ASCII record."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def _top(p: Paper) -> list[str]:
    return [s.heading for s in p.sections if s.level == 1]


# ---------------------------------------------------------------------------------------------------------------
# A real REVTeX paper


@pytest.fixture(scope="module")
def revtex(arxiv_fixtures, tmp_path_factory) -> tuple[Paper, ET.Element]:
    """1111.2011v2 extracted (crops included) and its arXiv record."""
    paper = extract_paper(arxiv_fixtures / "1111.2011v2.pdf", images_dir=tmp_path_factory.mktemp("revtex"))
    entry = ET.parse(arxiv_fixtures / "id_list=1111.2011v2.xml").getroot().find("a:entry", _ATOM)
    return paper, entry


def test_revtex_front_matter_matches_arxiv_record(revtex):
    p, entry = revtex
    assert _fold(p.title) == _fold(entry.findtext("a:title", namespaces=_ATOM))
    # The record spells the names in ASCII; the PDF prints "Teˇsanovi´c" with spacing accents that must compose.
    assert p.authors == ["James M. Murray", "Adrian Del Maestro", "Zlatko Tešanović"]
    assert [_fold(a) for a in p.authors] == [_fold(a.findtext("a:name", namespaces=_ATOM)) for a in entry.findall("a:author", _ATOM)]
    summary = _fold(entry.findtext("a:summary", namespaces=_ATOM))
    assert _fold(p.abstract)[:200] == summary[:200]
    # Each affiliation is its institution: the unit before it and the address after it are dropped (issue 12).
    assert p.affiliations == ["Johns Hopkins University", "University of Vermont"]
    assert p.first_author_affiliations == ["Johns Hopkins University"]  # Murray's mark 1


def test_revtex_structure(revtex):
    p, _ = revtex
    top = _top(p)
    assert [h.split(".")[0] for h in top[:5]] == ["I", "II", "III", "IV", "V"]
    assert top[0] == "I. INTRODUCTION" and top[4] == "V. DISCUSSION" and top[5:] == ["ACKNOWLEDGMENTS"]
    assert [(s.heading, s.level) for s in p.sections if s.level == 2] == [("A. Ordered Phase", 2), ("B. Disordered phase", 2)]
    assert [(f.label, f.page) for f in p.figures] == [("Figure 1", 3), ("Figure 2", 6), ("Figure 3", 7)]
    assert all(f.caption.startswith(f"FIG. {f.label[-1]}.") and f.image for f in p.figures)
    assert p.pages == 8 and not p.warnings


# ---------------------------------------------------------------------------------------------------------------
# Synthetic papers (tests/synthetic_papers.py)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """Build one synthetic paper (once per module) and extract it with figure crops."""
    root = tmp_path_factory.mktemp("synthetic")
    made: dict[str, Paper] = {}

    def get(name: str) -> Paper:
        if name not in made:
            pdf = root / f"{name}.pdf"
            LAYOUTS[name](pdf)
            made[name] = extract_paper(pdf, images_dir=root / name)
        return made[name]
    return get


def test_ieee_like(synthetic):
    p = synthetic("ieee")
    assert p.title == ("Streaming Estimators with Adaptive Budgets for Long Sequences of Noisy Measurements "
                       "in Distributed Sensor Networks")
    assert p.authors == ["Alice Smith", "Bob O’Neil", "Carla Díaz"]
    assert p.affiliations == ["University of Somewhere", "Example Labs"]  # institutions, addresses dropped
    assert p.first_author_affiliations == ["University of Somewhere"]
    assert p.abstract.startswith("We propose streaming estimators whose budget adapts")
    assert "Index Terms" not in p.abstract
    assert _top(p) == ["I. INTRODUCTION", "II. METHOD", "III. RESULTS", "IV. CONCLUSION", "REFERENCES"]
    assert [s.heading for s in p.sections if s.level == 2] == ["A. Setup"]
    assert [(f.label, f.caption[:7]) for f in p.figures] == [("Figure 1", "Fig. 1:"), ("Figure 2", "Fig. 2:")]
    assert all(f.image and f.bbox for f in p.figures)
    results = next(s for s in p.sections if s.heading == "III. RESULTS")
    assert "Method 3" not in results.text  # table cells stay out of the running text


def test_ieee_two_columns_read_in_order(synthetic):
    p = synthetic("ieee")
    intro = next(s for s in p.sections if s.heading == "I. INTRODUCTION").text
    assert intro.startswith("In this section We study the problem")
    assert "Fig. 1" not in intro and "Error of the estimator" not in intro


def test_acm_like(synthetic):
    p = synthetic("acm")
    assert p.title == "Learning Sparse Routing Policies for Mixture-of-Experts Language Models at Scale"
    assert p.authors == ["Wei Zhang", "Maria García", "Jörg Schmidt"]
    assert p.abstract.startswith("Mixture-of-experts models route each token")
    assert _top(p) == ["1 INTRODUCTION", "2 RELATED WORK", "3 METHOD", "4 CONCLUSION", "REFERENCES"]
    assert [s.heading for s in p.sections if s.level == 2] == ["3.1 Routing"]
    assert [f.label for f in p.figures] == ["Figure 3", "Figure 4"]
    assert p.figures[1].caption.startswith("FIGURE 4 Load per expert")


def test_springer_like(synthetic):
    p = synthetic("springer")
    assert p.title == "Graph Kernels for Molecules Revisited"
    assert p.authors == ["Jürgen Müller", "Zoë Brown"]
    assert p.abstract.startswith("Graph kernels compare molecules")
    assert _top(p) == ["1. Introduction", "2. Related Work", "3. Method", "Conclusion", "References", "A. Appendix"]
    assert [(f.label, f.page) for f in p.figures] == [("Figure 1", p.figures[0].page)]
    assert p.figures[0].caption.startswith("Figure 1: Kernel values")
    refs = next(s for s in p.sections if s.heading == "References")
    assert refs.text.startswith("1. Author") and "Graph kernels" not in refs.text


def test_neurips_like(synthetic):
    p = synthetic("neurips")
    assert p.title == "Sparse Attention Is Enough for Long-Context Retrieval"
    assert p.authors == ["Ana Lee", "Ben Kim", "Chen Wu"]
    assert p.abstract.startswith("Long documents strain attention. We study")
    assert _top(p) == ["1 Introduction", "2 Background", "3 Conclusion", "Acknowledgments", "References",
                       "A Additional results"]
    assert [s.heading for s in p.sections if s.level == 2] == ["2.1 Data"]
    assert len(p.figures) == 1 and p.figures[0].label == "Figure 1"
    x0, y0, x1, y1 = p.figures[0].bbox
    assert x0 < 125 and x1 > 490 and y1 - y0 > 120  # both panels, not just the one above the short caption
    assert "(a)" not in next(s for s in p.sections if s.heading == "2 Background").text
    assert not any("arXiv" in s.text or "Preprint" in s.text for s in p.sections)  # side stamp, venue note
    assert all(s.text.count("Long documents") == 0 for s in p.sections)


def test_elsevier_like(synthetic):
    p = synthetic("elsevier")
    assert p.title == "Robust Federated Learning under Heterogeneous Client Drift"
    assert p.authors == ["Li Wei", "Sofia Rossi", "Tom Baker", "Ana Silva", "Omar Haddad", "Yuki Tanaka", "Eva Novak",
                         "Raj Patel"]
    assert p.affiliations == ["National University of Singapore", "University of Milan", "University of Porto"]
    assert p.first_author_affiliations == ["National University of Singapore"]  # Li Wei's mark a
    assert p.abstract.startswith("Federated learning trains one model on many clients.")
    assert "Keywords" not in p.abstract
    assert _top(p) == ["1. INTRODUCTION", "2. PROBLEM SETUP", "3. RESULTS", "4. CONCLUSION", "REFERENCES"]
    assert [(f.label, f.page) for f in p.figures] == [("Figure 3", 2)]
    x0, _, x1, _ = p.figures[0].bbox
    assert x0 < 80 and x1 > 530  # across both columns
    setup = next(s for s in p.sections if s.heading == "2. PROBLEM SETUP").text
    assert "Method 2" not in setup and "TABLE I" not in setup


def test_plain_single_author(synthetic):
    p = synthetic("plain")
    assert p.title == "ON THE STABILITY OF DIFFUSION SAMPLERS"
    assert p.authors == ["Marie Lefèvre"]
    assert p.affiliations == p.first_author_affiliations == ["Université Paris-Saclay"]
    assert p.abstract.startswith("Diffusion samplers can diverge when the step size is large.")
    assert _top(p) == ["1 Introduction", "2 Analysis", "3 Conclusion", "References", "Appendix A: Proofs"]
    (fig,) = p.figures
    assert fig.label == "Figure 1" and fig.image
    x0, y0, x1, y1 = fig.bbox
    assert 140 <= x0 <= 152 and 460 <= x1 <= 472 and y1 - y0 >= 155  # the picture below its caption


def test_lncs_like(synthetic):
    p = synthetic("lncs")
    assert p.title == "Contrastive Pretraining for Tabular Data"
    assert p.authors == ["Peter Novák", "Ines Gonçalves", "Hans-Peter Weiß"]
    assert p.abstract.startswith("Tabular data resists the pretraining recipes of vision.")
    assert "Keywords" not in p.abstract and "tabular data ·" not in p.abstract
    assert _top(p) == ["1 Introduction", "2 A Very Long Section Heading That Has to Wrap Onto a Second Line Here",
                       "3 Conclusion", "References"]
    assert [s.heading for s in p.sections if s.level == 2] == ["1.1 Contributions"]
    intro = next(s for s in p.sections if s.heading == "1 Introduction").text
    assert "Datasets. We study" in intro and "Baselines." in intro
    (fig,) = p.figures
    assert fig.caption.endswith("while the classes stay apart from each other.")


@pytest.mark.parametrize("authors, want, head_style, caps, captions", [
    ("Alice Smith and Bob Jones", ["Alice Smith", "Bob Jones"], "", True, ("Figure 1 —", "Fig 2.")),
    ("Alice Smith; Bob Jones; Carl Zeiss", ["Alice Smith", "Bob Jones", "Carl Zeiss"], "font-weight:bold", False,
     ("Figure 1:", "Figure 2:")),
    ("ALICE SMITH, BOB JONES", ["ALICE SMITH", "BOB JONES"], "font-weight:bold", True, ("FIG. 1.", "FIG. 2.")),
    ("A. Smith, B.-J. Jones, C. de la Cruz", ["A. Smith", "B.-J. Jones", "C. de la Cruz"], "font-style:italic;font-size:11px",
     False, ("Figure 1.", "Figure 2.")),
])
def test_author_separators_heading_styles_caption_labels(tmp_path, authors, want, head_style, caps, captions):
    """Author lists joined by "and", ";" or commas; headings in plain capitals (same size and weight as the body),
    bold or italic; caption labels with a dash, without a dot, in capitals; panel labels under a figure."""
    doc = pymupdf.open()
    w = Writer(doc, 2)
    front_matter(w, ["A Study of Things"], authors, ["Department of Physics, Some University, Nowhere"])
    w.html("<p><b>Abstract</b></p>", space=2)
    w.para(1, "This is the abstract. ")
    names = ["Introduction", "Methods", "Conclusions and Future Work"]
    for i, h in enumerate(names):
        w.html(f"<p style='{head_style}'>{i + 1}. {h.upper() if caps else h}</p>", space=4)
        w.para(3)
        if i < 2:
            w.drawing(90)
        if i == 1:
            w.html("<p style='font-size:8px;text-align:center'>(a) Input &nbsp;&nbsp;&nbsp;&nbsp; (b) Output</p>", space=2)
        if i < 2:
            w.html(f"<p style='font-size:9px'>{captions[i]} The figure shows things.</p>")
    doc.save(tmp_path / "p.pdf")
    p = extract_paper(tmp_path / "p.pdf")
    assert p.authors == want
    assert p.abstract.startswith("This is the abstract. We study")
    assert _top(p) == [f"{i + 1}. {h.upper() if caps else h}" for i, h in enumerate(names)]
    assert [(f.label, f.caption.split(" The")[0]) for f in p.figures] == [("Figure 1", captions[0]), ("Figure 2", captions[1])]
    assert not any("(a) Input" in s.text for s in p.sections)


@pytest.mark.parametrize("name, note", [("segnext_segmentation", "36th Conference on Neural Information Processing"),
                                        ("safety_alignment_few_tokens_deep", "Preprint. Under review."),
                                        ("phrase_generation_vectors_acl2014", "Here we make the simplifying assumption")])
def test_footnotes_stay_out_of_section_text(corpus_dir, name, note):
    """A footnote or venue note at the foot of a column is not spliced into the sentence running past it."""
    p = extract_paper(corpus_dir / f"{name}.pdf")
    assert not any(note in s.text for s in p.sections)
    assert sum(len(s.text) for s in p.sections) > 20000  # the running text itself is all still there


def test_a_marked_footnote_in_the_type_of_a_small_abstract_stays_out_of_it(tmp_path):
    """An abstract set smaller than the body runs over the foot of page 1, where a footnote in the abstract's own
    type that opens with small marks ("1 *These authors contributed equally.") splits it mid-sentence (cl4d): the
    footnote is no abstract text, and the sentence runs on across the page."""
    sentences = ["We fit streams of noisy sensor data online.", "A schedule keeps the error low at a small cost.",
                 "The fit adapts when the sensors drift.", "Experiments on four streams show the gain."]
    note = "These authors contributed equally. Work done at Example Labs."
    doc = pymupdf.open()
    w = Writer(doc, 1)
    front_matter(w, ["Streaming Fits for Noisy Sensors"], "Ana Souza and Karl Berg", ["University of Oxford, UK"])
    w.html("<p style='font-size:10px'><b>Abstract</b></p>", space=2)
    k = 0
    while w.y < 640:
        w.html(f"<p style='font-size:9px'>{sentences[k % 4]} {sentences[(k + 1) % 4]}</p>", space=0)
        k += 1
    w.html("<p style='font-size:9px'>By learning a shared</p>", space=0)
    w.page.insert_htmlbox(pymupdf.Rect(w.left, 700, w.right, 760),
                          f"<p style='font-size:9px'><span style='font-size:6px'>1 *</span>{note}</p>",
                          css="body {font-family: serif;}", scale_low=1)
    w.new_page()
    w.html("<p style='font-size:9px'>embedding space of streams, the fit needs no labels.</p>")
    for n, heading in enumerate(["Introduction", "Method", "Experiments", "Conclusion"], 1):
        w.heading(f"{n} {heading}", size=12)
        w.para(8)  # the body, in 10-point type, is most of the paper
    doc.save(tmp_path / "p.pdf")
    p = extract_paper(tmp_path / "p.pdf")
    assert p.abstract.startswith(sentences[0])
    assert "By learning a shared embedding space of streams" in p.abstract and note not in p.abstract
    assert not any(note in s.text for s in p.sections)


def test_figures_side_by_side(tmp_path):
    """Two figures in a row (minipages): a photo and a shorter boxed diagram standing off its caption, captions on
    one baseline; each caption gets its own figure, and the diagram's labels stay out of the section text."""
    doc = pymupdf.open()
    w = Writer(doc, 1)
    front_matter(w, ["Side by Side Figures"], "Ana Souza and Karl Berg", ["University of Oxford, UK"])
    w.html("<p><b>Abstract</b></p>")
    w.para(1)
    w.heading("1 Introduction", size=12)
    w.para(2)
    top = w.y
    w.page.insert_image(pymupdf.Rect(70, top, 290, top + 120), stream=raster(110, 60))
    for k in range(3):
        r = pymupdf.Rect(330 + k * 70, top + 40, 390 + k * 70, top + 80)
        w.page.draw_rect(r, color=(0, 0, 0))
        w.page.insert_text((r.x0 + 5, r.y0 + 24), f"Stage {k}", fontsize=9)
    for x0, text in ((70, "Figure 1: A photo of the setup used in all experiments."),
                     (320, "Figure 2: The three stages of the pipeline.")):
        w.page.insert_htmlbox(pymupdf.Rect(x0, top + 126, x0 + 220, top + 170), f"<p style='font-size:9px'>{text}</p>",
                              css=CSS)
    w.y = top + 160
    w.para(3)
    doc.save(tmp_path / "p.pdf")
    p = extract_paper(tmp_path / "p.pdf", images_dir=tmp_path / "img")
    assert [(f.label, f.caption) for f in p.figures] == [
        ("Figure 1", "Figure 1: A photo of the setup used in all experiments."),
        ("Figure 2", "Figure 2: The three stages of the pipeline.")]
    (a0, a1, a2, a3), (b0, b1, b2, b3) = p.figures[0].bbox, p.figures[1].bbox
    assert a0 < 75 and a2 < 300 and a3 - a1 > 115
    assert b0 > 320 and b2 > 525 and b3 - b1 < 60
    assert not any("Stage" in s.text for s in p.sections)


def test_headings_closed_by_a_period_and_numbered_list_items(tmp_path):
    """Bold headings that end in a period ("2. Experimental Setup and Main Results.") are headings; numbered list
    items in body type ("1. We propose a new method.") are not; "Abstract" run in without a delimiter."""
    doc = pymupdf.open()
    w = Writer(doc, 2)
    front_matter(w, ["Periods After Headings"], "Ana Souza and Karl Berg", ["University of Oxford, UK"])
    w.html("<p><b>Abstract</b> We study periods. " + BODY + "</p>")
    heads = ["1. Introduction.", "2. Experimental Setup and Main Results.", "3. Conclusion."]
    for h in heads:
        w.html(f"<p style='font-weight:bold;font-size:11px'>{h}</p>", space=4)
        w.para(2)
        w.html("<p>1. We propose a new method.</p><p>2. We show that it works well in practice on data.</p>")
    doc.save(tmp_path / "p.pdf")
    p = extract_paper(tmp_path / "p.pdf")
    assert p.abstract.startswith("We study periods. We study the problem")
    assert [(s.heading, s.level) for s in p.sections] == [(h, 1) for h in heads]
    assert p.sections[0].text.endswith("1. We propose a new method. 2. We show that it works well in practice on data.")


def test_stacked_author_blocks_with_affiliations_in_the_same_type(tmp_path):
    """Name / affiliation / e-mail stacked per author in one type: the affiliation under a name is no name."""
    doc = pymupdf.open()
    w = Writer(doc, 1)
    w.html("<p style='text-align:center;font-size:18px'>Deep Nets for Everything</p>", space=10, wide=True)
    for name, aff, mail in (("Alice Smith", "University of Alberta", "alice@ualberta.ca"),
                            ("Bob Jones", "ETH Zurich", "bob@ethz.ch")):
        w.html(f"<p style='text-align:center;font-size:11px'>{name}<br><i>{aff}</i><br>{mail}</p>", space=6, wide=True)
    w.html("<p><b>Abstract</b></p>")
    w.para(1, "Things matter. ")
    doc.save(tmp_path / "p.pdf")
    p = extract_paper(tmp_path / "p.pdf")
    assert p.title == "Deep Nets for Everything"
    assert p.authors == ["Alice Smith", "Bob Jones"]


def test_title_with_subtitle_in_smaller_type_under_a_journal_line(tmp_path):
    """A journal line in small type above, and a subtitle set smaller than the title: both title lines count."""
    doc = pymupdf.open()
    w = Writer(doc, 1)
    w.html("<p style='font-size:8px;text-align:right'>Journal of Things 12 (2021) 1–20</p>", space=20, wide=True)
    w.html("<p style='text-align:center;font-size:20px;font-weight:bold'>GraphX:</p><p style='text-align:center;"
           "font-size:15px;font-weight:bold'>Scalable Graph Processing on Commodity Clusters</p>", space=10, wide=True)
    w.html("<p style='text-align:center;font-size:12px;font-weight:bold'>Alice Smith<sup>1</sup> and Bob Jones<sup>2</sup>"
           "</p>", space=10, wide=True)
    w.html("<p><b>Abstract</b></p>")
    w.para(1, "Things matter. ")
    doc.save(tmp_path / "p.pdf")
    p = extract_paper(tmp_path / "p.pdf")
    assert p.title == "GraphX: Scalable Graph Processing on Commodity Clusters"
    assert p.authors == ["Alice Smith", "Bob Jones"]


def test_appendix_table_of_contents_is_not_headings(tmp_path):
    """An appendix that opens with a table of contents (entries in heading type, page numbers set right, or dot
    leaders): the entries are not headings, the appendix headings after it are."""
    doc = pymupdf.open()
    w = Writer(doc, 1)
    front_matter(w, ["Appendices With Contents"], "Ana Souza and Karl Berg", ["University of Oxford, UK"])
    w.html("<p><b>Abstract</b></p>")
    w.para(1, "Contents matter. ")
    for h in ("1 Introduction", "2 Method", "3 Conclusion", "References"):
        w.heading(h, size=12)
        w.para(2)
    w.new_page()
    w.heading("Contents", size=12)
    for h, pg in (("A Proofs", 3), ("B Additional Experiments", 4)):
        r = w.html(f"<p style='font-weight:bold;font-size:12px'>{h}</p>", space=1)
        w.page.insert_text((540, r.y0 + 12), str(pg), fontsize=12, fontname="tibo")
        w.html(f"<p style='font-weight:bold;font-size:12px'>{h[0]}.1 Details {'. ' * 30} {pg}</p>", space=1)
    w.y += 16
    for h in ("A Proofs", "B Additional Experiments"):
        w.heading(h, size=12)
        w.para(2)
    doc.save(tmp_path / "p.pdf")
    p = extract_paper(tmp_path / "p.pdf")
    assert _top(p) == ["1 Introduction", "2 Method", "3 Conclusion", "References", "A Proofs", "B Additional Experiments"]
    assert [s.heading for s in p.sections if s.level > 1] == []


def test_numbered_rows_in_capitals_do_not_set_the_heading_style(tmp_path):
    """A record layout whose rows start with a number in capitals ("4 CARD32 N_ENTRIES"), more rows than the
    paper has sections: the section headings are still the ones whose numbers count up."""
    doc = pymupdf.open()
    w = Writer(doc, 1)
    front_matter(w, ["A Binary Cache Format"], "Ana Souza and Karl Berg", ["University of Oxford, UK"])
    w.html("<p><b>Abstract</b></p>")
    w.para(1, "Caches matter. ")
    for i, h in enumerate(("Introduction", "Layout", "Conclusion")):
        w.heading(f"{i + 1}. {h}", size=14)
        w.para(1)
        if i == 1:
            for size, field in (("2", "CARD16 MAJOR_VERSION"), ("4", "CARD32 N_ALIASES"), ("4", "CARD32 ALIAS_OFFSET"),
                                ("4", "CARD32 N_ENTRIES"), ("4", "CARD32 N_GLOBS"), ("2", "CARD16 MINOR_VERSION")):
                w.html(f"<p>{size} {field}</p>", space=4)
    doc.save(tmp_path / "p.pdf")
    p = extract_paper(tmp_path / "p.pdf")
    assert _top(p) == ["1. Introduction", "2. Layout", "3. Conclusion"]
