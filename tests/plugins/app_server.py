"""The app launched on loopback, for tests that call it through gradio_client or a browser.

- ``launched_app()``: a context manager running the app on a free 127.0.0.1 port in this process; yields its URL;
- ``use_llama_server(monkeypatch, server)``: the server's settings pointed at a loopback llama.cpp server;
- ``SECRET``: a visitor's API key that must never be stored, logged or exported;
- an autouse fixture that turns Gradio's telemetry off for every test.
"""
from __future__ import annotations

import contextlib

import pytest

from tests.plugins.llm_server import free_port

SECRET = "sk-app-test-never-stored-8c1f"


@pytest.fixture(autouse=True)
def _no_telemetry(monkeypatch):
    """gradio_client phones home unless this is set (its analytics_enabled=False alone does not stop it); set for
    every test, so no test that builds or calls the app tries to reach the network."""
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")


@contextlib.contextmanager
def launched_app():
    """The app on a free 127.0.0.1 port, in this process, launched the way ``python app.py`` does; yields its URL."""
    import app  # here, not above: every test run loads this plugin, and importing the app imports gradio

    demo = app.build_demo()
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **app.launch_options())
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def use_llama_server(monkeypatch, server) -> None:
    """Point the server's settings at the loopback llama.cpp server (as a Space's secrets would)."""
    monkeypatch.setenv("CHATPAPER_BACKEND", "openai")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("CHATPAPER_MODEL", server.model)
    # Within the server's n_ctx=2048, and small: SmolLM2 reads ~300 tokens of paper per call, which keeps a whole
    # digest (6-8 calls) near a minute on 2 cores. The app's wiring, not the prose, is under test here.
    monkeypatch.setenv("CHATPAPER_CONTEXT_TOKENS", "1024")
