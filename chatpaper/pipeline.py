"""The pipeline's stages, which the app, the CLI and the daily job compose: fetch, extract, digest, write files.

``fetch`` turns a ``Source`` (parsed once, at the edge) into the PDF and, for arXiv, its record; ``extract`` reads
the PDF (a local PDF's record comes from its own facts); ``digest`` serves the digests from the cache or has the
backend write them, caching a complete result; ``write_files`` renders the Markdown and writes the .md, .bib and
zip. ``digest_events`` runs all four for one paper and yields progress (the app's generator); the CLI's
``digest_to_markdown`` and ``load_record`` wrap it; the daily job calls fetch, extract and digest itself with the
records and the backend it holds. A repeat of the same paper with the same backend, model, languages and prompt
version is served from the digest cache without a model call.
"""
from __future__ import annotations

import hashlib
import logging
import queue
import re
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Generator, Iterator

from chatpaper import backends, pdf, plan, writer
from chatpaper.arxiv_source import ArxivClient, fetch_record_and_pdf
from chatpaper.backends.local import model_file_name
from chatpaper.bibtex import bibtex_entry
from chatpaper.cache import Cache
from chatpaper.backends import Backend
from chatpaper.digest import LANGUAGES, Digest, DigestProgress
from chatpaper.errors import Cancelled
from chatpaper.paper import Paper, Record
from chatpaper.prompts import prompt_version
from chatpaper.render import render_markdown
from chatpaper.settings import Settings
from chatpaper.sources import LocalPdf, Source

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
# Overall progress: where each stage starts (the model's writing takes most of the time).
_FRACTION = {"fetching": 0.0, "extracting": 0.05, "summarising": 0.12, "rendering": 0.94, "done": 1.0}
_WRITING_SPAN = 0.94 - 0.12


@dataclass
class Digested:
    """What the digest stage produced for one paper."""

    digests: dict[str, Digest]  #: by language, only those that succeeded
    warnings: list[str] = field(default_factory=list)  #: for readers: a failed call, a missing part, not cached
    cached: bool = False  #: True when the digests came from the cache (no model call)


@dataclass
class DigestResult:
    """Everything one digest run produced."""

    record: Record  #: the paper's facts (arXiv metadata, or the PDF's own for an upload)
    paper: Paper  #: what the extractor read from the PDF
    digests: dict[str, Digest]  #: by language, only those that succeeded
    markdown: dict[str, str]  #: "en", "zh", "bilingual" (relative image links), as in the files
    markdown_path: Path  #: bilingual .md written in out_dir, figures in out_dir/<images>/
    zip_path: Path  #: the .md and its figures
    bib_path: Path | None = None  #: the paper's BibTeX entry (.bib) beside the .md
    views: dict[str, str] = field(default_factory=dict)  #: "en", "zh" for a page: no front matter, relative links
    warnings: list[str] = field(default_factory=list)  #: non-fatal problems, for the user
    cached: bool = False  #: True when the digests came from the cache (no model call)


@dataclass
class PipelineEvent:
    """One progress step of ``digest_events``."""

    stage: str  #: "fetching" | "extracting" | "summarising" | "translating" | "rendering" | "done"
    message: str  #: one human-readable progress line
    fraction: float  #: 0..1 overall
    language: str | None = None  #: language being written, while summarising or translating
    text: str | None = None  #: the digest text so far for ``language`` (full, not a delta) while streaming
    warning: str | None = None  #: a non-fatal problem (e.g. Chinese failed, English kept)
    result: DigestResult | None = None  #: only on the final "done" event
    estimate: tuple[float, float] | None = None  #: (low, high) seconds the model will take, once the PDF is read
    tokens: int = 0  #: tokens the model has written in its current call (while summarising or translating)
    max_tokens: int = 0  #: that call's answer cap in tokens (0 when no call is running)


def record_from_paper(paper: Paper, path: str | Path) -> Record:
    """A Record for an uploaded or local PDF, from the PDF's own facts (same keys as an arXiv record)."""
    return Record(title=paper.title or Path(path).stem, authors=list(paper.authors), abstract=paper.abstract,
                  pdf_path=str(path))


def digest_languages(settings: Settings) -> list[str]:
    """The languages a digest is written in: the settings' own that a digest knows, English when none is left."""
    return [lang for lang in settings.language_list if lang in LANGUAGES] or ["en"]


# ---------------------------------------------------------------------------------------------------- the stages


def fetch(source: Source, settings: Settings, progress: Progress | None = None) -> tuple[Record | None, Path]:
    """Stage 1: the PDF, and for arXiv its record (both cached); a local PDF has no record until it is read."""
    if isinstance(source, LocalPdf):
        return None, source.path
    record = fetch_record_and_pdf(source, settings, progress)
    return record, Path(record.pdf_path)


