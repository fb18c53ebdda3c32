"""Bilingual digests, today's writer against the previous one: ``python -m benchmarks digest [PDF ...]``.

Both writers run in the same process with the same backend on the same papers: the previous one is today's code
at ``--old`` (default d3e96ba, the last commit before Digest v2), checked out of git into a temporary package, so
no old code lives in chatpaper. Per paper and writer: wall time, model calls, prompt tokens (all, reused from the
previous call's KV cache, and evaluated), completion tokens, and the time in units of raw llama.cpp work with the
same GGUF and threads: one unit is evaluating 1,024 prompt tokens and generating 128, timed in the same run (before
and after the digests; the median is used). Medians and the new/old ratio follow. With ``--server`` the new writer
(and with ``--server-old`` the old one) also runs through llama.cpp's OpenAI-compatible server
(``python -m llama_cpp.server``, verbose), whose own log says how many prompt tokens each call evaluated and
reused. ``--out DIR`` keeps each digest's Markdown, and scores it with ``../shared/tools/score_digest.py``.
``--old-as-was`` adds ``old@lib``: the old writer on llama-cpp-python's own thread defaults, as it ran at d3e96ba
(without the prompt-lookup decoding the backend does on chatpaper's own thread setting).

Both writers run on today's backend, its thread default and its prompt-lookup decoding, so the old writer's time
here is not the time it took before 66113c4: since then ``CHATPAPER_THREADS=0`` gives llama.cpp every core for generation too (llama-cpp-python's
own default generated on one thread of two), which speeds up both writers alike; ``python -m benchmarks units
--threads lib,0`` measures that factor on its own. ``CHATPAPER_MODEL`` picks the local model (the 1.5B:
``CHATPAPER_MODEL=qwen2.5-coder-1.5b``); units are always of the model the digests ran on.
"""
from __future__ import annotations

import argparse
import importlib
import json
import re
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

from benchmarks import REPO, corpus_dir, shared_dir
from benchmarks.units import unit_seconds
from chatpaper.backends import get_backend
from chatpaper.backends.local import LIBRARY_THREADS
from chatpaper.digest import Digest
from chatpaper.pdf import extract_paper
from chatpaper.pipeline import record_from_paper
from chatpaper.render import render_markdown
from chatpaper.settings import Settings
from chatpaper.writer import write_digests

DEFAULT_PAPERS = [corpus_dir() / "nerf2nerf_registration.pdf", corpus_dir() / "specter_acl2020.pdf"]
OLD_COMMIT = "d3e96ba"
#: The modules of the previous writer, and the prompts folder it loads its templates from.
OLD_MODULES = ("digest", "writer", "answer", "checks", "sections", "prompts")


class Recorder:
    """A backend proxy that keeps every call's stream (its usage is read after the writer is done)."""

    def __init__(self, backend):
        self.backend = backend
        self.streams: list = []

    def __getattr__(self, name):
        return getattr(self.backend, name)

    def chat(self, messages, **options):
        stream = self.backend.chat(messages, **options)
        self.streams.append(stream)
        return stream


@dataclass
class Run:
    """One writer on one paper."""

    paper: str
    writer: str  #: "old" or "new", with "@server" through llama.cpp's server, "@lib" on its thread defaults
    seconds: float
    calls: int
    prompt: int  #: prompt tokens of all calls (reused ones included)
    reused: int  #: of those, reused from the KV cache
    completion: int
    exact: bool = True  #: False when a count was estimated
    score: str = ""
    missing: list = field(default_factory=list)

    @property
    def evaluated(self) -> int:
        """Prompt tokens the model had to read."""
        return self.prompt - self.reused


def old_writer(commit: str, folder: Path):
    """The ``write_digests`` of ``commit``: its digest modules and prompts extracted from git into ``folder``."""
    names = [f"chatpaper/{m}.py" for m in OLD_MODULES] + ["prompts"]
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", commit, *names],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    package = folder / "chatpaper_old"
    (folder / "chatpaper").rename(package)
    (package / "__init__.py").write_text('"""The previous digest writer, for the benchmark only."""\n')
    pattern = re.compile(r"\bchatpaper(\.(?:" + "|".join(OLD_MODULES) + r")\b| import (?=(?:answer|checks|sections)))")
    for module in package.glob("*.py"):
        module.write_text(pattern.sub(lambda m: "chatpaper_old" + m.group(1), module.read_text()))
    sys.path.insert(0, str(folder))
    return importlib.import_module("chatpaper_old.digest").write_digests


