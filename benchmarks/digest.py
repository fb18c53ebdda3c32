"""Digests with a real backend: ``python -m benchmarks digest [PDF ...] [--zh-mode both]``.

For each paper: wall time, tokens sent and received, the CJK share of the Chinese prose (before and after the
repair step), missing parts and flagged numbers, for English and for Chinese written both ways (translated from
the English digest in one call, or directly with Chinese prompts). Tokens are compared with ChatPaper's approach:
three calls per language of about 4,000 prompt tokens each. Offline with the bundled local model by default.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from benchmarks import corpus_dir, shared_dir
from chatpaper import checks
from chatpaper.backends import get_backend
from chatpaper.digest import TASKS, Digest
from chatpaper.pdf import extract_paper
from chatpaper.pipeline import record_from_paper
from chatpaper.settings import Settings
from chatpaper.writer import DigestWriter

log = logging.getLogger(__name__)
DEFAULT_PAPERS = [
    shared_dir() / "fixtures/arxiv-api/1111.2011v2.pdf",
    corpus_dir() / "pynerf_neurips2023.pdf",
    corpus_dir() / "specter_acl2020.pdf",
    corpus_dir() / "mapreduce_osdi2004.pdf",
]
#: The prose parts of a digest: the title's translation, then each call's parts in the order they are asked for.
PARTS = ("title_translation",) + tuple(p for parts in TASKS.values() for p in parts)
CHATPAPER_TOKENS_PER_LANGUAGE = 3 * 4000  # ChatPaper: summary, method and conclusion calls of ~4k tokens each


def prose(digest: Digest) -> str:
    """All prose of a digest as one string."""
    values = [getattr(digest, p) for p in PARTS]
    return " ".join(" ".join(v) if isinstance(v, list) else v for v in values if v)


def row(paper: str, lang: str, mode: str, digest: Digest, names: tuple, raw_cjk: float | None) -> dict:
    """One line of the results table."""
    text = prose(digest)
    return {
        "paper": paper, "language": lang, "mode": mode, "seconds": round(digest.seconds, 1), "calls": digest.calls,
        "sent": digest.prompt_tokens, "received": digest.completion_tokens,
        "cjk_share": round(checks.cjk_share(text, exclude=names), 3) if lang == "zh" else None,
        "raw_cjk_share": round(raw_cjk, 3) if raw_cjk is not None else None,
        "en_has_cjk": checks.has_cjk(text) if lang == "en" else None,
        "missing": digest.missing, "flagged_numbers": digest.flagged_numbers, "chars": len(text),
    }


def bench_paper(pdf: Path, backend, modes: list[str]) -> tuple[list[dict], dict[str, Digest]]:
    """English once, then Chinese in each mode; rows of figures and the digests."""
    paper = extract_paper(pdf)
    record = record_from_paper(paper, pdf)
    start = time.monotonic()

    def log_step(event) -> None:
        if not event.text or event.message.endswith("done"):
            print(f"  {time.monotonic() - start:6.1f} s (cpu {time.process_time():6.1f} s)  {pdf.name}: {event.message}",
                  file=sys.stderr, flush=True)
        if event.message.endswith("done"):
            log.debug("model text so far (%s):\n%s", event.language, event.text)

    writer = DigestWriter(record, paper, backend, on_event=log_step)
    names = tuple(record.authors)
    english = writer.write_language("en")
    rows, digests = [row(pdf.name, "en", "direct", english, names, None)], {"en": english}
    for mode in modes:
        writer.raw_cjk.clear()
        zh = writer.translate(english) if mode == "translate" else writer.write_language("zh")
        rows.append(row(pdf.name, "zh", mode, zh, names, writer.raw_cjk.get("zh")))
        digests[f"zh-{mode}"] = zh
    return rows, digests


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table (and JSON with --json)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks digest", description=__doc__.split("\n")[0])
    parser.add_argument("pdfs", nargs="*", type=Path, help="papers (default: 1111.2011v2 and three corpus papers)")
    parser.add_argument("--zh-mode", choices=["translate", "direct", "both"], default="both")
    parser.add_argument("--json", type=Path, help="write all rows and digests here")
    parser.add_argument("--log", type=Path, help="write the model's raw answers here (debug log)")
    args = parser.parse_args(argv)
    if args.log:
        logging.basicConfig(filename=args.log, level=logging.DEBUG, format="%(asctime)s %(name)s %(message)s")
    settings = Settings.from_env()
    backend = get_backend(settings)
    modes = ["translate", "direct"] if args.zh_mode == "both" else [args.zh_mode]
    print(f"backend {backend.id}, model {backend.model}, context {backend.context_tokens}", file=sys.stderr)
    start = time.monotonic()
    if hasattr(backend, "load"):
        print(f"model loaded in {backend.load():.1f} s", file=sys.stderr)
    rows, dumps = [], {}
    for pdf in args.pdfs or DEFAULT_PAPERS:
        paper_rows, digests = bench_paper(pdf, backend, modes)
        rows += paper_rows
        dumps[pdf.name] = {k: d.to_dict() for k, d in digests.items()}
        for r in paper_rows:
            print(json.dumps(r, ensure_ascii=False), file=sys.stderr, flush=True)
    print(table(rows))
    print(f"\ntotal wall time {time.monotonic() - start:.0f} s; ChatPaper's approach sends about "
          f"{CHATPAPER_TOKENS_PER_LANGUAGE} prompt tokens per language ({2 * CHATPAPER_TOKENS_PER_LANGUAGE} for two)")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "digests": dumps}, ensure_ascii=False, indent=1))
    return 0


def table(rows: list[dict]) -> str:
    """The rows as a Markdown table."""
    head = "| paper | lang | mode | s | calls | sent | received | CJK (raw) | missing | flagged |"
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        cjk = "" if r["cjk_share"] is None else f"{r['cjk_share']:.2f} ({r['raw_cjk_share'] or 0:.2f})"
        if r["language"] == "en":
            cjk = "has CJK" if r["en_has_cjk"] else "none"
        lines.append(f"| {r['paper']} | {r['language']} | {r['mode']} | {r['seconds']} | {r['calls']} | {r['sent']} | "
                     f"{r['received']} | {cjk} | {len(r['missing'])} | {len(r['flagged_numbers'])} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
