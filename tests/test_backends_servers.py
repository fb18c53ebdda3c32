"""The backends against real models: llama.cpp's server (openai and hf clients) and llama.cpp in-process (local).

SmolLM2-135M keeps these fast; one short call runs the bundled Qwen model the app uses offline.
"""
from __future__ import annotations

import os
import threading

import pytest

from chatpaper.backends import Usage, get_backend, local
from chatpaper.errors import BackendError, Cancelled
from chatpaper.settings import Settings
from tests.plugins.llm_server import start_llama_server

pytestmark = pytest.mark.slow

COLOURS = [{"role": "system", "content": "You are a concise assistant."},
           {"role": "user", "content": "Name the three primary colours of light."}]
STORY = [{"role": "user", "content": "Write a very long story about a lighthouse keeper and the sea, "
                                     "with many chapters."}]


def _openai(server, **kw):
    return get_backend(Settings(backend="openai", openai_base_url=server.base_url, **kw))


def _hf(server, **kw):
    return get_backend(Settings(backend="hf", hf_base_url=server.base_url, model=server.model, **kw))


def _local(path, **kw):
    return get_backend(Settings(backend="local", model_path=path, **kw))


@pytest.mark.parametrize("make", [_openai, _hf], ids=["openai", "hf"])
def test_remote_backends_stream_from_llama_server(llama_server, make):
    backend = make(llama_server)
    stream = backend.chat(COLOURS, max_tokens=24, temperature=0.0)
    chunks = list(stream)
    assert len(chunks) > 3  # streamed, not one block
    assert stream.text == "".join(chunks) and stream.text.strip()
    # llama-cpp-python's server accepts stream_options but sends no usage chunk: the fields stay None, as the
    # contract says, and callers estimate (servers that send usage are covered in test_backends_faults.py).
    assert stream.usage == Usage(None, None)
    assert stream.finish_reason in ("stop", "length")
    assert backend.model == llama_server.model  # openai asked the server which model it serves


def test_openai_and_hf_clients_get_the_same_greedy_answer(llama_server):
    a = _openai(llama_server).chat(COLOURS, max_tokens=16, temperature=0.0)
    b = _hf(llama_server).chat(COLOURS, max_tokens=16, temperature=0.0)
    assert "".join(a) == "".join(b)
    assert a.finish_reason == b.finish_reason


def test_local_backend_streams_in_process_with_exact_usage(smollm_gguf):
    backend = _local(smollm_gguf)
    assert backend.max_parallel == 1 and backend.key_env_var is None
    stream = backend.chat(COLOURS, max_tokens=24, temperature=0.0)
    chunks = list(stream)
    assert len(chunks) > 3 and stream.text.strip()
    # llama-cpp-python counts a non-streamed completion itself: the streamed counts must be the same numbers
    llama = local.load_model(backend.model, backend.context_tokens, backend.threads)
    with llama.lock:
        reference = llama.llama.create_chat_completion(messages=COLOURS, max_tokens=24, temperature=0.0)
    assert reference["choices"][0]["message"]["content"] == stream.text
    assert (stream.usage.prompt_tokens, stream.usage.completion_tokens) == (reference["usage"]["prompt_tokens"],
                                                                          reference["usage"]["completion_tokens"])
    # The reference call left the same prompt in the KV cache: all of it but the last token is reused now.
    again = backend.chat(COLOURS, max_tokens=4, temperature=0.0)
    list(again)
    assert again.usage.cached_tokens == again.usage.prompt_tokens - 1
    assert backend.count_tokens("Hello world") == 2


def test_local_threads_zero_means_every_core_this_process_may_run_on(smollm_gguf):
    """CHATPAPER_THREADS=0 reaches llama.cpp as the affinity's core count, for generation and prompt reading."""
    cores = len(os.sched_getaffinity(0))
    backend = _local(smollm_gguf, local_threads=0)
    assert backend.threads == cores
    for threads, expected in ((0, cores), (1, 1)):
        llama = local.load_model(backend.model, backend.context_tokens, threads).llama
        assert (llama.context_params.n_threads, llama.context_params.n_threads_batch) == (expected, expected)
    assert local.load_model(backend.model, backend.context_tokens, 0) is backend._loaded()  # one copy, not two


