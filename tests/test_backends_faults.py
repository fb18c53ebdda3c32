"""Failure handling of the remote backends against small scripted loopback servers: 429 then success, 5xx that
never ends, a server that accepts and never answers, a connection cut mid-answer, a server without stream_options.

The scripted server speaks just enough of the OpenAI chat API (server-sent events) for the openai and hf clients;
the real llama.cpp server is exercised in test_backends_servers.py.
"""
from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chatpaper.backends import get_backend
from chatpaper.errors import BackendError, Cancelled
from chatpaper.settings import Settings

MESSAGES = [{"role": "user", "content": "Say hello."}]


def _sse(obj) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def _chunk(content=None, finish=None) -> dict:
    delta = {"role": "assistant", "content": content} if content is not None else {}
    return {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "stub",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


USAGE_CHUNK = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "stub", "choices": [],
               "usage": {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13}}


class ScriptedServer:
    """A loopback HTTP server answering each POST with the next step of a script.

    Steps: ("status", code, headers) answers with that status and a JSON error; "stream" sends "Hello", " world",
    a finish and a usage chunk; "cut" sends one chunk and closes the connection without finishing; "hold" sends
    one chunk and then only keep-alive comments;
    "reject_stream_options" answers 400 when the request asks for stream_options, else streams.
    """

    def __init__(self, script: list):
        self.script = list(script)
        self.requests: list[dict] = []
        self.disconnected = threading.Event()  # set when a client hung up on a "hold" answer
        self.closing = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest's output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                step = server.script.pop(0) if len(server.script) > 1 else server.script[0]
                getattr(self, "_" + step[0])(body, *step[1:])

            def _status(self, body, code, headers=None, message=None):
                payload = json.dumps({"error": {"message": message or f"scripted {code}", "type": "stub"}}).encode()
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _start_events(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()

            def _stream(self, body):
                self._start_events()
                for part in (_chunk("Hello"), _chunk(" world"), _chunk(finish="stop")):
                    self.wfile.write(_sse(part))
                if (body.get("stream_options") or {}).get("include_usage"):
                    self.wfile.write(_sse(USAGE_CHUNK))
                self.wfile.write(b"data: [DONE]\n\n")

            def _cut(self, body):
                self._start_events()
                self.wfile.write(_sse(_chunk("Hello")))
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)

            def _hold(self, body):
                """One chunk, then SSE comments (keep-alive pings, as sse-starlette sends) and never a token."""
                self._start_events()
                self.wfile.write(_sse(_chunk("Hello")))
                try:
                    while not server.closing.is_set():
                        self.wfile.write(b": ping\n\n")
                        self.wfile.flush()
                        time.sleep(0.1)
                except OSError:  # the client hung up
                    server.disconnected.set()

            def _reject_stream_options(self, body):
                if "stream_options" in body:
                    # worded like the servers that reject the field
                    self._status(body, 400, None, "unknown field: stream_options")
                else:
                    self._stream(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def scripted():
    servers = []

    def make(*script):
        servers.append(ScriptedServer(list(script)))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


@pytest.fixture
def silent_server():
    """A TCP server on 127.0.0.1 that accepts connections, reads the request, and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    held, stop = [], threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                held.append(conn)
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    stop.set()
    for conn in held:
        conn.close()
    listener.close()


def _backend(name: str, url: str, **settings):
    """An openai or hf backend aimed at ``url``, with short waits between retries."""
    if name == "openai":
        s = Settings(backend="openai", openai_base_url=url, model="stub", **settings)
    else:
        s = Settings(backend="hf", hf_base_url=url, model="stub", **settings)
    backend = get_backend(s)
    backend.backoff = 0.05
    return backend


BOTH = pytest.mark.parametrize("name", ["openai", "hf"])


@BOTH
def test_429_then_success_retries_and_streams(scripted, name):
    server = scripted(("status", 429, {"Retry-After": "0"}), ("status", 503), ("stream",))
    stream = _backend(name, server.url).chat(MESSAGES, max_tokens=33)
    assert list(stream) == ["Hello", " world"]
    assert stream.text == "Hello world"
    assert stream.usage.prompt_tokens == 11 and stream.usage.completion_tokens == 2
    assert stream.finish_reason == "stop"
    assert len(server.requests) == 3
    assert all(r["max_tokens"] == 33 and r["stream"] is True for r in server.requests)


@BOTH
def test_persistent_5xx_gives_up_with_clear_error(scripted, name):
    server = scripted(("status", 502,))
    backend = _backend(name, server.url)
    with pytest.raises(BackendError, match="502.*Gave up after 4 attempts; try again later"):
        list(backend.chat(MESSAGES))
    assert len(server.requests) == backend.retries + 1


@BOTH
def test_client_error_is_not_retried(scripted, name):
    server = scripted(("status", 422,))
    with pytest.raises(BackendError, match="rejected the request \\(422"):
        list(_backend(name, server.url).chat(MESSAGES))
    assert len(server.requests) == 1


@BOTH
def test_server_that_never_answers_times_out(silent_server, name):
    backend = _backend(name, silent_server, llm_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(BackendError, match="did not answer within 1 s|sent nothing for 1 s"):
        list(backend.chat(MESSAGES))
    assert time.monotonic() - started < 6  # one timeout, no retry storm


@BOTH
def test_connection_cut_mid_answer_is_an_error_not_a_short_answer(scripted, name):
    server = scripted(("cut",))
    stream = _backend(name, server.url).chat(MESSAGES)
    with pytest.raises(BackendError, match="broke after 1 chunk of|before it was complete"):
        for _ in stream:
            pass
    assert stream.text == "Hello"
    assert len(server.requests) == 1  # text already reached the reader: no silent retry that would repeat it


@BOTH
def test_pings_without_tokens_time_out(scripted, name):
    server = scripted(("hold",))
    stream = _backend(name, server.url, llm_timeout=1.0).chat(MESSAGES)
    started = time.monotonic()
    with pytest.raises(BackendError, match="sent nothing for 1 s.*CHATPAPER_LLM_TIMEOUT"):
        list(stream)
    assert time.monotonic() - started < 4
    assert stream.text == "Hello"
    assert server.disconnected.wait(3)  # the connection was closed, so the server can stop working for us


@BOTH
def test_cancel_closes_the_connection_at_once(scripted, name):
    server = scripted(("hold",))
    cancel = threading.Event()
    stream = _backend(name, server.url).chat(MESSAGES, cancel=cancel)
    chunks = iter(stream)
    assert next(chunks) == "Hello"
    cancel.set()
    with pytest.raises(Cancelled):
        next(chunks)
    assert server.disconnected.wait(3)
    assert len(server.requests) == 1  # a cancelled request is not retried


def test_openai_falls_back_when_server_rejects_stream_options(scripted):
    server = scripted(("reject_stream_options",))
    stream = _backend("openai", server.url).chat(MESSAGES)
    assert stream_text(stream) == "Hello world"
    assert stream.usage.prompt_tokens is None  # the server gives no usage without stream_options
    assert "stream_options" in server.requests[0] and "stream_options" not in server.requests[1]


def test_unreachable_server_is_retried_then_reported():
    with socket.socket() as s:  # a port that was free a moment ago: connection refused
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    backend = _backend("openai", url)
    with pytest.raises(BackendError, match="Cannot reach .*Check that the server is running"):
        list(backend.chat(MESSAGES))


def stream_text(stream) -> str:
    return "".join(stream)
