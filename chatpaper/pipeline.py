"""The pipeline: source -> record and PDF -> extraction -> digests -> Markdown, for the app, the CLI and the daily job.

``digest_events`` is the one generator the app consumes (see "Pipeline events" in the contracts); the CLI's
``digest_to_markdown`` and ``load_record`` are thin wrappers over the same stages. A repeat of the same paper with
the same backend, model, languages and prompt version is served from the digest cache without a model call.
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
from typing import Callable, Iterator

from chatpaper import backends, pdf, plan, writer
from chatpaper.arxiv_source import fetch_record_and_pdf
from chatpaper.backends.local import BUNDLED_NAME
from chatpaper.bibtex import bibtex_entry
from chatpaper.cache import Cache
from chatpaper.digest import Digest, DigestProgress
from chatpaper.errors import Cancelled, InvalidSource
from chatpaper.paper import Paper, Record
from chatpaper.prompts import prompt_version
from chatpaper.render import render_markdown
from chatpaper.settings import Settings

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
# Overall progress: where each stage starts (the model's writing takes most of the time).
_FRACTION = {"fetching": 0.0, "extracting": 0.05, "summarising": 0.12, "rendering": 0.94, "done": 1.0}
_WRITING_SPAN = 0.94 - 0.12
_NAMES = {"en": "English", "zh": "Chinese"}


@dataclass
class DigestResult:
    """Everything one digest run produced."""

    record: Record  #: the paper's facts (arXiv metadata, or the PDF's own for an upload)
    paper: Paper  #: what the extractor read from the PDF
    digests: dict[str, Digest]  #: by language, only those that succeeded
    markdown: dict[str, str]  #: "en", "zh", "bilingual" (relative image links)
    markdown_path: Path  #: bilingual .md written in out_dir, figures in out_dir/<images>/
    zip_path: Path  #: the .md and its figures
    bib_path: Path | None = None  #: the paper's BibTeX entry (.bib) beside the .md
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


def _local_pdf(source: str) -> Path | None:
    """The path when ``source`` names a local file (or looks like a PDF path), else None (an arXiv id or link)."""
    path = Path(source).expanduser()
    if path.is_file():
        return path
    if source.lower().endswith(".pdf") and not re.match(r"https?://", source, re.I):
        raise InvalidSource(f"No such file: {source}. Give an existing PDF path, or an arXiv id or link.")
    return None


def record_from_paper(paper: Paper, path: str | Path) -> Record:
    """A Record for an uploaded or local PDF, from the PDF's own facts (same keys as an arXiv record)."""
    return Record(title=paper.title or Path(path).stem, authors=list(paper.authors), abstract=paper.abstract,
                  pdf_path=str(path))


def load_record(source: str, settings: Settings, progress: Progress | None = None) -> Record:
    """The record of a paper: arXiv metadata (PDF downloaded into the cache), or a local PDF's own facts."""
    record, path = _fetch(source, None, settings, progress)
    if record.id:
        return record
    (progress or (lambda m: None))(f"reading {path}")
    return _extract(record, path, settings, None)[0]


def prepare(source: str | None, pdf_path: str | None, settings: Settings, progress: Progress | None = None,
            images_dir: Path | None = None) -> tuple[Record, Paper]:
    """Fetch (arXiv) or accept (upload) a paper and extract it: the record and the paper, ready to digest."""
    record, path = _fetch(source, pdf_path, settings, progress)
    (progress or (lambda m: None))(f"extracting {path.name}")
    return _extract(record, path, settings, images_dir)


def fetch(source: str | None, pdf_path: str | None, settings: Settings,
          progress: Progress | None = None) -> tuple[Record, Path]:
    """The first stage alone: the record and the local PDF (arXiv downloads into the cache), not yet read."""
    return _fetch(source, pdf_path, settings, progress)


def extract(record: Record, path: Path, settings: Settings, images_dir: Path | None = None) -> tuple[Record, Paper]:
    """The second stage alone: read the PDF; an upload's placeholder record becomes the PDF's own facts."""
    return _extract(record, path, settings, images_dir)


