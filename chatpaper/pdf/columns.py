"""Columns and reading order: two-column pages are read column by column, full-width blocks cut the page in bands."""
from __future__ import annotations

from chatpaper.pdf.layout import Block, PageText


def text_frame(page: PageText) -> tuple[float, float]:
    """Left and right edge of the page's text (furniture excluded)."""
    xs0 = [ln.x0 for ln in page.lines if not ln.furniture and len(ln.text) > 20]
    xs1 = [ln.x1 for ln in page.lines if not ln.furniture and len(ln.text) > 20]
    if not xs0:
        return 0.0, page.width
    xs0.sort()
    xs1.sort()
    # Robust edges: ignore the odd line that sticks out (a wide equation, a margin note).
    k = max(0, len(xs0) // 50)
    return xs0[k], xs1[-1 - k]


def is_two_column(page: PageText) -> bool:
    """True when a good share of the page's body lines sit wholly in the left or the right half."""
    x0, x1 = text_frame(page)
    mid, width = (x0 + x1) / 2, x1 - x0
    left = right = full = 0
    for ln in page.lines:
        if ln.furniture or len(ln.text) < 25:
            continue
        if ln.x1 <= mid + 0.02 * width and ln.width > 0.3 * width:
            left += len(ln.text)
        elif ln.x0 >= mid - 0.02 * width and ln.width > 0.3 * width:
            right += len(ln.text)
        elif ln.width > 0.6 * width:
            full += len(ln.text)
    return left > 0.15 * (left + right + full) and right > 0.15 * (left + right + full)


def column_of(block: Block, mid: float, width: float) -> str:
    """'left', 'right' or 'span' for a block on a two-column page."""
    bx0, _, bx1, _ = block.bbox
    if bx1 <= mid + 0.03 * width:
        return "left"
    if bx0 >= mid - 0.03 * width:
        return "right"
    if bx1 - bx0 > 0.55 * width:
        return "span"
    return "left" if (bx0 + bx1) / 2 < mid else "right"


def reading_order(page: PageText) -> list[Block]:
    """The page's blocks in reading order."""
    blocks = [b for b in page.blocks if not all(ln.furniture for ln in b.lines)]
    if not is_two_column(page):
        return sorted(blocks, key=lambda b: (round(b.bbox[1]), b.bbox[0]))
    x0, x1 = text_frame(page)
    mid, width = (x0 + x1) / 2, x1 - x0
    sides = {id(b): column_of(b, mid, width) for b in blocks}
    spans = sorted((b for b in blocks if sides[id(b)] == "span"), key=lambda b: b.bbox[1])
    rest = [b for b in blocks if sides[id(b)] != "span"]
    out: list[Block] = []
    for cut in spans + [None]:
        limit = cut.bbox[1] if cut is not None else float("inf")
        band = [b for b in rest if b.bbox[1] < limit]
        rest = [b for b in rest if b.bbox[1] >= limit]
        for side in ("left", "right"):
            out.extend(sorted((b for b in band if sides[id(b)] == side), key=lambda b: (b.bbox[1], b.bbox[0])))
        if cut is not None:
            out.append(cut)
    return out
