"""Prompts are files: every prompt loads and renders with its declared variables; a missing or unknown variable, or a
declaration that does not match its template, fails loudly."""
from __future__ import annotations

import shutil

import pytest

from chatpaper import prompts


def test_every_prompt_loads_and_renders_with_its_declared_variables():
    names = prompts.available_prompts()
    assert {"system.en", "system.zh", "paper", "question.en", "repair.en", "rewrite.en", "translate.zh",
            "glossary.zh"} <= set(names)
    samples = {"title": "T", "text": "X", "terms": "NeRF", "fields": [("summary", "one sentence")],
               "items": [("summary", "one sentence", "it was missing")], "draft": "D", "is_list": True,
               "words": "pruning", "context": "剪枝 pruning",
               "header": "H", "passages": "P", "question": "Q", "rows": [("NeRF", "we train a NeRF on")]}
    for name in names:
        prompt = prompts.load_prompt(name)
        text = prompt.render(**{v: samples[v] for v in prompt.variables})
        assert text.strip() and "{{" not in text and "vars:" not in text


def test_prompt_with_missing_or_unknown_variable_fails_loudly():
    prompt = prompts.load_prompt("paper")
    with pytest.raises(prompts.PromptError, match="missing \\['terms', 'text'\\]"):
        prompt.render(title="T")
    with pytest.raises(prompts.PromptError, match="unknown \\['colour'\\]"):
        prompt.render(title="T", terms="", text="X", colour="red")
    with pytest.raises(prompts.PromptError, match="no prompt named"):
        prompts.load_prompt("nonexistent.en")


def test_prompt_declaration_must_match_the_template(tmp_path, monkeypatch):
    shutil.copytree(prompts.PROMPT_DIR, tmp_path / "prompts")
    monkeypatch.setattr(prompts, "PROMPT_DIR", tmp_path / "prompts")
    prompts.load_prompt.cache_clear()
    try:
        before = prompts.prompt_version()
        (tmp_path / "prompts" / "bad.en.md").write_text("{#- vars: title -#}\n{{ title }} {{ text }}\n")
        with pytest.raises(prompts.PromptError, match="declares \\['title'\\] but uses \\['text', 'title'\\]"):
            prompts.load_prompt("bad.en")
        assert prompts.prompt_version() != before  # any prompt edit changes the cache key
    finally:
        prompts.load_prompt.cache_clear()
