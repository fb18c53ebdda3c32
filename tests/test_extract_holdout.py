"""Generalisation: a real paper outside the corpus (arXiv 1111.2011v2, REVTeX) checked against its arXiv record, and
synthetic papers, generated here with PyMuPDF, in layouts the corpus may lack (issue 3: the thresholds are also
checked on papers we do not have)."""
from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path

import pymupdf
import pytest

from chatpaper.paper import Paper
from chatpaper.pdf import extract_paper

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
# Synthetic papers: a small layout writer that flows HTML blocks down one or two columns of US-letter pages


_BODY = ("We study the problem in a setting where the data arrive in order and the model must answer at once. "
         "Earlier work assumed a fixed budget; we relax this and show that a simple schedule keeps the error low "
         "while the cost grows only slowly with the length of the stream. ")
_CSS = "body {font-family: serif; font-size: 10px; line-height: 1.25;} p {text-align: justify; margin: 0;}"


class Writer:
    """Places HTML blocks and drawings in reading order, column by column, page by page."""

    def __init__(self, doc: pymupdf.Document, columns: int):
        self.doc, self.columns = doc, columns
        self.left, self.right, self.top, self.bottom, self.gutter = 54.0, 558.0, 60.0, 740.0, 18.0
        self.page: pymupdf.Page | None = None
        self.new_page()

    def new_page(self) -> None:
        self.page = self.doc.new_page(width=612, height=792)
        self.col, self.y, self.col_top = 0, self.top, self.top

    def _col_x(self) -> tuple[float, float]:
        w = (self.right - self.left - self.gutter * (self.columns - 1)) / self.columns
        x0 = self.left + self.col * (w + self.gutter)
        return x0, x0 + w

    def _next_column(self) -> None:
        self.col += 1
        self.y = self.col_top  # below the front matter on page 1
        if self.col >= self.columns:
            self.new_page()

    def html(self, html: str, space: float = 6, wide: bool = False) -> pymupdf.Rect:
        """One block of HTML at the current position (the next column when it does not fit); returns its box."""
        for _ in range(3):
            x0, x1 = (self.left, self.right) if wide else self._col_x()
            rect = pymupdf.Rect(x0, self.y, x1, self.bottom)
            spare, _ = self.page.insert_htmlbox(rect, html, css=_CSS, scale_low=1)
            if spare >= 0:
                used = pymupdf.Rect(x0, self.y, x1, self.bottom - spare)
                self.y = used.y1 + space
                return used
            self._next_column()
        raise AssertionError("block does not fit on an empty column")

    def keep(self, height: float) -> None:
        """Start the next column unless ``height`` points are left in this one (a float and its caption stay together)."""
        if self.y + height > self.bottom:
            self._next_column()

    def drawing(self, height: float, wide: bool = False) -> pymupdf.Rect:
        """A vector plot (axes, bars, a curve, a legend box) of the given height; returns its box."""
        self.keep(height + 40)
        x0, x1 = (self.left, self.right) if wide else self._col_x()
        r = pymupdf.Rect(x0 + 10, self.y, x1 - 10, self.y + height)
        p = self.page
        p.draw_line(r.bl, r.tl)
        p.draw_line(r.bl, r.br)
        for i in range(5):
            bx = r.x0 + 10 + i * (r.width - 20) / 5
            p.draw_rect(pymupdf.Rect(bx, r.y1 - (i + 1) * r.height / 7, bx + 12, r.y1), color=(0, 0, 1), fill=(0.6, 0.7, 1))
        pts = [pymupdf.Point(r.x0 + k * r.width / 20, r.y1 - r.height * (0.2 + 0.6 * (k / 20) ** 2)) for k in range(21)]
        p.draw_polyline(pts, color=(1, 0, 0))
        p.draw_rect(pymupdf.Rect(r.x1 - 60, r.y0 + 4, r.x1 - 4, r.y0 + 24), color=(0, 0, 0))
        self.y = r.y1 + 6
        return r

    def table(self, rows: int) -> pymupdf.Rect:
        """A ruled table of numbers; returns its box."""
        rect = self.html("<table style='width:100%'>" + "".join(
            f"<tr><td>Method {i}</td><td>{70 + i}.{i}</td><td>{60 + 2 * i}.5</td><td>{i}.0 ms</td></tr>" for i in range(rows))
            + "</table>")
        self.page.draw_line(rect.tl, rect.tr)
        self.page.draw_line(rect.bl, rect.br)
        return rect

    def para(self, n: int = 2, lead: str = "") -> None:
        self.html(f"<p>{lead}{_BODY * n}</p>")

    def heading(self, text: str, size: float = 10, caps: bool = False, centred: bool = False) -> None:
        style = f"font-size:{size}px;font-weight:bold;" + ("text-align:center;" if centred else "")
        self.html(f"<p style='{style}'>{text.upper() if caps else text}</p>", space=4)