def raw_unit(llama, text_tokens: list[int]) -> float:
    """Seconds for one unit of raw llama.cpp work: evaluate 1,024 prompt tokens from scratch, generate 128.

    The unit runs on a thread of its own that ends with it, as every backend call does (``ChatStream``'s worker).
    llama.cpp's OpenMP keeps a team of threads for each thread that ran it; run on the main thread, the unit left that
    team behind, and every later generation on the calls' own threads wrote its tokens about 1.6x slower (measured:
    240 tokens of nerf2nerf's overview in 21.8 s against 13.5 s without the unit before; the prompt read as fast):
    the digests this benchmark timed after the unit were that much slower than the same digests timed alone.
    """
    seconds: list[float] = []
    worker = threading.Thread(target=lambda: seconds.append(sum(unit_seconds(llama, text_tokens))), name="raw-unit")
    worker.start()
    worker.join()
    return seconds[0]


def digest_once(name: str, write, record, paper, backend, out: Path | None, pdf: Path) -> Run:
    """One bilingual digest; its figures from the recorded usage."""
    recorder = Recorder(backend)
    start = time.monotonic()
    digests = write(record, paper, recorder, ["en", "zh"])
    seconds = time.monotonic() - start
    digests = {lang: Digest.from_dict(d.to_dict()) for lang, d in digests.items()}  # the old writer's own class
    prompt = sum(s.usage.prompt_tokens or 0 for s in recorder.streams)
    reused = sum(getattr(s.usage, "cached_tokens", None) or 0 for s in recorder.streams)
    completion = sum(s.usage.completion_tokens or 0 for s in recorder.streams)
    exact = all(s.usage.prompt_tokens is not None for s in recorder.streams)
    run = Run(pdf.stem, name, seconds, len(recorder.streams), prompt, reused, completion, exact,
              missing=[getattr(d, "missing", []) for d in digests.values()])
    if out is not None:
        path = out / f"{pdf.stem}.{name.replace('@', '-')}.md"
        path.write_text(render_markdown(record, paper, digests), encoding="utf-8")
        scorer = shared_dir() / "tools" / "score_digest.py"
        if scorer.is_file():
            run.score = subprocess.run([sys.executable, str(scorer), str(path), str(pdf)], capture_output=True,
                                       text=True).stdout.strip()
    return run


class Server:
    """llama.cpp's server on loopback with the GGUF, verbose: its log counts each call's evaluated tokens."""

    def __init__(self, model: str, n_ctx: int, threads: int, folder: Path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.log = folder / "llama-server.log"
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1", "--port",
               str(self.port), "--n_ctx", str(n_ctx), "--n_threads", str(threads), "--n_threads_batch", str(threads),
               "--verbose", "True"]
        self.process = subprocess.Popen(cmd, stdout=self.log.open("wb"), stderr=subprocess.STDOUT)
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        import urllib.request

        for _ in range(600):
            try:
                urllib.request.urlopen(self.base_url + "/models", timeout=2).read()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"llama_cpp.server did not start: {self.log.read_text()[-2000:]}")

    def mark(self) -> int:
        return self.log.stat().st_size

    def counts(self, since: int) -> tuple[int, int, int]:
        """(calls, evaluated prompt tokens, reused prompt tokens) the server logged after ``since``."""
        text = self.log.read_bytes()[since:].decode("utf-8", "replace")
        evaluated = [int(n) for n in re.findall(r"prompt eval time =.*?/\s*(\d+) tokens", text)]
        reused = [int(n) for n in re.findall(r"(\d+) prefix-match hit", text)]
        return len(evaluated), sum(evaluated), sum(reused)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def through_server(name: str, write, record, paper, server: Server, out, pdf) -> Run:
    backend = get_backend(Settings(backend="openai", openai_base_url=server.base_url, llm_timeout=600))
    since = server.mark()
    run = digest_once(name, write, record, paper, backend, out, pdf)
    time.sleep(0.5)  # the log's last timings line
    calls, evaluated, reused = server.counts(since)
    run.prompt, run.reused, run.exact = evaluated + reused, reused, True
    return run


