"""The daily topic digest: an arXiv query becomes one Hexo blog post of the newest papers, digested.

``search_topic`` finds the papers of a date window, ``write_post`` digests them (bounded concurrency, one failure
never sinks the others) and writes ``DIR/<date>/<Topic>.md`` with figures beside it, and ``run_daily`` is the CLI's
``daily`` command. Facts in the post (title, authors, abstract, links, comment, dates) are copied from the arXiv
record; only Summary, Key Takeaways and the numbered block come from the model. Papers already posted in ``DIR``
are remembered in ``DIR/.chatpaper-posted.json`` and skipped the next time; ``DIR/<Topic>.atom.xml`` is the topic's
Atom feed of its newest posts (``chatpaper.feed``), rebuilt on every run.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shutil
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from filelock import FileLock

from chatpaper import arxiv_source, backends, pipeline, plan
from chatpaper.backends import Backend
from chatpaper.cache import write_atomic
from chatpaper.digest import Digest
from chatpaper.errors import Cancelled, ChatPaperError
from chatpaper.feed import build_feed, feed_path
from chatpaper.paper import Paper, Record
from chatpaper.render import escape, post_facts, render_paper_block, yaml_value
from chatpaper.settings import Settings

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

STATE_FILE = ".chatpaper-posted.json"  #: in the blog folder: which papers went into which post
IMAGES_DIR = "images"  #: beside the post: images/<paper id>/<file>.png
_FIELD_PREFIX = re.compile(r"^(ti|au|abs|co|jr|cat|rn|id|all):", re.IGNORECASE)
_UNSAFE_NAME = re.compile(r'[\\/:*?"<>|\s]+')


@dataclass
class PostEntry:
    """One paper of the post: its record, and what digesting it produced (or why it failed)."""

    record: Record  #: the arXiv record: every fact in the post comes from here
    paper: Paper | None = None  #: what the extractor read (None when the paper failed before extraction)
    digests: dict[str, Digest] = field(default_factory=dict)  #: by language, only those that succeeded
    images: list[str] = field(default_factory=list)  #: image paths relative to the post, first page first
    warnings: list[str] = field(default_factory=list)  #: non-fatal problems, shown under the paper
    error: str = ""  #: why this paper has no digest (empty when it has one)
    cached: bool = False  #: the digests came from the cache (a rerun), no model call


def search_topic(query: str, settings: Settings, *, categories: list[str] | None = None,
                 date: str | dt.date | None = None, days: int = 7, max_results: int = 30) -> list[Record]:
    """The papers matching ``query`` first published in the ``days`` days ending on ``date``, newest first.

    Raises ChatPaperError for a bad date or window, NetworkError when arXiv cannot be reached.
    """
    end = parse_date(date)
    if days < 1:
        raise ChatPaperError(f"--days {days} must be at least 1: the window ends on --date and goes back that far.")
    # The client asks arXiv for the window (submittedDate) and checks window, categories and order again itself.
    with arxiv_source.ArxivClient(settings) as client:
        return client.search(query, categories=categories or None, start_date=end - dt.timedelta(days=days - 1),
                             end_date=end, max_results=max_results)


def write_post(records: list[Record], settings: Settings, *, out_dir: str | os.PathLike, topic: str,
               date: str | dt.date | None = None, progress: Progress | None = None,
               cancel: threading.Event | None = None) -> Path:
    """Digest the records not posted before and write ``out_dir/<date>/<topic>.md``; returns its path.

    Papers already posted in another post of ``out_dir`` are skipped; a paper that fails is noted in the post and
    left unposted, so the next run tries it again. Raises Cancelled when ``cancel`` is set (nothing written; the
    digests finished so far are cached, so a rerun resumes).
    """
    progress = progress or (lambda message: None)
    day = parse_date(date)
    root = Path(out_dir)
    post_dir = root / day.isoformat()
    post_path = post_dir / f"{topic_file_name(topic)}.md"
    post_rel = post_path.relative_to(root).as_posix()

    posted = load_posted(root)
    todo = [r for r in records if _paper_key(r) not in posted or posted[_paper_key(r)].get("post") == post_rel]
    skipped = len(records) - len(todo)
    if skipped:
        progress(f"skipping {skipped} paper(s) already posted in {root}")

    backend = backends.get_backend(settings)
    entries = _digest_all(todo, settings, backend, post_dir, progress, cancel)
    if cancel is not None and cancel.is_set():
        raise Cancelled("Stopped: the daily post was cancelled; digests finished so far are cached.")

    markdown = render_post(entries, topic=topic, day=day, now=_now(), author=settings.blog_author or "chatpaper",
                           model_note=_model_note(backend), languages=settings.language_list)
    write_atomic(post_path, markdown.encode("utf-8"))
    done = [e.record for e in entries if not e.error]
    mark_posted(root, done, post_rel)
    feed = write_feed(root, topic, author=settings.blog_author or "chatpaper")
    failed = len(entries) - len(done)
    progress(f"wrote {post_path} and {feed.name}: {len(done)} paper(s) digested" + (f", {failed} failed" if failed else ""))
    return post_path


def run_daily(query: str, category: list[str] | str | None, date: str | None, days: int, max_results: int,
              out_dir: str | os.PathLike, topic: str | None, settings: Settings,
              progress: Progress | None = None) -> Path:
    """The ``daily`` command: search the window, then digest and write the post; returns the post's path."""
    progress = progress or (lambda message: None)
    categories = [category] if isinstance(category, str) else list(category or [])
    day = parse_date(date)
    topic = topic or topic_from_query(query)
    progress(f"searching arXiv for {query!r} from {day - dt.timedelta(days=max(days, 1) - 1)} to {day} ...")
    records = search_topic(query, settings, categories=categories, date=day, days=days, max_results=max_results)
    progress(f"found {len(records)} paper(s)")
    return write_post(records, settings, out_dir=out_dir, topic=topic, date=day, progress=progress)


