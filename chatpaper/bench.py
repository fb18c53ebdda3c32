"""Benchmarks: ``python -m chatpaper.bench extract`` times the extractor over the shared corpus.

``extract`` prints per-paper seconds (figure crops at 150 dpi included) beside ``pymupdf4llm.to_markdown`` on the same
files in the same run, and the median ratio. ``memory`` joins corpus papers into one long PDF (300 pages by
default), extracts it in a child process and prints the child's peak resident memory.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_DEFAULT_CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"


def _time_ours(pdf: Path) -> tuple[float, int]:
    from chatpaper.pdf import extract_paper

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


def _join_corpus(corpus: Path, pages: int, out: Path) -> None:
    import pymupdf

    joined = pymupdf.open()
    sources = sorted(corpus.glob("*.pdf"))
    while joined.page_count < pages:
        for pdf in sources:
            with pymupdf.open(pdf) as src:
                take = min(src.page_count, pages - joined.page_count)
                joined.insert_pdf(src, to_page=take - 1)
            if joined.page_count >= pages:
                break
    joined.save(out, garbage=3, deflate=True)


def peak_rss_kb() -> int:
    """This process's peak resident memory in kB since it started (or last exec'd)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def bench_memory(corpus: Path, pages: int = 300) -> dict:
    """Peak RSS (MB) of a child process extracting a ``pages``-page PDF made of corpus papers, crops included."""
    with tempfile.TemporaryDirectory() as tmp:
        pdf = Path(tmp) / f"joined-{pages}.pdf"
        _join_corpus(corpus, pages, pdf)
        # The child reports its own peak, VmHWM of its own address space. Neither RUSAGE_CHILDREN (the largest child
        # this process ever waited for: a model server started by a test, say) nor the child's ru_maxrss (Linux
        # carries the forked parent's resident size across exec) measures the extraction alone.
        code = ("import sys, time; from chatpaper.pdf import extract_paper; from chatpaper.bench import peak_rss_kb; "
                "t = time.perf_counter(); p = extract_paper(sys.argv[1], images_dir=sys.argv[2]); "
                "print(p.pages, len(p.figures), len(p.sections), round(time.perf_counter() - t, 2), peak_rss_kb())")
        proc = subprocess.run([sys.executable, "-c", code, str(pdf), str(Path(tmp) / "img")], capture_output=True, text=True, check=True)
    n_pages, n_figs, n_sections, seconds, peak_kb = proc.stdout.split()
    result = {"pages": int(n_pages), "figures": int(n_figs), "sections": int(n_sections), "seconds": float(seconds),
              "peak_rss_mb": round(int(peak_kb) / 1024, 1)}
    print(json.dumps(result))
    return result


def main(argv: list[str] | None = None) -> int:
    """Run one benchmark; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m chatpaper.bench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("extract", help="time the extractor (and pymupdf4llm) over a corpus")
    p.add_argument("--corpus", type=Path, default=_DEFAULT_CORPUS, help="folder of PDFs (default ../shared/corpus)")
    p.add_argument("--no-peer", action="store_true", help="skip pymupdf4llm")
    p = sub.add_parser("memory", help="peak memory extracting one long PDF joined from the corpus")
    p.add_argument("--corpus", type=Path, default=_DEFAULT_CORPUS, help="folder of PDFs (default ../shared/corpus)")
    p.add_argument("--pages", type=int, default=300, help="pages of the joined PDF (default 300)")
    args = parser.parse_args(argv)
    if args.what == "extract":
        bench_extract(args.corpus, peer=not args.no_peer)
    else:
        bench_memory(args.corpus, args.pages)
    return 0


if __name__ == "__main__":
    sys.exit(main())
