"""chatpaper's web page: an arXiv link or a PDF upload in, an English and Chinese digest out.

Gradio UI only: every handler here wires widgets to ``chatpaper.pipeline`` and ``chatpaper.daily``, the same
functions the CLI and the daily job call. A user's API key lives only in the ``Settings`` built for that request
(never a module global, a log line, a cache key or an export). Run ``python app.py`` (http://127.0.0.1:7860).
"""
from __future__ import annotations

import contextlib
import html
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path

import gradio as gr
from starlette.middleware import Middleware

from chatpaper import ask, backends, daily, pipeline, plan, render, sanitize
from chatpaper.arxiv_source import ArxivRef
from chatpaper.errors import Cancelled, ChatPaperError
from chatpaper.paper import Paper, Record
from chatpaper.render import record_markdown
from chatpaper.settings import Settings
from chatpaper.sources import LocalPdf, Source
from chatpaper.visitor import visitor_settings

log = logging.getLogger(__name__)

BACKEND_CHOICES = [("auto (from the server's keys)", "auto"), *backends.choices()]
LANGUAGE_CHOICES = [("English", "en"), ("中文", "zh")]
EXAMPLE_SOURCES = ["1111.2011", "https://arxiv.org/abs/2401.16144"]
# Per-request output folders (digest .md, figures, zip) live here; launch() serves this folder so the figures
# inside the English/中文 tabs load. The folder names are random, and digests of public papers are not secrets.
OUTPUT_ROOT = Path(tempfile.gettempdir()) / "chatpaper-app"
OUTPUT_MAX_AGE_S = 6 * 3600
STREAM_EVERY_S = 0.25  # the model streams per token; the page needs a repaint only a few times a second
# A remote backend runs at most this many digests at once: 2 vCPUs, extraction is CPU work of seconds, generation
# is waiting on the network.
MAX_DIGESTS = 4
QUEUE_MAX_SIZE = 32  # past this many waiting requests a visitor is told the queue is full instead of waiting
GENERIC_ERROR = "Something went wrong on our side (it has been logged). Try again, or try another paper."
# The digest puts the first page and the figures inline: keep them thumbnail-sized so the prose stays in view.
CSS = "#en-view img, #zh-view img { max-height: 360px; width: auto; }"
# An in-process model (llama.cpp, transformers) runs one generation at a time; when the queue lets several digests
# run (remote default backend) and a user picks a local one, they wait here instead of sharing the model.
_IN_PROCESS_MODEL = threading.Lock()


# ---------------------------------------------------------------- settings and errors

def request_settings(languages: list[str] | None, backend: str = "auto", model: str = "", base_url: str = "",
                     api_key: str = "") -> Settings:
    """The server's settings with this request's choices on top; the key stays inside the returned object.

    The server's keys go only to the server's own endpoints, and a typed base URL must pass the server's rule
    (``chatpaper.visitor``). Raises gr.Error when no language is chosen, the base URL is refused or the environment
    holds an invalid value.
    """
    if not languages:
        raise gr.Error("Choose at least one language (English or 中文).", print_exception=False)
    try:
        settings = visitor_settings(Settings.from_env(), backend=backend, model=model, base_url=base_url,
                                    api_key=api_key)
    except ChatPaperError as exc:
        raise _user_error(exc) from None
    return settings.replace(languages=",".join(languages))


def _user_error(exc: ChatPaperError) -> gr.Error:
    # gr.Error renders its message as HTML: escape, since messages quote user input (a URL, a file name). The
    # detail (a server's address or raw answer) is for the log only: the visitor may be a stranger.
    if exc.detail:
        log.warning("%s (%s)", exc, exc.detail)
    return gr.Error(html.escape(str(exc)), print_exception=False)


def _warn(message: str) -> None:
    # duration=None: a warning about a partial result (Chinese failed, English kept) stays until the user closes it.
    gr.Warning(html.escape(message), duration=None)


def _unexpected(what: str) -> gr.Error:
    log.exception("%s failed unexpectedly", what)  # the traceback goes to the server log, never to the page
    return gr.Error(GENERIC_ERROR, print_exception=False)


