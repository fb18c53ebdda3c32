"""Figures: caption detection, the figure region on the page, and PNG crops.

A caption is a block that *starts* with "Figure N"/"Fig. N" followed by a delimiter or set in a label style of its
own, so a sentence that merely begins with "Fig. 1" is not one. The region is what the page draws (vector paths,
images, in-figure text) between the caption and the nearest body text above it, within the caption's column; if
nothing is there, below it (captions set on top), then beside it (wrapped figures with side captions).
"""
from __future__ import annotations

import logging
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import pymupdf

from chatpaper.paper import Figure, Table
from chatpaper.pdf.document import check_images
from chatpaper.pdf.columns import is_two_column, text_frame
from chatpaper.pdf.layout import Block, Line, PageText, join_lines
from chatpaper.pdf.tables import read_cells, to_markdown

log = logging.getLogger(__name__)

_FIG = re.compile(r"^(figure|fig\.?)\s*(\d{1,3})(?![\d.]\d)\s*(?P<delim>[:.|]|—|–|-)?\s*", re.I)
_TABLE = re.compile(r"^(table|tab\.)\s*(\d{1,3}|[IVX]{1,5})\b\s*([:.|]|—|–|-)?", re.I)
_NUMBERED = re.compile(r"^((\d{1,2}(\.\d{1,2})*\.?|[IVX]{1,5}\.)\s+[A-Z][a-zA-Z]|(?i:references|acknowledge?ments?|appendix)\b)")
_RENDER_DPI = 150
_MAX_PIXELS_SIDE = 4000  # cap of a crop's pixmap side: an absurd page or region never allocates gigabytes

Rect = tuple[float, float, float, float]


@dataclass
class Caption:
    """A figure or table caption found on a page."""

    kind: str  #: "figure" or "table"
    number: int | str  #: the printed number
    block: Block  #: the caption's block
    lines: list[Line]  #: the caption's lines
    text: str  #: full caption text

    @property
    def bbox(self) -> Rect:
        return (min(ln.x0 for ln in self.lines), min(ln.y0 for ln in self.lines),
                max(ln.x1 for ln in self.lines), max(ln.y1 for ln in self.lines))


def _label_set_apart(line: Line, label_len: int) -> bool:
    """True when the label's spans differ in weight or font from the caption text after it."""
    head, tail, n = [], [], 0
    for s in line.spans:
        (head if n < label_len else tail).append(s)
        n += len(s.text)
    if not head or not tail:
        return False
    return head[0].bold != tail[-1].bold or head[0].font != tail[-1].font


def _starts_anew(prev: Line, ln: Line) -> bool:
    """A line inside a block starts a new paragraph (not "... shown in / Fig. 1. Results" mid-sentence)."""
    return (ln.y0 - prev.y1 > 0.6 * ln.size or abs(prev.size - ln.size) > 0.5 or prev.width < 0.75 * ln.width
            or prev.text.rstrip().endswith((".", ":", "!", "?")))


def _caption_lines(page: PageText, b: Block, i: int) -> list[Line]:
    """The caption's lines: from its first line to where the type size changes (body text glued below it);
    a label standing alone ("Figure 3:" in a block of its own) takes the block beside or under it."""
    first = b.lines[i]
    lines = [first]
    for ln in b.lines[i + 1:]:
        if abs(ln.size - first.size) > 0.8 and len(ln.text) > 3:
            break
        lines.append(ln)
    if len(lines) == 1 and len(first.text) < 14:
        for other in page.blocks:
            o = other.lines[0]
            beside = abs((o.y0 + o.y1) / 2 - (first.y0 + first.y1) / 2) < 0.4 * first.size and 0 <= o.x0 - first.x1 < 3 * first.size
            under = 0 <= o.y0 - first.y1 < 0.8 * first.size and abs(o.x0 - first.x0) < 4 * first.size
            if other is not b and (beside or under):
                lines.extend(other.lines)
                break
    return lines


