"""Load test: N concurrent /digest calls through gradio_client against ``python app.py`` with a fast backend.

The backend is a canned OpenAI-compatible server on 127.0.0.1 (well-formed digest answers streamed word by word, a
few ms per word), so the run measures the app: upload, extraction of real corpus PDFs, the queue, rendering and the
zip. Prints completions, latency median/max, the queue limits the app declares and what was observed (the most
digests writing at once, seen at the model server), and the app server's peak RSS.

    python scripts/load_test.py [--requests 10] [--delay-ms 4]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"

EN_SUMMARY = ("SUMMARY: The paper proposes a method and evaluates it.\nTAKEAWAYS:\n- A new method.\n- Tested on data.\n"
              "- Results improve.\nKEYWORDS: method, evaluation, results\nBACKGROUND: The field needs better tools.\n"
              "PAST METHODS: Earlier methods were slower.\nAPPROACH: The authors design a new pipeline.\n"
              "PERFORMANCE: It performs well on the reported tasks.")
EN_METHODS = "METHODS:\n- Collect the data.\n- Train the model.\n- Evaluate the results."
EN_CONCLUSION = ("SIGNIFICANCE: It makes the task easier.\nINNOVATION: A simpler design.\n"
                 "PERFORMANCE REVIEW: Good results, limited scope.\nWORKLOAD: Several experiments.")
ZH_ALL = ("TITLE: 一种新方法\nSUMMARY: 本文提出一种方法并加以评估。\nTAKEAWAYS:\n- 提出新方法。\n- 在数据上测试。\n- 结果更好。\n"
          "KEYWORDS: 方法, 评估, 结果\nBACKGROUND: 该领域需要更好的工具。\nPAST METHODS: 以往方法较慢。\n"
          "APPROACH: 作者设计了新的流程。\nPERFORMANCE: 在所报告的任务上表现良好。\nMETHODS:\n- 收集数据。\n- 训练模型。\n"
          "- 评估结果。\nSIGNIFICANCE: 让任务更容易。\nINNOVATION: 设计更简单。\nPERFORMANCE REVIEW: 结果好，范围有限。\n"
          "WORKLOAD: 多组实验。")


def canned_answer(messages: list[dict]) -> str:
    """The answer for one digest call, chosen from the prompt the way the scripted test backend does."""
    user = messages[-1]["content"]
    zh = "简体中文" in messages[0]["content"]
    if user.startswith("Translate the following digest") or zh:
        return ZH_ALL
    if "SUMMARY:" in user:
        return EN_SUMMARY
    if "SIGNIFICANCE:" in user:
        return EN_CONCLUSION
    return EN_METHODS


class FakeModelServer(ThreadingHTTPServer):
    """A loopback OpenAI-compatible chat server that streams canned answers and counts concurrent streams."""

    daemon_threads = True

    def __init__(self, delay_s: float):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.delay_s = delay_s
        self.lock = threading.Lock()
        self.active = self.peak = self.calls = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        self._json({"object": "list", "data": [{"id": "canned", "object": "model", "owned_by": "load-test"}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        server: FakeModelServer = self.server
        with server.lock:
            server.active += 1
            server.calls += 1
            server.peak = max(server.peak, server.active)
        try:
            words = canned_answer(body["messages"]).split(" ")
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i, word in enumerate(words):
                time.sleep(server.delay_s)
                self._chunk({"choices": [{"index": 0, "delta": {"content": word + (" " if i < len(words) - 1 else "")},
                                          "finish_reason": None}]})
            self._chunk({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": 1000, "completion_tokens": len(words)}})
            self._send(b"data: [DONE]\n\n")
            self._send(b"")
        finally:
            with server.lock:
                server.active -= 1

    def _chunk(self, payload: dict) -> None:
        payload.update({"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "canned"})
        self._send(b"data: " + json.dumps(payload).encode() + b"\n\n")

    def _send(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _json(self, obj: dict) -> None:
        data = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_up(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"app.py exited with {process.returncode}")
        try:
            urllib.request.urlopen(url + "config", timeout=2).read()
            return
        except OSError:
            time.sleep(0.5)
    sys.exit(f"app.py did not answer at {url} within {timeout:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10, help="concurrent /digest calls")
    parser.add_argument("--delay-ms", type=float, default=4.0, help="the fake model's delay per streamed word")
    args = parser.parse_args()
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # gradio_client's telemetry: nothing leaves 127.0.0.1
    from gradio_client import Client, handle_file

    pdfs = sorted(CORPUS.glob("*.pdf"), key=lambda p: p.stat().st_size)[:args.requests]
    pdfs = (pdfs * args.requests)[:args.requests]  # distinct papers where the corpus allows: no digest-cache hits
    model = FakeModelServer(args.delay_ms / 1000)
    threading.Thread(target=model.serve_forever, daemon=True).start()
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="chatpaper-load-"))
    env = {**os.environ, "CHATPAPER_BACKEND": "openai", "OPENAI_BASE_URL": model.base_url,
           "CHATPAPER_MODEL": "canned", "CHATPAPER_CACHE_DIR": str(work / "cache"), "GRADIO_SERVER_PORT": str(port),
           "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_ANALYTICS_ENABLED": "False"}
    log = (work / "app.log").open("wb")
    process = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_up(url, process)
        config = json.loads(urllib.request.urlopen(url + "config").read())
        sys.path.insert(0, str(ROOT))
        import app  # the same rule the server applied to its environment (Gradio's /config does not publish it)
        from chatpaper.settings import Settings

        llm_limit = app.digest_concurrency(Settings.from_env(env))
        rss_idle = peak_rss_mb(process.pid)
        ranks: list[int] = []

        def one(pdf: Path) -> tuple[float, bool, str]:
            client = Client(url, verbose=False)
            start = time.monotonic()
            job = client.submit(source="", pdf=handle_file(str(pdf)), api_name="/digest")
            while not job.done():
                status = job.status()
                if status.rank is not None:
                    ranks.append(status.rank)
                time.sleep(0.2)
            try:
                markdown = job.result()[0]
                return time.monotonic() - start, bool(markdown and "## " in markdown), pdf.name
            except Exception as exc:  # reported, not raised: the count of completions is the result
                return time.monotonic() - start, False, f"{pdf.name}: {exc}"

        started = time.monotonic()
        with ThreadPoolExecutor(args.requests) as pool:
            results = list(pool.map(one, pdfs))
        wall = time.monotonic() - started
        latencies = [r[0] for r in results]
        ok = sum(r[1] for r in results)
        print(f"requests: {args.requests} concurrent /digest calls, {len(set(pdfs))} distinct corpus PDFs")
        print(f"completed: {ok}/{args.requests} in {wall:.1f} s wall")
        print(f"latency: median {statistics.median(latencies):.1f} s, max {max(latencies):.1f} s, "
              f"min {min(latencies):.1f} s")
        print(f"queue limits: {llm_limit} digest(s) at once (concurrency_id 'llm'), "
              f"queue max_size {app.QUEUE_MAX_SIZE}, upload limit {config.get('max_file_size')} bytes")
        print(f"observed: peak {model.peak} model streams at once, {model.calls} model calls, "
              f"highest queue position seen {max(ranks) if ranks else 0}")
        print(f"app server RSS: idle {rss_idle:.0f} MB, peak {peak_rss_mb(process.pid):.0f} MB")
        for latency, good, name in results:
            if not good:
                print(f"  failed: {name} after {latency:.1f} s")
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
        model.shutdown()
        print(f"app log: {work / 'app.log'}")


if __name__ == "__main__":
    main()
