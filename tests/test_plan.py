"""What a run will do, said before it does it: the backend and model named from the settings, the time estimated
from the paper's size, the page's line under the Digest button and which boxes show when."""
from __future__ import annotations

import pymupdf
import pytest

import app
from chatpaper import pipeline, plan
from chatpaper.paper import Paper, Record, Section
from chatpaper.settings import Settings
from chatpaper.sources import LocalPdf
from tests.fakes import ScriptedBackend, scripted_reply


@pytest.mark.parametrize("env, expected", [
    ({}, "local backend · qwen2.5-coder-0.5b-instruct-q4_k_m.gguf · this machine's CPU (llama.cpp)"),
    ({"CHATPAPER_MODEL_PATH": "/models/mine.gguf"}, "local backend · mine.gguf · this machine's CPU (llama.cpp)"),
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


def test_model_line_follows_the_settings_panel(monkeypatch):
    for name in ("CHATPAPER_BACKEND", "OPENAI_API_KEY", "HF_TOKEN", "CHATPAPER_MODEL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    assert "local backend" in app.model_line() and "a digest takes minutes" in app.model_line()
    # a key typed in the panel means the OpenAI-compatible backend; the key itself is never shown
    line = app.model_line("auto", "gpt-4.1-mini", "", "sk-typed-secret")
    assert "openai backend · gpt-4.1-mini · api.openai.com" in line and "sk-typed" not in line
    assert "minutes" not in line
    # what a visitor types is shown as text, not markup
    assert "<img" not in app.model_line("openai", "<img src=x onerror=alert(1)>", "http://127.0.0.1:1/v1")


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


def test_the_pipeline_says_the_estimate_once_the_pdf_is_read(corpus_dir, monkeypatch):
    fake = ScriptedBackend(scripted_reply)
    monkeypatch.setattr("chatpaper.backends.get_backend", lambda settings: fake)
    events = list(pipeline.digest_events(LocalPdf(corpus_dir / "specter_acl2020.pdf"),
                                         Settings.from_env().replace(languages="en")))
    stages = [e.stage for e in events]
    [told] = [e for e in events if e.estimate]
    assert stages.index("extracting") < events.index(told) < stages.index("summarising")
    pages = pymupdf.open(corpus_dir / "specter_acl2020.pdf").page_count
    assert told.message.startswith(f"Read {pages} pages; the digest will take about") and "local backend" in told.message
    assert told.estimate[0] < told.estimate[1]


def test_downloads_and_stop_follow_the_run():
    stop, md, zip_, bib = app._running()
    assert stop["visible"] is True and not any(u["visible"] for u in (md, zip_, bib))
    stop, md, zip_, bib = app._finished({"bib": "/tmp/x.bib"}, "/tmp/x.md")
    assert stop["visible"] is False and md["visible"] and zip_["visible"] and bib == {"__type__": "update", "value": "/tmp/x.bib", "visible": True}
    stop, md, zip_, bib = app._finished(None, None)  # failed or stopped: nothing to download
    assert not any(u["visible"] for u in (stop, md, zip_, bib))