@contextlib.contextmanager
def _user_facing(what: str, cancel: threading.Event):
    """Run a handler's work: failures become messages for the page, Stop a note; the work always stops after."""
    try:
        yield
    except Cancelled as exc:
        log.info("%s stopped: %s", what, exc)
        gr.Info("Stopped.")
    except ChatPaperError as exc:
        raise _user_error(exc) from None
    except gr.Error:
        raise
    except Exception:
        raise _unexpected(what) from None
    finally:
        cancel.set()  # Stop, a closed tab or an error: the pipeline and the backend stop at their next check


def digest_concurrency(settings: Settings) -> int:
    """Digests run at once (``plan.digests_at_once``): 1 for an in-process model, up to ``MAX_DIGESTS``."""
    return plan.digests_at_once(backends.max_parallel(settings), MAX_DIGESTS)


def _new_output_dir(kind: str) -> Path:
    OUTPUT_ROOT.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - OUTPUT_MAX_AGE_S
    for old in OUTPUT_ROOT.iterdir():  # a Space runs for weeks: old outputs go, the page already has its copies
        try:
            if old.is_dir() and old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass
    return Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=OUTPUT_ROOT))


def _arxiv_source(text: str) -> ArxivRef:
    # A visitor's text is only ever an arXiv reference: a web visitor must never make the server read a local file
    # (the CLI's parse_source would take a path).
    try:
        return ArxivRef.parse(text)
    except ChatPaperError as exc:
        raise _user_error(exc) from None


def _source(text: str, pdf: str | None) -> Source:
    """The paper a request names, parsed once: the upload when there is one (the text must still be an arXiv
    reference when given), else the arXiv reference."""
    ref = _arxiv_source(text) if text else None
    return LocalPdf(Path(pdf)) if pdf else ref


def _check_upload(pdf: str | None, settings: Settings) -> str | None:
    if not pdf:
        return None
    path = Path(pdf)
    if not path.is_file():
        raise gr.Error("The uploaded file is gone; upload it again.", print_exception=False)
    size = path.stat().st_size
    if size > settings.max_pdf_bytes:
        raise gr.Error(f"The PDF is {size / 2**20:.1f} MB; the limit is {settings.max_pdf_mb:g} MB.",
                       print_exception=False)
    return str(path)


# ---------------------------------------------------------------- views of a result

def _served(markdown: str, base: Path) -> str:
    """Markdown for a tab (a view the renderer wrote without front matter), its relative image links pointed at this
    server's file route so the figures show."""
    def repl(match: re.Match) -> str:
        target = match.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("/"):
            return match.group(0)
        return f"![{match.group(1)}](gradio_api/file={(base / target).resolve()})"

    return re.sub(r"!\[([^\]]*)\]\(([^)\s]+)\)", repl, markdown)


def outline_rows(paper: Paper) -> list[list]:
    """One row per heading: indented heading, level, page."""
    return [["\u2003" * (s.level - 1) + s.heading, s.level, s.page] for s in paper.sections]


def figure_items(paper: Paper) -> list[tuple[str, str]]:
    """Gallery items (image path, caption) for the figures that have a crop."""
    return [(f.image, f"{f.caption or f.label} (p. {f.page})") for f in paper.figures
            if f.image and Path(f.image).is_file()]


# ---------------------------------------------------------------- handlers

OUTPUTS = ("markdown", "en", "zh", "figures", "record", "outline", "first_page", "md_file", "zip_file", "cancel",
           "files")


def _update(**values) -> tuple:
    return tuple(values.get(name, gr.skip()) for name in OUTPUTS)


def _result_update(result: pipeline.DigestResult, cancel: threading.Event) -> tuple:
    def view(lang: str, absent: str) -> str:
        if lang in result.digests and lang in result.views:
            return sanitize.markdown(_served(result.views[lang], result.markdown_path.parent), OUTPUT_ROOT)
        return absent

    return _update(
        markdown=result.markdown.get("bilingual", ""),
        en=view("en", "*No English digest in this run.*"), zh=view("zh", "*本次没有中文摘要。*"),
        figures=figure_items(result.paper), record=record_markdown(result.record, result.paper),
        outline=outline_rows(result.paper), first_page=result.paper.first_page_image,
        md_file=str(result.markdown_path), zip_file=str(result.zip_path), cancel=cancel,
        files={"bib": str(result.bib_path) if result.bib_path else None})


