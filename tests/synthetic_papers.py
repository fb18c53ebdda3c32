"""Synthetic papers for the extraction tests, generated with PyMuPDF in layouts the corpus may lack (issue 3: the
thresholds are also checked on papers we do not have).

``Writer`` flows HTML blocks and vector drawings down one or two columns of US-letter pages; ``front_matter``
writes a title, authors and affiliations across the top; each layout function (``LAYOUTS``: IEEE, ACM, Springer,
NeurIPS, Elsevier, a plain preprint, LNCS) writes a whole paper to a path. A new extraction rule gets its own
generated paper here or beside its test (STYLE.md: a rule must say what it reads in general).
"""
from __future__ import annotations

from pathlib import Path

import pymupdf

BODY = ("We study the problem in a setting where the data arrive in order and the model must answer at once. "
        "Earlier work assumed a fixed budget; we relax this and show that a simple schedule keeps the error low "
        "while the cost grows only slowly with the length of the stream. ")
CSS = "body {font-family: serif; font-size: 10px; line-height: 1.25;} p {text-align: justify; margin: 0;}"


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
            spare, _ = self.page.insert_htmlbox(rect, html, css=CSS, scale_low=1)
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
        self.html(f"<p>{lead}{BODY * n}</p>")

    def heading(self, text: str, size: float = 10, caps: bool = False, centred: bool = False) -> None:
        style = f"font-size:{size}px;font-weight:bold;" + ("text-align:center;" if centred else "")
        self.html(f"<p style='{style}'>{text.upper() if caps else text}</p>", space=4)


def front_matter(w: Writer, title: list[str], authors_html: str, affiliations: list[str]) -> None:
    w.html("<p style='text-align:center;font-size:20px;font-weight:bold;line-height:1.2'>" + "<br>".join(title) + "</p>",
           space=10, wide=True)
    w.html(f"<p style='text-align:center;font-size:11px'>{authors_html}</p>", space=2, wide=True)
    for a in affiliations:
        w.html(f"<p style='text-align:center;font-size:9px;font-style:italic'>{a}</p>", space=1, wide=True)
    w.y += 10
    w.col_top = w.y


def ieee(path: Path) -> None:
    """Two columns, Roman headings in capitals, "Abstract—" run in, "Fig. 2:" captions, a table, an appendix."""
    doc = pymupdf.open()
    w = Writer(doc, 2)
    front_matter(w, ["Streaming Estimators with Adaptive Budgets", "for Long Sequences of Noisy Measurements",
                      "in Distributed Sensor Networks"],
                  "Alice Smith<sup>1</sup>, Bob O’Neil<sup>2</sup>, and Carla Díaz<sup>1,2</sup>",
                  ["<sup>1</sup>Department of Computer Science, University of Somewhere,",
                   "Springfield, 12345, USA", "<sup>2</sup>Institute of Sensing, Example Labs, Berlin, Germany"])
    w.html("<p><b><i>Abstract</i>—We propose streaming estimators</b> <b>whose budget adapts to the noise. "
           + BODY + "</b></p>")
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


def acm(path: Path) -> None:
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
                              f"<p style='text-align:center;font-size:9px'>name{i}@example.org</p>", css=CSS)
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


def springer(path: Path) -> None:
    """Two columns, "Abstract." run in, "1. Introduction" headings, unnumbered "Conclusion", lettered appendix."""
    doc = pymupdf.open()
    w = Writer(doc, 2)
    front_matter(w, ["Graph Kernels for Molecules", "Revisited"], "J¨urgen M¨uller &amp; Zo¨e Brown",
                  ["University of Heidelberg, Germany"])
    w.html("<p><b>Abstract.</b> Graph kernels compare molecules by their substructures. " + BODY + "</p>", space=12)
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


def neurips(path: Path) -> None:
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
                              f"<p style='text-align:center;font-size:9px;font-family:monospace'>u{i}@mail.edu</p>", css=CSS)
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


def smallcaps(text: str, size: float) -> str:
    """A heading in small capitals the way LaTeX sets them: initials full size, the rest smaller capitals."""
    words = []
    for word in text.split():
        head = word if not word[0].isalpha() else word[0] if word[0].isupper() else ""
        rest = word[len(head):]
        words.append(f"{head}<span style='font-size:{size * 0.8:.1f}px'>{rest.upper()}</span>" if rest else head)
    return " ".join(words)


