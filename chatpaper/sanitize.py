"""What the page may show and load: Markdown from a paper, a record or a model made inert, and the page's headers.

Everything a stranger wrote (a PDF's title, an arXiv comment, a model's answer while it streams) reaches the page as
Markdown. One sanitizer serves every view, so that none of it can run script or make the browser load anything:

- ``text`` for a record's fields: HTML and Markdown both escaped (``**bold**`` in a title shows its asterisks);
- ``markdown`` for the digests (streamed and final) and the Topic post: raw HTML neutralised, images kept only when
  they come from the app's own file route for a file inside the app's output folder, every other image shown as a
  link (never loaded), links only to http(s), mailto or the page itself, reference definitions and diagram blocks
  turned into text;
- ``PageGuard``, an ASGI middleware, for the second wall: a Content-Security-Policy on every response (the browser
  loads images, scripts and styles only from the app itself) and a refusal of Gradio's file route when it is asked
  to fetch a URL (``/gradio_api/file=https://...`` makes the server fetch it: the app fetches only from arXiv and
  the model's server).
"""
from __future__ import annotations

import html
import posixpath
import re
from pathlib import Path
from urllib.parse import unquote

from chatpaper.render import escape

#: The app's own route for the files it wrote (Gradio's), as the digest views link them.
FILE_ROUTE = "gradio_api/file="
#: The page's Content-Security-Policy. Gradio's page needs inline and evaluated script and inline style; nothing is
#: loaded from another origin.
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; media-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
       "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'")

# ![alt](target) or ![alt](target "title"), the only image form kept; any other "![" is broken up.
_IMAGE = re.compile(r"!\[(?:([^\[\]\n]*)\]\(\s*([^()\s]+)(?:\s+\"[^\"\n]*\")?\s*\))?")
# [text](target): a link whose target has a scheme other than http(s)/mailto loses its brackets.
_LINK = re.compile(r"(?<![!\\])\[([^\[\]\n]*)\]\(\s*((?:[^()\s]|\([^()\s]*\))*)(?:\s+\"[^\"\n]*\")?\s*\)")
_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):", re.I)
# The app's own figure files: mkdtemp folders and names made of these characters only (no entity, escape or "..").
_OWN_PATH = re.compile(r"/[\w./-]+")
# [label]: target (a reference definition): reference images could load from there.
_REFERENCE = re.compile(r"^( {0,3})\[(?=[^\]\n]*\]:)", re.M)
# ```mermaid and similar diagram blocks: renderers draw them, with their own labels and links.
_DIAGRAM_FENCE = re.compile(r"^( {0,3}(?:`{3,}|~{3,})\s*)(mermaid|graphviz|dot|plantuml|svg|html)\b", re.M | re.I)


def text(value: str) -> str:
    """A record field or a label as inert Markdown: HTML as entities, Markdown syntax backslash-escaped."""
    return escape(value)


def markdown(source: str, files_root: str | Path | None = None) -> str:
    """Markdown a paper or a model wrote, safe to render: no HTML, no image but the app's own files.

    ``files_root`` is the folder the app serves its outputs from; an image is kept only when its target is
    ``gradio_api/file=<a file inside files_root>``. Any other image becomes a link (http(s)) or its alt text.
    """
    source = source or ""
    source = source.replace("<", "&lt;")  # raw HTML (tags, style attributes, comments, autolinks) stays text
    source = _REFERENCE.sub(r"\1\\[", source)
    source = _DIAGRAM_FENCE.sub(r"\1text", source)
    root = Path(files_root).resolve() if files_root else None
    source = _IMAGE.sub(lambda m: _image(m, root), source)
    return _LINK.sub(_link, source)


def _image(match: re.Match, root: Path | None) -> str:
    alt, target = match.group(1), match.group(2)
    if target is None:
        return "!\\["  # an image form we do not read (nested brackets, a reference): not an image at all
    if root is not None and own_file(target, root):
        return match.group(0)
    shown = alt.strip() or "image"
    if re.match(r"https?://", target, re.I):
        return f"[{shown}]({target})"  # shown as a link: a click, never a load
    return shown


def own_file(target: str, root: Path) -> bool:
    """True when ``target`` is the app's file route for a file inside ``root`` (no URL, no way out of it)."""
    if not target.startswith(FILE_ROUTE):
        return False
    path = target[len(FILE_ROUTE):]
    if not _OWN_PATH.fullmatch(path) or posixpath.normpath(path) != path:
        return False
    return path.startswith(str(root).rstrip("/") + "/")


def _link(match: re.Match) -> str:
    # Renderers decode entities in a link's target and browsers drop tabs and newlines from it: read it as they do.
    target = re.sub(r"[\x00-\x20]", "", html.unescape(match.group(2)))
    scheme = _SCHEME.match(target)
    if scheme is None or scheme.group(1).lower() in ("http", "https", "mailto"):
        return match.group(0)
    return "\\[" + match.group(1) + "\\]"  # javascript:, data:, file: ... : the text, not a link


class PageGuard:
    """ASGI middleware: the Content-Security-Policy on every response; Gradio's file route refused for URLs."""

    def __init__(self, app, policy: str = CSP):
        self.app = app
        self.policy = policy.encode("latin-1")

    async def __call__(self, scope, receive, send):
        if scope.get("type") != "http":
            return await self.app(scope, receive, send)
        if re.search(r"/file=\s*https?:", unquote(scope.get("path", "")), re.I):
            return await self._refuse(send)

        async def send_with_policy(message):
            if message.get("type") == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() not in (b"content-security-policy", b"x-content-type-options")]
                headers += [(b"content-security-policy", self.policy), (b"x-content-type-options", b"nosniff")]
                message = {**message, "headers": headers}
            await send(message)

        return await self.app(scope, receive, send_with_policy)

    async def _refuse(self, send) -> None:
        body = b"This app serves only its own files; it does not fetch URLs for visitors."
        await send({"type": "http.response.start", "status": 403,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(body)).encode()),
                                (b"content-security-policy", self.policy)]})
        await send({"type": "http.response.body", "body": body})


__all__ = ["CSP", "FILE_ROUTE", "PageGuard", "markdown", "own_file", "text"]