def digest(source: str = "", pdf: str | None = None, languages: list[str] | None = None, backend: str = "auto",
           model: str = "", base_url: str = "", api_key: str = "", progress=gr.Progress()):
    """Digest one paper (arXiv link/id or uploaded PDF); yields the page's outputs, the Markdown digest first."""
    source = (source or "").strip()
    languages = ["en", "zh"] if languages is None else languages
    settings = request_settings(languages, backend, model, base_url, api_key)
    pdf = _check_upload(pdf, settings)
    if not source and not pdf:
        raise gr.Error("Give an arXiv link or id, or upload a PDF.", print_exception=False)
    paper = _source(source, pdf)
    cancel = threading.Event()
    # A fresh run clears the previous paper's outputs so that nothing stale sits beside the new one.
    yield _update(markdown="", en="", zh="", figures=[], record="", outline=[], first_page=None, md_file=None,
                  zip_file=None, cancel=cancel, files=None)
    with _user_facing("digest", cancel), _model_turn(settings, cancel, progress):
        yield from _run_digest(paper, settings, cancel, progress)


@contextlib.contextmanager
def _model_turn(settings: Settings, cancel: threading.Event, progress):
    """Hold the in-process model for one whole run (nothing to hold for a remote backend).

    Raises Cancelled when Stop is pressed while waiting.
    """
    if backends.max_parallel(settings) > 1:
        yield
        return
    if not _IN_PROCESS_MODEL.acquire(blocking=False):
        progress(0.0, desc="Waiting for the local model: another digest is using it")
        while not _IN_PROCESS_MODEL.acquire(timeout=0.5):
            if cancel.is_set():
                raise Cancelled("Stopped while waiting for the local model.")
    try:
        yield
    finally:
        _IN_PROCESS_MODEL.release()


def _run_digest(source: Source, settings: Settings, cancel: threading.Event, progress):
    last, shown, warned, expected = 0.0, {}, set(), ""
    for event in pipeline.digest_events(source, settings, cancel=cancel, out_dir=_new_output_dir("digest")):
        if event.estimate:  # once the PDF is read: every later step says how long the whole digest takes
            expected = f" (the digest takes {plan.describe_estimate(*event.estimate)} in all)"
        desc = event.message if event.estimate else event.message + expected
        progress(min(max(event.fraction, 0.0), 1.0), desc=desc)
        # The result repeats the warnings streamed on the way: each is shown once.
        for warning in [event.warning] + (event.result.warnings if event.result else []):
            if warning and warning not in warned:
                warned.add(warning)
                _warn(warning)
        if event.result is not None:
            yield _result_update(event.result, cancel)
            return
        if event.text and event.language in ("en", "zh"):
            shown[event.language] = event.text
            if time.monotonic() - last >= STREAM_EVERY_S:
                last = time.monotonic()
                # The model's raw text, as it streams: the same sanitizer as the final views.
                yield _update(**{lang: sanitize.markdown(text, OUTPUT_ROOT) for lang, text in shown.items()})


def stop(cancel: threading.Event | None) -> None:
    """Stop the running digest or post of this session (the pipeline checks the event between tokens)."""
    if cancel is not None:
        log.info("stop requested")
        cancel.set()


def model_line(backend: str = "auto", model: str = "", base_url: str = "", api_key: str = "") -> str:
    """The line under the Digest button: which backend and model will answer, and what that means for time."""
    try:
        choice = plan.model_choice(request_settings(["en"], backend, model, base_url, api_key))
    except gr.Error:
        return "**Model:** the server's settings are invalid; see its log."
    line = f"**Model:** {render.escape(choice.describe())}"
    if choice.in_process:
        cores = os.cpu_count() or 1
        line += (f". It runs on this server's {cores} CPU core{'s' if cores > 1 else ''}: a digest takes minutes; "
                 "the time for your paper shows once its PDF is read.")
    return line


def _running():
    """A run starts: Stop shows, the previous downloads go."""
    return gr.update(visible=True), *[gr.update(visible=False)] * 3


def _finished(files: dict | None, md_file):
    """A run ended (done, failed or stopped): Stop goes; the downloads show when there is a result."""
    done = bool(files and md_file)
    bib = (files or {}).get("bib")
    return (gr.update(visible=False), gr.update(visible=done), gr.update(visible=done),
            gr.update(value=bib if done and bib else None, visible=bool(done and bib)))


def _hide():
    return gr.update(visible=False)


