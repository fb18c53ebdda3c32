"""Text layout: PyMuPDF's ``dict`` output turned into small typed lines and blocks, plus page furniture.

Everything downstream (front matter, headings, figures) reasons over these objects, so the PDF is parsed once.
Lines that PyMuPDF splits on one baseline inside a block (a heading number set apart from its title, a row of
author names) are merged back into one ``Line`` whose spans keep their own boxes.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

import pymupdf

# Text without embedded images: the figure stage asks for image boxes separately, and skipping them is faster.
_TEXT_FLAGS = (pymupdf.TEXTFLAGS_DICT & ~pymupdf.TEXT_PRESERVE_IMAGES) | pymupdf.TEXT_MEDIABOX_CLIP
_SUPERSCRIPT, _ITALIC, _MONO, _BOLD = 1, 2, 8, 16
_MONO_FONT = re.compile(r"mono|courier|inconsolata|consol|typewriter|code|cmtt|sftt|\btt", re.I)
_LIGATURES = str.maketrans({"ﬁ": "fi", "ﬂ": "fl", "ﬀ": "ff", "ﬃ": "ffi", "ﬄ": "ffl", "\u00a0": " "})
# Spacing accents that TeX's \v{s}, \'c, \"o print as glyphs of their own ("Teˇsanovi´c"), each with the
# combining mark it stands for. TeX sets the accent before its letter; other producers may set it after.
_SPACING_ACCENTS = {"\u00b4": "\u0301", "\u02c7": "\u030c", "\u00a8": "\u0308", "\u02dc": "\u0303", "\u02c6": "\u0302",
                    "\u00b8": "\u0327", "\u02d8": "\u0306", "\u02d9": "\u0307", "\u02da": "\u030a", "\u02dd": "\u030b",
                    "\u02db": "\u0328", "\u00af": "\u0304", "`": "\u0300"}
_ACCENT_CHARS = re.compile("[" + "".join(_SPACING_ACCENTS) + "\u0300-\u036f]")


@dataclass(slots=True)
class Span:
    """A run of text in one font."""

    text: str  #: the characters, ligatures unfolded
    bbox: tuple[float, float, float, float]  #: box in PDF points
    size: float  #: font size in points
    font: str  #: font name
    flags: int  #: PyMuPDF span flags (superscript 1, italic 2, mono 8, bold 16)
    bold: bool = False  #: bold by flag or by font name (many Type 1 fonts only say so in the name)


@dataclass(slots=True)
class Line:
    """One printed line: spans on one baseline inside one block."""

    spans: list[Span]  #: spans left to right
    bbox: tuple[float, float, float, float]  #: box in PDF points
    page: int  #: 0-based page number
    block: int  #: index of the block on its page
    index: int = 0  #: position of the line inside its block
    text: str = ""  #: spans joined
    size: float = 0.0  #: dominant font size (by characters)
    bold: bool = False  #: most characters bold
    italic: bool = False  #: most characters italic
    mono: bool = False  #: most characters monospaced
    font: str = ""  #: dominant font
    furniture: bool = False  #: running head, page number, line number: not part of the text
    role: str = ""  #: what a later stage decided this line is ("caption", "figure", "heading", ...)
    key: tuple | None = None  #: cached heading style key (see headings.style_key)

    @property
    def x0(self) -> float:
        return self.bbox[0]

    @property
    def y0(self) -> float:
        return self.bbox[1]

    @property
    def x1(self) -> float:
        return self.bbox[2]

    @property
    def y1(self) -> float:
        return self.bbox[3]

    @property
    def width(self) -> float:
        return self.bbox[2] - self.bbox[0]

    @property
    def style(self) -> tuple[float, bool]:
        """Rounded size and weight: lines set alike compare equal."""
        return (round(self.size * 2) / 2, self.bold)


@dataclass
class Block:
    """A paragraph-like group of lines as PyMuPDF found it."""

    lines: list[Line]  #: lines top to bottom
    bbox: tuple[float, float, float, float]  #: box in PDF points
    page: int  #: 0-based page number
    index: int  #: index on its page

    @property
    def text(self) -> str:
        return join_lines([ln.text for ln in self.lines])


@dataclass
class PageText:
    """The text of one page."""

    number: int  #: 0-based page number
    width: float  #: page width in points
    height: float  #: page height in points
    blocks: list[Block] = field(default_factory=list)  #: upright text blocks
    rotated: list[Line] = field(default_factory=list)  #: rotated lines (arXiv stamps, axis labels)

    @property
    def lines(self) -> list[Line]:
        return [ln for b in self.blocks for ln in b.lines]


def _compose(letter: str, accent: str) -> str | None:
    """The letter with the accent as one precomposed character, or None when Unicode has none."""
    base = "i" if letter == "\u0131" else "j" if letter == "\u0237" else letter  # TeX accents a dotless i: \'\\i
    out = unicodedata.normalize("NFC", base + _SPACING_ACCENTS[accent])
    return out if len(out) == 1 else None


def fold_accents(text: str) -> str:
    """Spacing accents printed as glyphs of their own joined to their letter: "Teˇsanovi´c" -> "Tešanović"."""
    if not _ACCENT_CHARS.search(text):
        return text  # the common case costs one regex scan
    chars = list(text)
    out: list[str] = []
    i = 0
    while i < len(chars):
        c = chars[i]
        if c in _SPACING_ACCENTS:
            nxt = chars[i + 1] if i + 1 < len(chars) else ""
            prev = out[-1] if out else ""
            # A grave accent is also a backquote: only between letters is it surely an accent.
            if c == "`" and not (prev.isalpha() and nxt.isalpha()):
                out.append(c)
                i += 1
                continue
            skip = 1
            if nxt == " " and i + 2 < len(chars) and chars[i + 2].isalpha():
                nxt, skip = chars[i + 2], 2  # an extraction space between the accent and its letter ("Sch¨ olkopf")
            after = _compose(nxt, c) if nxt.isalpha() else None
            if after:
                out.append(after)
                i += 1 + skip
                continue
            before = _compose(prev, c) if prev.isalpha() else None
            if before:
                out[-1] = before
                i += 1
                continue
        out.append(c)
        i += 1
    return unicodedata.normalize("NFC", "".join(out))


def join_lines(texts: list[str]) -> str:
    """Join printed lines into running text, undoing end-of-line hyphenation."""
    out = ""
    for t in texts:
        t = t.strip()
        if not t:
            continue
        # A line-end hyphen splits a word ("in-" / "duces"), unless a compound goes on ("text-" / "to-motion").
        if out.endswith("-") and len(out) > 1 and out[-2].isalpha() and t[:1].isalpha() and "-" not in t.split(" ")[0]:
            out = out[:-1] + t
        elif out.endswith("-") and len(out) > 1 and out[-2].isalpha():
            out = out + t
        else:
            out = f"{out} {t}" if out else t
    return out


@functools.lru_cache(maxsize=512)
def _is_mono(font: str) -> bool:
    return bool(_MONO_FONT.search(font))


_LEAD = re.compile(r"^[\d\W]+")  # a section number before a small-caps initial ("2. P" + "ROBLEM")


def _dominant(spans: list[Span]) -> tuple[float, bool, bool, bool, str]:
    """Size, bold, italic, mono and font of the characters that are the majority."""
    if len(spans) == 1:  # the common case, kept cheap: most lines are one span
        s = spans[0]
        return round(s.size, 1), s.bold, bool(s.flags & _ITALIC), bool(s.flags & _MONO) or _is_mono(s.font), s.font
    sizes: dict[float, int] = {}
    fonts: dict[str, int] = {}
    bold = italic = mono = total = 0
    for s in spans:
        n = len(s.text) or 1
        total += n
        key = round(s.size, 1)
        sizes[key] = sizes.get(key, 0) + n
        fonts[s.font] = fonts.get(s.font, 0) + n
        if s.bold:
            bold += n
        if s.flags & _ITALIC:
            italic += n
        if s.flags & _MONO or _is_mono(s.font):
            mono += n
    size = max(sizes.items(), key=lambda kv: (kv[1], kv[0]))[0]
    # A small-caps line is mostly the small size; its capitals carry the real size.
    biggest = max(sizes)
    if biggest != size and biggest < size * 1.35 and any(_LEAD.sub("", s.text)[:1].isupper() for s in spans if round(s.size, 1) == biggest):
        size = biggest
    return size, bold * 2 > total, italic * 2 > total, mono * 2 > total, max(fonts.items(), key=lambda kv: kv[1])[0]


_BOLD_FONT = re.compile(r"bold|black|heavy|semibold|-b\b|\.b\b|cmbx", re.I)


@functools.lru_cache(maxsize=512)
def _bold_font(font: str) -> bool:
    return bool(_BOLD_FONT.search(font))


def _is_bold(span: dict) -> bool:
    return bool(span["flags"] & _BOLD) or _bold_font(span["font"])


def spans_text(spans: list[Span]) -> str:
    """Spans joined left to right, with a space where the gap between two spans is a word space."""
    if len(spans) == 1:
        return " ".join(spans[0].text.split())
    parts: list[str] = []
    prev: Span | None = None
    for s in spans:
        if prev is not None and parts and not parts[-1].endswith(" ") and not s.text.startswith(" "):
            gap = s.bbox[0] - prev.bbox[2]
            if gap > 0.25 * max(2.0, min(s.size, prev.size)):
                parts.append(" ")
        parts.append(s.text)
        prev = s
    return re.sub(r"\s+", " ", "".join(parts)).strip()


def _make_line(spans: list[Span], page: int, block: int) -> Line:
    x0 = min(s.bbox[0] for s in spans)
    y0 = min(s.bbox[1] for s in spans)
    x1 = max(s.bbox[2] for s in spans)
    y1 = max(s.bbox[3] for s in spans)
    size, bold, italic, mono, font = _dominant(spans)
    text = spans_text(spans)
    return Line(spans=spans, bbox=(x0, y0, x1, y1), page=page, block=block, text=text, size=size, bold=bold,
                italic=italic, mono=mono, font=font)


def read_page(page: pymupdf.Page, number: int) -> PageText:
    """Parse one page's text into blocks of lines."""
    rect = page.rect
    out = PageText(number=number, width=rect.width, height=rect.height)
    data = page.get_text("dict", flags=_TEXT_FLAGS)
    for raw in data["blocks"]:
        if raw.get("type", 0) != 0:
            continue
        rows: list[list[Span]] = []
        side: list[list[Span]] = []  # a second caption set beside the first (two figures side by side)
        gutter: float | None = None
        for rl in raw["lines"]:
            spans = [Span(fold_accents(s["text"].translate(_LIGATURES)), tuple(s["bbox"]), s["size"], s["font"], s["flags"],
                          _is_bold(s)) for s in rl["spans"] if s["text"].strip()]
            spans = _glue_accents(spans)
            if not spans:
                continue
            dx, dy = rl["dir"]
            if abs(dy) > 0.2 or dx < 0:
                out.rotated.append(_make_line(spans, number, -1))
                continue
            if gutter is not None:
                left = [s for s in spans if s.bbox[2] <= gutter + 1]
                right = [s for s in spans if s.bbox[2] > gutter + 1]
                if left:
                    _add_row(rows, left)
                if right:
                    _add_row(side, right)
                continue
            last = rows[-1] if rows else None
            if last is not None and _same_row(last, spans) and spans[0].bbox[0] - max(s.bbox[2] for s in last) > 1.5 * spans[0].size \
                    and _CAPTION_START.match(spans[0].text):
                gutter = spans[0].bbox[0] - 1
                side.append(spans)
                continue
            _add_row(rows, spans)
        for group in (rows, side):
            if not group:
                continue
            idx = len(out.blocks)
            lines = [_make_line(r, number, idx) for r in group]
            for i, ln in enumerate(lines):
                ln.index = i
            bbox = (min(ln.x0 for ln in lines), min(ln.y0 for ln in lines), max(ln.x1 for ln in lines), max(ln.y1 for ln in lines))
            out.blocks.append(Block(lines=lines, bbox=bbox, page=number, index=idx))
    _join_set_apart_numbers(out)
    return out