def find_captions(page: PageText) -> list[Caption]:
    """Figure and table captions on a page, each starting its own block."""
    out: list[Caption] = []
    for b in page.blocks:
        for i, ln in enumerate(b.lines):
            # A caption starts a block; PyMuPDF sometimes glues it under a figure's last text row.
            if i > 0 and not _starts_anew(b.lines[i - 1], ln):
                continue
            m = _FIG.match(ln.text)
            t = None if m else _TABLE.match(ln.text)
            if m and (m.group("delim") or _label_set_apart(ln, m.end(2))):
                kind, number = "figure", int(m.group(2))
            elif t and (t.group(3) or _label_set_apart(ln, t.end(2)) or ln.text.isupper()):
                kind, number = "table", t.group(2)
            else:
                continue
            lines = _caption_lines(page, b, i)
            out.append(Caption(kind, number, b, lines, join_lines([x.text for x in lines])))
            break
    return out


def _graphics(page: pymupdf.Page) -> list[Rect]:
    """Boxes of what the page draws besides text: paths, images, shadings (page-size backgrounds left out)."""
    area = page.rect.width * page.rect.height
    out = []
    for kind, r in page.get_bboxlog():
        if kind.endswith("text") or kind.startswith(("clip", "ignore")):
            continue
        w, h = r[2] - r[0], r[3] - r[1]
        if w * h > 0.5 * area or (w < 1.5 and h < 1.5):
            continue
        out.append(tuple(r))
    return out


def _hoverlap(a: Rect, x0: float, x1: float) -> bool:
    return min(a[2], x1) - max(a[0], x0) > 2


def _union(rects: list[Rect]) -> Rect | None:
    if not rects:
        return None
    return (min(r[0] for r in rects), min(r[1] for r in rects), max(r[2] for r in rects), max(r[3] for r in rects))


def _inside(inner: Rect, outer: Rect, tol: float = 2) -> bool:
    return inner[0] >= outer[0] - tol and inner[1] >= outer[1] - tol and inner[2] <= outer[2] + tol and inner[3] <= outer[3] + tol


def _is_body_block(b: Block, body: float, span_w: float, boxes: list[Rect]) -> bool:
    """A paragraph of running text: it bounds a figure region rather than belonging to it."""
    lines = [ln for ln in b.lines if not ln.furniture]
    if len(lines) < 2 or any(ln.role in ("caption", "table") for ln in lines):
        return False
    text = " ".join(ln.text for ln in lines)
    if len(text) < 100 or text.startswith("("):
        return False
    if sum(c.isdigit() for c in text) > 0.2 * sum(not c.isspace() for c in text):
        return False  # rows of numbers: a table or a plot's ticks, not running text
    if sum(abs(ln.size - body) <= 1.0 for ln in lines) < 0.6 * len(lines) or lines[0].mono:
        return False
    bw = b.bbox[2] - b.bbox[0]
    if bw < 0.5 * span_w:
        return False
    # Running text is justified: its lines (the last aside) fill the block; pseudocode and listings are ragged.
    full = sum(ln.width >= 0.85 * bw for ln in lines[:-1])
    if full < 0.6 * (len(lines) - 1):
        return False
    # Text inside a drawn frame (a boxed listing or prompt) is part of the figure.
    return not any(_inside(b.bbox, r) and (r[2] - r[0]) * (r[3] - r[1]) > 1.2 * bw * (b.bbox[3] - b.bbox[1]) for r in boxes)


def _heading_like(ln: Line, body: float) -> bool:
    """A short standalone line in bold, capitals or larger type that starts like a section heading."""
    if ln.size < body * 0.95 or not re.match(r"^(\d+(\.\d+)*\.?|[IVX]+\.|[A-Z]\.)?\s*[A-Z]", ln.text):
        return False
    return (ln.bold or ln.size > body * 1.1 or ln.text.isupper()) and len(ln.text.split()) <= 12


def _column_span(page: PageText, cap: Caption, two_col: bool) -> tuple[float, float]:
    fx0, fx1 = text_frame(page)
    cx0, _, cx1, _ = cap.bbox
    if cx1 - cx0 > 0.6 * (fx1 - fx0):
        return min(fx0, cx0), max(fx1, cx1)
    if two_col:
        mid = (fx0 + fx1) / 2
        return (fx0, mid) if (cx0 + cx1) / 2 < mid else (mid, fx1)
    return cx0 - 4, cx1 + 4


