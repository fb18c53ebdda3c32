"""The digest cache keeps only complete results: a run whose Chinese failed, or whose model answered nothing, is shown
(marked) but not stored, so the next run after the backend recovers asks the model again.

A scripted backend on the real fixture PDF (the rule is pipeline logic; the backend is swapped between runs the
way a recovered server would answer).
"""
from __future__ import annotations

import pytest

from chatpaper import pipeline
from chatpaper.cache import Cache
from chatpaper.checks import has_cjk
from chatpaper.digest import Digest
from chatpaper.errors import BackendError
from chatpaper.settings import Settings
from chatpaper.sources import LocalPdf
from tests.fakes import ScriptedBackend
from tests.sample_paper import EN, scripted

FIXTURE_PDF = "1111.2011v2.pdf"


@pytest.fixture
def use(monkeypatch):
    """Make ``get_backend`` hand out this backend from now on (the pipeline resolves it per run)."""
    def install(fake):
        monkeypatch.setattr("chatpaper.backends.get_backend", lambda settings: fake)
        return fake
    return install


def run(pdf, tmp_path, name, **kw):
    events = list(pipeline.digest_events(LocalPdf(pdf), Settings.from_env(**kw), out_dir=tmp_path / name))
    return events[-1].result


def test_chinese_fails_then_recovers_and_the_second_run_asks_again(use, arxiv_fixtures, tmp_path):
    pdf = arxiv_fixtures / FIXTURE_PDF
    broken = use(scripted({"translate.zh": BackendError("the model server went away")}))
    first = run(pdf, tmp_path, "first")
    assert list(first.digests) == ["en"] and broken.calls
    assert any("incomplete" in w and "no Chinese digest" in w for w in first.warnings)  # marked as partial
    recovered = use(scripted())
    second = run(pdf, tmp_path, "second")
    assert recovered.calls, "the failed run was served from the cache"
    assert not second.cached and set(second.digests) == {"en", "zh"}
    assert has_cjk(second.digests["zh"].summary) and "## 中文" in second.markdown["bilingual"]
    assert not any("incomplete" in w for w in second.warnings)
    third_backend = use(scripted())
    third = run(pdf, tmp_path, "third")  # complete now: stored, and served without a model call
    assert third.cached and third_backend.calls == []


def test_a_backend_that_answers_nothing_is_never_cached(use, arxiv_fixtures, tmp_path):
    pdf = arxiv_fixtures / FIXTURE_PDF
    empty = use(ScriptedBackend(lambda messages: ""))  # a backend that answers every call with nothing
    blank = run(pdf, tmp_path, "empty", languages="en")
    assert empty.calls and len(blank.digests["en"].missing) >= 10  # shown as "(missing ...)" parts, marked:
    assert any("incomplete" in w and "English lacks" in w for w in blank.warnings)
    recovered = use(scripted())
    full = run(pdf, tmp_path, "full", languages="en")
    assert recovered.calls and not full.cached and not full.digests["en"].missing


def test_an_incomplete_entry_stored_before_the_rule_is_not_served(use, arxiv_fixtures, tmp_path):
    pdf = arxiv_fixtures / FIXTURE_PDF
    settings = Settings.from_env(languages="en,zh")
    record = pipeline.record_from_paper(pipeline.extract(None, pdf, settings)[1], pdf)
    key = pipeline.digest_key(record, settings, ["en", "zh"])
    Cache(settings.cache_path).put_json("digest", key, {"digests": {"en": Digest("en", summary="x").to_dict()},
                                                        "warnings": ["Chinese digest failed"]})
    fake = use(scripted())
    result = run(pdf, tmp_path, "run", languages="en,zh")
    assert fake.calls and not result.cached and set(result.digests) == {"en", "zh"}


def test_the_rule_names_every_gap():
    whole = Digest("en", summary="s")
    assert pipeline.incomplete({"en": whole}, ["en"], []) == []
    assert pipeline.incomplete({"en": whole}, ["en", "zh"], []) == ["no Chinese digest"]
    assert pipeline.incomplete({"en": Digest("en", missing=["past_methods"])}, ["en"], []) == \
        ["English lacks past methods"]
    assert pipeline.incomplete({"en": whole}, ["en"], ["Chinese digest failed"]) == \
        ["the backend warned: Chinese digest failed"]
    cut = Digest("en", summary="s", truncated=["approach"])  # a part cut at its length bound
    assert pipeline.incomplete({"en": cut}, ["en"], []) == ["English was cut short in approach"]


def test_a_runaway_answer_is_cut_marked_and_not_cached(use, arxiv_fixtures, tmp_path):
    pdf = arxiv_fixtures / FIXTURE_PDF
    runaway = EN["summary.en"].replace("BACKGROUND:", "BACKGROUND: " + "more and more words " * 5000 + "\nX:", 1)
    use(scripted({"summary.en": runaway}))
    first = run(pdf, tmp_path, "first", languages="en")
    assert first.digests["en"].truncated and any("cut short" in w for w in first.warnings)
    assert len(first.markdown["bilingual"]) < 40_000  # the bound held: not a 300k-character page
    recovered = use(scripted())
    second = run(pdf, tmp_path, "second", languages="en")
    assert recovered.calls and not second.cached and not second.digests["en"].truncated
