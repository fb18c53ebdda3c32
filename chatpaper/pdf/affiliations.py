"""Affiliations: the institutions of the authors, from the title block or from first-page footnotes.

An affiliation as printed ("1 Department of Physics, University of Vermont, Burlington, VT 05405, USA") is reduced
to its institution ("University of Vermont"): the comma-separated parts are ranked by what they name — a
university, company or agency above an institute or laboratory above a department, school or lab, with addresses
(postcodes, streets, countries, states) last — and the best one is kept, with any further organisation printed
after it ("University of Toronto, Vector Institute"). Lines stacked under one author join when one of them names
only a unit ("Active Vision Lab" over "University of Oxford"); each affiliation mark opens a new one.

Papers that print no affiliation in the title block (ICML, IEEE journals) give them in first-page footnotes:
"1 Tsinghua University, Beijing, China 2 Shanghai AI Laboratory" or "A. Author is with the Department of ...".
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from chatpaper.pdf.layout import Line, PageText, join_lines

_MARKS = "*†‡§¶#⋆∗♯♮♭⊤⊥✉♣♠♦♥∥"
# What a part of an affiliation names, strongest first. A general vocabulary of institutions, not a list of names
# taken from any one paper (a few large research companies print no generic word: "NVIDIA", "Google DeepMind").
_TOP = re.compile(r"\buniversit|\buniversi[dt]ad|\bcollege\b(?!\s+of\b)|polytechni|institute of technology|\binc\b\.?|"
                  r"\bltd\b|\bllc\b|\bgmbh\b|\bcorp(oration)?\b|\bcompany\b|\balliance\b|\bagency\b|\bhospital\b|"
                  r"\bfoundation\b|academy of sciences|national laborator|\b(research|labs)$|\bgoogle\b|microsoft|"
                  r"\bmeta\b|nvidia|deepmind|openai|facebook|amazon|\bibm\b|adobe|\bapple\b|baidu|alibaba|tencent|"
                  r"huawei|bytedance|samsung|\bintel\b|sensetime|yahoo|\bcnrs\b|\binria\b|\bcsiro\b|max planck", re.I)
_INSTITUTE = re.compile(r"\binstitut|laborator|\blabs?\b|\bacademy\b|\bresearch\b|\bcent(er|re)\b|\bschool\b(?!\s+of)|"
                        r"\btech\b", re.I)
_UNIT = re.compile(r"\b(department|dept|school|faculty|lab|group|division|program(me)?|cent(er|re)|college of|chair|"
                   r"unit|graduate|section|team)\b", re.I)
_COUNTRIES = ("usa|u\\.s\\.a\\.?|united states( of america)?|uk|u\\.k\\.|united kingdom|england|scotland|china|p\\.?\\s?r\\.?"
              "\\s?china|hong kong|taiwan|canada|germany|france|japan|korea|south korea|singapore|italy|spain|"
              "portugal|switzerland|netherlands|the netherlands|belgium|austria|sweden|norway|denmark|finland|"
              "poland|czech republic|israel|india|australia|new zealand|brazil|mexico|russia|turkey|greece|ireland|"
              "sri lanka|iran|egypt|south africa|chile|argentina|vietnam|thailand|malaysia|indonesia|pakistan|"
              "saudi arabia|uae|united arab emirates|qatar")
_ADDRESS = re.compile(rf"^({_COUNTRIES})$|\d{{3,}}|\b(road|rd\.|street|st\.|avenue|ave\.|blvd|boulevard|drive|"
                      r"way|lane|square|p\.?\s?o\.? box|box|floor|building|campus|e-?mail)\b|^[A-Z]{2}$", re.I)
_LEGAL = re.compile(r"^(inc|ltd|llc|gmbh|corp|co|s\.a|ag|plc)\.?$", re.I)
_NOT_AFFILIATION = re.compile(r"\b(equal contribution|contributed equally|corresponding|correspondence|funded|"
                              r"supported by|grant|proceedings|copyright|conference|preprint|under review|"
                              r"work (was )?done|internship|intern at|project page|code)\b", re.I)
_IS_WITH = re.compile(r"\b(is|are)\s+(also\s+|now\s+|currently\s+)?(with|at)\s+(the\s+)?", re.I)


def rank(part: str) -> int:
    """3 a university, company or agency; 2 an institute or laboratory; 1 a department or lab; 0 an unknown
    name; -1 an address (a country, a postcode, a street)."""
    p = part.strip()
    if not p or _ADDRESS.search(p):
        return -1
    if _TOP.search(p):
        return 3
    if _UNIT.search(p) and not re.search(r"\binstitut", p, re.I):
        return 1
    if _INSTITUTE.search(p):
        return 2
    return 0


def _parts(text: str) -> list[str]:
    """Comma/semicolon parts outside parentheses; a legal suffix ("Inc.") stays with its name."""
    out, depth, cur = [], 0, ""
    for c in text:
        depth += (c in "([") - (c in ")]")
        if c in ",;" and depth <= 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += c
    out.append(cur.strip())
    merged: list[str] = []
    for p in out:
        if not p:
            continue
        if merged and _LEGAL.match(p):
            merged[-1] += ", " + p
        else:
            merged.append(p)
    return merged


def clean(text: str) -> str:
    """An affiliation without e-mail addresses, e-mail notes, URLs and marks."""
    text = re.sub(r"\(\s*e-?mails?:[^)]*\)?", " ", text, flags=re.I)
    text = re.sub(r"\{[^}]*\}?\S*|\S*@[\w-]+(\.[\w-]+)+\S*|https?://\S+|\bwww\.\S+", " ", text)
    text = re.sub(r"\b(e-?mails?|emails?)\s*:.*$", " ", text, flags=re.I)
    text = re.sub(rf"^[\s{re.escape(_MARKS)}\d,]+", "", text)
    text = re.sub(r"\s+", " ", text).strip(" ,;:")
    return text if re.search(r"\b(inc|ltd|corp|co)\.$", text, re.I) else text.rstrip(".")


def institutions(text: str) -> list[str]:
    """The institutions an affiliation names (see the module's rules); empty for an address or a note."""
    parts = _parts(clean(text))
    if not parts:
        return []
    ranks = [rank(p) for p in parts]
    best = max(ranks)
    if best <= 0:
        firsts = [p for p, r in zip(parts, ranks) if r == 0]
        return firsts[:1] if best == 0 and len(firsts[0]) > 1 else []
    at = ranks.index(best)
    name = parts[at]
    # "Agency for Science, Technology and Research (A*STAR)": a name that lists its fields runs on after a comma.
    if " for " in name and at + 1 < len(parts) and re.match(r"^[A-Z][\w-]*( [\w&-]+)* and [A-Z]", parts[at + 1]):
        name += ", " + parts[at + 1]
        at += 1
    out = [name]
    # A second organisation printed after the first one ("University of Toronto, Vector Institute").
    out += [p for p, r in zip(parts[at + 1:], ranks[at + 1:]) if r >= 2]
    return out


@dataclass
class Affiliation:
    """One affiliation as printed: its marks, its text, the institutions it names and its lines."""

    marks: set[str]  #: the marks it opens with ("1", "a", "†"); empty when unmarked
    text: str  #: as printed, lines joined
    lines: list[Line] = field(default_factory=list)  #: its lines in the title block (footnotes: empty)
    names: list[str] = field(default_factory=list)  #: the institutions (see ``institutions``)
    people: str = ""  #: the names a footnote says are with it ("A and B are with ...")
    broken: bool = False  #: its last line breaks off at a comma or a hyphen: the next line carries it on

    @property
    def best(self) -> int:
        return max((rank(p) for p in _parts(clean(self.text))), default=-1)


def _is_mark(span, line: Line) -> bool:
    t = span.text.strip()
    return bool(t) and len(t) <= 4 and (bool(span.flags & 1) or span.size < 0.85 * line.size or
                                        all(c in _MARKS + "," for c in t))


def _pieces(line: Line) -> list[tuple[set[str], str]]:
    """The line split at affiliation marks: (marks, text) per piece."""
    out: list[tuple[set[str], str]] = []
    marks: set[str] = set()
    texts: list = []
    for s in line.spans:
        if _is_mark(s, line) and (not texts or any(t.text.strip() for t in texts)):
            if texts and any(t.text.strip() for t in texts):
                out.append((marks, " ".join(t.text for t in texts)))
                marks, texts = set(), []
            marks |= {m for m in re.split(r"[,\s]+", s.text.strip()) if m}
        elif _is_mark(s, line):
            marks |= {m for m in re.split(r"[,\s]+", s.text.strip()) if m}
        else:
            texts.append(s)
    if texts:
        out.append((marks, " ".join(t.text for t in texts)))
    return [(m, re.sub(r"\s+", " ", t).strip()) for m, t in out if t.strip()]


def title_block(lines: list[Line]) -> tuple[list[Affiliation], list[Line]]:
    """Affiliations among the title block's lines that are not names; returns them and the lines they use."""
    found: list[Affiliation] = []
    used: list[Line] = []
    for ln in sorted(lines, key=lambda ln: (ln.y0, ln.x0)):
        pieces = _pieces(ln)
        if not pieces:
            continue
        took = False
        for marks, text in pieces:
            if "@" in text and not clean(text):
                took = True  # an e-mail line belongs to the block, names nothing
                continue
            t = clean(text)
            if not t or len(t) > 250:
                continue
            r = rank_of(t)
            if r == 0 and not _name_cased(t):
                continue  # running text (an abstract set without its label), not a name
            parent = _above(found, ln) if not marks else None
            if parent is not None and t.startswith("("):
                took = True  # "(Dated: ...)", "(e-mail ...)" under an affiliation: part of the block, names nothing
                continue
            if parent is not None and (parent.broken or r <= 1 or parent.best <= 1):
                parent.text = join_lines([parent.text, t]) if parent.text.endswith("-") else f"{parent.text}, {t}"
                parent.lines.append(ln)
                parent.broken = bool(re.search(r"(,|-|\band|&)$", text))
                took = True
            elif r >= 1 or marks and r >= 0 or (found and r == 0 and _continues_list(found, ln)):
                found.append(Affiliation(marks=marks, text=t, lines=[ln], broken=bool(re.search(r"(,|-|\band|&)$", text))))
                took = True
        if took:
            used.append(ln)
    for a in found:
        a.names = institutions(a.text)
    return [a for a in found if a.names], used


def rank_of(text: str) -> int:
    return max((rank(p) for p in _parts(text)), default=-1)


def _name_cased(text: str) -> bool:
    """Set like a name: a few words, most of them capitalised (small words aside)."""
    words = [w for w in re.findall(r"[^\W\d_][\w'’&-]*", text) if w.lower() not in _SMALL_WORDS]
    return 0 < len(words) <= 8 and sum(w[0].isupper() for w in words) >= 0.7 * len(words)


_SMALL_WORDS = {"of", "and", "for", "the", "in", "at", "de", "des", "du", "la", "le", "di", "del", "der", "und", "y",
                "e", "da", "do", "em", "on", "to", "&"}


def _continues_list(found: list[Affiliation], ln: Line) -> bool:
    """An unmarked line with no institution word, set like the affiliations already found (a lab's acronym)."""
    last = found[-1].lines[-1]
    return abs(last.size - ln.size) < 0.6 and last.italic == ln.italic and 0 <= ln.y0 - last.y1 < 2 * ln.size


def _above(found: list[Affiliation], ln: Line) -> Affiliation | None:
    """The affiliation whose last line stands right above ``ln`` in the same type (a stacked block)."""
    for a in reversed(found):
        last = a.lines[-1]
        same_type = abs(last.size - ln.size) < 0.6 and last.bold == ln.bold
        below = -0.3 * ln.size < ln.y0 - last.y1 < 0.9 * ln.size
        if same_type and below and min(ln.x1, last.x1) - max(ln.x0, last.x0) > 0.3 * min(ln.width, last.width):
            return a
    return None


def footnotes(page: PageText, body: float) -> list[Affiliation]:
    """Affiliations given in the first page's footnotes: marked items naming an institution, or "X is with Y"."""
    zone = sorted((ln for ln in page.lines if not ln.furniture and ln.role not in ("caption", "figure", "table")
                   and ln.y0 > 0.55 * page.height and ln.size < body - 0.4), key=lambda ln: (ln.block, ln.y0))
    items: list[tuple[set[str], str]] = []
    block = None
    for ln in zone:
        opens = ln.spans and (_is_mark(ln.spans[0], ln) or ln.text[:1] in "•" + _MARKS) or ln.block != block
        block = ln.block
        for k, (marks, text) in enumerate(_pieces(ln)):
            text = text.lstrip("• ")
            if (k > 0 or opens or marks) or not items:
                items.append((marks, text))
            else:
                m, prev = items[-1]
                items[-1] = (m, join_lines([prev, text]))
    out: list[Affiliation] = []
    for marks, text in items:
        text = re.split(r"(?<=[a-z]{2})\.\s+(?=[A-Z])", text)[0]  # "..., China. Correspondence to: ..."
        people = ""
        m = _IS_WITH.search(text)
        if m:
            people, text = text[:m.start()], text[m.end():]
        elif not marks or _NOT_AFFILIATION.search(text) or rank_of(clean(text)) < 1:
            continue
        names = institutions(text)
        if names:
            out.append(Affiliation(marks=marks, text=clean(text), names=names, people=people))
    return out


def first_authors(affiliations: list[Affiliation], name_line: Line | None, first_author: str,
                  name_marks: set[str]) -> list[str]:
    """The first author's institutions: by mark, by a footnote naming the author, by the block under the name, or
    the first affiliation when only one order is printed."""
    if not affiliations:
        return []
    marked = [a for a in affiliations if a.marks & name_marks]
    if marked:
        return _names(marked)
    # A footnote that names its people ("Kyle Gao, Dening Lu and Linlin Xu are with ..."): the full name, else the
    # surname with the first initial.
    squash = lambda t: re.sub(r"\W", "", t.lower())  # noqa: E731
    words = first_author.split()
    for hit in (lambda a: squash(first_author) in squash(a.people),
                lambda a: len(words) > 1 and re.search(rf"\b{re.escape(words[0][0])}\w*\.?\s+(\w+\s+)?{re.escape(words[-1])}\b",
                                                        a.people)):
        named = [a for a in affiliations if a.people and hit(a)]
        if named:
            return _names(named)
    if name_line is not None:
        below = [a for a in affiliations if a.lines and a.lines[0].y0 >= name_line.y1 - 1 and
                 min(a.lines[0].x1, name_line.x1) - max(a.lines[0].x0, name_line.x0) > 0.5 * min(a.lines[0].width, name_line.width)
                 and not a.marks]
        if below and len(below) < len(affiliations):
            top = min(a.lines[0].y0 for a in below)
            # The affiliations stacked right under the name (two for one author are common).
            return _names([a for a in below if a.lines[0].y0 - top < 4 * name_line.size])
    return affiliations[0].names[:1]


def _names(affs: list[Affiliation]) -> list[str]:
    out: list[str] = []
    for a in affs:
        out += [n for n in a.names if n not in out]
    return out


def marks_after(line: Line, name: str) -> set[str]:
    """The affiliation marks printed right after ``name`` on its line."""
    want = re.sub(r"\W", "", name.lower())
    seen = ""
    marks: set[str] = set()
    collecting = False
    for s in line.spans:
        if collecting:
            if _is_mark(s, line):
                marks |= {m for m in re.split(r"[,\s]+", s.text.strip()) if m}
                continue
            if s.text.strip() and s.text.strip() not in ",":
                break
            continue
        if not _is_mark(s, line):
            seen += re.sub(r"\W", "", s.text.lower())
            if want and seen.endswith(want) or want and want in seen:
                collecting = True
    return marks
