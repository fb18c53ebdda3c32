"""Front matter of page 1: title, authors, affiliations and abstract.

The title is the largest type near the top of page 1 (rotated arXiv stamps and running heads are already left
out); authors are the name-like pieces of the lines set in the author style between the title and the abstract,
read row by row; footnote marks (superscripts, smaller type) split names and are dropped.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from chatpaper.pdf.affiliations import Affiliation, first_authors, footnotes, marks_after, title_block
from chatpaper.pdf.layout import Line, PageText, join_lines, spans_text

_ABSTRACT = re.compile(r"^\s*a\s?b\s?s\s?t\s?r\s?a\s?c\s?t\b\s*[—–\-:.]*\s*", re.I)
_ABSTRACT_END = re.compile(r"^(index terms|keywords|key words|ccs concepts|general terms|categories and subject)\b", re.I)
_INSTITUTION = re.compile(
    r"\b(universit\w*|institut\w*|college|school|department|dept|laborator\w*|lab|labs|research|inc|ltd|corp\w*|"
    r"center|centre|academy|faculty|hospital|foundation|google|microsoft|meta|nvidia|deepmind|openai|facebook|amazon|"
    r"ibm|adobe|team|group|address|affiliation|email|technolog\w*|sciences?|engineering|computer|national|polytechnic|"
    r"street|member|fellow|ieee|student|anonymous|road|usa|china|uk|germany|france|japan|canada)\b", re.I)
# Words of venue lines, subtitles and section names that are capitalised like names but never are names.
_NOT_NAME = re.compile(r"\b(report|technical|preprint|draft|paper|conference|workshop|proceedings|arxiv|version|"
                       r"abstract|introduction|supplementary|material|appendix|edition|volume|journal|transactions|"
                       r"review|submitted|accepted|under|manuscript|letters?|figure|table|chapter|section)\b", re.I)
_IEEE = re.compile(r",?\s*(?:(?:graduate\s+)?student\s+|senior\s+|life\s+)?(?:fellow|member),?\s+ieee", re.I)
_SEPARATOR = re.compile(r",|;|&|\band\b|·")
_PARTICLES = {"van", "von", "der", "den", "de", "da", "di", "del", "della", "du", "dos", "le", "la", "bin", "al", "y", "ter"}
_MARKS = "*†‡§¶#⋆∗♯♮♭⊤⊥✉♣♠♦♥∥"


@dataclass
class FrontMatter:
    """What page 1 says about the paper."""

    title: str = ""  #: the title, lines joined
    authors: list[str] = field(default_factory=list)  #: names in printed order
    affiliations: list[str] = field(default_factory=list)  #: institutions, in order of first appearance
    first_author_affiliations: list[str] = field(default_factory=list)  #: the first author's, among them
    abstract: str = ""  #: abstract text


def find_title(page: PageText, body: float, stop_y: float) -> tuple[str, list[Line]]:
    """The title: the largest lines near the top of the page, joined."""
    cands = [ln for ln in page.lines if not ln.furniture and ln.y1 <= stop_y and ln.y0 < page.height * 0.6
             and sum(c.isalpha() for c in ln.text) >= 4 and not ln.role]
    if not cands:
        return "", []
    biggest = max(ln.size for ln in cands)
    if biggest < body * 1.1:
        bold = [ln for ln in cands if ln.bold]
        if not bold:
            return "", []
        biggest = max(ln.size for ln in bold)
        cands = bold
    # The title is the topmost line set nearly as large as the largest type: a bigger label inside a teaser
    # figure further down does not take its place.
    tops = sorted((ln for ln in cands if ln.size >= 0.9 * biggest and (len(ln.text.split()) >= 2 or len(ln.text) >= 10)),
                  key=lambda ln: (round(ln.y0), ln.x0))
    if tops:
        biggest = tops[0].size
    big = sorted((ln for ln in cands if abs(ln.size - biggest) <= 0.6), key=lambda ln: (round(ln.y0), ln.x0))
    if tops:
        big = big[big.index(tops[0]):]
    run = [big[0]]
    for ln in big[1:]:
        if ln.y0 - run[-1].y1 <= 1.2 * biggest:
            run.append(ln)
        else:
            break
    _add_subtitle(run, cands, biggest, body)
    # Footnote marks on the title (superscript or much smaller spans) are not part of it.
    texts = [spans_text([s for s in ln.spans if not (s.flags & 1) and s.size >= ln.size * 0.6]) or ln.text for ln in run]
    return join_lines(texts), run


def _add_subtitle(run: list[Line], cands: list[Line], biggest: float, body: float) -> None:
    """A subtitle in smaller display type right under the title ("GraphX:" / "Graph Processing on Clusters") joins
    it: the title breaks off at a colon or dash, or the line below is still display type in the title's weight."""
    below = sorted((ln for ln in cands if ln.y0 > run[-1].y0 + 0.5 * run[-1].size and ln not in run),
                   key=lambda ln: ln.y0)
    for nxt in below:
        last = run[-1]
        broken = last.text.rstrip().endswith((":", "—", "–"))
        display = nxt.size >= max(body * 1.3, 0.75 * biggest) and nxt.bold == last.bold
        authorish = "@" in nxt.text or any(s.flags & 1 for s in nxt.spans) or len(split_names(nxt.text)) >= 2
        if nxt.y0 - last.y1 > 1.2 * biggest or authorish or not (display or broken and nxt.size >= body * 1.2):
            break
        run.append(nxt)