def topic_search(query: str, categories: str = "", date: str = "", days: float = 7, max_results: float = 10):
    """Search arXiv for a topic: the matching papers as checkbox choices (all ticked) and the records for the post."""
    query = (query or "").strip()
    if not query:
        raise gr.Error("Type a topic to search for, e.g. NeRF or \"diffusion models\".", print_exception=False)
    day = _parse_date(date)
    cats = [c.strip() for c in re.split(r"[,\s]+", categories or "") if c.strip()] or None
    try:
        settings = Settings.from_env()
        records = daily.search_topic(query, settings, categories=cats, date=day, days=int(days),
                                     max_results=int(max_results))
    except ChatPaperError as exc:
        raise _user_error(exc) from None
    except Exception:
        raise _unexpected("topic search") from None
    if not records:
        _warn(f"No paper on arXiv matches {query!r} in the {int(days)} days up to {day}.")
    choices = [(_record_label(r), r.versioned_id or r.title) for r in records]
    found = f"{len(records)} papers found; untick the ones to leave out, then write the post."
    return gr.update(choices=choices, value=[value for _, value in choices]), records, found


def _record_label(record: Record) -> str:
    authors = ", ".join(record.authors[:3]) + (" et al." if len(record.authors) > 3 else "")
    return f"{record.title} — {authors} ({record.versioned_id}, {record.published[:10]})"


def _parse_date(text: str) -> str:
    """The day typed in the Topic tab as YYYY-MM-DD (empty: today, UTC), or a gr.Error naming the form to write."""
    try:
        return daily.parse_date((text or "").strip(), "The date").isoformat()
    except ChatPaperError as exc:
        raise _user_error(exc) from None


def topic_post(query: str, date: str, selected: list[str] | None, records: list[Record] | None,
               backend: str = "auto", model: str = "", base_url: str = "", api_key: str = "",
               progress=gr.Progress()):
    """Digest the ticked papers into one blog post; yields the post's Markdown and the file to download."""
    chosen = [r for r in records or [] if (r.versioned_id or r.title) in set(selected or [])]
    if not chosen:
        raise gr.Error("Search first, then tick at least one paper.", print_exception=False)
    settings = request_settings(["en", "zh"], backend, model, base_url, api_key)
    cancel = threading.Event()
    yield "", None, cancel
    steps = iter(range(1, 1_000_000))
    path = None
    with _user_facing("topic post", cancel), _model_turn(settings, cancel, progress):
        path = daily.write_post(chosen, settings, out_dir=_new_output_dir("post"),
                                topic=daily.topic_from_query(query or ""), date=_parse_date(date), cancel=cancel,
                                progress=lambda message: progress((next(steps), None), desc=message))
    if path is None:  # stopped
        return
    post = _served(daily.post_body(Path(path).read_text(encoding="utf-8")), Path(path).parent)
    yield sanitize.markdown(post, OUTPUT_ROOT), str(path), cancel


# ---------------------------------------------------------------- Ask tab

def paper_loaded(source: str = "", pdf: str | None = None):
    """After a digest: the Ask tab opens on that paper, with an empty chat (a new paper, a new conversation)."""
    paper = {"source": "", "pdf": pdf} if pdf else {"source": str(_arxiv_source(source or "")), "pdf": None}
    return gr.update(interactive=True), paper, []


def _passage_messages(answer: ask.Answer) -> list[dict]:
    """The cited passages as folded messages under the answer (Gradio shows a titled message as an accordion)."""
    return [{"role": "assistant", "content": sanitize.text(p.text), "metadata": {"title": p.cite(), "status": "done"}}
            for p in answer.cited]


def ask_chat(question: str, chat: list | None, paper: dict | None, backend: str = "auto", model: str = "",
             base_url: str = "", api_key: str = "", progress=gr.Progress()):
    """Ask the loaded paper a question; yields the chat with the answer streaming in, then its cited passages."""
    question = (question or "").strip()
    if not paper:
        raise gr.Error("Digest a paper first: the Ask tab answers from its text.", print_exception=False)
    if not question:
        raise gr.Error("Type a question about the paper.", print_exception=False)
    settings = request_settings(["en", "zh"], backend, model, base_url, api_key)
    history = list(chat or [])  # the conversation so far lives in this visitor's Chatbot only
    chat = history + [{"role": "user", "content": sanitize.text(question)}, {"role": "assistant", "content": "…"}]
    yield list(chat), ""
    cancel = threading.Event()
    last = 0.0
    with _user_facing("ask", cancel), _model_turn(settings, cancel, progress):
        for event in ask.ask_events(_source(paper["source"], paper["pdf"]), question, settings, history=history,
                                    cancel=cancel):
            if event.answer is not None:
                chat[-1] = {"role": "assistant", "content": event.answer.markdown}
                yield chat + _passage_messages(event.answer), ""
            elif time.monotonic() - last >= STREAM_EVERY_S:
                last = time.monotonic()
                chat[-1] = {"role": "assistant", "content": event.text}
                yield list(chat), ""


