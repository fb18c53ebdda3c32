"""The app's handlers called directly: bad input becomes gr.Error, keys stay in the request, output is escaped."""
from __future__ import annotations

import logging
import os
import threading

import gradio as gr
import pymupdf
import pytest

import app
from chatpaper import pipeline
from chatpaper.errors import BackendError, Cancelled
from chatpaper.paper import Paper, Record, Section

# A loopback port nothing listens on: if a test reached the model by mistake it would fail fast, not hang.
NOWHERE = "http://127.0.0.1:9/v1"


def run_digest(source="", pdf=None, languages=("en",), **kw):
    """Drive the digest generator to the end, as Gradio would; returns every update it yielded."""
    kw.setdefault("backend", "openai")
    kw.setdefault("base_url", NOWHERE)
    return list(app.digest(source, pdf, list(languages), **kw))


def error_of(excinfo) -> str:
    return excinfo.value.message


def test_no_source_and_no_pdf_is_refused():
    with pytest.raises(gr.Error) as excinfo:
        run_digest("   ", None)
    assert "arXiv link or id, or upload a PDF" in error_of(excinfo)


@pytest.mark.parametrize("source, expected", [
    ("https://example.com/paper.pdf", "example.com is not arXiv"),
    ("/etc/passwd", "is not an arXiv id or link"),  # a server path must never be read for a visitor
    ("file:///etc/hostname", "is not an arXiv id or link"),
])
def test_non_arxiv_source_is_refused_before_any_work(source, expected, monkeypatch):
    monkeypatch.setattr(pipeline, "digest_events", lambda *a, **k: pytest.fail("the pipeline must not run"))
    with pytest.raises(gr.Error) as excinfo:
        run_digest(source)
    assert expected in error_of(excinfo)
    assert "&#x27;" in error_of(excinfo) or "'" not in error_of(excinfo)  # quotes escaped: the modal renders HTML


def test_corrupt_pdf_is_a_user_error(tmp_path, corpus_dir):
    broken = tmp_path / "broken.pdf"
    # a real PDF's header followed by damaged bytes (the xref and objects are gone)
    broken.write_bytes((corpus_dir / "specter_acl2020.pdf").read_bytes()[:9] + b"\x00damaged" * 500)
    with pytest.raises(gr.Error) as excinfo:
        run_digest("", str(broken))
    assert "pdf" in error_of(excinfo).lower()
    assert "Traceback" not in error_of(excinfo)


def test_html_posing_as_pdf_is_a_user_error(tmp_path):
    fake = tmp_path / "paper.pdf"
    fake.write_text("<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>captcha</body></html>")
    with pytest.raises(gr.Error) as excinfo:
        run_digest("", str(fake))
    assert "pdf" in error_of(excinfo).lower()


def test_pdf_over_the_size_limit_is_refused(monkeypatch, corpus_dir):
    monkeypatch.setenv("CHATPAPER_MAX_PDF_MB", "0.1")
    pdf = corpus_dir / "specter_acl2020.pdf"  # 683 KB
    with pytest.raises(gr.Error) as excinfo:
        run_digest("", str(pdf))
    assert "the limit is 0.1 MB" in error_of(excinfo)


def test_no_language_is_refused():
    with pytest.raises(gr.Error) as excinfo:
        run_digest("1111.2011", None, languages=())
    assert "language" in error_of(excinfo)