def test_local_backend_serialises_concurrent_requests_on_one_model(smollm_gguf):
    backends = [_local(smollm_gguf), _local(smollm_gguf)]  # two requests, as two app sessions would make
    results, errors = [None, None], []

    def run(i):
        try:
            results[i] = "".join(backends[i].chat(COLOURS, max_tokens=20, temperature=0.0))
        except Exception as exc:  # collected: an assert in a thread would be lost
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert results[0] and results[0] == results[1]  # no interleaved tokens
    # loaded once, shared (the threads test above also loads a 1-thread copy: another setting, another model)
    assert backends[0]._loaded() is backends[1]._loaded()
    same = (smollm_gguf, backends[0].context_tokens, backends[0].threads)
    assert sum(1 for key in local._MODELS if key == same) == 1


def test_local_cancel_mid_stream_stops_and_frees_the_model(smollm_gguf):
    backend = _local(smollm_gguf)
    cancel = threading.Event()
    stream = backend.chat(STORY, max_tokens=400, cancel=cancel)
    received = []
    with pytest.raises(Cancelled):
        for chunk in stream:
            received.append(chunk)
            if len(received) == 3:
                cancel.set()
    assert len(received) == 3
    assert "".join(backend.chat(COLOURS, max_tokens=8, temperature=0.0))  # the lock was released


# SmolLM2 answers this, greedy, with "ha, " until its token limit.
LOOP = [{"role": "user", "content": "Continue this list exactly as it goes, with no other words: " + "ha, " * 20}]


@pytest.mark.parametrize("make", [_local, _openai], ids=["local", "openai"])
def test_an_answer_that_loops_is_stopped_long_before_its_token_limit(smollm_gguf, llama_server, make):
    backend = make(smollm_gguf if make is _local else llama_server)
    stream = backend.chat(LOOP, max_tokens=400, temperature=0.0)
    list(stream)
    assert stream.finish_reason == "loop"
    assert stream.text.count("ha,") == 1  # one copy of the loop is kept, the repeats are cut off
    if make is _local:  # in-process, the tokens written up to the stop are counted (about two per "ha, ")
        assert 24 <= stream.usage.completion_tokens < 60
        assert stream.usage.prompt_tokens > backend.count_tokens(LOOP[0]["content"])
    assert "".join(backend.chat(COLOURS, max_tokens=8, temperature=0.0))  # the model (or server) is free again


def test_openai_cancel_mid_stream(llama_server):
    cancel = threading.Event()
    stream = _openai(llama_server).chat(STORY, max_tokens=300, cancel=cancel)
    received = []
    with pytest.raises(Cancelled):
        for chunk in stream:
            received.append(chunk)
            if len(received) == 2:
                cancel.set()
    assert len(received) == 2


def test_server_killed_mid_stream_is_a_clear_error(smollm_gguf, tmp_path):
    with start_llama_server(smollm_gguf, tmp_path) as server:
        stream = _openai(server).chat(STORY, max_tokens=1500, temperature=0.8)
        received = []
        with pytest.raises(BackendError) as err:
            for chunk in stream:
                received.append(chunk)
                if len(received) == 3:
                    server.process.kill()
        assert len(received) >= 3
    message = str(err.value)
    assert server.base_url not in message and server.base_url in err.value.detail  # the page may be a stranger's
    assert "broke after" in message or "before it was complete" in message


def test_bundled_qwen_answers_in_process(qwen_gguf):
    backend = _local(qwen_gguf)
    stream = backend.chat([{"role": "user", "content": "What is 2 + 3? Reply with the number only."}],
                          max_tokens=8, temperature=0.0)
    assert "5" in "".join(stream)
    assert stream.usage.prompt_tokens > 10 and 1 <= stream.usage.completion_tokens <= 8
    assert backend.describe() == "the local backend (qwen2.5-coder-0.5b-instruct-q4_k_m.gguf)"