def _chunks(line: Line) -> list[str]:
    """The line's text split at footnote marks (superscripts, smaller type) and wide gaps."""
    out: list[str] = []
    cur = ""
    prev_x1 = None
    for s in line.spans:
        marker = bool(s.flags & 1) or s.size < line.size * 0.75 or s.text.strip() in _MARKS
        if marker or (prev_x1 is not None and s.bbox[0] - prev_x1 > 1.2 * line.size):
            out.append(cur)
            cur = ""
            if marker:
                prev_x1 = s.bbox[2]
                continue
        sep = " " if cur and not cur.endswith(" ") and prev_x1 is not None and s.bbox[0] - prev_x1 > 0.2 * s.size else ""
        cur += sep + s.text
        prev_x1 = s.bbox[2]
    out.append(cur)
    return [c for c in out if c.strip()]


def name_like(piece: str) -> str | None:
    """The piece cleaned to a person's name, or None when it is not one."""
    piece = re.sub(rf"[{re.escape(_MARKS)}\d]+", " ", piece)
    piece = re.sub(r"\s+", " ", piece).strip(" ,;:.")
    if not piece or "@" in piece or _INSTITUTION.search(piece) or _NOT_NAME.search(piece) or re.search(r"[{}()\[\]/|]", piece.replace("(", "").replace(")", "")):
        return None
    words = piece.split()
    if not 2 <= len(words) <= 5:
        return None
    for w in words:
        if w.lower() in _PARTICLES:
            continue
        if not (w.lstrip("(")[:1].isupper() or re.fullmatch(r"[A-Z]\.(-?[A-Z]\.)*", w)):
            return None
        if len(w) > 1 and not re.fullmatch(r"\(?[^\W\d_][\w'’\-.]*\)?", w):
            return None
    return piece


def split_names(text: str) -> list[str]:
    """Name-like pieces of an author string ("A, B and C", "A & B")."""
    text = _IEEE.sub(",", text)
    pieces = re.split(r"\s*(?:,|;|\band\b|&|·|•|\s{3,})\s*", text)
    return [n for n in (name_like(p) for p in pieces) if n]


def _rows(lines: list[Line]) -> list[list[Line]]:
    """Lines grouped into printed rows (same height on the page), each row left to right."""
    rows: list[list[Line]] = []
    for ln in sorted(lines, key=lambda ln: ln.y0):
        if rows and ln.y0 < rows[-1][0].y1 - 0.3 * ln.size:
            rows[-1].append(ln)
        else:
            rows.append([ln])
    return [sorted(r, key=lambda ln: ln.x0) for r in rows]


def find_authors(region: list[Line]) -> tuple[list[str], list[Affiliation], list[Line], Line | None]:
    """Authors and affiliations from the lines between the title and the abstract, and the first author's line."""
    region = [ln for ln in region if not ln.furniture and ln.role not in ("figure", "caption")]
    style = None
    for ln in sorted(region, key=lambda ln: (ln.y0, ln.x0)):
        if any(split_names(c) for c in _chunks(ln)):
            style = (round(ln.size, 0), ln.bold)
            break
    if style is None:
        affiliations, used = title_block(region)
        return [], affiliations, used, None
    chosen = [ln for ln in region if (round(ln.size, 0), ln.bold) == style]
    names: list[str] = []
    used: list[Line] = []
    first_line: Line | None = None
    used_at: set[tuple[int, int]] = set()
    used_text: dict[tuple[int, int], str] = {}
    carry = ""
    for row in _rows(chosen):
        for ln in row:
            # In a stacked name / affiliation / e-mail block only the first line (and its continuation) holds names:
            # "ETH Zurich" under a name is an affiliation even when it looks like one.
            if ln.index > 0 and (ln.block, ln.index - 1) not in used_at:
                continue
            # ... and a line under a name continues the list only when the list runs on: the line above breaks off
            # at a separator or mid-name, or this line is a list itself ("Bob Jones" over "ETH Zurich" is not).
            if ln.index > 0 and not carry and not _SEPARATOR.search(ln.text) and \
                    not re.search(r"(,|;|&|\band)\W*$", used_text.get((ln.block, ln.index - 1), ",")):
                continue
            chunks = _chunks(ln)
            if not (any(split_names(c) for c in chunks) or carry):
                continue
            used.append(ln)
            used_at.add((ln.block, ln.index))
            used_text[(ln.block, ln.index)] = re.sub(rf"[{re.escape(_MARKS)}\d\s]+$", "", ln.text)
            # A name broken at the end of a line ("..., and Carla" / "Díaz") joins the next line's start.
            if carry:
                chunks[0] = carry + " " + chunks[0]
                carry = ""
            last = chunks[-1]
            tail = re.split(r"\s*(?:,|;|\band\b|&)\s*", last)[-1].strip()
            if len(tail.split()) == 1 and tail[:1].isupper() and not name_like(tail) and last.rstrip().endswith(tail):
                carry = tail
                chunks[-1] = last.rstrip()[: -len(tail)]
            for c in chunks:
                found = split_names(c)
                if found and not names:
                    first_line = ln
                names.extend(found)
    if carry:
        names.extend(split_names(carry))
    seen: set[str] = set()
    unique = [n for n in names if not (n.lower() in seen or seen.add(n.lower()))]
    affiliations, aff_lines = title_block([ln for ln in region if ln not in used])
    return unique, affiliations, used + aff_lines, first_line


