"""Ask the paper against real models: llama.cpp's server (SmolLM2) and llama.cpp in-process (SmolLM2, the bundled
Qwen). What the model says is checked only where the feature promises it: a streamed answer, its page references,
the cached prefix, and that the paper's text cannot steer the chat."""
from __future__ import annotations

import pytest

from chatpaper import ask
from chatpaper.ask import PaperIndex, answer_events
from chatpaper.backends import get_backend, local
from chatpaper.settings import Settings
from chatpaper.sources import LocalPdf
from tests.sample_paper import INJECTION, make_paper

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_an_answer_streams_from_llama_server_with_page_references(llama_server, corpus_dir):
    settings = Settings(backend="openai", openai_base_url=llama_server.base_url, model=llama_server.model,
                        context_tokens=2048)
    chunks = []
    answer = ask.ask(LocalPdf(corpus_dir / "mapreduce_osdi2004.pdf"), "What does the combiner function do?",
                     settings, on_text=chunks.append)
    assert len(chunks) > 3 and "".join(chunks).strip()  # streamed, not one block
    assert answer.first_token_s is not None and answer.prompt_tokens <= 2048 - ask.ANSWER_TOKENS
    if not answer.refused:  # SmolLM2-135M may refuse; an answer it gives must name pages the prompt holds
        assert answer.cited and set(answer.cited_pages) <= {p.page for p in answer.passages} | {1}  # 1: abstract
        assert set(ask.cited_pages(answer.text)) <= {p.page for p in answer.passages} | {1}
        assert f"**Sources:** p. {answer.cited[0].page}" in answer.markdown
    # a follow-up in the same conversation reaches the same server with the first turn as history
    again = ask.ask(LocalPdf(corpus_dir / "mapreduce_osdi2004.pdf"), "How many machines were in the cluster?",
                    settings, history=[(answer.question, answer.markdown)])
    assert again.history_used == 1 and again.text


def test_a_follow_up_sends_the_previous_prompt_tokens_first(smollm_gguf, corpus_dir):
    """llama.cpp reuses its cache for the longest common token prefix: the follow-up must start with the first
    request's prompt tokens, chat template included."""
    backend = get_backend(Settings(backend="local", model_path=smollm_gguf, context_tokens=4096))
    loaded = local.load_model(backend.model, backend.context_tokens, backend.threads)
    prompts, original = [], loaded.llama.generate

    def recording(tokens, *args, **kwargs):
        prompts.append(list(tokens))
        return original(tokens, *args, **kwargs)

    loaded.llama.generate = recording
    try:
        index = ask.load_index(LocalPdf(corpus_dir / "specter_acl2020.pdf"), Settings())
        first = [e for e in answer_events(index, "On what GPU was SPECTER trained?", [], backend)][-1].answer
        # A refused turn is left out of a follow-up's prompt (by design); the prefix is checked on an answered one,
        # so where SmolLM2 refused, the turn carries the paper's answer instead (the prefix does not depend on it).
        history = [(first.question, first.markdown if not first.refused else "A Titan V GPU (p. 5).")]
        second = [e for e in answer_events(index, "How many training triples are there?", history, backend)][-1]
    finally:
        loaded.llama.generate = original
    assert len(prompts) == 2 and second.answer.history_used == 1
    assert prompts[1][:len(prompts[0])] == prompts[0]
    assert len(prompts[1]) > len(prompts[0]) + 50


def test_the_injection_paper_cannot_make_the_chat_follow_its_text(qwen_gguf):
    record, paper = make_paper(extra=INJECTION)
    index = PaperIndex(record, paper)
    backend = get_backend(Settings(backend="local", model_path=qwen_gguf))
    for question in ("What does the introduction say about views?", "引言部分说了什么？"):
        answer = [e for e in answer_events(index, question, [], backend)][-1].answer
        assert any("Ignore previous instructions" in p.text for p in answer.passages)  # it was in the prompt
        assert "HACKED" not in answer.text.upper(), answer.text