def _front(w: Writer, title: list[str], authors_html: str, affiliations: list[str]) -> None:
    w.html("<p style='text-align:center;font-size:20px;font-weight:bold;line-height:1.2'>" + "<br>".join(title) + "</p>",
           space=10, wide=True)
    w.html(f"<p style='text-align:center;font-size:11px'>{authors_html}</p>", space=2, wide=True)
    for a in affiliations:
        w.html(f"<p style='text-align:center;font-size:9px;font-style:italic'>{a}</p>", space=1, wide=True)
    w.y += 10
    w.col_top = w.y


def _ieee(path: Path) -> None:
    """Two columns, Roman headings in capitals, "Abstract—" run in, "Fig. 2:" captions, a table, an appendix."""
    doc = pymupdf.open()
    w = Writer(doc, 2)
    _front(w, ["Streaming Estimators with Adaptive Budgets", "for Long Sequences of Noisy Measurements",
               "in Distributed Sensor Networks"],
           "Alice Smith<sup>1</sup>, Bob O’Neil<sup>2</sup>, and Carla Díaz<sup>1,2</sup>",
           ["<sup>1</sup>Department of Computer Science, University of Somewhere,",
            "Springfield, 12345, USA", "<sup>2</sup>Institute of Sensing, Example Labs, Berlin, Germany"])
    w.html("<p><b><i>Abstract</i>—We propose streaming estimators</b> <b>whose budget adapts to the noise. "
           + _BODY + "</b></p>")
    w.html("<p><b><i>Index Terms</i>—streaming, estimation, sensor networks</b></p>", space=10)
    for h, n in (("I. Introduction", 3), ("II. Method", 2)):
        w.heading(h, caps=True, centred=True)
        w.para(n, "In this section " if h.startswith("I.") else "")
    w.html("<p style='font-style:italic'>A. Setup</p>", space=3)
    w.para(2)
    w.drawing(110)
    w.html("<p style='font-size:9px'>Fig. 1: Error of the estimator against stream length for five budgets.</p>")
    w.para(2)
    w.heading("III. Results", caps=True, centred=True)
    w.keep(150)
    w.html("<p style='font-size:9px'>Table 1: Accuracy and latency of the compared methods on the benchmark.</p>",
           space=3)
    w.table(5)
    w.para(3)
    w.drawing(120)
    w.html("<p style='font-size:9px'>Fig. 2: Cost per item as the budget grows; the curve shows the bound.</p>")
    w.para(2)
    w.heading("IV. Conclusion", caps=True, centred=True)
    w.para(2)
    w.heading("References", caps=True, centred=True)
    w.html("<p style='font-size:8px'>[1] A. Author, “A paper,” in Proc. Conf., 2020, pp. 1–10.</p>")
    doc.save(path)


