"""Headings and sections: which lines are section headings, at what level, and the body text under each.

Rules come from typography, not from a list of expected names: the style (size, weight, capitals) shared by the
numbered top-level headings ("1 Introduction", "II. METHOD") is learned per paper, and unnumbered lines set in
that style ("References", "Acknowledgements", "Broader Impacts") are top-level headings too.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from chatpaper.paper import Section
from chatpaper.pdf.layout import Line, join_lines

_ARABIC = re.compile(r"^(\d{1,2}(?:\.\d{1,2})*)\.?\s+(\S.*)$")
_ROMAN = re.compile(r"^([IVX]{1,5})\.\s*(\S.*)$")
_LETTER = re.compile(r"^([A-H](?:\.\d{1,2})*)\.?\s+(\S.*)$")
# Back-matter headings that journals often set in a style of their own (italic, unnumbered); a general
# vocabulary of scholarly documents, not names taken from any one paper.
_BACK_MATTER = re.compile(r"^(references|bibliography|acknowledge?ments?|appendix|appendices|supplementary( material)?s?|"
                          r"supplemental materials?|broader impacts?.*|ethics statement|limitations|conclusions?)$", re.I)
_NOT_HEADING = re.compile(r"^(abstract|index terms|keywords|contents|table of contents)\b", re.I)


@dataclass
class Heading:
    """A line taken for a heading."""

    line: Line  #: the (first) line
    text: str  #: heading as printed, number kept
    level: int  #: 1 = top level
    numbered: bool  #: starts with a section number


def _caps(text: str) -> bool:
    letters = sum(map(str.isalpha, text))
    return letters >= 3 and sum(map(str.isupper, text)) >= 0.8 * letters


def style_key(line: Line) -> tuple[float, bool, bool]:
    """Size, weight and capitals: what top-level headings of one paper share."""
    if line.key is None:
        line.key = (round(line.size * 2) / 2, line.bold, _caps(_ARABIC.sub(r"\2", line.text)))
    return line.key


def _number(text: str) -> tuple[str, int, str] | None:
    """(kind, depth, rest) for a numbered heading text, else None."""
    m = _ARABIC.match(text)
    if m:
        return "arabic", m.group(1).count(".") + 1, m.group(2)
    m = _ROMAN.match(text)
    if m:
        return "roman", 1, m.group(2)
    m = _LETTER.match(text)
    if m and not re.match(r"^[A-Z]\.?\s+[a-z]", text):
        return "letter", m.group(1).count(".") + 1, m.group(2)
    return None


def _uniform(line: Line) -> bool:
    """True when the whole line is set in one style: a run-in heading has body text after it."""
    main = [s for s in line.spans if len(s.text.strip()) > 2 and not (s.flags & 1)]
    if not main:
        return True
    bolds = {s.bold for s in main}
    sizes = [s.size for s in main]
    return len(bolds) == 1 and max(sizes) - min(sizes) < max(sizes) * 0.3


def _candidate(line: Line, prev: Line | None, body: float) -> bool:
    """Could this line be a heading at all: short, standalone, set apart from body text."""
    t = line.text
    if line.furniture or line.role or len(t) > 150 or len(t) < 3 or not t[0].isalnum():
        return False
    if not _uniform(line) or _toc_entry(line) or line.mono:
        return False  # (a numbered line in typewriter type is a line of a listing or a record layout)
    if prev is not None and prev.block == line.block and style_key(prev) == style_key(line) and not prev.role:
        return False  # continuation of a paragraph (or of a heading joined below)
    if t.endswith((",", ";")) or re.search(r"[=<>]|\.\s*$", t) and not re.match(r"^[\dIVX.]+\s*$", t.split(" ")[0]):
        # "2. Related Work." with a closing period (some journals); a longer numbered line ending in a period is a
        # list item, unless it is set in bold or larger type.
        words = 8 if line.bold or line.size >= body * 1.1 else 3
        return t.endswith(".") and len(t.split()) <= words and _number(t) is not None
    return True


def _toc_entry(line: Line) -> bool:
    """A table-of-contents entry (an appendix often opens with one): dot leaders, or a wide gap before a closing
    page number."""
    if re.search(r"(\.\s*){4,}\d{1,4}$", line.text):
        return True
    if len(line.spans) < 2 or not re.fullmatch(r"\d{1,4}", line.spans[-1].text.strip()):
        return False
    return line.spans[-1].bbox[0] - line.spans[-2].bbox[2] > 2 * line.size


def _heading_like(line: Line, body: float) -> bool:
    return line.size >= body * 1.1 or line.bold or _caps(_ARABIC.sub(r"\2", line.text)) or line.italic and line.size >= body


def _candidates(ordered: list[Line], body: float) -> list[tuple[Line, tuple[str, int, str] | None]]:
    """Lines that could be headings, each with its parsed number (or None)."""
    cands: list[tuple[Line, tuple[str, int, str] | None]] = []
    prev: Line | None = None
    for ln in ordered:
        if _candidate(ln, prev, body) and _heading_like(ln, body):
            num = _number(ln.text)
            if num is None or len(num[2].split()) <= 18:
                cands.append((ln, num))
        prev = ln
    return cands


def _top_style(cands: list[tuple[Line, tuple[str, int, str] | None]]) -> tuple | None:
    """The style most numbered top-level headings ("1 Introduction", "II. METHOD") share, if any."""
    styles: Counter = Counter()
    numbers: dict[tuple, set[str]] = {}
    for ln, num in cands:
        if num and num[1] == 1 and num[0] in ("arabic", "roman") and re.match(r"[A-Z]", num[2]):
            styles[style_key(ln)] += 1
            numbers.setdefault(style_key(ln), set()).add(ln.text.split()[0].rstrip("."))
    if not styles:
        return None
    # Section numbers count up (1, 2, 3 ...): the style with the most distinct numbers wins, not the most lines; the
    # rows of a table that start with a number ("4 CARD32 N_ALIASES") repeat a few numbers many times.
    return max(styles, key=lambda k: (len(numbers[k]), styles[k]))


def find_headings(ordered: list[Line], body: float) -> list[Heading]:
    """Headings in reading order, with levels."""
    cands = _candidates(ordered, body)
    top = _top_style(cands)
    if top is None:
        return _unnumbered_only(cands, body)
    headings: list[Heading] = []
    started = False
    last_part: Line | None = None
    for ln, num in cands:
        key = style_key(ln)
        if num and not re.match(r"[A-Z0-9]", num[2]):
            continue  # "2 ρ ← RETRIEVE(O)": a numbered line of pseudocode, not a heading
        same = abs(key[0] - top[0]) <= 0.5 and key[1] == top[1] and (key[2] == top[2] or not top[2] and num)
        if num and num[1] == 1 and same:
            started = True
            headings.append(Heading(ln, ln.text, 1, True))
        elif num and num[0] == "letter" and num[1] == 1 and same:
            headings.append(Heading(ln, ln.text, 1, True))
        elif num and (num[1] >= 2 or num[0] == "letter") and key[0] <= top[0] + 0.5:
            if started:
                headings.append(Heading(ln, ln.text, min(num[1], 3) if num[0] != "letter" or num[1] > 1 else 2, True))
        elif not num and started and len(ln.text.split()) <= 10 and not _NOT_HEADING.match(ln.text):
            part = key[0] >= top[0] + 1.5
            if last_part and last_part.page == ln.page and -0.5 * ln.size <= ln.y0 - last_part.y1 < 1.5 * ln.size:
                last_part = ln if part else last_part
                continue  # continues or subtitles a part title: "Supplementary Material" under a repeated title
            if same and ln.text[0].isupper():
                headings.append(Heading(ln, ln.text, 1, False))
            elif _BACK_MATTER.match(ln.text.rstrip(":")) and (ln.bold or ln.italic or _caps(ln.text) or ln.size > body):
                headings.append(Heading(ln, ln.text.rstrip(":"), 1, False))
            elif part and len(ln.text.split()) >= 2 and ln.text[0].isupper() and _opens_page(ln, ordered):
                # A part title (an appended supplement); the lines right under it continue or subtitle it.
                headings.append(Heading(ln, ln.text, 1, False))
                last_part = ln
    return headings


def _opens_page(line: Line, ordered: list[Line]) -> bool:
    """True when no body line stands above this one on its page (an appended part's title opens a page)."""
    return not any(o.page == line.page and o.y1 < line.y0 and not o.furniture and len(o.text) > 30 for o in ordered)


def _unnumbered_only(cands: list[tuple[Line, object]], body: float) -> list[Heading]:
    """Papers without numbered sections: standalone lines set larger or bold than the body, in one style."""
    styles = Counter(style_key(ln) for ln, num in cands if not num and len(ln.text.split()) <= 8)
    if not styles:
        return []
    anchors = [style_key(ln) for ln, _ in cands if _BACK_MATTER.match(ln.text)]
    top = anchors[0] if anchors else styles.most_common(1)[0][0]
    return [Heading(ln, ln.text, 1, False) for ln, _ in cands
            if style_key(ln) == top and len(ln.text.split()) <= 10 and not _NOT_HEADING.match(ln.text)]


def extend_multiline(headings: list[Heading], ordered: list[Line]) -> list[Heading]:
    """A heading that wraps onto a second line keeps both lines (and the second is no heading of its own)."""
    pos = {id(ln): i for i, ln in enumerate(ordered)}
    absorbed: set[int] = set()
    for h in headings:
        i = pos.get(id(h.line))
        if i is None or id(h.line) in absorbed:
            continue
        h.line.role = "heading"
        while i + 1 < len(ordered):
            last, nxt = ordered[i], ordered[i + 1]
            near = nxt.block == last.block or (nxt.page == last.page and min(nxt.x1, last.x1) > max(nxt.x0, last.x0))
            alike = style_key(nxt)[:2] == style_key(last)[:2] and nxt.italic == last.italic and _same_case(nxt, last)
            if not (near and alike and -0.5 * last.size < nxt.y0 - last.y1 < 0.6 * last.size
                    and len(h.text) + len(nxt.text) < 200 and nxt.role in ("", "heading") and _number(nxt.text) is None):
                break
            h.text = join_lines([h.text, nxt.text])
            nxt.role = "heading"
            absorbed.add(id(nxt))
            i += 1
    return [h for h in headings if id(h.line) not in absorbed]


def _same_case(nxt: Line, last: Line) -> bool:
    """A heading in capitals goes on in capitals: a plain line under "1. INTRODUCTION" is body text, even when both
    are set in the same size and weight."""
    return style_key(nxt)[2] == style_key(last)[2] or sum(map(str.isalpha, nxt.text)) < 3


def build_sections(headings: list[Heading], ordered: list[Line]) -> list[Section]:
    """Sections with the body text under each heading (figure, table and furniture lines left out)."""
    starts = {id(h.line): h for h in headings}
    sections: list[Section] = []
    texts: list[list[Line]] = []
    for ln in ordered:
        h = starts.get(id(ln))
        if h is not None:
            sections.append(Section(heading=h.text, level=h.level, page=ln.page + 1))
            texts.append([])
        elif sections and not ln.furniture and not ln.role:
            texts[-1].append(ln)
    for s, lines in zip(sections, texts):
        s.text = join_lines([ln.text for ln in lines])
        s.page_breaks = _page_breaks(s, lines)
    return sections


def _page_breaks(section: Section, lines: list[Line]) -> list[tuple[int, int]]:
    """Where the section's text moves to another page: (offset in its text, 1-based page), so that a passage of it
    can name the page it is printed on. The offset is the length of the text joined up to that line."""
    breaks, page = [], section.page
    for i, ln in enumerate(lines):
        if ln.page + 1 != page:
            page = ln.page + 1
            offset = len(join_lines([x.text for x in lines[:i]]))
            breaks.append((offset + (1 if offset else 0), page))
    return breaks