def digest_key(record: Record, settings: Settings, languages: list[str]) -> str:
    """The digest cache key: paper (arXiv id+version, else the PDF's SHA-256), backend, model, context, languages,
    prompt version and how Chinese is written. Never an API key."""
    paper_id = record.versioned_id or _sha256(record.pdf_path)
    model = settings.model or settings.model_path or "default"
    base_url = settings.openai_base_url if backends.default_backend_name(settings) == "openai" else ""
    return Cache.key(paper_id, backends.default_backend_name(settings), model, base_url, settings.context_tokens,
                     sorted(languages), prompt_version(), writer.WRITER_VERSION)


def _sha256(path: str | None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _stem(record: Record) -> str:
    name = record.versioned_id or Path(record.pdf_path or "paper").stem
    return re.sub(r"[^\w.-]+", "_", name).strip("._") or "paper"


def digest_events(source: str | None, pdf_path: str | None, settings: Settings, *,
                  cancel: threading.Event | None = None, out_dir: Path | None = None) -> Iterator[PipelineEvent]:
    """Digest one paper, yielding progress (with the streamed text) and finally a "done" event with the result.

    Raises ChatPaperError subclasses: a bad source, a bad PDF, or a backend failure before any language succeeded.
    """
    cancel = cancel or threading.Event()
    languages = [lang for lang in settings.language_list if lang in ("en", "zh")] or ["en"]
    out_dir = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="chatpaper-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    what = (pdf_path and Path(pdf_path).name) or source or ""
    yield PipelineEvent("fetching", f"Getting {what}…", _FRACTION["fetching"])
    record, path = _fetch(source, pdf_path, settings)
    _check(cancel)
    yield PipelineEvent("extracting", f"Reading the PDF of {record.title or path.name}…", _FRACTION["extracting"])
    images = out_dir / f"{_stem(record)}_images"
    record, paper = _extract(record, path, settings, images)
    _check(cancel)
    warnings = list(paper.warnings)
    cache = Cache(settings.cache_path)
    key = digest_key(record, settings, languages)
    cached = _cached_digests(cache, key, languages)
    if cached:
        digests = cached
        yield PipelineEvent("summarising", "Digest served from the cache (no model call).", _FRACTION["rendering"])
    else:
        estimate = plan.estimate_seconds(record, paper, settings, languages)
        size = f"{paper.pages} pages" if paper.pages else "the paper"
        yield PipelineEvent("extracting", f"Read {size}; the digest will take {plan.describe_estimate(*estimate)} "
                            f"with {plan.model_choice(settings).describe()}", _FRACTION["summarising"],
                            estimate=estimate)
        digests, written_warnings = {}, []
        started = time.monotonic()
        yield from _write(record, paper, settings, languages, cancel, digests, written_warnings)
        plan.learn(settings, sum(d.prompt_tokens for d in digests.values()),
                   sum(d.completion_tokens for d in digests.values()), time.monotonic() - started)
        warnings += written_warnings
        gaps = incomplete(digests, languages, written_warnings)
        if gaps:
            # Shown, marked, but never served to the next visitor: a run after the backend recovers asks again.
            warnings.append(f"This digest is incomplete ({'; '.join(gaps)}); it was not cached, so the next run "
                            "asks the model again.")
        else:
            cache.put_json("digest", key, {"digests": {k: d.to_dict() for k, d in digests.items()}, "warnings": []})
    warnings += _digest_warnings(digests)
    yield PipelineEvent("rendering", "Writing the Markdown and the zip…", _FRACTION["rendering"])
    result = _render_files(record, paper, digests, settings, out_dir, images, warnings, cached=bool(cached))
    yield PipelineEvent("done", f"Done: {result.markdown_path.name}", 1.0, result=result)


def incomplete(digests: dict[str, Digest], languages: list[str], backend_warnings: list[str]) -> list[str]:
    """Why a digest is not complete, or [] when it is: the one rule for what the digest cache may keep.

    Complete means every requested language is there, none lacks a part (``Digest.missing``) or had one cut at a
    length bound (``Digest.truncated``), and the backend warned of nothing while
    writing (a failed language, a failed call). A partial result is shown, marked, and never stored.
    """
    gaps = [f"no {_NAMES.get(lang, lang)} digest" for lang in languages if lang not in digests]
    for lang, d in digests.items():
        name = _NAMES.get(lang, lang)
        if d.missing:
            gaps.append(f"{name} lacks {', '.join(p.replace('_', ' ') for p in d.missing)}")
        if d.truncated:
            gaps.append(f"{name} was cut short in {', '.join(p.replace('_', ' ') for p in d.truncated)}")
    if backend_warnings and not gaps:
        gaps.append(f"the backend warned: {backend_warnings[0]}")
    return gaps


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


def _fetch(source: str | None, pdf_path: str | None, settings: Settings,
           progress: Progress | None = None) -> tuple[Record, Path]:
    """The record (arXiv, or a placeholder filled after extraction) and the local PDF."""
    if pdf_path:
        return Record(title="", authors=[], pdf_path=str(pdf_path)), Path(pdf_path)
    if not source or not source.strip():
        raise InvalidSource("Nothing to digest: give an arXiv id or link, or a PDF.")
    path = _local_pdf(source.strip())
    if path is not None:
        return Record(title="", authors=[], pdf_path=str(path)), path
    record = fetch_record_and_pdf(source.strip(), settings, progress)
    return record, Path(record.pdf_path)


def _extract(record: Record, path: Path, settings: Settings, images_dir: Path | None) -> tuple[Record, Paper]:
    """Extract the PDF; an upload's placeholder record is replaced by one made from the PDF's own facts."""
    paper = pdf.extract_paper(path, images_dir=images_dir, settings=settings)
    return (record if record.id else record_from_paper(paper, path)), paper


def _check(cancel: threading.Event) -> None:
    if cancel.is_set():
        raise Cancelled("Stopped: the digest was cancelled.")


def _write(record: Record, paper: Paper, settings: Settings, languages: list[str], cancel: threading.Event,
           digests: dict, warnings: list) -> Iterator[PipelineEvent]:
    """Run ``write_digests`` on a worker thread and relay its progress as events (filling ``digests``)."""
    backend = backends.get_backend(settings)
    names = " and ".join(_NAMES.get(lang, lang) for lang in languages)
    yield PipelineEvent("summarising", f"Writing the {names} digest with {backend.model or backend.id}…",
                        _FRACTION["summarising"])
    events: queue.Queue = queue.Queue()

    def work() -> None:
        try:
            events.put(("done", writer.write_digests(record, paper, backend, languages,
                                                         on_event=lambda e: events.put(("event", e)), cancel=cancel)))
        except BaseException as exc:  # handed to the consumer thread, which raises it
            events.put(("error", exc))

    worker = threading.Thread(target=work, name="digest-writer", daemon=True)
    worker.start()
    try:
        while True:
            kind, item = events.get()
            if kind == "error":
                raise item
            if kind == "done":
                digests.update(item)
                return
            yield _relay(item)
            if item.warning:
                warnings.append(item.warning)
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
        name = _NAMES.get(lang, lang)
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
    if not model and backend == "local":
        model = BUNDLED_NAME
    return {"backend": backend, "model": model or "the server's default", "prompt_version": prompt_version()}


def _render_files(record: Record, paper: Paper, digests: dict[str, Digest], settings: Settings, out_dir: Path,
                  images: Path, warnings: list[str], *, cached: bool) -> DigestResult:
    """Markdown per language and bilingual, the bilingual .md on disk, and a zip of the .md files and figures."""
    meta = _meta(settings)
    rel = images.name
    markdown = {lang: render_markdown(record, paper, digests, language=lang, images_rel_dir=rel, meta=meta)
                for lang in digests}
    markdown["bilingual"] = render_markdown(record, paper, digests, images_rel_dir=rel, meta=meta)
    stem = _stem(record)
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
    return DigestResult(record=record, paper=paper, digests=digests, markdown=markdown, markdown_path=md_path,
                        zip_path=zip_path, bib_path=bib_path, warnings=warnings, cached=cached)


def digest_to_markdown(source: str, settings: Settings, out: str | None = None, embed_images: bool = False,
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
    for event in digest_events(source, None, settings, out_dir=work_dir):
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


__all__ = ["DigestResult", "PipelineEvent", "digest_events", "digest_key", "digest_to_markdown", "extract", "fetch",
           "incomplete", "load_record", "prepare", "record_from_paper"]