def _acm(path: Path) -> None:
    """One column, an author grid, "ABSTRACT" heading, "1 INTRODUCTION" headings, "Figure 3." and "FIGURE 4"."""
    doc = pymupdf.open()
    w = Writer(doc, 1)
    w.html("<p style='text-align:center;font-size:18px;font-weight:bold'>Learning Sparse Routing Policies<br>"
           "for Mixture-of-Experts Language Models<br>at Scale</p>", space=14, wide=True)
    top = w.y
    for i, (name, aff) in enumerate((("Wei Zhang", "Tsinghua University"), ("Maria García", "University of Madrid"),
                                     ("Jörg Schmidt", "Technical University of Munich"))):
        x0 = 54 + i * 168
        w.page.insert_htmlbox(pymupdf.Rect(x0, top, x0 + 168, top + 60),
                              f"<p style='text-align:center;font-size:12px'>{name}</p>"
                              f"<p style='text-align:center;font-size:9px'>{aff}</p>"
                              f"<p style='text-align:center;font-size:9px'>name{i}@example.org</p>", css=_CSS)
    w.y = top + 64
    w.heading("Abstract", size=10, caps=True)
    w.para(2, "Mixture-of-experts models route each token to a few experts. ")
    for h in ("1 Introduction", "2 Related Work"):
        w.heading(h, size=11, caps=True)
        w.para(3)
    w.drawing(140)
    w.html("<p style='font-size:9px'><b>Figure 3.</b> Routing entropy per layer during training of the model.</p>")
    w.heading("3 Method", size=11, caps=True)
    w.html("<p style='font-size:10px'><b>3.1 Routing</b></p>", space=3)
    w.para(3)
    w.drawing(120)
    w.html("<p style='font-size:9px'><b>FIGURE 4</b> Load per expert after the balancing loss is added.</p>")
    w.para(2)
    w.heading("4 Conclusion", size=11, caps=True)
    w.para(1)
    w.heading("References", size=11, caps=True)
    w.html("<p style='font-size:8px'>[1] A. Author. 2020. A paper. In Proc. Conf. 1–10.</p>")
    doc.save(path)


def _springer(path: Path) -> None:
    """Two columns, "Abstract." run in, "1. Introduction" headings, unnumbered "Conclusion", lettered appendix."""
    doc = pymupdf.open()
    w = Writer(doc, 2)
    _front(w, ["Graph Kernels for Molecules", "Revisited"], "J¨urgen M¨uller &amp; Zo¨e Brown",
           ["University of Heidelberg, Germany"])
    w.html("<p><b>Abstract.</b> Graph kernels compare molecules by their substructures. " + _BODY + "</p>", space=12)
    for h in ("1. Introduction", "2. Related Work", "3. Method"):
        w.heading(h, size=12)
        w.para(3)
    w.drawing(100)
    w.html("<p style='font-size:9px'>Figure 1: Kernel values for pairs of molecules with shared rings.</p>")
    w.para(2)
    w.heading("Conclusion", size=12)
    w.para(2)
    w.heading("References", size=12)
    w.html("<p style='font-size:8px'>1. Author, A.: A paper. In: Proc. Conf., pp. 1–10 (2020)</p>")
    w.heading("A. Appendix", size=12)
    w.para(2)
    doc.save(path)


