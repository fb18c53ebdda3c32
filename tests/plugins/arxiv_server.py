"""Fixture ``arxiv_server``: a loopback arXiv (API and PDFs) replaying the recorded answers in ../shared/fixtures/arxiv-api.

The server binds 127.0.0.1 on a free port; the fixture points ``CHATPAPER_ARXIV_API_URL`` at it and sets
``CHATPAPER_ARXIV_DELAY=0`` (monkeypatch), so ``Settings.from_env()`` in a test talks to it. PDF links inside the
served XML are rewritten to ``<server>/pdf/<id>``; ``1111.2011v2`` (and ``1111.2011``) serve the real recorded PDF.

API requests are answered, in this order:

- ``id_list=A,B``: the recorded answer for exactly that list if there is one (``abc`` gives arXiv's HTTP 400 error
  entry, ``0000.0000`` an empty feed), else a feed built from the known entries (any recorded or added entry; an
  unversioned id gives its highest known version; unknown ids are left out, so an unknown id gets an empty feed).
- ``search_query=Q``: a canned feed registered with ``add_feed(Q, ids)``; else the recorded page for
  ``(Q, start, max_results)`` (``testing`` at starts 0, 5, 9, 10, 20 ... 50); else a page cut from the recorded
  results of ``Q`` by position; else the feed registered with ``add_feed("*", ids)``; else an empty feed.
  ``sortBy``/``sortOrder`` are ignored: the recordings are in relevance order.

Scripting faults and checking traffic::

    def test_something(arxiv_server):
        arxiv_server.fail_next(2)              # the next two answers are HTTP 429 (status=503 etc. also work)
        arxiv_server.hang_next()               # the next request is never answered (set CHATPAPER_TIMEOUT low)
        arxiv_server.pdf_mode = "html"         # PDF requests get an HTML page ("pdf" restores)
        arxiv_server.huge_pdf(60 * 2**20)      # PDF requests get a 60 MB "PDF" (declare_length=False: no length)
        arxiv_server.pdf_redirect = "https://elsewhere.example/{name}.pdf"   # the next PDF request: a 302 there
        arxiv_server.add_entry("2411.00001v1", title="...", published="2024-11-01")   # a synthetic paper
        arxiv_server.add_feed("ti:NeRF", ["2411.00001v1", "1111.2011v2"])               # a canned search answer
        arxiv_server.pdfs["2411.00001v1"] = some_pdf_path   # or arxiv_server.default_pdf for every id
        arxiv_server.count("api"), arxiv_server.count("pdf"), arxiv_server.requests[-1].params
        arxiv_server.stop()                    # arXiv is down: connections are refused from now on
"""
from __future__ import annotations

import copy
import functools
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from lxml import etree

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "arxiv-api"
PDF_ID = "1111.2011v2"

_ATOM = "http://www.w3.org/2005/Atom"
_ARXIV = "http://arxiv.org/schemas/atom"
_OPENSEARCH = "http://a9.com/-/spec/opensearch/1.1/"
_NS = {"atom": _ATOM, "arxiv": _ARXIV, "opensearch": _OPENSEARCH}


@dataclass
class Request:
    """One request the server received."""

    kind: str  #: "api", "pdf" or "other"
    path: str  #: URL path, e.g. "/api/query" or "/pdf/1111.2011v2"
    params: dict[str, str]  #: query parameters (last value of each)
    time: float = 0.0  #: time.monotonic() at arrival


@dataclass
class _Fault:
    status: int | None  #: None = hang (never answer)
    retry_after: str | None = None
    kind: str | None = None  #: only requests of this kind, or any


@dataclass
class _Recordings:
    """The recorded answers, parsed once per test session (read-only)."""

    exact: dict[tuple, tuple[int, bytes]] = field(default_factory=dict)  #: request key -> (status, body)
    entries: dict[str, etree._Element] = field(default_factory=dict)  #: versioned id -> <entry>
    positions: dict[str, dict[int, str]] = field(default_factory=dict)  #: query -> {result index: versioned id}
    totals: dict[str, int] = field(default_factory=dict)  #: query -> recorded totalResults


