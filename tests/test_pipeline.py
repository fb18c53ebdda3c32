"""The pipeline with a scripted backend on real PDFs: events (the time estimate among them), files, cache, partial
results, cancel, CLI, load_record; the digest cache key."""
from __future__ import annotations

import threading
import zipfile

import pymupdf
import pytest

from chatpaper import cli, pipeline
from chatpaper.errors import BackendError, Cancelled, InvalidSource
from chatpaper.settings import Settings
from chatpaper.sources import LocalPdf, parse_source
from tests.fakes import ScriptedBackend, scripted_reply
from tests.sample_paper import make_paper, scripted

FIXTURE_PDF = "1111.2011v2.pdf"
TITLE = "Quantum Criticality for Extended Nodes on a Bethe Lattice in the Large Connectivity Limit"


@pytest.fixture
def backend(monkeypatch):
    """The scripted backend, handed out by get_backend (the pipeline resolves it at call time)."""
    fake = scripted()
    monkeypatch.setattr("chatpaper.backends.get_backend", lambda settings: fake)
    return fake


def run(source, pdf_path, tmp_path, **kw):
    paper = LocalPdf(pdf_path) if pdf_path else parse_source(source)
    events = list(pipeline.digest_events(paper, Settings.from_env(**kw), out_dir=tmp_path / "out"))
    return events, events[-1].result


def test_arxiv_digest_end_to_end(arxiv_server, backend, tmp_path):
    events, result = run("https://arxiv.org/abs/1111.2011v2", None, tmp_path)
    stages = [e.stage for e in events]
    assert stages[0] == "fetching" and stages[1] == "extracting" and stages[-2:] == ["rendering", "done"]
    assert "summarising" in stages and "translating" in stages
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    streamed = [e for e in events if e.text]
    assert {e.language for e in streamed} == {"en", "zh"}
    assert result.record.title == TITLE and result.record.versioned_id == "1111.2011v2"
    assert set(result.digests) == {"en", "zh"} and set(result.markdown) == {"en", "zh", "bilingual"}
    md = result.markdown_path.read_text(encoding="utf-8")
    assert md == result.markdown["bilingual"]
    assert f"# {TITLE}" in md and "[arXiv 1111.2011v2](https://arxiv.org/abs/1111.2011v2)" in md
    assert "James M. Murray" in md and "Johns Hopkins University" in md  # record authors, extracted affiliations
    assert "Code: the paper links no code or project page of its own" in md
    with zipfile.ZipFile(result.zip_path) as z:
        names = set(z.namelist())
    assert {"1111.2011v2.md", "1111.2011v2.en.md", "1111.2011v2.zh.md", "1111.2011v2_images/page-001.png"} <= names
    linked = {line.split("](")[1].rstrip(")") for line in md.splitlines() if line.startswith("![")}
    assert linked and linked <= names  # every image the Markdown links is in the zip


def test_second_run_is_served_from_the_cache(arxiv_server, backend, tmp_path):
    run("1111.2011v2", None, tmp_path)
    calls = len(backend.calls)
    api_requests = arxiv_server.count("api")
    events, result = run("1111.2011v2", None, tmp_path)
    assert len(backend.calls) == calls  # no model call
    assert arxiv_server.count("api") == api_requests  # and no arXiv request
    assert result.cached and result.markdown["bilingual"].count("## 中文") == 1
    # Another language set is another digest.
    run("1111.2011v2", None, tmp_path, languages="en")
    assert len(backend.calls) > calls


def test_local_pdf_uses_the_pdf_facts(backend, arxiv_fixtures, tmp_path):
    events, result = run(None, str(arxiv_fixtures / FIXTURE_PDF), tmp_path, languages="en")
    assert result.record.id is None and result.record.title.startswith("Quantum Criticality")
    assert result.record.authors[:1] == ["James M. Murray"]
    assert list(result.digests) == ["en"] and "## 中文" not in result.markdown["bilingual"]
    assert result.markdown_path.name == "1111.2011v2.md"


def test_chinese_failure_keeps_english_with_a_warning(monkeypatch, arxiv_fixtures, tmp_path):
    fake = scripted({"translate.zh": BackendError("the model server went away")})
    monkeypatch.setattr("chatpaper.backends.get_backend", lambda settings: fake)
    events, result = run(str(arxiv_fixtures / FIXTURE_PDF), None, tmp_path)
    assert list(result.digests) == ["en"]
    warned = [e.warning for e in events if e.warning]
    assert warned and "English digest is kept" in warned[0]
    assert any("Chinese digest failed" in w for w in result.warnings)