def _neurips(path: Path) -> None:
    """One column, rules around a plain (not bold) title, an arXiv side stamp, footer and page numbers, an author
    grid with marks, a centred "Abstract", "A Additional results" appendix, a wide figure with two panels."""
    doc = pymupdf.open()
    w = Writer(doc, 1)
    w.left, w.right = 108.0, 504.0
    w.page.draw_line((108, 58), (504, 58), width=4)
    w.html("<p style='text-align:center;font-size:17px'>Sparse Attention Is Enough<br>for Long-Context Retrieval</p>",
           space=6, wide=True)
    w.page.draw_line((108, w.y), (504, w.y), width=1)
    w.y += 14
    top = w.y
    for i, (name, aff) in enumerate((("Ana Lee<sup>∗</sup>", "Department of Statistics<br>Stanford University"),
                                     ("Ben Kim<sup>†</sup>", "Google DeepMind<br>London, UK"),
                                     ("Chen Wu", "Carnegie Mellon University<br>Pittsburgh, PA"))):
        x0 = 108 + i * 132
        w.page.insert_htmlbox(pymupdf.Rect(x0, top, x0 + 132, top + 60),
                              f"<p style='text-align:center;font-size:10px;font-weight:bold'>{name}</p>"
                              f"<p style='text-align:center;font-size:10px'>{aff}</p>"
                              f"<p style='text-align:center;font-size:9px;font-family:monospace'>u{i}@mail.edu</p>", css=_CSS)
    w.y = top + 66
    w.heading("Abstract", size=12, centred=True)
    w.left, w.right = 130.0, 482.0
    w.para(2, "Long documents strain attention. ")
    w.left, w.right = 108.0, 504.0
    w.heading("1 Introduction", size=12)
    w.para(3)
    w.heading("2 Background", size=12)
    w.html("<p><b>2.1 Data</b></p>", space=3)
    w.para(2)
    w.keep(200)
    top = w.y
    for k, x0 in enumerate((118, 316)):
        r = pymupdf.Rect(x0, top, x0 + 178, top + 120)
        w.page.draw_rect(r, color=(0, 0, 0))
        w.page.draw_polyline([pymupdf.Point(r.x0 + j * 17, r.y1 - 5 - (j * 7 + 9 * k) % 100) for j in range(11)], color=(0, 0.5, 0))
        w.page.insert_text((x0 + 80, top + 134), f"({'ab'[k]})", fontsize=9, fontname="tiro")
    w.y = top + 142
    w.html("<p style='font-size:9px'>Figure 1: Recall against context length. (a) Dense attention. (b) Sparse attention.</p>")
    w.para(2)
    w.heading("3 Conclusion", size=12)
    w.para(1)
    w.heading("Acknowledgments", size=12)
    w.para(1)
    w.heading("References", size=12)
    w.html("<p style='font-size:9px'>[1] A. Author. A paper. In <i>Proc. Conf.</i>, 2020.</p>")
    w.heading("A Additional results", size=12)
    w.para(2)
    for page in doc:
        page.insert_text((40, 600), "arXiv:2401.01234v1  [cs.LG]  1 Jan 2024", fontsize=20, rotate=90, color=(0.5, 0.5, 0.5))
        page.insert_text((300, 760), str(page.number + 1), fontsize=10, fontname="tiro")
    doc[0].insert_text((108, 740), "Preprint. Under review.", fontsize=9, fontname="tiro")
    doc.save(path)


def _smallcaps(text: str, size: float) -> str:
    """A heading in small capitals the way LaTeX sets them: initials full size, the rest smaller capitals."""
    words = []
    for word in text.split():
        head = word if not word[0].isalpha() else word[0] if word[0].isupper() else ""
        rest = word[len(head):]
        words.append(f"{head}<span style='font-size:{size * 0.8:.1f}px'>{rest.upper()}</span>" if rest else head)
    return " ".join(words)


def _elsevier(path: Path) -> None:
    """Two columns in a sans-serif face, a title footnote mark, eight authors wrapping over two lines with letter
    marks, "Abstract:" on a line of its own, keywords, small-capital headings, a figure across both columns at the
    top of page 2 and an IEEE "TABLE I" caption above its table."""
    doc = pymupdf.open()
    w = Writer(doc, 2)
    css = _CSS.replace("serif", "sans-serif")
    w.page.insert_htmlbox(pymupdf.Rect(54, 60, 558, 120), "<p style='text-align:center;font-size:18px;font-weight:bold'>"
                          "Robust Federated Learning under<br>Heterogeneous Client Drift<sup>∗</sup></p>", css=css)
    names = ["Li Wei", "Sofia Rossi", "Tom Baker", "Ana Silva", "Omar Haddad", "Yuki Tanaka", "Eva Novak", "Raj Patel"]
    marks = ["a", "b", "a", "c", "b", "a", "c", "b"]
    authors = ", ".join(f"{n}<sup>{m}</sup>" for n, m in zip(names[:-1], marks)) + f" and {names[-1]}<sup>b</sup>"
    w.page.insert_htmlbox(pymupdf.Rect(120, 118, 492, 160), f"<p style='text-align:center;font-size:11px'>{authors}</p>", css=css)
    w.page.insert_htmlbox(pymupdf.Rect(54, 160, 558, 200), "<p style='text-align:center;font-size:8px;font-style:italic'>"
                          "<sup>a</sup>School of Computing, National University of Singapore, Singapore<br>"
                          "<sup>b</sup>Department of Informatics, University of Milan, Italy<br>"
                          "<sup>c</sup>Faculty of Engineering, University of Porto, Portugal</p>", css=css)
    w.y = w.col_top = 210
    w.html("<p style='font-family:sans-serif'><b>Abstract:</b></p>", space=2)
    w.html("<p style='font-family:sans-serif'>Federated learning trains one model on many clients. " + _BODY + "</p>")
    w.html("<p style='font-family:sans-serif'><b>Keywords:</b> federated learning, robustness</p>", space=10)
    for h in ("1. Introduction", "2. Problem setup"):
        w.html(f"<p style='font-family:sans-serif;font-size:10px;font-weight:bold'>{_smallcaps(h, 10)}</p>", space=4)
        w.html("<p style='font-family:sans-serif'>" + _BODY * 4 + "</p>")
    w.keep(160)
    w.html("<p style='font-size:8px;text-align:center'>TABLE I<br>Accuracy of the compared methods</p>", space=3)
    w.table(4)
    w.html("<p style='font-family:sans-serif'>" + _BODY * 2 + "</p>")
    w.new_page()
    w.drawing(150, wide=True)
    w.html("<p style='font-size:9px'>Fig. 3. Accuracy of every client over the rounds of training, with and without the "
           "drift correction.</p>", space=12, wide=True)
    w.col_top = w.y
    for h in ("3. Results", "4. Conclusion"):
        w.html(f"<p style='font-family:sans-serif;font-size:10px;font-weight:bold'>{_smallcaps(h, 10)}</p>", space=4)
        w.html("<p style='font-family:sans-serif'>" + _BODY * 3 + "</p>")
    w.html(f"<p style='font-family:sans-serif;font-size:10px;font-weight:bold'>{_smallcaps('References', 10)}</p>", space=4)
    w.html("<p style='font-size:8px'>[1] A. Author, A paper, J. Mach. Learn. Res. 1 (2020) 1–10.</p>")
    doc.save(path)