def fetch_pdf(record: Record, settings: Settings) -> Path:
    """Stage 1 for an arXiv record already in hand (a search result): its PDF, downloaded into the cache."""
    with ArxivClient(settings) as client:
        return client.download_pdf(record)


def extract(record: Record | None, path: Path, settings: Settings,
            images_dir: Path | None = None) -> tuple[Record, Paper]:
    """Stage 2: read the PDF (figures into ``images_dir``); without an arXiv record, the PDF's own facts are one."""
    paper = pdf.extract_paper(path, images_dir=images_dir, settings=settings)
    return record or record_from_paper(paper, path), paper


def digest(record: Record, paper: Paper, settings: Settings, backend: Backend | None = None, *,
           languages: list[str] | None = None, cancel: threading.Event | None = None,
           on_event: Callable[[DigestProgress], None] | None = None) -> Digested:
    """Stage 3: the paper's digests, from the cache, or written by ``backend`` and cached when complete.

    ``backend`` defaults to the one ``settings`` name, built only when the cache has no digest. ``on_event`` gets the
    writer's progress (the streamed text included). Raises BackendError when no language could be written, and
    Cancelled.
    """
    languages = languages or digest_languages(settings)
    cache, key = Cache(settings.cache_path), digest_key(record, settings, languages)
    cached = _cached_digests(cache, key, languages)
    if cached:
        return Digested(cached, _digest_warnings(cached), cached=True)
    written_warnings: list[str] = []

    def report(progress: DigestProgress) -> None:
        if progress.warning:
            written_warnings.append(progress.warning)
        if on_event is not None:
            on_event(progress)

    backend = backend or backends.get_backend(settings)
    started = time.monotonic()
    digests = writer.write_digests(record, paper, backend, languages, on_event=report, cancel=cancel)
    plan.learn(settings, sum(d.prompt_tokens for d in digests.values()),
               sum(d.completion_tokens for d in digests.values()), time.monotonic() - started)
    warnings = list(written_warnings)
    gaps = incomplete(digests, languages, written_warnings)
    if gaps:
        # Shown, marked, but never served to the next visitor: a run after the backend recovers asks again.
        warnings.append(f"This digest is incomplete ({'; '.join(gaps)}); it was not cached, so the next run "
                        "asks the model again.")
    else:
        cache.put_json("digest", key, {"digests": {k: d.to_dict() for k, d in digests.items()}, "warnings": []})
    return Digested(digests, warnings + _digest_warnings(digests))


def write_files(record: Record, paper: Paper, digested: Digested, settings: Settings, out_dir: Path,
                images: Path) -> DigestResult:
    """Stage 4: Markdown per language and bilingual, the bilingual .md and the .bib on disk, and a zip of the .md
    files and figures (``images``, a folder in ``out_dir``)."""
    digests, meta, rel = digested.digests, _meta(settings), images.name
    markdown = {lang: render_markdown(record, paper, digests, language=lang, images_rel_dir=rel, meta=meta)
                for lang in digests}
    markdown["bilingual"] = render_markdown(record, paper, digests, images_rel_dir=rel, meta=meta)
    views = {lang: render_markdown(record, paper, digests, language=lang, images_rel_dir=rel, front_matter=False)
             for lang in digests}
    stem = _stem(record, Path(record.pdf_path or "paper"))
    md_path = out_dir / f"{stem}.md"
    md_path.write_text(markdown["bilingual"], encoding="utf-8")
    for lang in digests:
        (out_dir / f"{stem}.{lang}.md").write_text(markdown[lang], encoding="utf-8")
    bib_path = out_dir / f"{stem}.bib"
    bib_path.write_text(bibtex_entry(record, paper), encoding="utf-8")
    zip_path = out_dir / f"{stem}.zip"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(md_path, md_path.name)
        z.write(bib_path, bib_path.name)
        for lang in digests:
            z.write(out_dir / f"{stem}.{lang}.md", f"{stem}.{lang}.md")
        if images.is_dir():
            for image in sorted(images.iterdir()):
                z.write(image, f"{rel}/{image.name}")
    return DigestResult(record=record, paper=paper, digests=digests, markdown=markdown, views=views,
                        markdown_path=md_path,
                        zip_path=zip_path, bib_path=bib_path, warnings=list(paper.warnings) + digested.warnings,
                        cached=digested.cached)


# ---------------------------------------------------------------------------------------------------- composed


