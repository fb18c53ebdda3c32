"""What a run will do, said before it does it: the backend and model named from the settings, the time estimated
from the paper's size and corrected by the speed measured (the page's model line and the pipeline's estimate event
are tested with the app and the pipeline)."""
from __future__ import annotations

import pytest

from chatpaper import plan
from chatpaper.paper import Paper, Record, Section
from chatpaper.settings import Settings


@pytest.mark.parametrize("env, expected", [
    ({}, "local backend · qwen2.5-coder-0.5b-instruct-q4_k_m.gguf · this machine's CPU (llama.cpp)"),
    ({"CHATPAPER_MODEL_PATH": "/models/mine.gguf"}, "local backend · mine.gguf · this machine's CPU (llama.cpp)"),
    ({"CHATPAPER_MODEL": "qwen2.5-coder-1.5b"},
     "local backend · qwen2.5-coder-1.5b-instruct-q4_k_m.gguf · this machine's CPU (llama.cpp)"),
    ({"OPENAI_API_KEY": "sk-x"}, "openai backend · gpt-4o-mini · api.openai.com"),
    ({"CHATPAPER_BACKEND": "openai", "OPENAI_BASE_URL": "http://127.0.0.1:8080/v1?token=abc"},
     "openai backend · the server's first model · 127.0.0.1:8080"),
    ({"HF_TOKEN": "hf_x", "CHATPAPER_MODEL": "Qwen/Qwen2.5-72B-Instruct"},
     "hf backend · Qwen/Qwen2.5-72B-Instruct · Hugging Face Inference Providers (auto)"),
])
def test_model_choice_names_backend_and_model_without_loading_them(env, expected):
    choice = plan.model_choice(Settings.from_env(env))
    assert choice.describe() == expected
    assert "abc" not in choice.describe() and "sk-x" not in choice.describe()


def test_estimate_grows_with_the_paper_and_the_languages():
    settings = Settings.from_env({"CHATPAPER_BACKEND": "openai", "OPENAI_BASE_URL": "http://127.0.0.1:1/v1",
                                  "CHATPAPER_CONTEXT_TOKENS": "32768"})
    record = Record(title="T", authors=[], abstract="An abstract. " * 20)
    short = Paper(pages=2, sections=[Section("1 Intro", 1, 1, "word " * 500)])
    long = Paper(pages=30, sections=[Section("1 Intro", 1, 1, "word " * 30000)])
    low_short, high_short = plan.estimate_seconds(record, short, settings, ["en"])
    low_long, _ = plan.estimate_seconds(record, long, settings, ["en"])
    _, high_both = plan.estimate_seconds(record, short, settings, ["en", "zh"])
    assert low_short < high_short and low_long > low_short and high_both > high_short


def test_learned_speed_corrects_the_estimate(monkeypatch):
    monkeypatch.setattr(plan, "_LEARNED", {})
    settings = Settings.from_env({"CHATPAPER_MODEL_PATH": "/m/x.gguf"})
    record, paper = Record(title="T", authors=[]), Paper(sections=[Section("1", 1, 1, "word " * 2000)])
    before = plan.estimate_seconds(record, paper, settings, ["en"])
    sent, wrote = plan.digest_tokens(record, paper, settings, ["en"])
    plan.learn(settings, sent, wrote, plan._model_seconds(plan.model_choice(settings), sent, wrote) * 2)
    after = plan.estimate_seconds(record, paper, settings, ["en"])
    assert after == pytest.approx((before[0] * 2, before[1] * 2))


def test_describe_estimate():
    assert plan.describe_estimate(14, 30) == "about 14–31 s"
    assert plan.describe_estimate(100, 260) == "about 2–4 min"
    assert plan.describe_estimate(60, 100) == "about 1–2 min"


def test_the_larger_bundled_model_is_estimated_at_its_own_measured_speed(monkeypatch):
    monkeypatch.setattr(plan, "_LEARNED", {})
    record, paper = Record(title="T", authors=[]), Paper(sections=[Section("1", 1, 1, "word " * 2000)])
    small = plan.estimate_seconds(record, paper, Settings(), ["en", "zh"])
    large = plan.estimate_seconds(record, paper, Settings(model="qwen2.5-coder-1.5b"), ["en", "zh"])
    assert 1.4 < large[0] / small[0] < 2.0  # the raw units measured 1.7x