def test_backend_failure_before_any_language_raises(monkeypatch, arxiv_fixtures, tmp_path):
    fake = scripted({"summary.en": BackendError("connection refused")})
    monkeypatch.setattr("chatpaper.backends.get_backend", lambda settings: fake)
    with pytest.raises(BackendError, match="connection refused"):
        run(str(arxiv_fixtures / FIXTURE_PDF), None, tmp_path)


def test_cancel_stops_the_pipeline(backend, arxiv_fixtures, tmp_path):
    cancel = threading.Event()
    seen = []
    with pytest.raises(Cancelled):
        for event in pipeline.digest_events(LocalPdf(arxiv_fixtures / FIXTURE_PDF), Settings.from_env(),
                                            cancel=cancel, out_dir=tmp_path):
            seen.append(event.stage)
            if event.stage == "summarising" and event.text:
                cancel.set()
    # The writer runs in a worker thread ahead of this loop: on a loaded machine it may start a call or two more
    # before it sees the cancel (CI on a loaded machine saw more than two), never the calls of a whole digest.
    assert "done" not in seen and len(backend.calls) <= 4


def test_bad_sources_raise_clear_errors(backend, tmp_path):
    with pytest.raises(InvalidSource, match="No such file"):
        run("missing-paper.pdf", None, tmp_path)
    with pytest.raises(InvalidSource, match="Nothing to digest"):
        run("  ", None, tmp_path)
    assert backend.calls == []


def test_load_record_for_arxiv_and_for_a_local_pdf(arxiv_server, arxiv_fixtures):
    settings = Settings.from_env()
    remote = pipeline.load_record(parse_source("arXiv:1111.2011v2"), settings)
    local = pipeline.load_record(parse_source(str(arxiv_fixtures / FIXTURE_PDF)), settings)
    assert remote.title == TITLE and remote.pdf_path and remote.versioned_id == "1111.2011v2"
    assert local.id is None and local.pdf_path.endswith(FIXTURE_PDF)
    assert set(local.to_dict()) == set(remote.to_dict())
    assert local.title.split()[:3] == remote.title.split()[:3]


def test_cli_digest_writes_markdown_with_figures_beside_it(backend, arxiv_fixtures, tmp_path, capsys):
    out = tmp_path / "digest.md"
    status = cli.main(["digest", str(arxiv_fixtures / FIXTURE_PDF), "--lang", "en,zh", "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 0 and captured.out == ""
    assert "Translating the digest into Chinese" in captured.err and f"wrote {out}" in captured.err
    text = out.read_text(encoding="utf-8")
    assert "## English" in text and "## 中文" in text
    assert (tmp_path / "1111.2011v2_images" / "page-001.png").is_file()
    assert "](1111.2011v2_images/page-001.png)" in text


def test_cli_digest_embedded_single_file_on_stdout(backend, arxiv_fixtures, capsys):
    status = cli.main(["digest", str(arxiv_fixtures / FIXTURE_PDF), "--lang", "zh", "--embed-images"])
    out = capsys.readouterr().out
    assert status == 0 and "## 中文" not in out and "**总结**：" in out
    assert "](data:image/png;base64," in out and "_images/" not in out


def test_cli_digest_error_is_one_line(backend, capsys):
    assert cli.main(["digest", "nope.pdf"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("error: No such file: nope.pdf") and "Traceback" not in err


def test_fetch_and_extract_give_record_and_paper_for_an_upload(arxiv_fixtures, tmp_path):
    settings = Settings.from_env()
    record, paper = pipeline.extract(*pipeline.fetch(LocalPdf(arxiv_fixtures / FIXTURE_PDF), settings), settings,
                                     images_dir=tmp_path)
    assert record.title == paper.title and record.pdf_path.endswith(FIXTURE_PDF)
    assert paper.first_page_image and (tmp_path / "page-001.png").is_file()


def test_digest_key_parts_never_include_an_api_key(monkeypatch):
    from chatpaper.pipeline import digest_key
    from chatpaper.settings import Settings

    record, _ = make_paper()
    a = digest_key(record, Settings(backend="openai", model="m", openai_api_key="sk-one"), ["en", "zh"])
    b = digest_key(record, Settings(backend="openai", model="m", openai_api_key="sk-two"), ["zh", "en"])
    c = digest_key(record, Settings(backend="openai", model="other", openai_api_key="sk-one"), ["en", "zh"])
    assert a == b != c


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
