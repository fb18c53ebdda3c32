"""The local model, in-process and behind llama.cpp's server: ``python -m benchmarks backend``.

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

from benchmarks import corpus_dir
from chatpaper.backends import get_backend, local
from chatpaper.settings import Settings

DEFAULT_PAPER = corpus_dir() / "mapreduce_osdi2004.pdf"
SYSTEM = ("Run {run}. You write short, faithful digests of research papers for busy readers. Use only facts "
          "from the text.")
ASK = "Summarise the paper below in five bullet points: problem, method, results, limits, why it matters.\n\n{text}"


class Tokens:
    """The model's tokenizer alone (llama.cpp vocab-only load): counts text, and prompts as the chat template
    renders them, for the server, which reports no usage when streaming."""

    def __init__(self, model: str):
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.vocab = Llama(model_path=model, vocab_only=True, verbose=False)
        meta = self.vocab.metadata
        token = lambda key: self.vocab._model.token_get_text(int(meta[key])) if key in meta else ""
        self.template = Jinja2ChatFormatter(template=meta["tokenizer.chat_template"],
                                            eos_token=token("tokenizer.ggml.eos_token_id"),
                                            bos_token=token("tokenizer.ggml.bos_token_id"))

    def count(self, text: str) -> int:
        """Tokens of plain text."""
        return len(self.vocab.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def prompt(self, messages: list[dict]) -> int:
        """Tokens of the messages after the chat template."""
        return self.count(self.template(messages=messages).prompt)


def paper_text(pdf: Path, tokens: Tokens, size: int) -> str:
    """About ``size`` tokens of the paper's text, from its start."""
    import pymupdf

    with pymupdf.open(pdf) as doc:
        text = "\n".join(page.get_text() for page in doc)
    chars = size * 4
    while tokens.count(text[:chars]) > size and chars > 100:
        chars = int(chars * 0.95)
    return text[:chars]


def messages_for(text: str, run: int) -> list[dict]:
    """The digest-like request of one run (its first words differ per run, defeating the prefix cache)."""
    return [{"role": "system", "content": SYSTEM.format(run=run)},
            {"role": "user", "content": ASK.format(text=text)}]


def one_run(backend, text: str, run: int, max_tokens: int, tokens: Tokens) -> dict:
    """Time one streamed completion: seconds to the first chunk, decode speed, token counts."""
    messages = messages_for(text, run)
    started = time.perf_counter()
    first = None
    stream = backend.chat(messages, max_tokens=max_tokens, temperature=0.0)
    for _ in stream:
        first = first or time.perf_counter()
    ended = time.perf_counter()
    out = stream.usage.completion_tokens or tokens.count(stream.text)
    result = {"ttft": (first or ended) - started,
              "tok_s": (out - 1) / (ended - first) if first and out > 1 and ended > first else float("nan"),
              "sent": stream.usage.prompt_tokens or tokens.prompt(messages), "received": out}
    print(f"  {backend.id} run {run}: {result}", file=sys.stderr, flush=True)
    return result


def bench_local(model: str, n_ctx: int, threads: int, runs: int, text: str, max_tokens: int, tokens: Tokens) -> dict:
    """Load the model ``runs`` times (median load), then run ``runs`` completions in-process."""
    loads = []
    for _ in range(runs):
        local.unload_models()  # a fresh load each time; the OS page cache still holds the file after the first
        loads.append(local.load_model(model, n_ctx, threads).seconds)
    print(f"  local loads: {loads}", file=sys.stderr, flush=True)
    backend = get_backend(Settings(backend="local", model_path=model, context_tokens=n_ctx, local_threads=threads))
    results = [one_run(backend, text, run, max_tokens, tokens) for run in range(runs)]
    local.unload_models()  # free the in-process copy before a server loads its own
    return {"load": loads, "runs": results}


def bench_server(model: str, n_ctx: int, threads: int, runs: int, text: str, max_tokens: int, tokens: Tokens) -> dict:
    """Start llama.cpp's server (load = process start until it answers /v1/models), then run ``runs`` completions
    through the openai backend."""
    threads_args = ["--n_threads", str(threads), "--n_threads_batch", str(threads)]
    with socket.socket() as s:  # a free loopback port
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}/v1"
    with tempfile.TemporaryFile() as log:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1",
                                 "--port", str(port), "--n_ctx", str(n_ctx), *threads_args],
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            load = _wait(base, proc, started)
            print(f"  server ready after {load:.2f} s", file=sys.stderr, flush=True)
            backend = get_backend(Settings(backend="openai", openai_base_url=base, llm_timeout=600.0))
            results = [one_run(backend, text, run, max_tokens, tokens) for run in range(runs)]
        finally:
            proc.terminate()
            proc.wait(30)
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
    parser = argparse.ArgumentParser(prog="python -m benchmarks backend", description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="GGUF file (default: the bundled Qwen2.5-Coder-0.5B-Instruct)")
    parser.add_argument("--pdf", type=Path, default=DEFAULT_PAPER, help="paper whose text is the prompt")
    parser.add_argument("--tokens", type=int, default=3000, help="prompt size in tokens (default 3000)")
    parser.add_argument("--max-tokens", type=int, default=200, help="tokens to generate per run (default 200)")
    parser.add_argument("--runs", type=int, default=3, help="runs per setup; medians are printed (default 3)")
    parser.add_argument("--n-ctx", type=int, default=4096, help="context window (default 4096)")
    parser.add_argument("--threads", type=int, help="CPU threads, in-process and in the server (default "
                        "CHATPAPER_THREADS; 0: every core this process may run on, as the local backend does)")
    parser.add_argument("--only", choices=["local", "server"], help="run one setup only")
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    model = args.model or local.resolve_model_path(settings, progress=print)
    args.threads = settings.local_threads if args.threads is None else args.threads
    args.threads = args.threads if args.threads > 0 else local.default_threads()
    print(f"model: {model}\nprompt: ~{args.tokens} tokens of {args.pdf.name}, {args.max_tokens} generated, "
          f"{args.runs} runs, n_ctx {args.n_ctx}, threads {args.threads}\n", flush=True)
    tokens = Tokens(model)
    text = paper_text(args.pdf, tokens, args.tokens)
    results = {}
    if args.only in (None, "local"):
        results["local (in-process)"] = bench_local(model, args.n_ctx, args.threads, args.runs, text,
                                                    args.max_tokens, tokens)
    if args.only in (None, "server"):
        results["llama.cpp server (openai backend)"] = bench_server(model, args.n_ctx, args.threads, args.runs,
                                                                    text, args.max_tokens, tokens)
    print("| setup | load s | first token s | tokens/s | tokens sent | tokens received |")
    print("|---|---|---|---|---|---|")
    for name, result in results.items():
        print(report(name, result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
