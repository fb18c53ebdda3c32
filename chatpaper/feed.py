"""An Atom feed per topic beside the daily posts: ``DIR/<Topic>.atom.xml``, the newest posts first.

Feed readers (and tools in the daily-arXiv / zotero-arxiv-daily family) follow a topic through it. The feed is
rebuilt from the blog folder's record of what was posted (``.chatpaper-posted.json``) on every run, so it always
lists the same posts as the folder holds. Each entry is one post: its ``alternate`` link is the post (relative to
the feed, which RFC 4287 resolves against the feed's own address), and one ``related`` link per paper points at the
paper's arXiv abstract page. Format: RFC 4287 (https://www.rfc-editor.org/rfc/rfc4287).
"""
from __future__ import annotations

import datetime as dt
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

ATOM_NS = "http://www.w3.org/2005/Atom"
MAX_POSTS = 20  #: posts in the feed, newest first
_ID_NAMESPACE = uuid.UUID("6f1c3e4a-5b0d-4c1e-9a57-2f0c9d7e8b11")  # stable urn:uuid ids across runs


def feed_path(root: Path, file_stem: str) -> Path:
    """Where the topic's feed lives: ``DIR/<Topic>.atom.xml``."""
    return Path(root) / f"{file_stem}.atom.xml"


def build_feed(posted: dict[str, dict], *, topic: str, file_stem: str, now: dt.datetime, author: str) -> bytes:
    """The Atom document for one topic from the posted-papers state (paper key -> its post, title, version, time).

    Only the posts of this topic (``<date>/<Topic>.md``) are listed, newest first, at most ``MAX_POSTS``.
    """
    posts: dict[str, list[tuple[str, dict]]] = {}
    for key, info in posted.items():
        post = str(info.get("post") or "")
        if Path(post).name == f"{file_stem}.md":
            posts.setdefault(post, []).append((key, info))
    newest = sorted(posts, key=lambda p: (Path(p).parent.name, _updated(posts[p], now)), reverse=True)[:MAX_POSTS]

    ET.register_namespace("", ATOM_NS)
    feed = ET.Element(_q("feed"))
    _text(feed, "id", _urn(f"feed:{file_stem}"))
    _text(feed, "title", f"{topic}: new arXiv papers")
    _text(feed, "updated", _stamp(max((_updated(posts[p], now) for p in newest), default=now)))
    ET.SubElement(feed, _q("link"), rel="self", href=feed_path(Path("."), file_stem).name,
                  type="application/atom+xml")
    ET.SubElement(_text(feed, "author"), _q("name")).text = author
    _text(feed, "generator", "chatpaper")
    for post in newest:
        _entry(feed, post, sorted(posts[post], key=lambda item: item[1].get("title", "")), topic, now)
    ET.indent(feed)
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True) + b"\n"


def _entry(feed: ET.Element, post: str, papers: list[tuple[str, dict]], topic: str, now: dt.datetime) -> None:
    day = Path(post).parent.name
    entry = ET.SubElement(feed, _q("entry"))
    _text(entry, "id", _urn(f"post:{post}"))
    _text(entry, "title", f"{topic} {day}: {len(papers)} paper(s)")
    _text(entry, "updated", _stamp(_updated(papers, now)))
    ET.SubElement(entry, _q("link"), rel="alternate", href=post, type="text/markdown")
    items = []
    for key, info in papers:
        url = _abs_url(key, info)
        title = info.get("title") or key
        if url:
            ET.SubElement(entry, _q("link"), rel="related", href=url, title=title)
        items.append((title, url))
    _text(entry, "summary", "; ".join(title for title, _ in items))
    # Atom's type="xhtml" content: the XHTML is built as elements, so titles are escaped by the serializer.
    content = ET.SubElement(entry, _q("content"), type="xhtml")
    div = ET.SubElement(content, "{http://www.w3.org/1999/xhtml}div")
    listing = ET.SubElement(div, "{http://www.w3.org/1999/xhtml}ul")
    for title, url in items:
        item = ET.SubElement(listing, "{http://www.w3.org/1999/xhtml}li")
        if url:
            ET.SubElement(item, "{http://www.w3.org/1999/xhtml}a", href=url).text = title
        else:
            item.text = title


def _abs_url(key: str, info: dict) -> str:
    """The arXiv abstract page of a posted paper (key is its arXiv id; empty for a paper known only by title)."""
    if " " in key or not any(ch.isdigit() for ch in key):
        return ""
    version = info.get("version")
    return f"https://arxiv.org/abs/{key}" + (f"v{version}" if version else "")


def _updated(papers: list[tuple[str, dict]], now: dt.datetime) -> dt.datetime:
    stamps = []
    for _, info in papers:
        try:
            stamps.append(dt.datetime.fromisoformat(str(info.get("posted_at"))))
        except ValueError:
            continue
    return max(stamps, default=now)


def _stamp(when: dt.datetime) -> str:
    """An RFC 3339 date-time with its offset (Atom requires one)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.isoformat(timespec="seconds")


def _urn(name: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_ID_NAMESPACE, name)}"


def _q(tag: str) -> str:
    return f"{{{ATOM_NS}}}{tag}"


def _text(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, _q(tag))
    if text is not None:
        element.text = text
    return element