def elsevier(path: Path) -> None:
    """Two columns in a sans-serif face, a title footnote mark, eight authors wrapping over two lines with letter
    marks, "Abstract:" on a line of its own, keywords, small-capital headings, a figure across both columns at the
    top of page 2 and an IEEE "TABLE I" caption above its table."""
    doc = pymupdf.open()
    w = Writer(doc, 2)
    css = CSS.replace("serif", "sans-serif")
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
    w.html("<p style='font-family:sans-serif'>Federated learning trains one model on many clients. " + BODY + "</p>")
    w.html("<p style='font-family:sans-serif'><b>Keywords:</b> federated learning, robustness</p>", space=10)
    for h in ("1. Introduction", "2. Problem setup"):
        w.html(f"<p style='font-family:sans-serif;font-size:10px;font-weight:bold'>{smallcaps(h, 10)}</p>", space=4)
        w.html("<p style='font-family:sans-serif'>" + BODY * 4 + "</p>")
    w.keep(160)
    w.html("<p style='font-size:8px;text-align:center'>TABLE I<br>Accuracy of the compared methods</p>", space=3)
    w.table(4)
    w.html("<p style='font-family:sans-serif'>" + BODY * 2 + "</p>")
    w.new_page()
    w.drawing(150, wide=True)
    w.html("<p style='font-size:9px'>Fig. 3. Accuracy of every client over the rounds of training, with and without the "
           "drift correction.</p>", space=12, wide=True)
    w.col_top = w.y
    for h in ("3. Results", "4. Conclusion"):
        w.html(f"<p style='font-family:sans-serif;font-size:10px;font-weight:bold'>{smallcaps(h, 10)}</p>", space=4)
        w.html("<p style='font-family:sans-serif'>" + BODY * 3 + "</p>")
    w.html(f"<p style='font-family:sans-serif;font-size:10px;font-weight:bold'>{smallcaps('References', 10)}</p>", space=4)
    w.html("<p style='font-size:8px'>[1] A. Author, A paper, J. Mach. Learn. Res. 1 (2020) 1–10.</p>")
    doc.save(path)


def raster(width: int, height: int) -> bytes:
    """A PNG photo-like gradient (an embedded raster figure rather than a vector one)."""
    pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, width, height), False)
    for y in range(0, height, 4):
        for x in range(0, width, 4):
            pix.set_rect(pymupdf.IRect(x, y, x + 4, y + 4), ((x * 255) // width, (y * 255) // height, 128))
    return pix.tobytes("png")


def plain(path: Path) -> None:
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
    w.html("<p style='font-size:9px'>Diffusion samplers can diverge when the step size is large. " + BODY + "</p>",
           space=14)
    w.left, w.right = 54.0, 558.0
    for h in ("1 Introduction", "2 Analysis"):
        w.heading(h, size=12)
        w.para(3)
    w.html("<p style='font-size:9px'>Figure 1: Samples drawn with four step sizes, from small (left) to large.</p>",
           space=4)
    r = pymupdf.Rect(150, w.y, 462, w.y + 160)
    w.page.insert_image(r, stream=raster(156, 80))
    w.y = r.y1 + 10
    w.para(2)
    w.heading("3 Conclusion", size=12)
    w.para(1)
    w.heading("References", size=12)
    w.html("<p style='font-size:9px'>[1] A. Author. A paper. 2020.</p>")
    w.heading("Appendix A: Proofs", size=12)
    w.para(2)
    doc.save(path)


def lncs(path: Path) -> None:
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
           + BODY + "</p>", space=4)
    w.html("<p style='font-size:9px'><b>Keywords:</b> tabular data · contrastive learning</p>", space=14)
    w.heading("1 Introduction", size=12)
    w.para(2)
    w.html("<p><b>Datasets.</b> " + BODY + "</p>")
    w.html("<p><b>Baselines.</b> " + BODY + "</p>")
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


#: Every whole-paper layout by name.
LAYOUTS = {"ieee": ieee, "acm": acm, "springer": springer, "neurips": neurips, "elsevier": elsevier, "plain": plain,
           "lncs": lncs}
