"""Extraction speed over the shared corpus, beside pymupdf4llm in the same run: ``python -m benchmarks extract``.

Prints per-paper seconds (figure crops at 150 dpi included) beside ``pymupdf4llm.to_markdown`` on the same files in
the same run, and the medians of seconds per page and of the ratio.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import corpus_dir
from chatpaper.pdf import extract_paper


def _time_ours(pdf: Path) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        paper = extract_paper(pdf, images_dir=tmp)
        return time.perf_counter() - start, paper.pages


def _time_peer(pdf: Path) -> float | None:
    try:
        import pymupdf4llm
    except ImportError:
        return None
    start = time.perf_counter()
    # The peer prints parser notices (missing OCR engines) from C code; keep the table readable.
    with _quiet():
        pymupdf4llm.to_markdown(str(pdf), show_progress=False)
    return time.perf_counter() - start


@contextlib.contextmanager
def _quiet():
    """Silence file descriptors 1 and 2 (C-level prints included) for the duration."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def bench_extract(corpus: Path, peer: bool = True) -> dict:
    """Time both extractors on every PDF of the corpus; print a table and return the medians."""
    pdfs = sorted(corpus.glob("*.pdf"))
    if not pdfs:
        raise SystemExit(f"no PDF in {corpus}")
    print(f"{'paper':44} {'pages':>5} {'ours s':>8} {'s/page':>7} {'peer s':>8} {'ratio':>6}")
    ours, theirs, ratios = [], [], []
    for pdf in pdfs:
        seconds, pages = _time_ours(pdf)
        peer_s = _time_peer(pdf) if peer else None
        ours.append(seconds / pages)
        line = f"{pdf.stem[:44]:44} {pages:5d} {seconds:8.3f} {seconds / pages:7.4f}"
        if peer_s is not None:
            theirs.append(peer_s / pages)
            ratios.append(peer_s / seconds)
            line += f" {peer_s:8.3f} {peer_s / seconds:6.1f}"
        print(line, flush=True)
    result = {"papers": len(pdfs), "median_s_per_page": statistics.median(ours)}
    if ratios:
        result["peer_median_s_per_page"] = statistics.median(theirs)
        result["median_speedup_vs_pymupdf4llm"] = statistics.median(ratios)
    print(json.dumps(result))
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks extract", description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=corpus_dir(), help="folder of PDFs (default ../shared/corpus)")
    parser.add_argument("--no-peer", action="store_true", help="skip pymupdf4llm")
    args = parser.parse_args(argv)
    bench_extract(args.corpus, peer=not args.no_peer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
