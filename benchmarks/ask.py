"""Ask benchmark: 30 questions with known answers over corpus papers, answered by the bundled model.

``python -m benchmarks ask`` (or ``python -m benchmarks.ask``) asks every question of ``ask_questions.json`` about
its paper in the shared corpus and prints, per question and in all: the answer contains the key words, the answer
cites a page that holds the answer, unanswerable questions are refused; and the time to first token of the first
question about a paper against the follow-up questions of the same conversation (llama.cpp's prompt cache at work).

Modes: ``chat`` (default) asks a paper's questions as one conversation, each with the earlier turns as history, the
way the Ask tab does; ``fresh`` asks each question with no history (the fixed paper context is still shared).
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Sequence

from benchmarks import corpus_dir

QUESTIONS = Path(__file__).with_name("ask_questions.json")


def normalise(text: str) -> str:
    """Lower-cased, without spaces and without thousands separators ("8,192" = "8192", "4 GB" = "4gb")."""
    text = re.sub(r"(?<=\d)[,\u2009](?=\d{3})", "", text.lower())
    return re.sub(r"\s+", "", text)


def judge(item: dict, answer) -> dict:
    """What one answer got right."""
    from chatpaper import checks

    answerable = bool(item["keys"])
    text = normalise(answer.text)
    keys = all(normalise(k) in text for k in item["keys"]) if answerable else None
    page = bool(set(answer.cited_pages) & set(item["pages"])) if answerable else None
    chinese = checks.has_cjk(answer.text)
    return {"keys": keys, "page": page, "refused": answer.refused, "answerable": answerable,
            "attributed": answer.attributed, "language": chinese == (answer.language == "zh")}


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def run(questions: list[dict], settings, mode: str, corpus: Path, out=sys.stdout) -> tuple[dict, list[dict]]:
    """Ask every question; print one line each; return the totals and the rows."""
    from chatpaper.ask import answer_events, load_index
    from chatpaper.backends import get_backend
    from chatpaper.sources import LocalPdf

    backend = get_backend(settings)
    load_s = backend.load() if hasattr(backend, "load") else 0.0
    print(f"backend: {backend.describe()}, context {backend.context_tokens} tokens, model load {load_s:.1f} s, "
          f"mode {mode}", file=out)
    rows = []
    by_paper: dict[str, list[dict]] = {}
    for item in questions:
        by_paper.setdefault(item["paper"], []).append(item)
    for paper, items in by_paper.items():
        index = load_index(LocalPdf(corpus / f"{paper}.pdf"), settings)
        history: list[tuple[str, str]] = []
        for n, item in enumerate(items):
            answer = None
            for event in answer_events(index, item["question"], history if mode == "chat" else [], backend):
                answer = event.answer or answer
            verdict = judge(item, answer)
            kind = "first" if n == 0 else ("follow-up" if mode == "chat" else "same paper")
            rows.append({**item, **verdict, "kind": kind, "ttft": answer.first_token_s, "language_asked": answer.language,
                         "prompt_tokens": answer.prompt_tokens, "kept": answer.history_used,
                         "cited_pages": answer.cited_pages, "answer": answer.text})
            history.append((item["question"], answer.markdown))
            mark = (lambda ok: "yes" if ok else "no")
            got = (f"keys {mark(verdict['keys'])}, page {mark(verdict['page'])}"
                   f"{' (matched)' if verdict['attributed'] else ''}{', REFUSED' if answer.refused else ''}"
                   if verdict["answerable"] else f"refused {mark(answer.refused)}")
            ttft = f"{answer.first_token_s:5.1f} s" if answer.first_token_s is not None else "  no call"
            print(f"{paper[:24]:24} {kind:10} ttft {ttft} prompt {answer.prompt_tokens:5d} kept {answer.history_used}"
                  f" | {got} | pages {answer.cited_pages} | {item['question'][:60]}", file=out)
            print(f"    -> {answer.text[:200]!r}", file=out)
            out.flush()
    return summarise(rows, out), rows


def summarise(rows: list[dict], out=sys.stdout) -> dict:
    """The totals and the time-to-first-token ratio."""
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    first = [r["ttft"] for r in rows if r["kind"] == "first" and r["ttft"] is not None]
    later = [r["ttft"] for r in rows if r["kind"] != "first" and r["ttft"] is not None]
    totals = {
        "questions": len(rows), "papers": len({r["paper"] for r in rows}),
        "answerable": len(answerable), "keys": sum(bool(r["keys"]) for r in answerable),
        "page": sum(bool(r["page"]) for r in answerable),
        "page_by_model": sum(bool(r["page"]) and not r["attributed"] for r in answerable),
        "false_refusals": sum(r["refused"] for r in answerable),
        "language": sum(r["language"] for r in rows),
        "unanswerable": len(unanswerable), "refused": sum(r["refused"] for r in unanswerable),
        "ttft_first_median_s": _median(first), "ttft_followup_median_s": _median(later),
    }
    f, l = totals["ttft_first_median_s"], totals["ttft_followup_median_s"]
    totals["ttft_ratio"] = (l / f) if f and l else None
    print(f"\n{totals['questions']} questions over {totals['papers']} papers", file=out)
    print(f"answer contains the key words: {totals['keys']}/{totals['answerable']}", file=out)
    print(f"cited page right:              {totals['page']}/{totals['answerable']} "
          f"(cited by the model {totals['page_by_model']}, matched by wording {totals['page'] - totals['page_by_model']})",
          file=out)
    print(f"answerable but refused:        {totals['false_refusals']}/{totals['answerable']}", file=out)
    print(f"in the question's language:    {totals['language']}/{totals['questions']} "
          f"(Chinese questions: {sum(r['language'] for r in rows if r['language_asked'] == 'zh')}/"
          f"{sum(r['language_asked'] == 'zh' for r in rows)})", file=out)
    print(f"unanswerable refused:          {totals['refused']}/{totals['unanswerable']}", file=out)
    if f and l:
        print(f"time to first token, median:   first question {f:.2f} s ({len(first)}), later questions {l:.2f} s "
              f"({len(later)}); later/first = {totals['ttft_ratio']:.2f}", file=out)
    return totals


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; exit status 0."""
    from chatpaper.settings import Settings

    parser = argparse.ArgumentParser(prog="python -m benchmarks ask", description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["chat", "fresh"], default="chat", help="chat (default) or fresh")
    parser.add_argument("--paper", action="append", help="only this corpus paper (repeatable)")
    parser.add_argument("--backend", default="local", help="backend (default: local, the bundled model)")
    parser.add_argument("--json", metavar="FILE", help="also write every row and the totals here")
    parser.add_argument("--corpus", default=str(corpus_dir()), help="folder of the corpus PDFs")
    args = parser.parse_args(argv)
    questions = json.loads(QUESTIONS.read_text(encoding="utf-8"))["questions"]
    if args.paper:
        questions = [q for q in questions if q["paper"] in args.paper]
    settings = Settings.from_env(backend=args.backend)
    started = time.monotonic()
    totals, rows = run(questions, settings, args.mode, Path(args.corpus))
    print(f"wall time {time.monotonic() - started:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"totals": totals, "rows": rows}, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