_CAPTION_START = re.compile(r"^\s*(fig\.?|figure|table)\s*\d", re.I)


def _same_row(last: list[Span], spans: list[Span]) -> bool:
    """True when the spans sit on the baseline of the row ``last``."""
    ly0, ly1 = min(s.bbox[1] for s in last), max(s.bbox[3] for s in last)
    sy0, sy1 = min(s.bbox[1] for s in spans), max(s.bbox[3] for s in spans)
    return min(ly1, sy1) - max(ly0, sy0) > 0.5 * min(ly1 - ly0, sy1 - sy0)


def _add_row(rows: list[list[Span]], spans: list[Span]) -> None:
    """Append a line's spans; on the previous row's baseline and right of it (a number set apart, names in a row)
    they join that row."""
    if rows and _same_row(rows[-1], spans) and spans[0].bbox[0] >= max(s.bbox[2] for s in rows[-1]) - 1:
        rows[-1].extend(spans)
    else:
        rows.append(spans)


def _glue_accents(spans: list[Span]) -> list[Span]:
    """A span that is only a spacing accent (set in a font of its own) joins the letter in the next span."""
    if len(spans) < 2 or not any(len(s.text.strip()) == 1 and s.text.strip() in _SPACING_ACCENTS for s in spans):
        return spans
    out: list[Span] = []
    i = 0
    while i < len(spans):
        s = spans[i]
        acc = s.text.strip()
        if len(acc) == 1 and acc in _SPACING_ACCENTS and acc != "`":
            nxt = spans[i + 1] if i + 1 < len(spans) else None
            if nxt is not None and nxt.text[:1].isalpha() and _compose(nxt.text[0], acc):
                box = (min(s.bbox[0], nxt.bbox[0]), min(s.bbox[1], nxt.bbox[1]), nxt.bbox[2], max(s.bbox[3], nxt.bbox[3]))
                out.append(Span(fold_accents(acc + nxt.text), box, nxt.size, nxt.font, nxt.flags, nxt.bold))
                i += 2
                continue
            if out and out[-1].text[-1:].isalpha() and _compose(out[-1].text[-1], acc):
                last = out[-1]
                last.text = fold_accents(last.text + acc)
                last.bbox = (last.bbox[0], min(last.bbox[1], s.bbox[1]), max(last.bbox[2], s.bbox[2]), last.bbox[3])
                i += 1
                continue
        out.append(s)
        i += 1
    return out


