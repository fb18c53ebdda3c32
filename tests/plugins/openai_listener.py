"""A small loopback OpenAI-compatible server for tests that need a model server under their control: one that
streams a fixed reply, fails with a status, or redirects, and records every request's headers.

``Listener(...)`` starts one (``.url`` ends in /v1; ``.close()`` stops it); the ``listeners`` fixture makes them and
closes each when the test ends.
"""
from __future__ import annotations

import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

INTERNAL_ANSWER = "internal-detail: db at 10.0.0.3 refused"


class Listener:
    """A loopback OpenAI-compatible server recording (path, headers) of every request.

    ``status`` 200 streams ``reply`` (in pieces of ``chunk`` characters, ``delay`` seconds apart); any other answers that status with ``INTERNAL_ANSWER`` as the error;
    ``redirect`` answers 302 to that URL.
    """

    def __init__(self, status: int = 200, redirect: str | None = None, tls: ssl.SSLContext | None = None,
                 reply: str = "SUMMARY: A paper.", chunk: int = 0, delay: float = 0.0):
        self.requests: list[tuple[str, dict]] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _record(self):
                listener.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))

            def do_GET(self):
                self._record()
                self._answer({"object": "list", "data": [{"id": "stub", "object": "model"}]})

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._record()
                if redirect:
                    self.send_response(302)
                    self.send_header("Location", redirect)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif status != 200:
                    self._answer({"error": {"message": INTERNAL_ANSWER, "type": "internal"}}, status)
                else:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    size = chunk or len(reply)
                    pieces = [{"content": reply[i:i + size]} for i in range(0, len(reply), size)]
                    for piece in pieces + [{}]:
                        choice = {"index": 0, "delta": piece, "finish_reason": None if piece else "stop"}
                        event = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "stub",
                                 "choices": [choice]}
                        self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")
                        self.wfile.flush()
                        time.sleep(delay)
                    self.wfile.write(b"data: [DONE]\n\n")

            def _answer(self, obj, code=200):
                payload = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def authorizations(self) -> list[str]:
        return [headers.get("authorization", "") for _, headers in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listeners():
    """Make Listeners (``listeners(status=500)``); every one made is closed when the test ends."""
    made = []

    def make(**kw) -> Listener:
        made.append(Listener(**kw))
        return made[-1]

    yield make
    for listener in made:
        listener.close()