@functools.lru_cache(maxsize=1)
def _recordings() -> _Recordings:
    if not FIXTURES.is_dir():
        pytest.fail(f"{FIXTURES} is missing: the tests read ../shared beside the checkout")
    rec = _Recordings()
    answers = [(json.loads(p.read_text())) for p in sorted(FIXTURES.glob("*.json"))]
    answers = [(a["url"], a["status_code"], a["body"].encode("latin-1")) for a in answers]
    answers.append((f"https://export.arxiv.org/api/query?id_list={PDF_ID}", 200,
                    (FIXTURES / f"id_list={PDF_ID}.xml").read_bytes()))
    for url, status, body in answers:
        params = _params(urlsplit(url).query)
        start, size = int(params.get("start", 0)), int(params.get("max_results", 10))
        root = etree.fromstring(body)
        vids = [_entry_vid(e) for e in root.iterfind("atom:entry", _NS)]
        for entry, vid in zip(root.iterfind("atom:entry", _NS), vids):
            if vid:
                rec.entries.setdefault(vid, entry)
        if params.get("id_list"):
            rec.exact[("id", params["id_list"])] = (status, body)
        elif params.get("search_query"):
            query = params["search_query"]
            rec.exact[("q", query, start, size)] = (status, body)
            rec.positions.setdefault(query, {}).update({start + i: v for i, v in enumerate(vids) if v})
            rec.totals[query] = int(root.findtext("opensearch:totalResults", "0", _NS))
    return rec


def _params(query: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}


def _entry_vid(entry: etree._Element) -> str | None:
    """"1111.2011v2" from <id>http://arxiv.org/abs/1111.2011v2</id>; None for arXiv's error entries."""
    text = entry.findtext("atom:id", "", _NS)
    return text.split("/abs/", 1)[1] if "/abs/" in text else None


def _base(vid: str) -> str:
    return re.sub(r"v\d+$", "", vid)


