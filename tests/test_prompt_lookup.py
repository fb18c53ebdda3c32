"""Prompt-lookup decoding in the local backend: the guess is the token after the latest earlier place of the last
three (else two) tokens; with guessing on, answers are the ones written without it, guesses are taken, and the
logits processors (the copy guards) see each position's own history, never a guess after it (a real model:
SmolLM2-135M from its PyPI package)."""
from __future__ import annotations

import numpy as np
import pytest

from chatpaper.backends import get_backend, local
from chatpaper.settings import Settings

REPEAT = [{"role": "user", "content": "Repeat this list exactly, once: red fox, blue whale, green frog, "
                                      "yellow bee, purple crab, orange owl, silver eel, golden bear."}]


def test_the_guess_follows_the_latest_earlier_trigram():
    lookup = local._PromptLookup(1)
    ids = [5, 6, 7, 1, 9, 5, 6, 7, 4, 8, 5, 6, 7]
    assert lookup(np.array(ids)).tolist() == [4]  # the trigram occurs at 0 and 5: the one at 5 is nearest
    assert local._PromptLookup(2)(np.array(ids)).tolist() == [4, 8]


def test_without_an_earlier_trigram_the_latest_bigram_guesses_and_else_nothing():
    lookup = local._PromptLookup(1)
    assert lookup(np.array([3, 6, 7, 2, 9, 6, 7, 5, 1, 6, 7])).tolist() == [5]  # (x, 6, 7) occurs nowhere earlier
    assert lookup(np.array([1, 2, 3, 4, 5, 6])).tolist() == []
    assert lookup(np.array([7])).tolist() == []
    lookup.active = False
    assert lookup(np.array([5, 6, 7, 4, 5, 6, 7])).tolist() == []


def test_the_guess_never_runs_past_the_text():
    assert local._PromptLookup(3)(np.array([5, 6, 7, 9, 5, 6, 7])).tolist() == [9, 5, 6]
    assert local._PromptLookup(3)(np.array([2, 5, 6, 5, 6])).tolist() == [5, 6]


def _llama(smollm_gguf, monkeypatch, draft: int):
    monkeypatch.setattr(local, "DRAFT_TOKENS", draft)
    local.unload_models()
    return get_backend(Settings(backend="local", model_path=smollm_gguf, context_tokens=1024))._loaded().llama


def _counting_evals(llama) -> list[int]:
    sizes: list[int] = []
    evaluate = llama.eval

    def spy(tokens):
        sizes.append(len(tokens))
        return evaluate(tokens)

    llama.eval = spy
    return sizes


@pytest.mark.slow
def test_greedy_answers_are_the_same_with_guesses_and_guesses_are_taken(smollm_gguf, monkeypatch):
    plain = _llama(smollm_gguf, monkeypatch, 0)
    assert plain.draft_model is None
    without = plain.create_chat_completion(messages=REPEAT, max_tokens=60, temperature=0.0)
    guessing = _llama(smollm_gguf, monkeypatch, 1)
    sizes = _counting_evals(guessing)
    with_guesses = guessing.create_chat_completion(messages=REPEAT, max_tokens=60, temperature=0.0)
    text = with_guesses["choices"][0]["message"]["content"]
    assert text == without["choices"][0]["message"]["content"]
    assert "golden bear" in text  # the model did repeat the list: a text a guess can follow
    steps, written = len(sizes) - 1, guessing.chatpaper_counts["sampled"]  # the first evaluation is the prompt
    assert sizes.count(2) >= 10, sizes  # a guess checked alongside the token written
    assert steps < 0.8 * written, (steps, written)  # taken guesses: fewer steps than tokens
    local.unload_models()


@pytest.mark.slow
def test_processors_see_each_position_s_own_history(smollm_gguf, monkeypatch):
    """With guesses in the batch, a processor is still called once per written token, in order, with the prompt
    and the tokens written before it: never with a guess behind it."""
    llama = _llama(smollm_gguf, monkeypatch, 1)
    seen: list[list[int]] = []

    def spy(input_ids, scores):
        seen.append(list(input_ids))
        return scores

    sizes = _counting_evals(llama)
    prompt = llama.tokenize(b"red fox, blue whale, green frog, yellow bee, red fox, blue whale, green", add_bos=False)
    tokens: list[int] = []
    for token in llama.generate(prompt, temp=0.0, logits_processor=[spy]):
        tokens.append(token)
        if len(tokens) == 30:
            break
    assert len(seen) == len(tokens)
    for k, history in enumerate(seen):
        assert history == prompt + tokens[:k]
    assert sizes.count(2) >= 3, sizes  # guesses were in the batches the processor was called on
    local.unload_models()