def report(runs: list[Run], unit: float) -> str:
    """The table, the medians per writer and the ratios."""
    lines = ["| paper | writer | s | units | calls | prompt | reused | evaluated | completion |", "|" + "---|" * 9]
    for r in runs:
        lines.append(f"| {r.paper} | {r.writer} | {r.seconds:.1f} | {r.seconds / unit:.1f} | {r.calls} | "
                     f"{r.prompt}{'' if r.exact else '~'} | {r.reused} | {r.evaluated} | {r.completion} |")
    lines.append("")
    med = {}
    for name in dict.fromkeys(r.writer for r in runs):
        mine = [r for r in runs if r.writer == name]
        med[name] = {k: statistics.median(getattr(r, k) for r in mine) for k in ("seconds", "evaluated", "reused", "prompt")}
        m = med[name]
        lines.append(f"median {name}: {m['seconds']:.1f} s = {m['seconds'] / unit:.1f} units; prompt tokens "
                     f"{m['prompt']:.0f}, reused {m['reused']:.0f}, evaluated {m['evaluated']:.0f} ({len(mine)} papers)")
    for a, b in (("new", "old"), ("new", "old@lib"), ("new@server", "old@server")):
        if a in med and b in med:
            lines.append(f"ratio {a}/{b}: time {med[a]['seconds'] / med[b]['seconds']:.2f}, evaluated prompt tokens "
                         f"{med[a]['evaluated'] / max(med[b]['evaluated'], 1):.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table, medians and ratios."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks digest", description=__doc__.split("\n")[0])
    parser.add_argument("pdfs", nargs="*", type=Path, help="papers (default: nerf2nerf and specter from the corpus)")
    parser.add_argument("--old", default=OLD_COMMIT, help="the commit of the previous writer (default %(default)s)")
    parser.add_argument("--no-old", action="store_true", help="run the new writer only")
    parser.add_argument("--server", action="store_true", help="also run the new writer through llama.cpp's server")
    parser.add_argument("--server-old", action="store_true", help="also run the old writer through the server")
    parser.add_argument("--old-as-was", action="store_true",
                        help="also run the old writer on llama-cpp-python's own thread defaults, as it ran then")
    parser.add_argument("--out", type=Path, help="keep each digest's Markdown here, and score it")
    parser.add_argument("--json", type=Path, help="write the runs here")
    args = parser.parse_args(argv)
    settings = Settings.from_env(backend="local")
    backend = get_backend(settings)
    backend.load()
    llama = backend._loaded().llama
    pdfs = args.pdfs or DEFAULT_PAPERS
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    unit_text = llama.tokenize(" ".join(s.text for s in extract_paper(pdfs[0]).sections).encode(), add_bos=False)
    units = [raw_unit(llama, unit_text)]
    print(f"model {Path(backend.model).name}, {backend.threads} threads for generation and prompt reading, old and "
          f"new writer alike; raw unit {units[0]:.1f} s", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bench-digest-") as tmp:
        old = None if args.no_old else old_writer(args.old, Path(tmp))
        server = Server(backend.model, backend.context_tokens, backend.threads, Path(tmp)) if args.server or args.server_old else None
        as_was = None
        if old and args.old_as_was:  # the same GGUF loaded a second time, on the library's thread defaults
            as_was = get_backend(settings)
            as_was.threads = LIBRARY_THREADS
            as_was.load()
        runs: list[Run] = []
        try:
            for pdf in pdfs:
                paper = extract_paper(pdf)
                record = record_from_paper(paper, pdf)
                plan = [("new", write_digests, backend)] + ([("old", old, backend)] if old else [])
                plan += [("old@lib", old, as_was)] if as_was else []
                plan += [("new@server", write_digests, server)] if args.server else []
                plan += [("old@server", old, server)] if args.server_old and old else []
                for name, write, where in plan:
                    if where is server:
                        run = through_server(name, write, record, paper, server, args.out, pdf)
                    else:
                        where._loaded().llama.reset()  # each digest starts with an empty KV cache, as a first request does
                        run = digest_once(name, write, record, paper, where, args.out, pdf)
                    runs.append(run)
                    print(f"  {pdf.stem} {name}: {run.seconds:.1f} s, {run.calls} calls, {run.evaluated} evaluated, "
                          f"{run.reused} reused  {run.score}", file=sys.stderr, flush=True)
        finally:
            if server is not None:
                server.close()
    units.append(raw_unit(llama, unit_text))
    unit = statistics.median(units)
    print(f"model {Path(backend.model).name}, {backend.threads} threads (both writers)\n"
          f"raw llama.cpp unit (1,024 prompt tokens + 128 generated): {', '.join(f'{u:.1f}' for u in units)} s, "
          f"median {unit:.1f} s")
    print(report(runs, unit))
    for r in runs:
        if r.score:
            print(f"{r.paper} {r.writer}: {r.score}")
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in runs], indent=1))
    return 0
