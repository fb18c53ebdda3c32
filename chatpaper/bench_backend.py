"""Benchmark of the local model, in-process and behind llama.cpp's server: ``python -m chatpaper.bench_backend``.

For one digest-sized prompt (about 3,000 tokens of a corpus paper) it prints the medians over a few runs of: load
time, time to first token, generation speed (tokens/s after the first token), and the tokens sent and received.
Each run starts its prompt differently, so llama.cpp's prefix cache cannot skip the prompt of a previous run.
"""
from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from chatpaper.backends import get_backend, local
from chatpaper.settings import Settings

DEFAULT_PAPER = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "mapreduce_osdi2004.pdf"
SYSTEM = ("Run {run}. You write short, faithful digests of research papers for busy readers. Use only facts "
          "from the text.")
ASK = "Summarise the paper below in five bullet points: problem, method, results, limits, why it matters.\n\n{text}"


def paper_text(pdf: Path, backend, tokens: int) -> str:
    """About ``tokens`` tokens (by the backend's own count) of the paper's text, from its start."""
    import pymupdf

    with pymupdf.open(pdf) as doc:
        text = "\n".join(page.get_text() for page in doc)
    chars = tokens * 4
    while backend.count_tokens(text[:chars]) > tokens and chars > 100:
        chars = int(chars * 0.95)
    return text[:chars]


def one_run(backend, text: str, run: int, max_tokens: int) -> dict:
    """Time one streamed completion: seconds to the first chunk, decode speed, token counts."""
    messages = [{"role": "system", "content": SYSTEM.format(run=run)},
                {"role": "user", "content": ASK.format(text=text)}]
    started = time.perf_counter()
    first = None
    stream = backend.chat(messages, max_tokens=max_tokens, temperature=0.0)
    for _ in stream:
        first = first or time.perf_counter()
    ended = time.perf_counter()
    out = stream.usage.completion_tokens or 0
    return {"ttft": (first or ended) - started,
            "tok_s": (out - 1) / (ended - first) if first and out > 1 and ended > first else float("nan"),
            "sent": stream.usage.prompt_tokens, "received": out}


def bench_local(model: str, n_ctx: int, runs: int, pdf: Path, tokens: int, max_tokens: int) -> dict:
    """Load the model ``runs`` times (median load), then run ``runs`` completions."""
    loads = []
    for _ in range(runs):
        local._MODELS.clear()  # a fresh load each time; the OS page cache still holds the file after the first
        loads.append(local.load_model(model, n_ctx).seconds)
    backend = get_backend(Settings(backend="local", model_path=model, context_tokens=n_ctx))
    text = paper_text(pdf, backend, tokens)
    results = [one_run(backend, text, run, max_tokens) for run in range(runs)]
    return {"load": loads, "runs": results, "text": text}


def bench_server(model: str, n_ctx: int, runs: int, text: str, max_tokens: int) -> dict:
    """Start llama.cpp's server (load = start until it answers /v1/models), then run ``runs`` completions."""
    with socket.socket() as s:  # a free loopback port
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}/v1"
    with tempfile.TemporaryFile() as log:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1",
                                 "--port", str(port), "--n_ctx", str(n_ctx)], stdout=log, stderr=subprocess.STDOUT)
        try:
            load = _wait(base, proc, started)
            backend = get_backend(Settings(backend="openai", openai_base_url=base))
            results = [one_run(backend, text, run, max_tokens) for run in range(runs)]
        finally:
            proc.terminate()
            proc.wait(10)
    return {"load": [load], "runs": results}


def _wait(base: str, proc: subprocess.Popen, started: float) -> float:
    while proc.poll() is None:
        try:
            urllib.request.urlopen(base + "/models", timeout=2).close()
            return time.perf_counter() - started
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"llama_cpp.server exited with {proc.returncode}")


def _median(values) -> float:
    values = [v for v in values if v is not None and v == v]
    return statistics.median(values) if values else float("nan")


def report(name: str, result: dict) -> str:
    """One table row of medians."""
    runs = result["runs"]
    return (f"| {name} | {_median(result['load']):.2f} | {_median([r['ttft'] for r in runs]):.2f} | "
            f"{_median([r['tok_s'] for r in runs]):.1f} | {_median([r['sent'] for r in runs]):.0f} | "
            f"{_median([r['received'] for r in runs]):.0f} |")


def main(argv=None) -> int:
    """Run the benchmark and print a Markdown table."""
    parser = argparse.ArgumentParser(prog="python -m chatpaper.bench_backend", description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="GGUF file (default: the bundled Qwen2.5-Coder-0.5B-Instruct)")
    parser.add_argument("--pdf", type=Path, default=DEFAULT_PAPER, help="paper whose text is the prompt")
    parser.add_argument("--tokens", type=int, default=3000, help="prompt size in tokens (default 3000)")
    parser.add_argument("--max-tokens", type=int, default=200, help="tokens to generate per run (default 200)")
    parser.add_argument("--runs", type=int, default=3, help="runs per setup; medians are printed (default 3)")
    parser.add_argument("--n-ctx", type=int, default=4096, help="context window (default 4096)")
    parser.add_argument("--skip-server", action="store_true", help="only the in-process backend")
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    model = args.model or local.resolve_model_path(settings, progress=print)
    print(f"model: {model}\nprompt: ~{args.tokens} tokens of {args.pdf.name}, {args.max_tokens} generated, "
          f"{args.runs} runs, n_ctx {args.n_ctx}\n")
    results = {"local (in-process)": bench_local(model, args.n_ctx, args.runs, args.pdf, args.tokens,
                                                 args.max_tokens)}
    if not args.skip_server:
        local._MODELS.clear()  # free the in-process copy before the server loads its own
        results["llama.cpp server (openai backend)"] = bench_server(
            model, args.n_ctx, args.runs, results["local (in-process)"]["text"], args.max_tokens)
    print("| setup | load s | first token s | tokens/s | tokens sent | tokens received |")
    print("|---|---|---|---|---|---|")
    for name, result in results.items():
        print(report(name, result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