# ---------------------------------------------------------------------------------------------------- digesting


def _digest_all(records: list[Record], settings: Settings, backend, post_dir: Path, progress: Progress,
                cancel: threading.Event | None) -> list[PostEntry]:
    """Digest every record, a few at a time; the entries come back in the records' order (newest first)."""
    total = len(records)
    lock = threading.Lock()  # progress lines from worker threads must not interleave

    def one(numbered: tuple[int, Record]) -> PostEntry:
        n, record = numbered
        if cancel is not None and cancel.is_set():
            return PostEntry(record, error="cancelled")
        with lock:
            progress(f"[{n}/{total}] digesting {record.versioned_id} ...")
        entry = _digest_one(record, settings, backend, post_dir, cancel)
        if entry.error:
            log.warning("daily: %s failed: %s", record.versioned_id, entry.error)
        done = f"failed: {entry.error}" if entry.error else "done" + (" (from the cache)" if entry.cached else "")
        with lock:
            progress(f"[{n}/{total}] {record.versioned_id} {done}")
        return entry

    workers = plan.digests_at_once(backend.max_parallel, settings.max_concurrency)
    if workers == 1 or total <= 1:
        return [one(item) for item in enumerate(records, 1)]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="daily") as pool:
        return list(pool.map(one, enumerate(records, 1)))


def _digest_one(record: Record, settings: Settings, backend: Backend, post_dir: Path,
                cancel: threading.Event | None) -> PostEntry:
    """One paper through the pipeline's stages: its PDF, read, digested (the cache first) by the job's backend; the
    first page and figures copied beside the post. Any ChatPaperError becomes the entry's error."""
    entry = PostEntry(record)
    try:
        pdf_path = pipeline.fetch_pdf(record, settings)
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled")
        with tempfile.TemporaryDirectory(prefix="chatpaper-daily-") as images:
            # Figures are read into a scratch folder: only the first page and the figures go beside the post.
            record, entry.paper = pipeline.extract(record, pdf_path, settings, Path(images))
            digested = pipeline.digest(record, entry.paper, settings, backend, cancel=cancel)
            entry.digests, entry.cached = dict(digested.digests), digested.cached
            # Extraction notes are for developers (logged by the extractor); the rest concerns readers.
            entry.warnings = list(dict.fromkeys(digested.warnings))
            entry.images = _copy_images(entry.paper, post_dir, record)
    except Cancelled:
        entry.error = "cancelled"
    except ChatPaperError as exc:
        entry.error = str(exc)
    except Exception as exc:  # a bug on one paper must not sink a batch of thirty: noted, logged with traceback
        log.exception("daily: unexpected failure on %s", record.versioned_id)
        entry.error = f"unexpected {type(exc).__name__} (see the log): {exc}"
    return entry