def _grow(items: list[Rect], edge: float, up: bool, gap: float) -> list[Rect]:
    """Items connected to the caption edge through vertical gaps of at most ``gap``: one figure, not the page.

    One pass over the items sorted by their edge nearest the caption: once an item is out of reach, every later
    one is too, so a plot with tens of thousands of paths costs a sort, not a quadratic search.
    """
    chosen: list[Rect] = []
    frontier = edge
    for r in sorted(items, key=(lambda r: -r[3]) if up else (lambda r: r[1])):
        # The first step may be longer: in a row of figures aligned at the bottom, a short one stands off its caption.
        reach = gap if chosen else 2 * gap
        if (up and r[3] < frontier - reach) or (not up and r[1] > frontier + reach):
            break
        chosen.append(r)
        frontier = min(frontier, r[1]) if up else max(frontier, r[3])
    return chosen


def _widen(r: Rect, graphics: list[Rect], gap: float) -> Rect:
    """Grow a region sideways over graphics on its rows: a short caption under a wide figure sees only part of it."""
    x0, y0, x1, y1 = r
    rows = [g for g in graphics if min(g[3], y1) - max(g[1], y0) > 0.5 * (g[3] - g[1])]
    for g in sorted((g for g in rows if g[2] > x1), key=lambda g: g[0]):
        if g[0] > x1 + gap:
            break
        x1 = max(x1, g[2])
    for g in sorted((g for g in rows if g[0] < x0), key=lambda g: -g[2]):
        if g[2] < x0 - gap:
            break
        x0 = min(x0, g[0])
    return (x0, y0, x1, y1)


def _barriers(page: PageText, cap: Caption, sx0: float, sx1: float, graphics: list[Rect], captions: list[Caption],
              body: float) -> list[Rect]:
    """What bounds a figure within its column: paragraphs of running text, other captions, the title block."""
    boxes = [g for g in graphics if (g[2] - g[0]) > 20 and (g[3] - g[1]) > 10]
    out: list[Rect] = []
    for b in page.blocks:
        if b is cap.block or not _hoverlap(b.bbox, sx0, sx1):
            continue
        if _is_body_block(b, body, sx1 - sx0, boxes) or any(c.block is b for c in captions):
            out.append(b.bbox)
        else:
            out.extend(ln.bbox for ln in b.lines if ln.role == "front")
            # Title-sized type (page 1's title block) also bounds a teaser figure.
            out.extend(ln.bbox for ln in b.lines if ln.size > body * 1.3 and len(ln.text) > 3 and ln.role != "figure")
    return out


def _side_region(graphics: list[Rect], cap: Caption, captions: list[Caption]) -> Rect | None:
    """A wrapped figure with its caption set beside it: the nearest group of graphics left or right (not those
    standing right above another caption: that is the neighbouring figure of a row)."""
    cx0, cy0, cx1, cy1 = cap.bbox
    others = [c.bbox for c in captions if c is not cap]
    side = [g for g in graphics if (g[0] >= cx1 - 4 or g[2] <= cx0 + 4) and g[3] > cy0 - 200 and g[1] < cy1 + 10
            and (g[3] - g[1]) * (g[2] - g[0]) > 4
            and not any(_hoverlap(g, o[0], o[2]) and 0 <= o[1] - g[3] < 60 for o in others)]
    if not side:
        return None
    near = min(side, key=lambda g: abs((g[1] + g[3]) / 2 - (cy0 + cy1) / 2))
    group = [g for g in side if (g[0] >= cx1 - 4) == (near[0] >= cx1 - 4) and g[3] > near[1] - 40 and g[1] < near[3] + 40]
    r = _union(group)
    return r if r and r[3] - r[1] >= 12 and r[2] - r[0] >= 20 else None


