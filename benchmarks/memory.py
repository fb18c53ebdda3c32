"""Peak memory extracting one long PDF joined from the corpus: ``python -m benchmarks memory [--pages 300]``.

Joins corpus papers into one long PDF (300 pages by default), extracts it, crops included, in a child process and
prints the child's peak resident memory.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks import REPO, corpus_dir


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
        code = ("import sys, time; from chatpaper.pdf import extract_paper; from benchmarks.memory import peak_rss_kb; "
                "t = time.perf_counter(); p = extract_paper(sys.argv[1], images_dir=sys.argv[2]); "
                "print(p.pages, len(p.figures), len(p.sections), round(time.perf_counter() - t, 2), peak_rss_kb())")
        proc = subprocess.run([sys.executable, "-c", code, str(pdf), str(Path(tmp) / "img")], capture_output=True, text=True, check=True, cwd=REPO)
    n_pages, n_figs, n_sections, seconds, peak_kb = proc.stdout.split()
    result = {"pages": int(n_pages), "figures": int(n_figs), "sections": int(n_sections), "seconds": float(seconds),
              "peak_rss_mb": round(int(peak_kb) / 1024, 1)}
    print(json.dumps(result))
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks memory", description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=corpus_dir(), help="folder of PDFs (default ../shared/corpus)")
    parser.add_argument("--pages", type=int, default=300, help="pages of the joined PDF (default 300)")
    args = parser.parse_args(argv)
    bench_memory(args.corpus, args.pages)
    return 0


if __name__ == "__main__":
    sys.exit(main())