_SECTION_NUMBER = re.compile(r"^(\d{1,2}(\.\d{1,2})*\.?|[IVX]{1,5}\.?|[A-H]\.?)$")


def _join_set_apart_numbers(page: PageText) -> None:
    """A section number that PyMuPDF put in a block of its own joins the heading text on its baseline."""
    singles = [b for b in page.blocks if len(b.lines) == 1 and _SECTION_NUMBER.match(b.lines[0].text)]
    for b in singles:
        num = b.lines[0]
        for other in page.blocks:
            if other is b or not other.lines:
                continue
            first = other.lines[0]
            same_row = abs((first.y0 + first.y1) / 2 - (num.y0 + num.y1) / 2) < 0.3 * num.size
            if same_row and 0 <= first.x0 - num.x1 < 3 * num.size and abs(first.size - num.size) < 0.6:
                merged = _make_line(num.spans + first.spans, page.number, other.index)
                other.lines[0] = merged
                other.bbox = (min(other.bbox[0], num.x0), other.bbox[1], other.bbox[2], other.bbox[3])
                b.lines = []
                break
    page.blocks = [b for b in page.blocks if b.lines]


def body_size(pages: list[PageText]) -> float:
    """The font size most characters are set in: the body text."""
    sizes: Counter = Counter()
    for p in pages:
        for ln in p.lines:
            sizes[round(ln.size * 2) / 2] += len(ln.text)
    return sizes.most_common(1)[0][0] if sizes else 10.0


