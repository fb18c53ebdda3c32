"""Raw llama.cpp work per thread count and build: ``python -m benchmarks units [--threads 1,2,lib] [--build NAME=DIR]``.

One unit is the raw work ``python -m benchmarks digest`` counts digests in: evaluate 1,024 prompt tokens of a
corpus paper from an empty KV cache, then generate 128 tokens greedily, with the same GGUF. Each setup (a build and
a thread count) runs in a process of its own, so that ``--build NAME=DIR`` can put another llama-cpp-python first on
the path (a folder it was installed into with ``pip install --target DIR``); the installed one is ``installed``.
The setups alternate ``--rounds`` times, so that a change of machine load hits them alike. Thread counts: a number
is passed to llama.cpp for generation and prompt reading (``0`` is chatpaper's own default, every core this
process may run on), ``lib`` loads without thread arguments, as chatpaper did for ``CHATPAPER_THREADS=0`` before:
llama-cpp-python then generates on half of ``os.cpu_count()`` and reads prompts on all of them.

Prints per setup the median unit in seconds, its prompt and generation speeds, the CPU features the build reports,
the ratio of each setup's median to the first one's, and whether its 128 greedy tokens are the first setup's.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import REPO, corpus_dir

DEFAULT_PAPER = corpus_dir() / "nerf2nerf_registration.pdf"
PROMPT, GENERATED = 1024, 128
#: Features of the CPU backend worth naming (``llama_print_system_info`` lists them as ``NAME = 1``).
FEATURES = ("AVX2", "AVX512", "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16", "AVX_VNNI", "AMX_INT8")


def unit_seconds(llama, tokens: list[int], generated: list[int] | None = None) -> tuple[float, float]:
    """Seconds to evaluate ``tokens[:1024]`` from an empty KV cache, and to generate 128 tokens after them (into
    ``generated`` when given)."""
    generated = [] if generated is None else generated
    llama.reset()
    llama._ctx.kv_cache_clear()
    start = time.perf_counter()
    llama.eval(tokens[:PROMPT])
    read = time.perf_counter()
    for _ in range(GENERATED):
        generated.append(llama.sample(temp=0.0))
        llama.eval([generated[-1]])
    end = time.perf_counter()
    llama.reset()
    llama._ctx.kv_cache_clear()
    return read - start, end - read


def unit_tokens(llama, pdf: Path) -> list[int]:
    """The paper's section text as the model's tokens (at least 1,024 of them)."""
    from chatpaper.pdf import extract_paper

    text = " ".join(s.text for s in extract_paper(pdf).sections)
    tokens = llama.tokenize(text.encode("utf-8"), add_bos=False)
    if len(tokens) < PROMPT:
        raise SystemExit(f"{pdf.name} has {len(tokens)} tokens of text; a unit needs {PROMPT}")
    return tokens


def _child(model: str, threads: str, pdf: Path, repeats: int) -> dict:
    """One setup in this process: load, warm up, time ``repeats`` units; what it measured, as a dict."""
    import llama_cpp

    from chatpaper.backends import local

    if threads == "lib":
        llama = llama_cpp.Llama(model_path=model, n_ctx=local.DEFAULT_CONTEXT, verbose=False)
    else:
        llama = local.load_model(model, local.DEFAULT_CONTEXT, int(threads)).llama
    tokens = unit_tokens(llama, pdf)
    llama.eval(tokens[:64])  # warm-up: the first evaluation after a load pages the weights in and repacks them
    generated: list[int] = []
    units = [unit_seconds(llama, tokens, generated) for _ in range(repeats)]
    info = llama_cpp.llama_print_system_info().decode()
    return {"text": llama.detokenize(generated[:GENERATED]).decode("utf-8", "replace"), "llama_cpp": str(Path(llama_cpp.__file__).parent), "version": llama_cpp.__version__,
            "n_threads": llama.n_threads, "n_threads_batch": llama.n_threads_batch, "units": units,
            "features": [f for f in FEATURES if f"{f} = 1" in info]}


def _run_setup(build: str, site: str | None, threads: str, args) -> dict:
    """Run one setup as a child process (``site`` first on its path when given)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (site, str(REPO), env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, "-m", "benchmarks", "units", "--child", "--model", args.model, "--pdf", str(args.pdf),
           "--threads", threads, "--repeats", str(args.repeats)]
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"setup {build}/{threads} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if site and not result["llama_cpp"].startswith(str(Path(site).resolve())):
        raise SystemExit(f"setup {build} imported {result['llama_cpp']}, not the build in {site}")
    print(f"  {build} threads {threads}: " + ", ".join(f"{p + g:.1f}" for p, g in result["units"]) + " s",
          file=sys.stderr, flush=True)
    return result


def report(results: dict[tuple[str, str], list[dict]]) -> str:
    """The Markdown table of medians, with each setup's ratio to the first."""
    lines = ["| build | threads (generate/read) | features | unit s (median) | prompt tok/s | generate tok/s | "
             "units | vs first | same text |", "|" + "---|" * 9]
    first = first_text = None
    for (build, threads), runs in results.items():
        units = [u for r in runs for u in r["units"]]
        total = statistics.median(p + g for p, g in units)
        prompt = statistics.median(PROMPT / p for p, _ in units)
        generate = statistics.median(GENERATED / g for _, g in units)
        first = first or total
        r = runs[0]
        first_text = first_text or r["text"]
        same = "yes" if all(run["text"] == first_text for run in runs) else "no"
        lines.append(f"| {build} | {threads} ({r['n_threads']}/{r['n_threads_batch']}) | "
                     f"{' '.join(r['features']) or '-'} | {total:.2f} | {prompt:.0f} | {generate:.1f} | "
                     f"{len(units)} | {total / first:.2f} | {same} |")
    lines.append("same text: the 128 greedy tokens equal the first setup's (a build that computes differently "
                 "may differ)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run every setup ``--rounds`` times, alternating, and print the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks units", description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="GGUF file (default: the bundled Qwen2.5-Coder-0.5B-Instruct)")
    parser.add_argument("--pdf", type=Path, default=DEFAULT_PAPER, help="paper whose text is the prompt")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts, or lib (default 1,2)")
    parser.add_argument("--build", action="append", default=[], metavar="NAME=DIR",
                        help="also time the llama-cpp-python installed in DIR (pip install --target DIR)")
    parser.add_argument("--repeats", type=int, default=2, help="units per setup and round (default 2)")
    parser.add_argument("--rounds", type=int, default=2, help="times every setup runs, alternating (default 2)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.model, args.threads, args.pdf, args.repeats)))
        return 0
    if not args.model:
        from chatpaper.backends import local
        from chatpaper.settings import Settings

        args.model = local.resolve_model_path(Settings.from_env(), progress=print)
    builds = [("installed", None)] + [tuple(b.split("=", 1)) for b in args.build]
    setups = [(name, site, t.strip()) for name, site in builds for t in args.threads.split(",")]
    print(f"model {Path(args.model).name}; unit: {PROMPT} prompt tokens of {args.pdf.name} + {GENERATED} generated; "
          f"{args.rounds} rounds x {args.repeats} units per setup; {os.cpu_count()} CPUs", flush=True)
    results: dict[tuple[str, str], list[dict]] = {}
    for _ in range(args.rounds):
        for name, site, threads in setups:
            results.setdefault((name, threads), []).append(_run_setup(name, site, threads, args))
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