def figure_region(page: PageText, cap: Caption, graphics: list[Rect], captions: list[Caption], body: float,
                  two_col: bool, below_first: bool = False) -> Rect | None:
    """The region of a caption's figure: above the caption, else below, else beside it (a table: below first)."""
    sx0, sx1 = _column_span(page, cap, two_col)
    _, cy0, _, cy1 = cap.bbox
    barriers = _barriers(page, cap, sx0, sx1, graphics, captions, body)
    above = max((r[3] for r in barriers if r[3] <= cy0 + 2), default=0.0)
    below = min((r[1] for r in barriers if r[1] >= cy1 - 2), default=page.height)
    free = [ln for ln in page.lines if not ln.furniture and ln.role != "caption"
            and not any(_inside(ln.bbox, bb) for bb in barriers)]
    lines = [ln.bbox for ln in free]
    # Labels and sub-captions tie a figure's parts together; a heading standing above the figure does not.
    # Rotated text inside the column (axis labels) belongs to a plot; the arXiv side stamp sits in the margin.
    turned = [ln.bbox for ln in page.rotated
              if ln.x0 >= sx0 - 2 and ln.x1 <= sx1 + 2 and not any(_inside(ln.bbox, bb) for bb in barriers)]
    lines += turned
    ties = [ln.bbox for ln in free if not _heading_like(ln, body)] + turned
    widen = not two_col or sx1 - sx0 > 0.6 * page.width
    bands = ((above, cy0, True), (cy1, below, False))
    found = []
    for top, bottom, up in (bands[::-1] if below_first else bands):
        r = _band_region(graphics, ties, lines, (sx0, top, sx1, bottom), up, 2.5 * body, widen)
        if r is not None:
            found.append((r, (cy0 - r[3]) if up else (r[1] - cy1)))
            if not below_first:
                break
    if found:
        # A table's caption may also stand under it (ACL): of the two sides, the one that starts right at the caption.
        r = found[1][0] if len(found) > 1 and found[1][1] < found[0][1] - 0.5 * body else found[0][0]
        return (max(r[0], 0), r[1], min(r[2], page.width), r[3])
    r = _side_region(graphics, cap, captions)
    if r is not None:
        return r
    if above == 0.0:
        above = min((ln.y0 for ln in page.lines if not ln.furniture), default=0.0) - 2
    if above < cy0 - 40:
        return (sx0, above, sx1, cy0)  # text-only figure (a listing): the space between caption and body text
    return None


def _band_region(graphics: list[Rect], ties: list[Rect], lines: list[Rect], band: Rect, up: bool, gap: float,
                 widen: bool) -> Rect | None:
    """The figure grown from the caption's edge through a band of the column; None when no drawing is in reach."""
    sx0, top, sx1, bottom = band
    if bottom - top < 12:
        return None

    def inband(r: Rect) -> bool:
        return r[3] > top + 1 and r[1] < bottom - 1 and _hoverlap(r, sx0, sx1)

    graph = [g for g in graphics if inband(g)]
    if not widen:
        # Two columns: a drawing wider than the column (an included figure's background, a clip box) counts only
        # for its part inside the column; the other column's text never joins the region.
        graph = [(max(g[0], sx0 - 6), g[1], min(g[2], sx1 + 6), g[3]) for g in graph]
        lines = [t for t in lines if sx0 - 6 <= (t[0] + t[2]) / 2 <= sx1 + 6]
        ties = [t for t in ties if sx0 - 6 <= (t[0] + t[2]) / 2 <= sx1 + 6]
    if not graph:
        return None
    chosen = _grow(graph + [t for t in ties if inband(t)], bottom if up else top, up, gap)
    drawn = set(graph)
    if not any(c in drawn for c in chosen):
        return None
    r = _union(chosen)
    if widen:
        # One column: a short caption under a wide figure sees only part of it. (Two columns: the column
        # bounds the figure; the neighbour's graphics across the gutter belong to another figure.)
        r = _widen(r, [g for g in graphics if g[3] > top + 1 and g[1] < bottom - 1], gap)
    inside = [t for t in lines if t[1] >= r[1] - 2 and t[3] <= r[3] + 2 and _hoverlap(t, r[0], r[2])]
    r = _union([r] + inside)
    r = (r[0], max(r[1], top), r[2], min(r[3], bottom))
    return r if r[3] - r[1] >= 12 and r[2] - r[0] >= 20 else None