_DIGITS = re.compile(r"\d+")


def mark_furniture(pages: list[PageText], body: float) -> None:
    """Flag running heads, footers, page numbers and margin line numbers, which are not part of the text."""
    seen: Counter = Counter()
    margin_lines: list[tuple[Line, str]] = []
    for p in pages:
        top, bottom = p.height * 0.085, p.height * 0.92
        for ln in p.lines:
            if ln.y1 <= top or ln.y0 >= bottom:
                key = _DIGITS.sub("#", ln.text.lower())
                margin_lines.append((ln, key))
                seen[key] += 1
            if re.fullmatch(r"\d{1,4}", ln.text) and (ln.x1 < p.width * 0.12 or ln.x0 > p.width * 0.88):
                ln.furniture = True  # review line numbers in the margin
    repeat = max(2, len(pages) // 4) if len(pages) > 2 else 2
    for ln, key in margin_lines:
        if ln.size > body * 1.3:
            continue  # large type near the top is a title set high, even when the running head repeats it
        if seen[key] >= repeat or re.fullmatch(r"[#\W]*(page)?[#\W]*", key):
            ln.furniture = True
    # A running head set lower than the margin band (LNCS sets it inside the type area): the same words at the same
    # height on three or more pages, in the top or bottom band of the page.
    heights: Counter = Counter()
    bands: list[tuple[Line, tuple]] = []
    for p in pages:
        for ln in p.lines:
            if not ln.furniture and (ln.y1 <= p.height * 0.15 or ln.y0 >= p.height * 0.88) and ln.size <= body * 1.3:
                key = (_DIGITS.sub("", ln.text.lower()).strip(), round(ln.y0 / 4))
                if len(key[0]) >= 4:
                    bands.append((ln, key))
                    heights[key] += 1
    for ln, key in bands:
        if heights[key] >= 3:
            ln.furniture = True


def _opens_with_mark(line: Line) -> bool:
    """True when a line starts with a footnote mark: a symbol or a number in type well under the line's own ("1 *",
    "†")."""
    lead = ""
    for span in line.spans:  # the run of small type the line starts with
        if span.size >= 0.8 * line.size:
            break
        lead += span.text
    return bool(re.fullmatch(r"\s*[\d*∗†‡§¶][\d*∗†‡§¶\s,]*", lead))


def mark_footnotes(pages: list[PageText], body: float) -> None:
    """Flag footnotes (and venue notes such as "Preprint. Under review.") at the foot of a column: a run of lines in
    smaller type set off from the running text above by a gap, with nothing but small type below it.

    They would otherwise land mid-sentence in the section text. Run after the figure stage, so captions and
    figure or table text (which have roles already) are never taken for footnotes.
    """
    small_size = body - 0.7
    for p in pages:
        lines = [ln for ln in p.lines if not ln.furniture]
        small = sorted((ln for ln in lines if not ln.role and ln.size < small_size and ln.y0 > 0.6 * p.height),
                       key=lambda ln: ln.y0)
        done: set[int] = set()
        for s in small:
            if id(s) in done:
                continue
            above = [ln for ln in lines if ln.y1 <= s.y0 + 1 and min(ln.x1, s.x1) - max(ln.x0, s.x0) > 0]
            if not above:
                continue
            near = max(above, key=lambda ln: ln.y1)
            # The text above is body text, or text in the footnote's own type (an abstract set small) when the
            # footnote opens with a mark: cl4d's "1 *These authors contributed equally." split its abstract.
            if near.role or (abs(near.size - body) > 0.6 and not _opens_with_mark(s)) or s.y0 - near.y1 < 0.6 * body:
                continue
            zone = [ln for ln in lines if ln.y0 >= s.y0 - 1 and min(ln.x1, near.x1) - max(ln.x0, near.x0) > 0]
            # A program listing in small type at a column's foot is content, not a footnote (a URL in one is fine).
            listing = sum(ln.mono for ln in zone) * 2 > len(zone)
            if zone and not listing and all(ln.size < small_size and not (ln.role or ln.bold) for ln in zone) and \
                    max(ln.y1 for ln in zone) - s.y0 < 0.3 * p.height:
                for ln in zone:
                    ln.role = "footnote"
                    done.add(id(ln))