def _iso(value: date | datetime | str) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00")) if "T" in value else date.fromisoformat(value)
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, 12, 0, tzinfo=timezone.utc)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class ArxivServer:
    """A scriptable loopback arXiv. ``url`` is the API endpoint; ``base`` the server root (PDFs at ``/pdf/<id>``)."""

    def __init__(self):
        rec = _recordings()
        self._rec = rec
        self.entries: dict[str, etree._Element] = dict(rec.entries)  #: versioned id -> <entry> served
        self.feeds: dict[str, list[str]] = {}  #: search_query (or "*") -> versioned ids, see add_feed
        #: PDF by versioned id, or by bare id for every version
        self.pdfs: dict[str, Path] = {PDF_ID: FIXTURES / f"{PDF_ID}.pdf", _base(PDF_ID): FIXTURES / f"{PDF_ID}.pdf"}
        self.default_pdf: Path | None = None  #: served for ids not in ``pdfs``; None answers 404
        self.pdf_mode = "pdf"  #: "pdf", "html" (a web page instead) or "huge" (see huge_pdf)
        self.pdf_redirect: str | None = None  #: if set, PDF requests get a 302 to this URL ("{base}", "{name}" filled)
        self.requests: list[Request] = []  #: every request received, in order
        self._huge = (0, True)
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._release = threading.Event()  # set at stop(): lets hung handlers go
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.arxiv = self
        self.base = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self.url = f"{self.base}/api/query"
        self._connections: set[socket.socket] = set()  # open keep-alive connections, cut at stop()
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="arxiv-server", daemon=True)
        self._thread.start()
        self._stopped = False

    # -- scripting -------------------------------------------------------------------------------------------
    def fail_next(self, n: int = 1, status: int = 429, retry_after: str | None = None, kind: str | None = None) -> None:
        """The next ``n`` requests (of ``kind`` "api"/"pdf", or any) are answered with HTTP ``status``."""
        with self._lock:
            self._faults += [_Fault(status, retry_after, kind) for _ in range(n)]

    def hang_next(self, n: int = 1, kind: str | None = None) -> None:
        """The next ``n`` requests are accepted and never answered (until the server stops)."""
        with self._lock:
            self._faults += [_Fault(None, None, kind) for _ in range(n)]

    def huge_pdf(self, size: int, declare_length: bool = True) -> None:
        """PDF requests get a valid-looking PDF of ``size`` bytes, with or without a Content-Length header."""
        self.pdf_mode, self._huge = "huge", (size, declare_length)

    def add_entry(self, vid: str, like: str = PDF_ID, *, title: str | None = None, summary: str | None = None,
                  authors: list[str] | None = None, comment: str | None = None,
                  published: date | datetime | str | None = None, updated: date | datetime | str | None = None,
                  categories: list[str] | None = None) -> str:
        """A synthetic paper ``vid`` (e.g. "2411.00001v1") copied from the recorded entry ``like`` with changes."""
        entry = copy.deepcopy(self.entries[like])
        entry.find("atom:id", _NS).text = f"http://arxiv.org/abs/{vid}"
        for link in entry.iterfind("atom:link", _NS):
            if link.get("rel") == "alternate":
                link.set("href", f"https://arxiv.org/abs/{vid}")
            elif link.get("title") == "pdf":
                link.set("href", f"https://arxiv.org/pdf/{vid}")
        _set(entry, "atom:title", title)
        _set(entry, "atom:summary", summary)
        _set(entry, "arxiv:comment", comment)
        if published is not None:
            _set(entry, "atom:published", _iso(published))
            _set(entry, "atom:updated", _iso(updated or published))
        elif updated is not None:
            _set(entry, "atom:updated", _iso(updated))
        if authors is not None:
            for old in entry.findall("atom:author", _NS):
                entry.remove(old)
            for name in authors:
                etree.SubElement(etree.SubElement(entry, f"{{{_ATOM}}}author"), f"{{{_ATOM}}}name").text = name
        if categories:
            for old in entry.findall("atom:category", _NS) + entry.findall("arxiv:primary_category", _NS):
                entry.remove(old)
            etree.SubElement(entry, f"{{{_ARXIV}}}primary_category", term=categories[0])
            for term in categories:
                etree.SubElement(entry, f"{{{_ATOM}}}category", term=term, scheme="http://arxiv.org/schemas/atom")
        self.entries[vid] = entry
        return vid

    def add_feed(self, query: str, ids: list[str]) -> None:
        """Answer the search ``query`` (exactly as sent in search_query, or "*" for any) with these papers in order."""
        missing = [i for i in ids if self._entry(i) is None]
        if missing:
            raise KeyError(f"unknown entries {missing}; known: {sorted(self.entries)[:10]}... or add_entry() them")
        self.feeds[query] = list(ids)

    def count(self, kind: str | None = None) -> int:
        """How many requests (of ``kind`` "api"/"pdf", or all) arrived."""
        with self._lock:
            return sum(1 for r in self.requests if kind is None or r.kind == kind)

    def stop(self) -> None:
        """Shut the server down: open connections are cut and new ones refused (arXiv is 'down')."""
        if self._stopped:
            return
        self._stopped = True
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:
            for conn in self._connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self._thread.join(timeout=5)

    # -- answering -------------------------------------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        kind = "api" if parts.path.endswith("/api/query") else "pdf" if parts.path.startswith("/pdf/") else "other"
        with self._lock:
            self.requests.append(Request(kind, parts.path, _params(parts.query), time.monotonic()))
            fault = next((f for f in self._faults if f.kind in (None, kind)), None)
            if fault:
                self._faults.remove(fault)
        if fault and fault.status is None:
            self._release.wait(120)
            h.close_connection = True
            return
        if fault:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return _send(h, fault.status, b"Rate exceeded." if fault.status == 429 else b"Error", "text/plain", headers)
        if kind == "api":
            status, body = self._api(_params(parts.query))
            return _send(h, status, self._rewrite(body), "application/atom+xml; charset=utf-8")
        if kind == "pdf":
            return self._pdf(h, parts.path[len("/pdf/"):].removesuffix(".pdf"))
        _send(h, 404, b"not found", "text/plain")

    def _api(self, params: dict[str, str]) -> tuple[int, bytes]:
        start, size = int(params.get("start", 0) or 0), int(params.get("max_results", 10) or 10)
        if params.get("id_list"):
            if ("id", params["id_list"]) in self._rec.exact:
                return self._rec.exact[("id", params["id_list"])]
            found = [self._entry(i) for i in params["id_list"].split(",")]
            found = [e for e in found if e is not None]
            return 200, _feed(found[start:start + size], len(found), start)
        query = params.get("search_query", "")
        if query in self.feeds:
            return 200, self._canned(query, start, size)
        if ("q", query, start, size) in self._rec.exact:
            return self._rec.exact[("q", query, start, size)]
        if query in self._rec.positions:
            at = self._rec.positions[query]
            page = [self.entries[at[i]] for i in range(start, start + size) if i in at]
            return 200, _feed(page, self._rec.totals[query], start)
        if query and "*" in self.feeds:
            return 200, self._canned("*", start, size)
        return 200, _feed([], 0, start)

    def _canned(self, query: str, start: int, size: int) -> bytes:
        ids = self.feeds[query]
        return _feed([self._entry(i) for i in ids[start:start + size]], len(ids), start)

    def _entry(self, arxiv_id: str) -> etree._Element | None:
        """The entry of a versioned id, or of the highest known version of an unversioned one."""
        if arxiv_id in self.entries:
            return self.entries[arxiv_id]
        versions = [v for v in self.entries if _base(v) == arxiv_id]
        return self.entries[max(versions, key=lambda v: int(v.rsplit("v", 1)[1]))] if versions else None

    def _rewrite(self, body: bytes) -> bytes:
        """PDF links point at this server (the recordings point at arxiv.org)."""
        return re.sub(rb'href="https?://(?:export\.)?arxiv\.org/pdf/', f'href="{self.base}/pdf/'.encode(), body)

    def _pdf(self, h: BaseHTTPRequestHandler, name: str) -> None:
        if self.pdf_redirect:
            target = self.pdf_redirect.format(base=self.base, name=name)
            self.pdf_redirect = None  # once: the redirected request is answered normally
            return _send(h, 302, b"", "text/plain", {"Location": target})
        if self.pdf_mode == "html":
            page = b"<!DOCTYPE html><html><head><title>arXiv</title></head><body>Please wait...</body></html>"
            return _send(h, 200, page, "text/html; charset=utf-8")
        if self.pdf_mode == "huge":
            return self._huge_pdf(h)
        path = self.pdfs.get(name) or self.pdfs.get(_base(name)) or self.default_pdf
        if path is None:
            return _send(h, 404, b"<html><body>Not found</body></html>", "text/html")
        _send(h, 200, Path(path).read_bytes(), "application/pdf")

    def _huge_pdf(self, h: BaseHTTPRequestHandler) -> None:
        size, declare = self._huge
        h.send_response(200)
        h.send_header("Content-Type", "application/pdf")
        if declare:
            h.send_header("Content-Length", str(size))
        h.end_headers()
        chunk = b"%PDF-1.5\n" + b"0" * (1024 * 1024 - 9)
        try:
            sent = 0
            while sent < size:
                piece = chunk[: size - sent] if sent == 0 else b"0" * min(len(chunk), size - sent)
                h.wfile.write(piece)
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as it should
        h.close_connection = True