def _copy_images(paper: Paper, post_dir: Path, record: Record) -> list[str]:
    """Copy the first page and the figure crops beside the post; their paths relative to the post, in order."""
    sources = [paper.first_page_image, *(f.image for f in paper.figures)]
    folder_rel = f"{IMAGES_DIR}/{_safe_id(record)}"
    folder = post_dir / folder_rel
    out: list[str] = []
    for src in sources:
        if not src or not Path(src).is_file():
            continue
        name = Path(src).name
        if f"{folder_rel}/{name}" in out:
            name = f"{len(out)}-{name}"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, folder / name)
        out.append(f"{folder_rel}/{name}")
    return out


def _safe_id(record: Record) -> str:
    """A folder name for a paper: old-style ids carry a slash (astro-ph/0601001v1)."""
    return (record.versioned_id or topic_file_name(record.title)[:60]).replace("/", "_")


# ---------------------------------------------------------------------------------------------------- rendering


def _now() -> dt.datetime:
    """The time of writing, for the front matter's date (a test pins it)."""
    return dt.datetime.now(dt.timezone.utc)


def _model_note(backend) -> str:
    """The backend and model that really wrote the digests, for the disclaimer (a model file by its name only)."""
    model = str(getattr(backend, "model", "") or "default")
    if os.sep in model or model.endswith(".gguf"):
        model = Path(model).name  # a local path says nothing to readers and would leak the machine's folders
    return f"{getattr(backend, 'id', '') or 'unknown'} backend, model {model}"


def render_front_matter(entries: list[PostEntry], *, topic: str, day: dt.date, now: dt.datetime, author: str) -> str:
    """Hexo front matter in the seed's shape: cover is the first digested paper's first page, never hot-linked."""
    first = entries[0].record.title if entries else ""
    cover = next((e.images[0] for e in entries if e.images), "")
    description = f"{topic} 方向最新论文已更新，请持续关注 Update in {day.isoformat()} {first}".rstrip()
    lines = [
        "---",
        f"title: {yaml_value(topic)}",
        f"date: {day.isoformat()} {now.strftime('%H:%M:%S')}",
        f"author: {yaml_value(author)}",
        f"cover: {yaml_value(cover)}" if cover else "cover:",
        "categories: Paper",
        "tags:",
        f"    - {yaml_value(topic)}",
        f"description: {yaml_value(description)}",
        f"keywords: {yaml_value(topic)}",
        "toc:",
        "toc_number: false",
        "toc_style_simple: true",
        "copyright:",
        "copyright_author:",
        "copyright_author_href:",
        "copyright_url:",
        "copyright_info:",
        "mathjax: true",
        "katex:",
        "aplayer:",
        "highlight_shrink:",
        "aside:",
        "---",
    ]
    return "\n".join(lines) + "\n"


def post_body(text: str) -> str:
    """A post without the front matter ``render_front_matter`` put on top (for a page: it is for Hexo)."""
    if text.startswith("---\n") and "\n---\n" in text[3:]:
        return text[3:].split("\n---\n", 1)[1]
    return text


def render_entry(entry: PostEntry, languages: list[str]) -> str:
    """One paper: facts from the record, then the digest block per language, then its figures."""
    r = entry.record
    parts = [post_facts(r)]
    if entry.error:
        parts.append(f"> ⚠️ 这篇论文的摘要生成失败 / the digest of this paper failed: {escape(entry.error)}")
    for lang in [lang for lang in languages if lang in entry.digests] or list(entry.digests):
        # The record's authors and comment are shown above already: the shared block starts at its Summary.
        block = render_paper_block(r, entry.paper, entry.digests[lang], heading_level=0, facts=False)
        parts.append(block.strip())
    parts += [f"> ⚠️ {escape(warning)}" for warning in entry.warnings]
    if entry.images:
        imgs = "\n".join(f'<img src="{src}" align="middle">' for src in entry.images)
        parts.append(f"<details>\n  <summary>点此查看论文截图</summary>\n{imgs}\n</details>")
    return "\n\n".join(parts) + "\n"