def ask_api(source: str = "", pdf: str | None = None, question: str = "", history: list | None = None,
            backend: str = "auto", model: str = "", base_url: str = "", api_key: str = ""):
    """The ``/ask`` endpoint: a question about a paper (arXiv link/id or PDF) with earlier turns as ``history``
    ([question, answer] pairs or chat messages); yields the answer's Markdown with its page references, then the
    answer's details (cited pages and passages, timings)."""
    source = (source or "").strip()
    settings = request_settings(["en", "zh"], backend, model, base_url, api_key)
    pdf = _check_upload(pdf, settings)
    if not source and not pdf:
        raise gr.Error("Give an arXiv link or id, or upload a PDF.", print_exception=False)
    paper = LocalPdf(Path(pdf)) if pdf else _arxiv_source(source)
    cancel = threading.Event()
    with _user_facing("ask", cancel), _model_turn(settings, cancel, gr.Progress()):
        for event in ask.ask_events(paper, question, settings, history=history or [], cancel=cancel):
            if event.answer is not None:
                details = event.answer.to_dict()
                yield event.answer.markdown, details
            else:
                yield event.text, None


# ---------------------------------------------------------------- the page

def build_demo(settings: Settings | None = None) -> gr.Blocks:
    """The page, with its queue limits sized from ``settings`` (the server's environment by default)."""
    settings = settings or Settings.from_env()
    llm_limit = digest_concurrency(settings)
    # analytics_enabled=False: no telemetry calls from the server (a Space's visitors did not agree to them).
    with gr.Blocks(title="chatpaper: bilingual paper digests", analytics_enabled=False) as demo:
        gr.Markdown("# chatpaper\nAn arXiv link or a PDF in; an English and Chinese digest out. Facts (title, "
                    "authors, links) come from arXiv and the PDF, the prose from a language model.")
        model_inputs = _model_panel()
        with gr.Tabs():
            with gr.Tab("Digest a paper", id="digest-tab"):
                _digest_tab(settings, model_inputs, llm_limit)
            with gr.Tab("Topic", id="topic-tab", elem_id="topic-tab"):
                _topic_tab(model_inputs, llm_limit)
    demo.queue(max_size=QUEUE_MAX_SIZE, default_concurrency_limit=2)
    return demo


def _model_panel() -> list[gr.components.Component]:
    """The folded settings: backend, model, base URL and API key (the handlers' last four inputs)."""
    with gr.Accordion("Model settings", open=False, elem_id="settings"):
        with gr.Row():
            backend = gr.Dropdown(BACKEND_CHOICES, value="auto", label="Backend", elem_id="backend")
            model = gr.Textbox(value="", label="Model", placeholder="empty: the backend's default", elem_id="model")
        with gr.Row():
            base_url = gr.Textbox(value="", label="Base URL (OpenAI-compatible server)",
                                  placeholder="empty: api.openai.com", elem_id="base-url")
            api_key = gr.Textbox(value="", label="API key (used for your requests only, never stored)",
                                 type="password", elem_id="api-key")
    return [backend, model, base_url, api_key]


