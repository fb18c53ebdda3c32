"""The digest writer against llama.cpp's real server (SmolLM2-135M): structured output, and what the server receives.

A recording relay on loopback stands between the openai backend and ``llama_cpp.server``: it forwards each request
unchanged and keeps its JSON body, so the tests read exactly the prompts and options the server got.
"""
from __future__ import annotations

import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chatpaper import writer
from chatpaper.backends import get_backend
from chatpaper.settings import Settings
from tests.sample_paper import INJECTION, make_paper

pytestmark = pytest.mark.slow


class Relay:
    """An HTTP relay to ``upstream`` that records every request body (the server's view of each call)."""

    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self.bodies: list[dict] = []
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self, method: str):
                size = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(size) if size else None
                if body:
                    relay.bodies.append(json.loads(body))
                request = urllib.request.Request(relay.upstream + self.path.removeprefix("/v1"), data=body,
                                                 method=method, headers={"Content-Type": "application/json"})
                try:
                    with urllib.request.urlopen(request, timeout=300) as response:
                        status, headers, data = response.status, response.headers, response.read()
                except urllib.error.HTTPError as exc:
                    status, headers, data = exc.code, exc.headers, exc.read()
                self.send_response(status)
                self.send_header("Content-Type", headers.get("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._forward("GET")

            def do_POST(self):
                self._forward("POST")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def chats(self) -> list[dict]:
        return [b for b in self.bodies if "messages" in b]

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def relay(llama_server):
    r = Relay(llama_server.base_url)
    yield r
    r.close()


def _backend(relay: Relay):
    return get_backend(Settings(backend="openai", openai_base_url=relay.base_url, context_tokens=2048, llm_timeout=300))


def test_structured_answers_from_the_real_server_follow_the_schema(relay):
    backend = _backend(relay)
    schema = writer.schema_for(["significance", "innovation"])
    messages = [{"role": "user", "content": "Say why bicycles matter and what is new about electric ones. Answer in JSON."}]
    stream = backend.chat(messages, max_tokens=160, temperature=0.0, schema=schema)
    text = "".join(stream)
    answer = json.loads(text)  # the server's grammar kept it valid JSON, whatever the 135M model wanted
    assert list(answer) == ["significance", "innovation"] and all(isinstance(v, str) for v in answer.values())
    assert all(len(v) <= 200 for v in answer.values())  # maxLength reached the grammar
    # llama-cpp-python's server refuses OpenAI's json_schema form (422) and takes json_object with a schema:
    forms = [b.get("response_format", {}).get("type") for b in relay.chats()]
    assert forms == ["json_schema", "json_object"] and backend._schema_forms == ["json_object"]


def test_every_paper_text_reaches_the_server_inside_the_data_tags(relay, monkeypatch):
    monkeypatch.setattr(writer, "MAX_REWRITES", 1)
    record, paper = make_paper(extra=INJECTION)
    record.title = paper.title = "Divide and Conquer for Radiance Fields"
    digests = writer.write_digests(record, paper, _backend(relay), ["en", "zh"])
    assert "en" in digests
    chats = relay.chats()
    assert len(chats) >= 5
    for body in chats:
        system, user = (m["content"] for m in body["messages"])
        assert paper.title not in system and "Ignore previous instructions" not in system
        outside = user
        for tag in ("paper", "draft"):
            while f"<{tag}>" in outside:
                start = outside.index(f"<{tag}>")
                outside = outside[:start] + outside[outside.index(f"</{tag}>", start) + len(tag) + 3:]
        assert "Divide and Conquer" not in outside and "HACKED" not in outside, user
        assert "Neural radiance fields" not in outside
    questions = [b for b in chats if "<paper>" in b["messages"][1]["content"]]
    assert questions and all(b.get("response_format") for b in questions)
    translations = [b for b in chats if "<draft>" in b["messages"][1]["content"] and "简体中文" in b["messages"][1]["content"]]
    assert translations, "the Chinese calls reached the server"
    # One paper prefix for every English question: the server reuses it from call to call.
    prefix = questions[0]["messages"][1]["content"].split("</paper>")[0]
    assert all(b["messages"][1]["content"].startswith(prefix) for b in questions)


def test_a_key_terms_answer_from_the_real_server_starts_each_sentence_with_its_term(relay):
    backend = _backend(relay)
    terms = ["NeRF", "GPT-4"]
    messages = [{"role": "user", "content": "Explain NeRF and GPT-4 in one short sentence each. Answer in JSON."}]
    stream = backend.chat(messages, max_tokens=200, temperature=0.0, schema=writer.terms_schema(terms))
    answer = json.loads("".join(stream))  # the pattern reached the server's grammar: each value starts with its term
    assert list(answer) == terms and all(answer[t].startswith(t + " ") for t in terms)
    assert all(len(v) <= writer.PART["key_terms"].chars and "\n" not in v for v in answer.values())