def test_key_lives_only_in_the_request_settings(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    settings = app.request_settings(["en"], "auto", "", "", "sk-user-secret")
    assert settings.backend == "openai" and settings.openai_api_key == "sk-user-secret"
    assert "sk-user-secret" not in repr(settings)
    assert "OPENAI_API_KEY" not in os.environ  # nothing leaked into the process environment
    assert app.Settings.from_env().openai_api_key == ""  # the next visitor does not inherit it
    hf = app.request_settings(["en", "zh"], "hf", "", "", "hf_user")
    assert hf.hf_token == "hf_user" and hf.openai_api_key == "" and hf.languages == "en,zh"


def test_empty_fields_keep_the_server_settings(monkeypatch):
    monkeypatch.setenv("CHATPAPER_MODEL", "server-model")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8/v1")
    settings = app.request_settings(["zh"], "auto", "  ", "", "")
    assert settings.model == "server-model" and settings.openai_base_url == "http://127.0.0.1:8/v1"
    assert settings.languages == "zh"


def test_record_view_escapes_html_from_the_pdf():
    evil = "<img src=x onerror=alert(1)>"
    text = app.record_markdown(Record(title=evil, authors=["<script>alert(2)</script>"]), Paper(title=evil))
    assert "<img" not in text and "<script>" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text


def test_outline_rows_keep_pages_and_levels():
    paper = Paper(sections=[Section("1 Introduction", 1, 1), Section("1.1 Setting", 2, 2)])
    assert app.outline_rows(paper) == [["1 Introduction", 1, 1], ["\u20031.1 Setting", 2, 2]]


def test_tab_view_serves_relative_figures(tmp_path):
    # The renderer writes views without front matter (tests/test_views.py); the tab only points the figures here.
    md = ("\n# T\n\n"
          "![Figure 1](images/fig1.png) ![x](https://arxiv.org/a.png) ![y](data:image/png;base64,AAAA)")
    served = app._served(md, tmp_path)
    assert served.startswith("\n# T\n")
    assert f"![Figure 1](gradio_api/file={tmp_path.resolve()}/images/fig1.png)" in served
    assert "(https://arxiv.org/a.png)" in served and "(data:image/png;base64,AAAA)" in served


def fake_events(*events):
    """A stand-in for digest_events that replays ``events`` (items that are exceptions are raised)."""
    def digest_events(source, settings, *, cancel=None, out_dir=None):
        for event in events:
            if isinstance(event, BaseException):
                raise event
            yield event
    return digest_events


def test_backend_failure_is_shown_escaped(monkeypatch):
    monkeypatch.setattr(pipeline, "digest_events", fake_events(
        pipeline.PipelineEvent("summarising", "Writing", 0.3),
        BackendError("the <b>openai</b> backend refused: set OPENAI_API_KEY")))
    with pytest.raises(gr.Error) as excinfo:
        run_digest("1111.2011")
    assert error_of(excinfo) == "the &lt;b&gt;openai&lt;/b&gt; backend refused: set OPENAI_API_KEY"


def test_unexpected_exception_is_generic_and_logged(monkeypatch, caplog):
    monkeypatch.setattr(pipeline, "digest_events", fake_events(RuntimeError("internal detail /srv/x.py")))
    with caplog.at_level(logging.ERROR, logger="app"), pytest.raises(gr.Error) as excinfo:
        run_digest("1111.2011")
    assert error_of(excinfo) == app.GENERIC_ERROR
    assert "internal detail" in caplog.text  # the traceback is in the server log, not on the page


def test_warning_keeps_the_partial_result_streaming(monkeypatch):
    monkeypatch.setattr(pipeline, "digest_events", fake_events(
        pipeline.PipelineEvent("summarising", "Writing English", 0.4, language="en", text="The paper"),
        pipeline.PipelineEvent("translating", "Chinese failed", 0.9, warning="Chinese failed: <timeout>"),
        Cancelled("Stopped.")))
    with pytest.warns(UserWarning, match="Chinese failed: &lt;timeout&gt;") as warned:
        updates = run_digest("1111.2011")
    en = app.OUTPUTS.index("en")
    assert updates[-1][en] == "The paper"  # the streamed English stays on the page
    assert len([w for w in warned if "Chinese failed" in str(w.message)]) == 1


def test_stop_sets_the_runs_cancel_event(monkeypatch):
    seen = {}

    def digest_events(source, settings, *, cancel=None, out_dir=None):
        seen["cancel"] = cancel
        yield pipeline.PipelineEvent("summarising", "Writing", 0.2, language="en", text="partial")
        assert cancel.wait(5), "Stop did not reach the pipeline"
        raise Cancelled("Stopped: the answer was cancelled.")

    monkeypatch.setattr(pipeline, "digest_events", digest_events)
    run = app.digest("1111.2011", None, ["en"], "openai", "", NOWHERE, "")
    first = next(run)
    event = first[app.OUTPUTS.index("cancel")]
    assert isinstance(event, threading.Event) and not event.is_set()
    threading.Timer(0.2, app.stop, args=(event,)).start()
    rest = list(run)  # ends quietly once the pipeline sees the event
    assert seen["cancel"] is event and event.is_set()
    assert all(update[app.OUTPUTS.index("en")] in ("partial", gr.skip()) for update in rest)


def test_topic_search_needs_a_query_and_a_date():
    with pytest.raises(gr.Error):
        app.topic_search("  ")
    with pytest.raises(gr.Error) as excinfo:
        app.topic_search("NeRF", "", "30/01/2024")
    assert "YYYY-MM-DD" in error_of(excinfo)


def test_topic_post_needs_ticked_papers():
    with pytest.raises(gr.Error) as excinfo:
        list(app.topic_post("NeRF", "", [], []))
    assert "tick at least one paper" in error_of(excinfo)


def test_topic_search_lists_arxiv_papers(arxiv_server):
    arxiv_server.add_entry("2401.00001v1", title="Fast NeRF rendering", published="2024-01-29",
                           categories=["cs.CV"])
    arxiv_server.add_entry("2401.00002v2", title="NeRF <b>in the wild</b>", published="2024-01-26",
                           categories=["cs.GR", "cs.CV"])
    arxiv_server.add_entry("2312.00003v1", title="Old NeRF", published="2023-12-01", categories=["cs.CV"])
    arxiv_server.add_feed("*", ["2401.00001v1", "2401.00002v2", "2312.00003v1"])
    update, records, found = app.topic_search("NeRF", "cs.CV", "2024-01-30", 7, 10)
    assert [value for _, value in update["choices"]] == ["2401.00001v1", "2401.00002v2"]  # newest first, in window
    assert update["value"] == ["2401.00001v1", "2401.00002v2"]  # all ticked
    # passed raw: the browser test checks that labels render as text
    assert update["choices"][1][0].startswith("NeRF <b>in the wild</b> — ")
    assert [r.title for r in records] == ["Fast NeRF rendering", "NeRF <b>in the wild</b>"]
    assert found.startswith("2 papers found")


def test_upload_limit_reaches_launch(monkeypatch):
    monkeypatch.setenv("CHATPAPER_MAX_PDF_MB", "5")
    options = app.launch_options()
    assert options["max_file_size"] == 5 * 2**20
    assert options["allowed_paths"] == [str(app.OUTPUT_ROOT)]
    assert options["run_history"] is False


def test_api_endpoint_takes_source_and_pdf_with_defaults():
    info = app.demo.get_api_info()["named_endpoints"]["/digest"]
    params = {p["parameter_name"]: p for p in info["parameters"]}
    assert list(params)[:2] == ["source", "pdf"]
    assert all(p["parameter_has_default"] for p in params.values())
    assert params["pdf"]["parameter_default"] is None
    assert info["returns"][0]["label"] == "Markdown digest"
    assert "api_key" in params and params["api_key"]["parameter_default"] == ""


def test_markdown_views_sanitize_html():
    # gr.Markdown sanitizes by default; the browser test checks the page itself never runs a title's script.
    for block in app.demo.blocks.values():
        if isinstance(block, gr.Markdown):
            assert block.sanitize_html, block.elem_id


def test_queue_is_bounded_and_the_model_shared():
    deps = {d.api_name: d for d in app.demo.fns.values()}
    assert app.demo._queue.max_size == app.QUEUE_MAX_SIZE == 32
    assert deps["digest"].concurrency_id == deps["topic_post"].concurrency_id == "llm"
    assert deps["digest"].concurrency_limit == app.digest_concurrency(app.Settings.from_env())


def test_in_process_backend_runs_one_digest_at_a_time():
    assert app.digest_concurrency(app.Settings(backend="local")) == 1
    assert app.digest_concurrency(app.Settings(backend="openai", openai_api_key="k")) >= 2


def test_local_model_runs_one_digest_at_a_time_and_stop_frees_a_waiter(monkeypatch):
    release, entered = threading.Event(), []

    def digest_events(source, settings, *, cancel=None, out_dir=None):
        entered.append(str(source))
        yield pipeline.PipelineEvent("summarising", "Writing", 0.2, language="en", text=str(source))
        release.wait(10)
        raise Cancelled("done waiting")

    monkeypatch.setattr(pipeline, "digest_events", digest_events)
    first = app.digest("1111.2011", None, ["en"], "local")
    next(first), next(first)  # the first run holds the model and is writing
    second = app.digest("2401.16144", None, ["en"], "local")
    waiter_cancel = next(second)[app.OUTPUTS.index("cancel")]
    rest = []
    waiter = threading.Thread(target=lambda: rest.extend(second))
    waiter.start()
    waiter.join(1.0)
    assert waiter.is_alive() and entered == ["1111.2011"]  # the second waits for the model
    app.stop(waiter_cancel)
    waiter.join(5)
    assert not waiter.is_alive() and rest == [] and entered == ["1111.2011"]  # stopped while waiting
    release.set()
    list(first)
    third = app.digest("2401.16144", None, ["en"], "local")
    next(third), next(third)
    assert entered == ["1111.2011", "2401.16144"]  # the model was released
    release.set()
    list(third)


def test_topic_post_digests_only_the_ticked_papers(monkeypatch, tmp_path):
    records = [Record(title="A", authors=[], id="2401.00001", version=1),
               Record(title="B", authors=[], id="2401.00002", version=1)]
    seen = {}

    def write_post(chosen, settings, *, out_dir, topic, date, progress=None, cancel=None):
        seen.update(ids=[r.versioned_id for r in chosen], topic=topic, date=date, out_dir=out_dir)
        progress("digesting 1 paper")
        post = tmp_path / date / f"{topic}.md"
        post.parent.mkdir(parents=True)
        post.write_text("# NeRF daily\n", encoding="utf-8")
        return post

    monkeypatch.setattr(app.daily, "write_post", write_post)
    updates = list(app.topic_post(' ti:NeRF OR abs:"neural radiance field" ', "2024-01-30", ["2401.00002v1"], records, "openai", "", NOWHERE, ""))
    assert seen["ids"] == ["2401.00002v1"] and seen["topic"] == "NeRF" and seen["date"] == "2024-01-30"
    assert updates[-1][0] == "# NeRF daily\n"
    assert updates[-1][1].endswith("2024-01-30/NeRF.md")


def test_done_event_fills_every_output_and_warns_once(monkeypatch, tmp_path):
    from chatpaper.digest import Digest
    from chatpaper.paper import Figure

    monkeypatch.setattr(app, "OUTPUT_ROOT", tmp_path)  # the views show images only from the served folder

    (tmp_path / "p_images").mkdir()
    fig = tmp_path / "p_images" / "fig1.png"
    pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 4, 4), False).save(fig)
    md = tmp_path / "p.md"
    md.write_text("---\ntitle: T\n---\n# T\n", encoding="utf-8")
    paper = Paper(title="T", sections=[Section("1 Introduction", 1, 1)], pages=3, first_page_image=str(fig),
                  figures=[Figure("Figure 1", "Figure 1: A plot.", 2, None, str(fig)),
                           Figure("Figure 2", "Figure 2: not cropped.", 3)])
    chinese_failed = "Chinese digest failed; the English digest is kept."
    result = pipeline.DigestResult(
        record=Record(title="T", authors=["A. Author"]), paper=paper, digests={"en": Digest("en")},
        markdown={"en": "---\ntitle: T\n---\n# T\n\n![Figure 1](p_images/fig1.png)\n", "bilingual": md.read_text()},
        views={"en": "# T\n\n![Figure 1](p_images/fig1.png)\n"},
        markdown_path=md, zip_path=tmp_path / "p.zip", warnings=[chinese_failed])
    monkeypatch.setattr(pipeline, "digest_events", fake_events(
        pipeline.PipelineEvent("translating", "Chinese failed", 0.9, warning=chinese_failed),
        pipeline.PipelineEvent("done", "Done", 1.0, result=result)))
    with pytest.warns(UserWarning) as warned:
        final = dict(zip(app.OUTPUTS, run_digest("1111.2011", languages=("en", "zh"))[-1]))
    assert [str(w.message) for w in warned] == [chinese_failed]
    assert final["markdown"] == md.read_text()  # the API's first output: the bilingual Markdown file's text
    assert final["en"].startswith("# T") and f"gradio_api/file={fig.resolve()}" in final["en"]
    assert final["zh"] == "*本次没有中文摘要。*"
    assert final["figures"] == [(str(fig), "Figure 1: A plot. (p. 2)")]
    assert final["outline"] == [["1 Introduction", 1, 1]] and final["first_page"] == str(fig)
    assert final["md_file"] == str(md) and final["zip_file"] == str(tmp_path / "p.zip")
    assert "**Authors:** A. Author" in final["record"]