def _set(entry: etree._Element, path: str, text: str | None) -> None:
    if text is None:
        return
    node = entry.find(path, _NS)
    if node is None:
        prefix, local = path.split(":")
        node = etree.SubElement(entry, f"{{{_NS[prefix]}}}{local}")
    node.text = text


def _feed(entries: list[etree._Element], total: int, start: int) -> bytes:
    root = etree.Element(f"{{{_ATOM}}}feed", nsmap={None: _ATOM, "opensearch": _OPENSEARCH, "arxiv": _ARXIV})
    etree.SubElement(root, f"{{{_ATOM}}}id").text = "https://arxiv.org/api/loopback"
    etree.SubElement(root, f"{{{_ATOM}}}title").text = "arXiv Query (loopback replay)"
    etree.SubElement(root, f"{{{_ATOM}}}updated").text = _iso(datetime.now(timezone.utc))
    etree.SubElement(root, f"{{{_OPENSEARCH}}}itemsPerPage").text = str(len(entries))
    etree.SubElement(root, f"{{{_OPENSEARCH}}}totalResults").text = str(total)
    etree.SubElement(root, f"{{{_OPENSEARCH}}}startIndex").text = str(start)
    root.extend(copy.deepcopy(e) for e in entries)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _send(h: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
    try:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(body)
    except (BrokenPipeError, ConnectionResetError):
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like arXiv; faults close the connection explicitly

    def handle(self):
        server = self.server.arxiv
        with server._lock:
            server._connections.add(self.connection)
        try:
            super().handle()
        except (ConnectionError, OSError):
            pass  # cut at stop(), or the client went away
        finally:
            with server._lock:
                server._connections.discard(self.connection)

    def do_GET(self):  # noqa: N802 - http.server's hook
        self.server.arxiv._handle(self)

    def log_message(self, format, *args):  # noqa: A002 - quiet: pytest output stays readable
        pass


@pytest.fixture
def arxiv_server(monkeypatch):
    """A loopback arXiv replaying the recorded answers; CHATPAPER_ARXIV_API_URL points at it, delay 0."""
    server = ArxivServer()
    monkeypatch.setenv("CHATPAPER_ARXIV_API_URL", server.url)
    monkeypatch.setenv("CHATPAPER_ARXIV_DELAY", "0")
    yield server
    server.stop()