def render_crop(page: pymupdf.Page | pymupdf.DisplayList, rect: Rect, path: Path, dpi: int = _RENDER_DPI) -> str | None:
    """Render a region of a page (or of its display list) to PNG, the pixmap size capped; returns the path written."""
    clip = pymupdf.Rect(rect) & page.rect
    if clip.is_empty or clip.width < 2 or clip.height < 2:
        return None
    scale = min(dpi / 72, _MAX_PIXELS_SIDE / clip.width, _MAX_PIXELS_SIDE / clip.height)
    pix = page.get_pixmap(matrix=pymupdf.Matrix(scale, scale), clip=clip, alpha=False)
    Path(path).write_bytes(fast_png(pix))
    return str(path)


def fast_png(pix: pymupdf.Pixmap) -> bytes:
    """PNG bytes with zlib level 1: crops are written in a fraction of MuPDF's default-level time, slightly larger."""
    if pix.n not in (1, 3) or pix.alpha:
        return pix.tobytes("png")
    stride, samples = pix.stride, pix.samples
    raw = b"".join(b"\x00" + samples[i * stride:(i + 1) * stride] for i in range(pix.height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", pix.width, pix.height, 8, 0 if pix.n == 1 else 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b"")


def _dedupe(found: list[tuple[int, Caption]]) -> list[tuple[int, Caption]]:
    """One figure per label; an appended supplement that restarts numbering at 1 may repeat labels."""
    out: list[tuple[int, Caption]] = []
    seen: set[int] = set()
    last_page = -1
    for pno, cap in found:
        n = int(cap.number)
        if n in seen:
            # A restart: "Figure 1" again on a later page than every figure so far.
            if n == 1 and pno > last_page and len(seen) > 1:
                seen = set()
            else:
                continue
        seen.add(n)
        last_page = max(last_page, pno)
        out.append((pno, cap))
    return out


def extract_figures(doc: pymupdf.Document, pages: list[PageText], body: float, images_dir: Path | None,
                    tables: list[Table] | None = None) -> list[Figure]:
    """Numbered figures with caption, page, region and (when images_dir is given) a PNG crop; numbered tables
    (caption, page, region, crop and cells) are appended to ``tables`` when it is given."""
    found: list[tuple[int, Caption]] = []
    per_page: dict[int, list[Caption]] = {}
    for p in pages:
        caps = find_captions(p)
        per_page[p.number] = caps
        for c in caps:
            for ln in c.lines:
                ln.role = "caption"
            if c.kind == "figure":
                found.append((p.number, c))
    figures: list[Figure] = []
    frame = _paper_frame(pages) if found else (0.0, 0.0)
    graphics_cache: dict[int, list[Rect]] = {}
    lists: dict[int, pymupdf.DisplayList] = {}  # one display list per page serves all of its crops
    for pno, cap in _dedupe(found):
        p = pages[pno]
        if pno not in graphics_cache:
            graphics_cache[pno] = _graphics(doc[pno])
        two_col = is_two_column(p)
        rect = figure_region(p, cap, graphics_cache[pno], per_page[pno], body, two_col)
        if rect:
            rect = _clip_to_frame(p, rect, frame)
        guessed = rect is None
        if guessed:
            rect = _guess_region(p, cap, two_col)
        fig = Figure(label=f"Figure {cap.number}", caption=cap.text, page=pno + 1,
                     bbox=tuple(round(v, 1) for v in rect) if rect else None)
        if rect and not guessed:
            _mark_inside(p, rect, "figure")
        if rect:
            if images_dir is not None:
                name = f"page{pno + 1:03d}-figure{cap.number}-{len(figures) + 1}.png"
                fig.image = _crop_png(doc, lists, pno, rect, images_dir / name)
        figures.append(fig)
    seen_tables: set[str] = set()
    for pno, caps in per_page.items():
        for cap in caps:
            if cap.kind == "table":
                if pno not in graphics_cache:
                    graphics_cache[pno] = _graphics(doc[pno])
                # Tables carry their caption on top: look below it first.
                rect = figure_region(pages[pno], cap, graphics_cache[pno], caps, body, is_two_column(pages[pno]),
                                     below_first=True)
                if rect:
                    rect = _clip_to_frame(pages[pno], rect, frame if found else _paper_frame(pages))
                    _mark_inside(pages[pno], rect, "table")
                label = f"Table {cap.number}"
                if tables is None or label in seen_tables:
                    continue
                seen_tables.add(label)
                table = Table(label=label, caption=cap.text, page=pno + 1,
                              bbox=tuple(round(v, 1) for v in rect) if rect else None)
                if rect:
                    table.rows = read_cells(doc[pno].get_text("words", clip=pymupdf.Rect(rect)))
                    table.markdown = to_markdown(table.rows)
                    if images_dir is not None:
                        name = f"page{pno + 1:03d}-table{cap.number}-{len(tables) + 1}.png"
                        table.image = _crop_png(doc, lists, pno, rect, images_dir / name)
                tables.append(table)
    return figures


def _crop_png(doc, lists: dict, pno: int, rect, path: Path):
    """Write the crop ``rect`` of page ``pno`` as a PNG; each page's images are checked and listed once."""
    if pno not in lists:
        check_images(doc[pno])
        lists[pno] = doc[pno].get_displaylist()
    return render_crop(lists[pno], rect, path)

def _guess_region(page: PageText, cap: Caption, two_col: bool) -> Rect | None:
    """No drawing found for a caption: the column band above it (or, near the page top, below it) is the best guess."""
    sx0, sx1 = _column_span(page, cap, two_col)
    _, cy0, _, cy1 = cap.bbox
    top = min((ln.y0 for ln in page.lines if not ln.furniture), default=0.0)
    bottom = max((ln.y1 for ln in page.lines if not ln.furniture), default=page.height)
    if cy0 - top >= 60:
        return (sx0, max(top, cy0 - 0.35 * page.height), sx1, cy0)
    if bottom - cy1 >= 60:
        return (sx0, cy1, sx1, min(bottom, cy1 + 0.35 * page.height))
    return None


def _paper_frame(pages: list[PageText]) -> tuple[float, float]:
    """The text frame most pages share: a last page with only its left column filled still has the full frame."""
    frames = sorted(text_frame(p) for p in pages if sum(len(ln.text) > 20 and not ln.furniture for ln in p.lines) >= 10)
    if not frames:
        return (0.0, 0.0)
    mid = frames[len(frames) // 2]
    return (mid[0], sorted(f[1] for f in frames)[len(frames) // 2])


def _clip_to_frame(page: PageText, rect: Rect, paper_frame: tuple[float, float] = (0.0, 0.0)) -> Rect | None:
    """Keep a region inside the text frame and below the running head: included PDF figures often carry
    background boxes that reach into the margins."""
    fx0, fx1 = text_frame(page)
    if paper_frame[1] > paper_frame[0]:
        fx0, fx1 = min(fx0, paper_frame[0]), max(fx1, paper_frame[1])
    if sum(len(ln.text) > 20 and not ln.furniture for ln in page.lines) < 10:
        fx0, fx1 = 0.0, page.width  # too little text to know the frame
    # The running head (not a margin line number, nor a plot's tick label taken for one).
    head = max((ln.y1 for ln in page.lines if ln.furniture and ln.y1 < page.height * 0.15
                and not re.fullmatch(r"\d{1,4}", ln.text)), default=0.0)
    x0, y0, x1, y1 = max(rect[0], fx0 - 15), max(rect[1], head + 2), min(rect[2], fx1 + 15), rect[3]
    return (x0, y0, x1, y1) if x1 - x0 > 10 and y1 - y0 > 10 else rect


def _mark_inside(page: PageText, rect: Rect, role: str) -> None:
    """Lines inside a figure or table region are not body text."""
    for ln in page.lines:
        # A numbered heading never belongs to a figure: a region that reaches one was drawn too large.
        if not ln.role and _inside(ln.bbox, rect, tol=1) and not (_heading_like(ln, 0) and _NUMBERED.match(ln.text)):
            ln.role = role