def _raster(width: int, height: int) -> bytes:
    """A PNG photo-like gradient (an embedded raster figure rather than a vector one)."""
    pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, width, height), False)
    for y in range(0, height, 4):
        for x in range(0, width, 4):
            pix.set_rect(pymupdf.IRect(x, y, x + 4, y + 4), ((x * 255) // width, (y * 255) // height, 128))
    return pix.tobytes("png")


def _plain(path: Path) -> None:
    """One author, a title in capitals, no "Abstract" label, a caption set above a raster figure, "Appendix A:"."""
    doc = pymupdf.open()
    w = Writer(doc, 1)
    w.html("<p style='text-align:center;font-size:16px;font-weight:bold'>ON THE STABILITY OF<br>DIFFUSION SAMPLERS</p>",
           space=12, wide=True)
    w.html("<p style='text-align:center;font-size:12px'>Marie Lefèvre</p>", space=2, wide=True)
    w.html("<p style='text-align:center;font-size:10px;font-style:italic'>Université Paris-Saclay, France</p>", space=2,
           wide=True)
    w.html("<p style='text-align:center;font-size:9px;font-family:monospace'>marie@example.fr</p>", space=14, wide=True)
    w.left, w.right = 100.0, 512.0
    w.html("<p style='font-size:9px'>Diffusion samplers can diverge when the step size is large. " + _BODY + "</p>",
           space=14)
    w.left, w.right = 54.0, 558.0
    for h in ("1 Introduction", "2 Analysis"):
        w.heading(h, size=12)
        w.para(3)
    w.html("<p style='font-size:9px'>Figure 1: Samples drawn with four step sizes, from small (left) to large.</p>",
           space=4)
    r = pymupdf.Rect(150, w.y, 462, w.y + 160)
    w.page.insert_image(r, stream=_raster(156, 80))
    w.y = r.y1 + 10
    w.para(2)
    w.heading("3 Conclusion", size=12)
    w.para(1)
    w.heading("References", size=12)
    w.html("<p style='font-size:9px'>[1] A. Author. A paper. 2020.</p>")
    w.heading("Appendix A: Proofs", size=12)
    w.para(2)
    doc.save(path)


def _lncs(path: Path) -> None:
    """Springer LNCS: ORCID ids in superscript brackets, "Keywords:", bold run-in paragraph heads that are not
    sections, "1.1" subsections, a two-line wrapped section heading, and a figure whose caption wraps."""
    doc = pymupdf.open()
    w = Writer(doc, 1)
    w.left, w.right = 130.0, 482.0
    w.html("<p style='text-align:center;font-size:14px;font-weight:bold'>Contrastive Pretraining for Tabular Data</p>",
           space=10, wide=True)
    w.html("<p style='text-align:center;font-size:10px'>Peter Novák<sup>1[0000-0002-1825-0097]</sup>, Ines "
           "Gonçalves<sup>2</sup>, and Hans-Peter Weiß<sup>1,2[0000-0001-5109-3700]</sup></p>", space=6, wide=True)
    w.html("<p style='text-align:center;font-size:9px'><sup>1</sup> University of Vienna, Austria<br>"
           "<sup>2</sup> University of Lisbon, Portugal</p>", space=14, wide=True)
    w.html("<p style='font-size:9px'><b>Abstract.</b> Tabular data resists the pretraining recipes of vision. "
           + _BODY + "</p>", space=4)
    w.html("<p style='font-size:9px'><b>Keywords:</b> tabular data · contrastive learning</p>", space=14)
    w.heading("1 Introduction", size=12)
    w.para(2)
    w.html("<p><b>Datasets.</b> " + _BODY + "</p>")
    w.html("<p><b>Baselines.</b> " + _BODY + "</p>")
    w.heading("1.1 Contributions", size=10)
    w.para(2)
    w.html("<p style='font-size:12px;font-weight:bold'>2 A Very Long Section Heading That Has to Wrap Onto a Second "
           "Line Here</p>", space=4)
    w.para(2)
    w.drawing(100)
    w.html("<p style='font-size:9px'><b>Fig. 1.</b> Embeddings of the rows of three tables after pretraining, coloured "
           "by class; rows of one class form tight clusters while the classes stay apart from each other.</p>")
    w.para(2)
    w.heading("3 Conclusion", size=12)
    w.para(1)
    w.heading("References", size=12)
    w.html("<p style='font-size:9px'>1. Author, A.: A paper. In: Proc. Conf., pp. 1–10 (2020)</p>")
    doc.save(path)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """Build one synthetic paper (once per module) and extract it with figure crops."""
    root = tmp_path_factory.mktemp("synthetic")
    made: dict[str, Paper] = {}

    def get(name: str) -> Paper:
        if name not in made:
            pdf = root / f"{name}.pdf"
            builders = {"ieee": _ieee, "acm": _acm, "springer": _springer, "neurips": _neurips, "elsevier": _elsevier,
                        "plain": _plain, "lncs": _lncs}
            builders[name](pdf)
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
    _front(w, ["A Study of Things"], authors, ["Department of Physics, Some University, Nowhere"])
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


def test_figures_side_by_side(tmp_path):
    """Two figures in a row (minipages): a photo and a shorter boxed diagram standing off its caption, captions on
    one baseline; each caption gets its own figure, and the diagram's labels stay out of the section text."""
    doc = pymupdf.open()
    w = Writer(doc, 1)
    _front(w, ["Side by Side Figures"], "Ana Souza and Karl Berg", ["University of Oxford, UK"])
    w.html("<p><b>Abstract</b></p>")
    w.para(1)
    w.heading("1 Introduction", size=12)
    w.para(2)
    top = w.y
    w.page.insert_image(pymupdf.Rect(70, top, 290, top + 120), stream=_raster(110, 60))
    for k in range(3):
        r = pymupdf.Rect(330 + k * 70, top + 40, 390 + k * 70, top + 80)
        w.page.draw_rect(r, color=(0, 0, 0))
        w.page.insert_text((r.x0 + 5, r.y0 + 24), f"Stage {k}", fontsize=9)
    for x0, text in ((70, "Figure 1: A photo of the setup used in all experiments."),
                     (320, "Figure 2: The three stages of the pipeline.")):
        w.page.insert_htmlbox(pymupdf.Rect(x0, top + 126, x0 + 220, top + 170), f"<p style='font-size:9px'>{text}</p>",
                              css=_CSS)
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
    _front(w, ["Periods After Headings"], "Ana Souza and Karl Berg", ["University of Oxford, UK"])
    w.html("<p><b>Abstract</b> We study periods. " + _BODY + "</p>")
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
    _front(w, ["Appendices With Contents"], "Ana Souza and Karl Berg", ["University of Oxford, UK"])
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
    _front(w, ["A Binary Cache Format"], "Ana Souza and Karl Berg", ["University of Oxford, UK"])
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