def render_post(entries: list[PostEntry], *, topic: str, day: dt.date, now: dt.datetime, author: str,
                model_note: str, languages: list[str]) -> str:
    """The whole post: front matter, disclaimer naming the backend and model used, then one block per paper."""
    failed = [e for e in entries if e.error]
    head = [
        render_front_matter(entries, topic=topic, day=day, now=now, author=author),
        f">⚠️ 以下所有内容总结都由大语言模型生成（{model_note}），如有错误，仅供参考，谨慎使用\n"
        f">⚠️ Summaries below were written by a language model ({model_note}); titles, authors, abstracts and "
        "links are copied from arXiv.\n"
        ">🔴 请注意：千万不要用于严肃的学术场景，只能用于论文阅读前的初筛！",
        f"# {day.isoformat()} 更新",
    ]
    if not entries:
        head.append("今天没有新论文 / no new papers in this window.")
    if failed:
        ids = ", ".join(e.record.versioned_id or e.record.title for e in failed)
        head.append(f"> ⚠️ {len(failed)} 篇论文的摘要生成失败，将在下次运行时重试 / "
                    f"{len(failed)} paper(s) could not be digested and will be retried next run: {ids}")
    return "\n\n".join(head) + "\n\n" + "\n\n".join(render_entry(e, languages) for e in entries)


# ---------------------------------------------------------------------------------------------------- helpers


def parse_date(value: str | dt.date | None, name: str = "--date") -> dt.date:
    """The post's day from ``YYYY-MM-DD`` (or a date, ``arxiv_source.parse_date``); None or "" means today in UTC,
    the calendar arXiv announces by. Raises InvalidSource, naming ``name``, for anything else."""
    return arxiv_source.parse_date(value, name) or dt.datetime.now(dt.timezone.utc).date()


def topic_from_query(query: str) -> str:
    """A topic name from the query's first term: 'ti:NeRF OR abs:"..."' gives 'NeRF'."""
    match = re.search(r'(?:\w+:)?(?:"[^"]+"|[^\s()"]+)', query.strip())
    term = _FIELD_PREFIX.sub("", match.group(0) if match else "").strip('"').strip()
    return term if term and term.upper() not in ("AND", "OR", "ANDNOT") else "arXiv"


def topic_file_name(topic: str) -> str:
    """The post's file name stem: the topic with path separators and blanks made safe."""
    name = _UNSAFE_NAME.sub("-", topic.strip()).strip("-.")
    if not name:
        raise ChatPaperError(f"--topic {topic!r} gives no usable file name: use letters or digits.")
    return name


def load_posted(out_dir: str | os.PathLike) -> dict[str, dict]:
    """What ``out_dir`` has posted: arXiv id (no version) -> {"version", "post", "title", "posted_at"}."""
    path = Path(out_dir) / STATE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        message = f"{path} is unreadable ({exc}): fix or delete it (deleting it re-posts old papers)."
        raise ChatPaperError(message) from None
    return dict(data.get("papers", {}))


def mark_posted(out_dir: str | os.PathLike, records: list[Record], post: str) -> None:
    """Remember ``records`` as posted in ``post`` (a path relative to ``out_dir``); atomic and process-safe."""
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    # Two daily jobs (two topics) may share one blog folder: the lock makes read-modify-write safe between them.
    with FileLock(str(root / f"{STATE_FILE}.lock"), timeout=60):
        papers = load_posted(root)
        for r in records:
            papers[_paper_key(r)] = {"version": r.version, "post": post, "title": r.title, "posted_at": stamp}
        blob = json.dumps({"papers": papers}, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
        write_atomic(root / STATE_FILE, blob.encode("utf-8"))


def write_feed(out_dir: str | os.PathLike, topic: str, author: str = "chatpaper") -> Path:
    """Rebuild the topic's Atom feed ``DIR/<Topic>.atom.xml`` from what ``DIR`` has posted; returns its path."""
    root, stem = Path(out_dir), topic_file_name(topic)
    with FileLock(str(root / f"{STATE_FILE}.lock"), timeout=60):
        data = build_feed(load_posted(root), topic=topic, file_stem=stem, now=_now(), author=author)
        path = feed_path(root, stem)
        write_atomic(path, data)
    return path


def _paper_key(record: Record) -> str:
    """A paper's identity across versions: a v2 of a paper posted as v1 is not new."""
    return record.id or record.title

