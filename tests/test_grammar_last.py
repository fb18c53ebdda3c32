"""The local backend's grammar-last sampler: same answers as llama-cpp-python's grammar-first chain, valid JSON,
the grammar asked about one token per step (a real model: SmolLM2-135M from its PyPI package)."""
from __future__ import annotations

import json

import pytest

from chatpaper.backends import get_backend, local
from chatpaper.settings import Settings

#: A schema the model would not write on its own: the grammar must refuse some of what it samples.
SCHEMA = {"type": "object", "properties": {
    "code": {"type": "string", "pattern": "^zq[0-9]{3}$"},
    "summary": {"type": "string", "maxLength": 60},
    "steps": {"type": "array", "items": {"type": "string", "maxLength": 30}, "minItems": 2, "maxItems": 3}},
    "required": ["code", "summary", "steps"], "additionalProperties": False}
MESSAGES = [{"role": "user", "content": "Describe how a neural radiance field renders a scene, as JSON."}]


def _answer(llama, temperature: float) -> str:
    out = llama.create_chat_completion(messages=MESSAGES, max_tokens=200, temperature=temperature, seed=7,
                                       response_format={"type": "json_object", "schema": SCHEMA})
    return out["choices"][0]["message"]["content"]


@pytest.mark.slow
def test_greedy_answers_are_the_grammar_first_chain_s_token_for_token(smollm_gguf):
    """Greedy, checking the grammar after picking is exact: the best token is either allowed, or the best allowed
    one is picked again, which is what the grammar-first chain picks."""
    from llama_cpp import Llama

    reference = Llama(model_path=smollm_gguf, n_ctx=1024, verbose=False)  # llama-cpp-python's own chain
    ours = get_backend(Settings(backend="local", model_path=smollm_gguf, context_tokens=1024))._loaded().llama
    assert _answer(ours, 0.0) == _answer(reference, 0.0)


@pytest.mark.slow
def test_sampled_answers_keep_the_schema_and_refused_tokens_are_sampled_again(smollm_gguf, monkeypatch):
    asked, refused = [], []
    allowed = local._GrammarLast._allowed

    def spy(self, token, logit):
        ok = allowed(self, token, logit)
        (asked if ok else refused).append(token)
        return ok

    monkeypatch.setattr(local._GrammarLast, "_allowed", spy)
    llama = get_backend(Settings(backend="local", model_path=smollm_gguf, context_tokens=1024))._loaded().llama
    for temperature in (0.2, 0.7):
        value = json.loads(_answer(llama, temperature))
        assert set(value) == {"code", "summary", "steps"}
        assert value["code"][:2] == "zq" and value["code"][2:].isdigit() and len(value["code"]) == 5
        assert len(value["summary"]) <= 60 and 2 <= len(value["steps"]) <= 3
    assert refused, "the model wrote the pattern unasked: the refused path was not tried"
    assert len(asked) > len(refused)  # most tokens are the model's own choice, asked about one by one