def find_abstract(ordered: list[Line]) -> tuple[str, Line | None]:
    """The abstract: after an 'Abstract' heading or run-in label, up to the first heading or keywords line."""
    start = None
    for i, ln in enumerate(ordered[:400]):
        if is_abstract_label(ln):
            start = i
            break
    if start is None:
        return "", None
    first = ordered[start]
    rest = _ABSTRACT.sub("", first.text, count=1)
    texts = [rest] if rest else []
    for ln in ordered[start + 1:]:
        if ln.furniture or ln.role in ("figure", "caption", "table", "footnote"):
            continue
        if ln.role == "heading" or _ABSTRACT_END.match(ln.text) or sum(len(t) for t in texts) > 5000:
            break
        texts.append(ln.text)
    return join_lines(texts), first


def first_paragraph(ordered: list[Line], after_y: float, page: int = 0) -> str:
    """Fallback abstract: the first paragraph below the author block when no 'Abstract' label is printed."""
    blocks: dict[int, list[Line]] = {}
    for ln in ordered:
        if ln.page != page or ln.y0 <= after_y or ln.furniture or ln.role:
            continue
        blocks.setdefault(ln.block, []).append(ln)
    for lines in blocks.values():
        if len(lines) >= 3:
            return join_lines([ln.text for ln in lines])
    return ""


def is_abstract_label(line: Line) -> bool:
    """'Abstract' alone, 'Abstract—text', 'Abstract. text', or a set-apart 'Abstract' word: not a title that
    merely begins with the word ("Abstract Meaning Representation for ...")."""
    m = _ABSTRACT.match(line.text)
    if not m or line.furniture:
        return False
    rest = line.text[m.end():]
    if not rest or re.search(r"[—–\-:.]\s*$", line.text[:m.end()]):
        return True
    first = line.spans[0]
    return first.bold != line.spans[-1].bold or first.font != line.spans[-1].font or bool(first.flags & 2) != bool(line.spans[-1].flags & 2)


def read_header(page: PageText, body: float) -> FrontMatter:
    """Title, authors and affiliations of page 1; their lines are marked "front" so no figure swallows them."""
    label = next((ln for ln in page.lines if is_abstract_label(ln)), None)
    if label is not None:
        stop = label.y0
    else:
        # No abstract label: the front matter ends at the first numbered section heading, or low on the page.
        first = [ln.y0 for ln in page.lines if re.match(r"^(1\.?|I\.)\s+[A-Z]", ln.text) and (ln.bold or ln.size > body * 1.1
                 or ln.text.isupper()) and len(ln.text) < 60]
        stop = min([page.height * 0.6] + first)
    title, title_lines = find_title(page, body, stop)
    top = max((ln.y1 for ln in title_lines), default=0.0)
    region = [ln for ln in page.lines if ln.y0 >= top - 1 and ln.y1 <= stop + 1 and ln not in title_lines]
    authors, affiliations, used, first_line = find_authors(region)
    for ln in title_lines + used:
        ln.role = "front"
    if not affiliations:
        affiliations = footnotes(page, body)  # ICML, IEEE journals: "1 Univ. of X" or "A is with Y" at the foot
    names: list[str] = []
    for a in affiliations:
        names += [n for n in a.names if n not in names]
    first = authors[0] if authors else ""
    marks = marks_after(first_line, first) if first_line is not None and first else set()
    return FrontMatter(title=title, authors=authors, affiliations=names,
                       first_author_affiliations=first_authors(affiliations, first_line, first, marks) if first else [])


def read_abstract(front: FrontMatter, page: PageText, ordered: list[Line]) -> None:
    """Fill in the abstract, once headings and figures have marked their lines."""
    abstract, label = find_abstract(ordered)
    if label is not None:
        label.role = "abstract"
    if not abstract:
        after = max((ln.y1 for ln in page.lines if ln.role == "front"), default=0.0)
        abstract = first_paragraph(ordered, after, page.number)
    front.abstract = abstract
