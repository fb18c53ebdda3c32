"""Tables: each numbered table's cells, read from the words inside its region.

The region comes from the figure stage (the caption's column, grown through the table's rules and text, below
the caption first: tables carry their caption on top). Cells are a printed line's words set apart by a wide gap;
rows are pieces on one baseline; columns are the x-ranges that the pieces of all rows share.

``page.find_tables()`` was measured for this and not used: with pymupdf_layout installed (pymupdf4llm brings it)
it runs a layout model, about 0.9 s a table on this machine (36x the extraction budget of a page), and with
``use_layout=False`` its line strategy finds no table drawn with horizontal rules only (booktabs), the common case.
"""
from __future__ import annotations

import re

Rect = tuple[float, float, float, float]


def _pieces(words: list[tuple]) -> list[tuple[float, float, float, float, str]]:
    """Words of one printed line joined into cells, split where the gap is wider than about a word space."""
    out: list[list] = []
    for x0, y0, x1, y1, text, *_ in sorted(words, key=lambda w: w[0]):
        height = y1 - y0
        if out and x0 - out[-1][2] < 0.5 * height:
            out[-1][2], out[-1][4] = x1, out[-1][4] + " " + text
            out[-1][1], out[-1][3] = min(out[-1][1], y0), max(out[-1][3], y1)
        else:
            out.append([x0, y0, x1, y1, text])
    return [tuple(c) for c in out]


def read_cells(words: list[tuple]) -> list[list[str]]:
    """The table's rows of cells from the words inside its region (PyMuPDF ``get_text("words", clip=...)``);
    the first row is the header as printed; empty when fewer than 2 columns or rows."""
    lines: dict[tuple[int, int], list[tuple]] = {}
    for w in words:
        lines.setdefault((w[5], w[6]), []).append(w)
    pieces = sorted((c for ws in lines.values() for c in _pieces(ws)), key=lambda c: ((c[1] + c[3]) / 2, c[0]))
    rows: list[list[tuple[float, float, str]]] = []
    last_mid = None
    for x0, y0, x1, y1, text in pieces:
        mid = (y0 + y1) / 2
        if last_mid is not None and abs(mid - last_mid) < 0.45 * (y1 - y0):
            rows[-1].append((x0, x1, text))
        else:
            rows.append([(x0, x1, text)])
            last_mid = mid
    # Columns from the rows that are split in cells: a note or a spanning header row would join them all.
    split = [r for r in rows if len(r) >= 2]
    columns: list[list[float]] = []
    for x_start, x_end, _ in sorted((c for r in split for c in r), key=lambda c: c[0]):
        if columns and x_start <= columns[-1][1] + 1:
            columns[-1][1] = max(columns[-1][1], x_end)
        else:
            columns.append([x_start, x_end])
    if len(columns) < 2 or len(split) < 2:
        return []
    grid = []
    for r in rows:
        row = [""] * len(columns)
        for x_start, x_end, text in sorted(r, key=lambda c: c[0]):
            k = max(range(len(columns)), key=lambda i: min(x_end, columns[i][1]) - max(x_start, columns[i][0]))
            row[k] = f"{row[k]} {text}".strip()
        grid.append(row)
    return grid


def to_markdown(grid: list[list[str]]) -> str:
    """A GitHub-style Markdown table; ``|`` inside a cell escaped."""
    if not grid:
        return ""
    esc = [[c.replace("\\", "\\\\").replace("|", "\\|") for c in row] for row in grid]
    head, body = esc[0], esc[1:]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)