def digest_events(source: Source, settings: Settings, *, cancel: threading.Event | None = None,
                  out_dir: Path | None = None) -> Iterator[PipelineEvent]:
    """Digest one paper through the four stages, yielding progress (with the streamed text) and finally a "done"
    event with the result.

    Raises ChatPaperError subclasses: a bad PDF, a paper arXiv does not have, or a backend failure before any
    language succeeded.
    """
    cancel = cancel or threading.Event()
    languages = digest_languages(settings)
    out_dir = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="chatpaper-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    yield PipelineEvent("fetching", f"Getting {source}…", _FRACTION["fetching"])
    record, path = fetch(source, settings)
    _check(cancel)
    yield PipelineEvent("extracting", f"Reading the PDF of {(record and record.title) or path.name}…",
                        _FRACTION["extracting"])
    images = out_dir / f"{_stem(record, path)}_images"
    record, paper = extract(record, path, settings, images)
    _check(cancel)
    cached = _cached_digests(Cache(settings.cache_path), digest_key(record, settings, languages), languages)
    if cached:
        digested = Digested(cached, _digest_warnings(cached), cached=True)
        yield PipelineEvent("summarising", "Digest served from the cache (no model call).", _FRACTION["rendering"])
    else:
        estimate = plan.estimate_seconds(record, paper, settings, languages)
        size = f"{paper.pages} pages" if paper.pages else "the paper"
        yield PipelineEvent("extracting", f"Read {size}; the digest will take {plan.describe_estimate(*estimate)} "
                            f"with {plan.model_choice(settings).describe()}", _FRACTION["summarising"],
                            estimate=estimate)
        backend = backends.get_backend(settings)
        names = " and ".join(LANGUAGES.get(lang, lang) for lang in languages)
        yield PipelineEvent("summarising", f"Writing the {names} digest with {backend.model or backend.id}…",
                            _FRACTION["summarising"])
        digested = yield from _relayed(lambda on_event: digest(record, paper, settings, backend, languages=languages,
                                                               cancel=cancel, on_event=on_event), cancel)
    yield PipelineEvent("rendering", "Writing the Markdown and the zip…", _FRACTION["rendering"])
    result = write_files(record, paper, digested, settings, out_dir, images)
    yield PipelineEvent("done", f"Done: {result.markdown_path.name}", 1.0, result=result)


def load_record(source: Source, settings: Settings, progress: Progress | None = None) -> Record:
    """The record of a paper: arXiv metadata (PDF downloaded into the cache), or a local PDF's own facts."""
    record, path = fetch(source, settings, progress)
    if record is not None:
        return record
    (progress or (lambda m: None))(f"reading {path}")
    return extract(None, path, settings)[0]


def digest_key(record: Record, settings: Settings, languages: list[str]) -> str:
    """The digest cache key: paper (arXiv id+version, else the PDF's SHA-256), backend, model, context, languages,
    prompt version and how Chinese is written. Never an API key."""
    paper_id = record.versioned_id or _sha256(record.pdf_path)
    model = settings.model or settings.model_path or "default"
    base_url = settings.openai_base_url if backends.default_backend_name(settings) == "openai" else ""
    return Cache.key(paper_id, backends.default_backend_name(settings), model, base_url, settings.context_tokens,
                     sorted(languages), prompt_version(), writer.WRITER_VERSION)


def incomplete(digests: dict[str, Digest], languages: list[str], backend_warnings: list[str]) -> list[str]:
    """Why a digest is not complete, or [] when it is: the one rule for what the digest cache may keep.

    Complete means every requested language is there, none lacks a part (``Digest.missing``) or had one cut at a
    length bound (``Digest.truncated``), and the backend warned of nothing while
    writing (a failed language, a failed call). A partial result is shown, marked, and never stored.
    """
    gaps = [f"no {LANGUAGES.get(lang, lang)} digest" for lang in languages if lang not in digests]
    for lang, d in digests.items():
        name = LANGUAGES.get(lang, lang)
        if d.missing:
            gaps.append(f"{name} lacks {', '.join(p.replace('_', ' ') for p in d.missing)}")
        if d.truncated:
            gaps.append(f"{name} was cut short in {', '.join(p.replace('_', ' ') for p in d.truncated)}")
    if backend_warnings and not gaps:
        gaps.append(f"the backend warned: {backend_warnings[0]}")
    return gaps


# ---------------------------------------------------------------------------------------------------- helpers