def _digest_tab(settings: Settings, model_inputs: list, llm_limit: int) -> None:
    """Source, upload and languages; Digest and Stop; the five output tabs and the two downloads."""
    with gr.Row():
        with gr.Column(scale=3):
            source = gr.Textbox(value="", label="arXiv link or id", elem_id="source",
                                placeholder="2401.16144 or https://arxiv.org/abs/2401.16144")
            gr.Examples(EXAMPLE_SOURCES, inputs=[source], label="Examples")
            languages = gr.CheckboxGroup(LANGUAGE_CHOICES, value=["en", "zh"], label="Languages",
                                         elem_id="languages")
        with gr.Column(scale=2):
            pdf = gr.File(label=f"…or upload a PDF (up to {settings.max_pdf_mb:g} MB)", file_types=[".pdf"],
                          type="filepath", elem_id="pdf")
    with gr.Row():
        run = gr.Button("Digest", variant="primary", elem_id="digest-button")
        halt = gr.Button("Stop", variant="stop", elem_id="stop-button", visible=False)
    line = gr.Markdown(model_line(), elem_id="model-line")
    status = gr.Markdown("", min_height=40, elem_id="status")
    with gr.Tabs():
        with gr.Tab("English", id="en-tab", elem_id="en-tab"):
            en_view = gr.Markdown(label="English digest", elem_id="en-view")
        with gr.Tab("中文", id="zh-tab", elem_id="zh-tab"):
            zh_view = gr.Markdown(label="Chinese digest", elem_id="zh-view")
        with gr.Tab("Figures", id="figures-tab", elem_id="figures-tab"):
            figures = gr.Gallery(label="Figures", columns=3, height="auto", elem_id="figures")
        with gr.Tab("Paper", id="paper-tab", elem_id="paper-tab"):
            with gr.Row():
                with gr.Column(scale=3):
                    record_view = gr.Markdown(label="Record", elem_id="record-view")
                    outline = gr.Dataframe(headers=["Section", "Level", "Page"], datatype=["str", "number", "number"],
                                           interactive=False, label="Outline", elem_id="outline")
                with gr.Column(scale=2):
                    first_page = gr.Image(label="First page", type="filepath", interactive=False, elem_id="first-page")
        with gr.Tab("Markdown", id="markdown-tab", elem_id="markdown-tab"):
            markdown = gr.Code(language="markdown", label="Markdown digest", interactive=False,
                               elem_id="markdown-source")
        with gr.Tab("Ask", id="ask-tab", elem_id="ask-tab", interactive=False) as ask_tab:
            paper_state = gr.State(None)
            chat = _ask_tab(paper_state, model_inputs, llm_limit)
    with gr.Row():
        # Shown only once there is a result (an empty download box invites a click that does nothing).
        md_file = gr.File(label="Markdown (.md)", interactive=False, elem_id="download-md", visible=False)
        zip_file = gr.File(label="Markdown and figures (.zip)", interactive=False, elem_id="download-zip",
                           visible=False)
        bib_file = gr.File(label="BibTeX (.bib)", interactive=False, elem_id="download-bib", visible=False)
    cancel_state = gr.State(None)
    files_state = gr.State(None)  # the result's other files (the .bib): a State, so the /digest API keeps its outputs
    outputs = [markdown, en_view, zh_view, figures, record_view, outline, first_page, md_file, zip_file, cancel_state,
               files_state]
    downloads = [halt, md_file, zip_file, bib_file]
    gr.on([c.change for c in model_inputs], model_line, inputs=model_inputs, outputs=[line],
          queue=False, api_visibility="private", show_progress="hidden")
    run.click(_running, None, downloads, queue=False, api_visibility="private", show_progress="hidden")
    digesting = run.click(digest, inputs=[source, pdf, languages, *model_inputs], outputs=outputs, api_name="digest",
                          concurrency_limit=llm_limit, concurrency_id="llm", show_progress_on=[status])
    digesting.then(_finished, [files_state, md_file], downloads, queue=False, api_visibility="private",
                   show_progress="hidden")
    # Stop sets the run's cancel event (the pipeline and the model stop) and cancels the event in the queue.
    halt.click(stop, inputs=[cancel_state], outputs=None, api_visibility="private", queue=False)
    halt.click(None, cancels=[digesting], api_visibility="private")
    halt.click(_hide, None, [halt], queue=False, api_visibility="private", show_progress="hidden")
    digesting.success(paper_loaded, inputs=[source, pdf], outputs=[ask_tab, paper_state, chat],
                      api_visibility="private")