@pytest.mark.parametrize("typed, sent", [("https://arxiv.org/abs/1111.2011v2", "1111.2011v2"),
                                         (" arXiv:2401.16144 ", "2401.16144"),
                                         ("https://arxiv.org/pdf/2401.16144v3.pdf", "2401.16144v3")])
def test_arxiv_source_reaches_the_pipeline_as_a_bare_id(typed, sent, monkeypatch):
    seen = []

    def digest_events(source, settings, *, cancel=None, out_dir=None):
        seen.append((str(source), getattr(source, "path", None), settings.languages, settings.backend))
        raise Cancelled("enough")
        yield

    monkeypatch.setattr(pipeline, "digest_events", digest_events)
    run_digest(typed, None, languages=("zh", "en"))
    assert seen == [(sent, None, "zh,en", "openai")]


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


def test_downloads_and_stop_follow_the_run():
    stop, md, zip_, bib = app._running()
    assert stop["visible"] is True and not any(u["visible"] for u in (md, zip_, bib))
    stop, md, zip_, bib = app._finished({"bib": "/tmp/x.bib"}, "/tmp/x.md")
    assert stop["visible"] is False and md["visible"] and zip_["visible"] and bib == {"__type__": "update", "value": "/tmp/x.bib", "visible": True}
    stop, md, zip_, bib = app._finished(None, None)  # failed or stopped: nothing to download
    assert not any(u["visible"] for u in (stop, md, zip_, bib))
