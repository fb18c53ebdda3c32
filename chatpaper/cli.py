"""Command line: ``python -m chatpaper <command>``.

Each command is a thin wrapper over a function of the package that the app uses too. A ``ChatPaperError`` becomes
one line on stderr and exit status 1; a bad argument one line and exit status 2. Never a traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from typing import Sequence

from chatpaper.backends import BACKENDS
from chatpaper.errors import ChatPaperError
from chatpaper.settings import Settings


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error instead of usage plus error."""

    def error(self, message: str):  # noqa: D102 - argparse's hook
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _progress(message: str) -> None:
    """Progress for long work goes to stderr, so stdout stays clean for JSON and Markdown."""
    print(message, file=sys.stderr, flush=True)


class _StageBars:
    """On a terminal, one progress bar per model call on stderr: tokens written against the call's cap, tokens/s.

    The other stages (fetching, extracting, rendering) stay one line each; lines go through ``tqdm.write`` so they
    never break a bar. Used only when stderr is a terminal: a log file or a pipe gets the plain lines.
    """

    def __init__(self, stream=None):
        from tqdm import tqdm

        self._tqdm, self._stream, self._bar, self._desc, self._ended = tqdm, stream or sys.stderr, None, "", ""

    def line(self, message: str) -> None:
        """A progress line, unless a bar says it already (its description, or its call's end)."""
        if message not in (self._desc, self._ended):
            self._tqdm.write(message, file=self._stream)

    def event(self, event) -> None:
        """Follow one pipeline event: a model call starts a bar, its tokens move it, its end closes it."""
        if event.max_tokens and (self._bar is None or event.message != self._desc):
            self.close()
            self._desc = event.message
            size = shutil.get_terminal_size((100, 20))
            self._bar = self._tqdm(total=event.max_tokens, desc=event.message.rstrip("…"), unit="tok",
                                   file=self._stream, leave=True, mininterval=0.2,
                                   # a terminal that reports no size (0x0: some ptys) would get hidden, empty bars
                                   ncols=size.columns, nrows=size.lines,
                                   bar_format="{desc}: {bar} {n_fmt}/{total_fmt} tokens [{elapsed}, {rate_fmt}]")
        if self._bar is not None and event.tokens > self._bar.n:
            self._bar.update(event.tokens - self._bar.n)
        if self._bar is not None and not event.max_tokens and event.stage in ("summarising", "translating"):
            self.close()
            self._ended = event.message

    def close(self) -> None:
        """End the running bar, showing what the call wrote (it usually stops below its cap)."""
        if self._bar is not None:
            self._bar.total = self._bar.n
            self._bar.close()
        self._bar, self._desc = None, ""


def _settings(args: argparse.Namespace) -> Settings:
    """Environment settings with the command line's overrides on top."""
    overrides = {
        "backend": getattr(args, "backend", None),
        "model": getattr(args, "model", None),
        "openai_base_url": getattr(args, "base_url", None),
        "languages": getattr(args, "lang", None),
    }
    return Settings.from_env(**overrides)


def _print_json(obj) -> None:
    json.dump(obj, sys.stdout, ensure_ascii=False, indent=1, default=str)
    sys.stdout.write("\n")


def _cmd_extract(args: argparse.Namespace) -> int:
    from chatpaper.pdf import extract_paper

    paper = extract_paper(args.pdf, images_dir=args.images, settings=_settings(args))
    if args.json:
        _print_json(paper.to_dict())
    else:
        print(paper.title)
        print(", ".join(paper.authors))
        for s in paper.sections:
            print(f"{'  ' * (s.level - 1)}{s.heading}  (p. {s.page})")
        for f in paper.figures:
            print(f"{f.label} (p. {f.page}): {f.caption[:80]}")
        for t in paper.tables:
            print(f"{t.label} (p. {t.page}): {t.caption[:80]}")
        print(f"Code: {paper.code or 'none of its own'}")
        for w in paper.warnings:
            print(f"warning: {w}", file=sys.stderr)
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from chatpaper import pipeline
    from chatpaper.sources import parse_source

    source, settings = parse_source(args.source), _settings(args)
    if args.bibtex:
        from chatpaper.bibtex import bibtex_entry

        # The PDF is read too: an upload's entry takes what the PDF says (title, authors, its DOI and date).
        record, path = pipeline.fetch(source, settings, progress=_progress)
        _progress(f"extracting {path.name}")
        record, paper = pipeline.extract(record, path, settings)
        sys.stdout.write(bibtex_entry(record, paper))
        return 0
    record = pipeline.load_record(source, settings, progress=_progress)
    if args.json:
        _print_json(record.to_dict())
    else:
        print(f"{record.title}\n{', '.join(record.authors)}\n{record.abs_url or record.pdf_path}")
    return 0


def _cmd_digest(args: argparse.Namespace) -> int:
    from chatpaper.pipeline import digest_to_markdown
    from chatpaper.sources import parse_source

    source = parse_source(args.source)
    bars = _StageBars() if sys.stderr.isatty() else None
    try:
        markdown = digest_to_markdown(source, settings=_settings(args), out=args.out,
                                      embed_images=args.embed_images, progress=bars.line if bars else _progress,
                                      on_event=bars.event if bars else None)
    finally:
        if bars:
            bars.close()
    if not args.out:
        sys.stdout.write(markdown)
    else:
        _progress(f"wrote {args.out}")
    return 0