def _ask_tab(paper_state: gr.State, model_inputs: list, llm_limit: int) -> gr.Chatbot:
    """A chat about the digested paper; and the ``/ask`` endpoint, which names its paper itself."""
    chat = gr.Chatbot(label="Ask the paper", height=480, elem_id="ask-chat", feedback_options=None,
                      placeholder="Questions are answered from the paper's own text, with its pages. "
                              "用中文提问，就用中文回答。")
    with gr.Row():
        question = gr.Textbox(label="Question", placeholder="What dataset do they use? / 用了什么数据集？", scale=5,
                              elem_id="ask-question", submit_btn=False)
        send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask-button")
        halt = gr.Button("Stop", variant="stop", scale=1, elem_id="ask-stop")
    for trigger in (send.click, question.submit):
        asking = trigger(ask_chat, inputs=[question, chat, paper_state, *model_inputs], outputs=[chat, question],
                         api_visibility="private", concurrency_limit=llm_limit, concurrency_id="llm")
        halt.click(None, cancels=[asking], api_visibility="private")
    with gr.Group(visible=False):  # the endpoint's own inputs: a client names the paper with each question
        api_source = gr.Textbox(value="", label="source")
        api_pdf = gr.File(label="pdf", type="filepath")
        api_question = gr.Textbox(label="question")
        api_history = gr.JSON(value=[], label="history")
        api_answer = gr.Markdown(label="answer")
        api_details = gr.JSON(label="details")
        api_button = gr.Button("ask")
    api_button.click(ask_api, inputs=[api_source, api_pdf, api_question, api_history, *model_inputs],
                     outputs=[api_answer, api_details], api_name="ask", concurrency_limit=llm_limit,
                     concurrency_id="llm")
    return chat


def _topic_tab(model_inputs: list, llm_limit: int) -> None:
    """Query, window and maximum; the matching papers as checkboxes; the blog post of the ticked ones."""
    with gr.Row():
        query = gr.Textbox(label="arXiv query", placeholder="NeRF, \"diffusion models\", ...", scale=3,
                           elem_id="topic-query")
        categories = gr.Textbox(label="Categories (optional)", placeholder="cs.CV cs.GR", scale=1,
                                elem_id="topic-categories")
    with gr.Row():
        date = gr.Textbox(value="", label="Up to date (YYYY-MM-DD, empty: today)", elem_id="topic-date")
        days = gr.Slider(1, 30, value=7, step=1, label="Days back", elem_id="topic-days")
        max_results = gr.Slider(1, 50, value=10, step=1, label="At most", elem_id="topic-max")
    search = gr.Button("Search arXiv", elem_id="topic-search")
    found = gr.Markdown(elem_id="topic-found")
    picked = gr.CheckboxGroup([], label="Papers", elem_id="topic-papers")
    records_state = gr.State([])
    with gr.Row():
        write = gr.Button("Write the post", variant="primary", elem_id="topic-write")
        halt = gr.Button("Stop", variant="stop", elem_id="topic-stop", visible=False)
    post_file = gr.File(label="The post (.md)", interactive=False, elem_id="topic-download", visible=False)
    post_view = gr.Markdown(elem_id="topic-post")
    cancel_state = gr.State(None)
    search.click(topic_search, inputs=[query, categories, date, days, max_results],
                 outputs=[picked, records_state, found], api_name="topic_search", concurrency_limit=2)
    write.click(lambda: (gr.update(visible=True), gr.update(visible=False)), None, [halt, post_file], queue=False,
                api_visibility="private", show_progress="hidden")
    posting = write.click(topic_post, inputs=[query, date, picked, records_state, *model_inputs],
                          outputs=[post_view, post_file, cancel_state], api_name="topic_post",
                          concurrency_limit=llm_limit, concurrency_id="llm")
    posting.then(lambda post: (gr.update(visible=False), gr.update(visible=bool(post))), [post_file],
                 [halt, post_file], queue=False, api_visibility="private", show_progress="hidden")
    halt.click(stop, inputs=[cancel_state], outputs=None, api_visibility="private", queue=False)
    halt.click(None, cancels=[posting], api_visibility="private")
    halt.click(_hide, None, [halt], queue=False, api_visibility="private", show_progress="hidden")


def launch_options(settings: Settings | None = None) -> dict:
    """Keyword arguments for ``demo.launch``: the upload limit, the served output folder, no run history, CSS."""
    settings = settings or Settings.from_env()
    OUTPUT_ROOT.mkdir(parents=True, exist_ok=True)
    # run_history=False: Gradio's run history would keep every call's inputs (the API key too) in the browser.
    # PageGuard: the Content-Security-Policy (no remote loads, a second wall behind chatpaper.sanitize), and no
    # fetching of URLs through Gradio's file route. ssr_mode=False: in SSR mode Node, not this app, serves the page.
    return {"max_file_size": settings.max_pdf_bytes, "allowed_paths": [str(OUTPUT_ROOT)], "run_history": False,
            "css": CSS, "ssr_mode": False, "app_kwargs": {"middleware": [Middleware(sanitize.PageGuard)]}}


demo = build_demo()

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per HTTP request drowns the app's own log
    demo.launch(**launch_options())