def _sha256(path: str | None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _stem(record: Record | None, path: Path) -> str:
    """The output files' name: the arXiv id with its version, else the PDF's file name."""
    name = (record and record.versioned_id) or path.stem
    return re.sub(r"[^\w.-]+", "_", name).strip("._") or "paper"


def _cached_digests(cache: Cache, key: str, languages: list[str]) -> dict[str, Digest] | None:
    """The cached digests for ``key``, or None; an entry that breaks the rule (stored before it) is not served."""
    entry = cache.get_json("digest", key)
    if not isinstance(entry, dict) or not isinstance(entry.get("digests"), dict):
        return None
    digests = {lang: Digest.from_dict(d) for lang, d in entry["digests"].items()}
    if incomplete(digests, languages, entry.get("warnings") or []):
        log.info("ignoring an incomplete cached digest %s", key)
        return None
    return digests


def _check(cancel: threading.Event) -> None:
    if cancel.is_set():
        raise Cancelled("Stopped: the digest was cancelled.")


def _relayed(work: Callable[[Callable[[DigestProgress], None]], Digested],
             cancel: threading.Event) -> Generator[PipelineEvent, None, Digested]:
    """Run ``work(on_event)`` on a worker thread, yielding its progress as events; returns what it returned."""
    events: queue.Queue = queue.Queue()

    def run() -> None:
        try:
            events.put(("done", work(lambda e: events.put(("event", e)))))
        except BaseException as exc:  # handed to the consumer thread, which raises it
            events.put(("error", exc))

    worker = threading.Thread(target=run, name="digest-writer", daemon=True)
    worker.start()
    try:
        while True:
            kind, item = events.get()
            if kind == "error":
                raise item
            if kind == "done":
                return item
            yield _relay(item)
    finally:
        if worker.is_alive():  # the consumer left early (closed the generator): stop the model
            cancel.set()
            worker.join(timeout=5)


def _relay(progress: DigestProgress) -> PipelineEvent:
    fraction = _FRACTION["summarising"] + _WRITING_SPAN * progress.fraction
    return PipelineEvent(progress.stage, progress.message, round(fraction, 3), language=progress.language,
                         text=progress.text, warning=progress.warning, tokens=progress.tokens,
                         max_tokens=progress.max_tokens)


def _digest_warnings(digests: dict[str, Digest]) -> list[str]:
    """What users must know about the digests: missing parts and numbers not found in the paper."""
    out = []
    for lang, d in digests.items():
        name = LANGUAGES.get(lang, lang)
        if d.missing:
            out.append(f"The {name} digest lacks: {', '.join(p.replace('_', ' ') for p in d.missing)} "
                       "(the model gave none, even when asked again).")
        if d.flagged_numbers:
            out.append(f"The {name} digest has {len(d.flagged_numbers)} number(s) not found in the paper, marked ⚠: "
                       f"{', '.join(d.flagged_numbers)}.")
    return out


def _meta(settings: Settings) -> dict:
    """How the digest was made, for the front matter."""
    backend = backends.default_backend_name(settings)
    model = settings.model or settings.model_path
    if backend == "local":
        model = model_file_name(settings)
    return {"backend": backend, "model": model or "the server's default", "prompt_version": prompt_version()}


def digest_to_markdown(source: Source, settings: Settings, out: str | None = None, embed_images: bool = False,
                       progress: Progress | None = None,
                       on_event: Callable[[PipelineEvent], None] | None = None) -> str:
    """Digest one paper and return its Markdown (bilingual, or the one language asked for).

    With ``out`` the file is written there, its figures in a folder beside it (or embedded with ``embed_images``);
    progress lines go to ``progress``, and every event (tokens written included) to ``on_event``.
    """
    progress = progress or (lambda m: None)
    out_path = Path(out).expanduser() if out else None
    work_dir = out_path.parent if out_path else Path(tempfile.mkdtemp(prefix="chatpaper-"))
    result, last = None, ""
    for event in digest_events(source, settings, out_dir=work_dir):
        if on_event is not None:
            on_event(event)
        if event.warning:
            progress(f"warning: {event.warning}")
        elif event.message != last:
            progress(event.message)
        last = event.message
        result = event.result or result
    for warning in result.warnings:
        progress(f"warning: {warning}")
    language = "bilingual" if len(result.digests) > 1 else next(iter(result.digests))
    if embed_images or out_path is None:
        # One self-contained file (or stdout, where relative image links would point nowhere).
        markdown = render_markdown(result.record, result.paper, result.digests, language=language,
                                   embed_images=embed_images, meta=_meta(settings))
    else:
        markdown = result.markdown[language]
    if out_path is not None:
        out_path.write_text(markdown, encoding="utf-8")
    return markdown


__all__ = ["DigestResult", "Digested", "PipelineEvent", "digest", "digest_events", "digest_key", "digest_languages",
           "digest_to_markdown", "extract", "fetch", "fetch_pdf", "incomplete", "load_record", "record_from_paper", "write_files"]
