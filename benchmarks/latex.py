"""LaTeX in arXiv abstracts, chatpaper's rules beside pylatexenc: ``python -m benchmarks latex``.

Reads every title and abstract of the recorded arXiv answers (``../shared/fixtures/arxiv-api``) and turns its text
mode into text with each method: ``rules`` (``chatpaper.latex.latex_to_text``), ``pylatexenc``
(``LatexNodes2Text(math_mode="verbatim")``) and ``pylatexenc+%`` (the same after escaping bare ``%``, which plain
arXiv text uses for percent and LaTeX reads as a comment). Prints per method: escapes left outside math, math
segments kept verbatim, words lost, plain-text braces lost (``U_{e3}``), and the time for all texts (median of 5).
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from benchmarks import shared_dir
from chatpaper.latex import latex_to_text

_ATOM = "{http://www.w3.org/2005/Atom}"
_MATH = re.compile(r"(?<!\\)\$\$(.+?)(?<!\\)\$\$|(?<!\\)\$(.+?)(?<!\\)\$|\\\[(.+?)\\\]|\\\((.+?)\\\)", re.S)
_ESCAPE = re.compile(r"\\[A-Za-z]+|\\[%&#_{}$ '`\"^~]|``|''|(?<![-\w])--(?!-)|(?<=\w)--(?=\w)")
_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{3,}")
_BRACED = re.compile(r"[_^]\{[^{}$]*\}")


def recorded_texts(folder: Path) -> list[str]:
    """Title and abstract of each distinct recorded arXiv entry, whitespace folded, one string each."""
    seen: dict[str, str] = {}
    for path in sorted(folder.glob("*.json")) + sorted(folder.glob("*.xml")):
        if path.suffix == ".json":
            body = json.loads(path.read_text(encoding="utf-8"))["body"].encode("latin-1")
        else:
            body = path.read_bytes()
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            continue
        for entry in root.iter(f"{_ATOM}entry"):
            title, summary = entry.findtext(f"{_ATOM}title") or "", entry.findtext(f"{_ATOM}summary") or ""
            if summary.strip():
                seen[entry.findtext(f"{_ATOM}id") or title] = " ".join(f"{title}. {summary}".split())
    return list(seen.values())


def _methods() -> dict:
    methods = {"rules": latex_to_text}
    try:
        from pylatexenc.latex2text import LatexNodes2Text
    except ImportError:
        print("pylatexenc is not installed: pip install pylatexenc (only the rules are measured)", file=sys.stderr)
        return methods
    converter = LatexNodes2Text(math_mode="verbatim")
    methods["pylatexenc"] = converter.latex_to_text
    methods["pylatexenc+%"] = lambda text: converter.latex_to_text(re.sub(r"(?<!\\)%", r"\\%", text))
    return methods


def _math_parts(text: str) -> list[str]:
    return [next(g for g in m.groups() if g is not None) for m in _MATH.finditer(text)]


def _outside_math(text: str) -> str:
    return _MATH.sub(" ", text)


def measure(texts: list[str], convert, repeat: int = 5) -> dict:
    """The figures of one method over ``texts``."""
    outputs = [convert(t) for t in texts]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for t in texts:
            convert(t)
        times.append(time.perf_counter() - start)
    # a math segment is kept when its content (between the delimiters) is in the output verbatim
    math_in = [m for t in texts for m in _math_parts(t)]
    math_kept = sum(1 for t, out in zip(texts, outputs) for m in _math_parts(t) if m in out)
    words_lost = sum(sum((Counter(_WORD.findall(_outside_math(t))) - Counter(_WORD.findall(out))).values())
                     for t, out in zip(texts, outputs))
    braces_in = [b for t in texts for b in _BRACED.findall(_outside_math(t))]
    braces_kept = sum(1 for t, out in zip(texts, outputs) for b in _BRACED.findall(_outside_math(t)) if b in out)
    changed = sum(1 for t, out in zip(texts, outputs) if t != out)
    return {"texts_changed": changed,
            "escapes_left": sum(len(_ESCAPE.findall(_outside_math(out))) for out in outputs),
            "escapes_before": sum(len(_ESCAPE.findall(_outside_math(t))) for t in texts),
            "math_kept": f"{math_kept}/{len(math_in)}", "words_lost": words_lost,
            "plain_braces_kept": f"{braces_kept}/{len(braces_in)}",
            "ms_all_texts_median": round(statistics.median(times) * 1000, 2)}


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks latex", description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=shared_dir() / "fixtures" / "arxiv-api",
                        help="folder of recorded arXiv API answers")
    parser.add_argument("--show", type=int, default=0, help="print this many texts whose outputs differ")
    args = parser.parse_args(argv)
    texts = recorded_texts(args.fixtures)
    methods = _methods()
    print(f"{len(texts)} recorded titles+abstracts, {sum(1 for t in texts if _ESCAPE.search(_outside_math(t)))} "
          "with LaTeX outside math")
    results = {name: measure(texts, convert) for name, convert in methods.items()}
    for name, figures in results.items():
        print(f"{name:13} " + "  ".join(f"{k}={v}" for k, v in figures.items()))
    if "pylatexenc" in results:
        ratio = results["pylatexenc"]["ms_all_texts_median"] / max(results["rules"]["ms_all_texts_median"], 1e-6)
        print(f"time ratio pylatexenc/rules: {ratio:.1f}x")
    shown = 0
    for text in texts:
        outs = {name: convert(text) for name, convert in methods.items()}
        if shown < args.show and len(set(outs.values())) > 1:
            shown += 1
            print("\n--- input: " + text[:300])
            for name, out in outs.items():
                print(f"{name:13} {out[:300]}")
    print(json.dumps(results))
    return 0