def _cmd_ask(args: argparse.Namespace) -> int:
    from chatpaper.ask import ask, check_question
    from chatpaper.sources import parse_source

    check_question(args.question)  # a question that cannot be asked is said first, before the paper is looked for
    source = parse_source(args.source)
    streamed = []

    def show(text: str) -> None:
        if not args.json:
            streamed.append(text)
            sys.stdout.write(text)
            sys.stdout.flush()

    answer = ask(source, args.question, _settings(args), progress=_progress, on_text=show)
    if args.json:
        _print_json(answer.to_dict())
    elif streamed:  # the answer is on the screen already: add its sources
        sources = answer.markdown[len(answer.text):].strip()
        sys.stdout.write(f"\n\n{sources}\n" if sources else "\n")
    else:  # answered without the model (nothing in the paper matches the question)
        sys.stdout.write(answer.markdown + "\n")
    return 0


def _cmd_daily(args: argparse.Namespace) -> int:
    from chatpaper.daily import run_daily

    path = run_daily(
        query=args.query, category=args.category, date=args.date, days=args.days, max_results=args.max,
        out_dir=args.out, topic=args.topic, settings=_settings(args), progress=_progress,
    )
    print(path)
    return 0


def _cmd_model_path(args: argparse.Namespace) -> int:
    from chatpaper.backends.local import resolve_model_path

    print(resolve_model_path(_settings(args), progress=_progress))
    return 0


def _cmd_cache(args: argparse.Namespace) -> int:
    from chatpaper.cache import Cache

    cache = Cache(_settings(args).cache_path)
    if args.action == "clear":
        removed = cache.clear()
        print(f"removed {removed} cached entries from {cache.root}")
    else:
        print(cache.root)
    return 0


def _add_backend_options(p: argparse.ArgumentParser, languages: bool = True) -> None:
    if languages:
        p.add_argument("--lang", help="languages, comma-separated (default from CHATPAPER_LANGUAGES: en,zh)")
    p.add_argument("--backend", choices=list(BACKENDS), help="LLM backend (default: chosen from the environment)")
    p.add_argument("--model", help="model name or path for the backend")
    p.add_argument("--base-url", help="base URL of an OpenAI-compatible server (openai backend)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every command."""
    parser = _Parser(prog="python -m chatpaper", description="Bilingual digests of research papers, from arXiv or a PDF.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("extract", help="read a PDF into title, authors, abstract, sections and figures")
    p.add_argument("pdf", help="path of the PDF")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--images", metavar="DIR", help="write figure crops and the first page as PNG files here")
    p.set_defaults(func=_cmd_extract)

    p = sub.add_parser("info", help="the record of a paper: arXiv metadata (and cached PDF), or a local PDF's own facts")
    p.add_argument("source", help="arXiv id or link, or a PDF path")
    output = p.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print one JSON object")
    output.add_argument("--bibtex", action="store_true", help="print the paper's BibTeX entry")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("digest", help="write the bilingual digest of one paper as Markdown")
    p.add_argument("source", help="arXiv id or link, or a PDF path")
    _add_backend_options(p)
    p.add_argument("--out", metavar="FILE.md", help="write here (figures beside it) instead of stdout")
    p.add_argument("--embed-images", action="store_true", help="one self-contained file: images embedded as data URIs")
    p.set_defaults(func=_cmd_digest)

    p = sub.add_parser("ask", help="answer a question from the paper's own text, citing its pages")
    p.add_argument("source", help="arXiv id or link, or a PDF path")
    p.add_argument("question", help="the question, in English or Chinese")
    p.add_argument("--json", action="store_true", help="print one JSON object: answer, cited pages, passages, timings")
    _add_backend_options(p, languages=False)
    p.set_defaults(func=_cmd_ask)

    p = sub.add_parser("daily", help="digest new arXiv papers on a topic into a blog post")
    p.add_argument("--query", required=True, help="arXiv query, e.g. 'ti:NeRF OR abs:\"neural radiance field\"'")
    p.add_argument("--category", action="append", help="arXiv category to keep (repeatable), e.g. cs.CV")
    p.add_argument("--date", help="last day of the window, YYYY-MM-DD (default: today, UTC)")
    p.add_argument("--days", type=int, default=7, help="length of the window in days (default 7)")
    p.add_argument("--max", type=int, default=30, help="at most this many papers (default 30)")
    p.add_argument("--topic", help="topic name for the post's title and file (default: derived from the query)")
    _add_backend_options(p)
    p.add_argument("--out", required=True, metavar="DIR", help="blog folder; the post goes to DIR/<date>/<Topic>.md")
    p.set_defaults(func=_cmd_daily)

    p = sub.add_parser("model-path", help="prepare and print the GGUF file the local backend loads")
    p.set_defaults(func=_cmd_model_path)

    p = sub.add_parser("cache", help="show or clear the on-disk cache")
    p.add_argument("action", choices=["show", "clear"], help="show prints the folder; clear empties it")
    p.set_defaults(func=_cmd_cache)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ChatPaperError as exc:
        # The CLI's user is the operator: the detail (a server's address and answer) is theirs to see.
        print(f"error: {exc}" + (f" ({exc.detail})" if exc.detail else ""), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, and keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
