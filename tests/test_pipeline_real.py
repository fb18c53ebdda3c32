"""Real runs with the bundled Qwen2.5-Coder-0.5B, offline, in this process (llama.cpp): slow, a few minutes."""
from __future__ import annotations

import re

import pytest

from chatpaper import checks, pipeline
from chatpaper.backends import get_backend
from chatpaper.digest import PARTS
from chatpaper.render import render_paper_block
from chatpaper.settings import Settings
from chatpaper.sources import LocalPdf
from chatpaper.writer import write_digests
from tests.sample_paper import INJECTION, make_paper

# About 2-3 minutes on two quiet cores; the timeout allows for a machine busy with other work.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def prose(digest) -> str:
    values = [getattr(digest, p.name) for p in PARTS]
    return " ".join(" ".join(v) if isinstance(v, list) else v for v in values if v)


def test_bundled_model_digests_the_fixture_paper_in_both_languages(qwen_gguf, arxiv_fixtures, tmp_path):
    # 2048 tokens of context keeps the test to a few minutes on 2 cores; the budget logic is the same as at 4096.
    settings = Settings.from_env(backend="local", model_path=qwen_gguf, languages="en,zh", context_tokens=2048)
    events = list(pipeline.digest_events(LocalPdf(arxiv_fixtures / "1111.2011v2.pdf"), settings, out_dir=tmp_path))
    result = events[-1].result
    assert any(e.text for e in events if e.language == "en")  # the text streamed while the model wrote
    en = result.digests["en"]
    assert en.summary and len(en.takeaways) >= 1 and en.calls >= 3
    assert not checks.has_cjk(prose(en))
    assert en.prompt_tokens > 1000 and en.completion_tokens > 50
    if "zh" in result.digests:
        zh = result.digests["zh"]
        assert checks.cjk_share(prose(zh), exclude=tuple(result.record.authors)) >= 0.6
    else:  # a 0.5B model may fail Chinese: then English stays and the user is told
        assert any("Chinese" in w for w in result.warnings)
    md = result.markdown["bilingual"]
    assert "# Quantum Criticality for Extended Nodes on a Bethe Lattice" in md
    assert "Code: the paper links no code or project page of its own" in md
    paper_text = "\n".join(s.text for s in result.paper.sections) + result.paper.abstract
    known = checks.numbers_in(paper_text + result.record.title)
    for digest in result.digests.values():
        for number in checks.checkable_numbers(prose(digest)):
            assert (number in digest.flagged_numbers) == bool(checks.unsupported_numbers(number, known)), number
        for part in digest.missing:
            assert "missing" in render_paper_block(result.record, result.paper, digest) or "缺失" in md
    # The same request again is served from the cache, without a model call, when the first digest was complete;
    # an incomplete one (a part missing or cut, a language failed) was shown with a warning and not stored.
    not_stored = any("it was not cached" in w for w in result.warnings)
    if pipeline.incomplete(result.digests, ["en", "zh"], []):
        assert not_stored, result.warnings
    again = list(pipeline.digest_events(LocalPdf(arxiv_fixtures / "1111.2011v2.pdf"), settings, out_dir=tmp_path))
    if not_stored:
        assert not again[-1].result.cached  # asked the model again
    else:
        assert again[-1].result.cached and again[-1].result.markdown["bilingual"] == md


def test_bundled_model_does_not_obey_instructions_inside_the_paper(qwen_gguf):
    record, paper = make_paper(extra=INJECTION)
    backend = get_backend(Settings.from_env(backend="local", model_path=qwen_gguf))
    en = write_digests(record, paper, backend, ["en"])["en"]
    text = prose(en)
    assert not re.fullmatch(r"\W*HACKED\W*", en.summary or ""), en.summary
    assert text.upper().count("HACKED") <= 1, text
