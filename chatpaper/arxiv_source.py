"""arXiv as a source: any arXiv id or link to the paper's exact metadata and PDF, and topic search.

Metadata comes through the ``arxiv`` package (lukasschwab/arxiv.py) pointed at ``settings.arxiv_api_url``; PDFs are
streamed from the record's PDF link into the cache. Every request to arXiv follows its API terms of use
(https://info.arxiv.org/help/api/tou.html, "no more than one request every three seconds"): one request every
``settings.arxiv_delay`` seconds from this process, a timeout on each (the package sets none), and exponential
backoff on HTTP 429/5xx and dropped connections. Only arXiv hosts (and the configured API host, for mirrors and
tests) are ever contacted: the app must not fetch arbitrary URLs on a user's behalf.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, fields
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import urljoin, urlsplit, urlunsplit

import arxiv
import filelock
import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from chatpaper.cache import Cache
from chatpaper.errors import InvalidSource, NetworkError, PaperNotFound, PaperWithdrawn, PdfError
from chatpaper.latex import latex_to_text
from chatpaper.paper import Record
from chatpaper.settings import Settings

log = logging.getLogger(__name__)

ARXIV_HOSTS = frozenset({"arxiv.org", "www.arxiv.org", "export.arxiv.org"})

# New-style ids (0704.0001 .. 2401.16144) and old-style archive[.SUBJECT]/YYMMNNN ids, see
# https://info.arxiv.org/help/arxiv_identifier.html
_ID = re.compile(
    r"(?P<id>\d{2}(?:0[1-9]|1[0-2])\.\d{4,5}|(?P<archive>[a-z]+(?:-[a-z]+)*)(?P<subject>\.[a-z]{2,}(?:-[a-z]+)?)?/(?P<num>\d{7}))"
    r"(?:v(?P<version>\d+))?",
    re.IGNORECASE,
)
_URL_PATH = re.compile(r"/(?:abs|pdf|html|ps|format)/(?P<ref>.+?)(?:\.pdf)?/*", re.IGNORECASE)
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_BARE_HOST = re.compile(r"[\w-]+(?:\.[\w-]+)+(?::\d+)?/", re.IGNORECASE)
_STRIP = " \t\r\n<>()[]{}\"'`.,;:!?\u201c\u201d\u2018\u2019\u00ab\u00bb"
_EXPECTED = ("expected an arXiv id or link such as 2401.16144, 2401.16144v2, arXiv:2401.16144, "
             "https://arxiv.org/abs/2401.16144 or hep-th/9901001")

_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_LATEST_TTL = 24 * 3600  # arXiv announces new versions once a day, so "latest version" lookups keep that long
_PDF_MAGIC_WINDOW = 1024  # readers accept "%PDF-" anywhere in the first 1024 bytes (PDF 1.7 spec, annex H)

# One request every ``arxiv_delay`` seconds per process, as arXiv's terms ask: the time of the last request is
# process-wide on purpose (it holds no user data), so several clients or threads still share one budget.
_rate_lock = threading.Lock()
_last_request = [0.0]


def parse_arxiv_id(text: str) -> tuple[str, int | None]:
    """The arXiv id and version (or None) in ``text``: a bare id, ``arXiv:`` id, or abs/pdf/html link.

    Raises:
        InvalidSource: not an arXiv id or link, or a link to a host that is not arXiv.
    """
    s = (text or "").strip().strip(_STRIP)
    s = re.sub(r"^arxiv\s*:\s*", "", s, flags=re.IGNORECASE)
    if not s:
        raise InvalidSource(f"no paper given: {_EXPECTED}")
    found = _match_id(s)
    if found:
        return found
    if _SCHEME.match(s) or _BARE_HOST.match(s):
        return _parse_url(s if _SCHEME.match(s) else f"https://{s}", text)
    raise InvalidSource(f"{text.strip()!r} is not an arXiv id or link: {_EXPECTED}")


def _match_id(s: str) -> tuple[str, int | None] | None:
    """(id, version) if ``s`` is exactly an id; old ids lose the subject class (math.GT/0309136 is math/0309136)."""
    m = _ID.fullmatch(s)
    if not m:
        return None
    version = int(m["version"]) if m["version"] else None
    if version == 0:
        return None
    if m["num"]:
        return f"{m['archive'].lower()}/{m['num']}", version
    return m["id"], version


def _parse_url(url: str, text: str) -> tuple[str, int | None]:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise InvalidSource(f"{text.strip()!r} is not an arXiv id or link: {_EXPECTED}")
    if host not in ARXIV_HOSTS:
        raise InvalidSource(f"only arXiv links are fetched ({host} is not arXiv): give an arXiv id or link such as "
                            "2401.16144 or https://arxiv.org/abs/2401.16144, or download the PDF yourself and give its file")
    m = _URL_PATH.fullmatch(parts.path)
    found = _match_id(m["ref"]) if m else None
    if not found:
        raise InvalidSource(f"{text.strip()!r} is an arXiv link but not to a paper: {_EXPECTED}")
    return found


@dataclass(frozen=True)
class ArxivRef:
    """An arXiv paper named by its id: what to fetch (``ArxivClient`` is how, the ``Record`` what came back)."""

    id: str  #: the id without its version: 2401.16144, hep-th/9901001
    version: int | None = None  #: one version, or None for the latest

    @classmethod
    def parse(cls, text: str) -> "ArxivRef":
        """The paper any id or link form names (``parse_arxiv_id``); raises InvalidSource for anything else."""
        return cls(*parse_arxiv_id(text))

    def __str__(self) -> str:
        return f"{self.id}v{self.version}" if self.version else self.id


class _PoliteAdapter(HTTPAdapter):
    """Gives each request a timeout, spaces requests process-wide, and retries 429/5xx/refused with backoff."""

    def __init__(self, timeout: float, delay: float, retries: int = 3):
        super().__init__()
        self.timeout, self.delay, self.retries = timeout, delay, retries

    def send(self, request, **kwargs):  # noqa: D102 - requests' hook
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        attempt = 0
        while True:
            _wait_turn(self.delay)
            try:
                response = super().send(request, **kwargs)
            except requests.Timeout:
                raise  # a silent server stays silent; asking again would multiply the user's wait
            except requests.ConnectionError as exc:
                if attempt == self.retries:
                    raise
                wait, why = self._backoff(attempt, None), _reason(exc)
            else:
                if response.status_code not in _RETRY_STATUS or attempt == self.retries:
                    return response
                wait, why = self._backoff(attempt, response), f"HTTP {response.status_code}"
                response.close()
            log.info("arXiv request failed (%s); retry %d in %.1f s", why, attempt + 1, wait)
            time.sleep(wait)
            attempt += 1

    def _backoff(self, attempt: int, response) -> float:
        """Exponential from the request delay (3 s, 6 s, 12 s by default), or longer if the server says so."""
        wait = max(self.delay, 0.25) * 2 ** attempt
        retry_after = response.headers.get("Retry-After", "") if response is not None else ""
        if retry_after.strip().isdigit():
            wait = max(wait, float(retry_after))
        return min(wait, 60.0)


def _wait_turn(delay: float) -> None:
    """Sleep until ``delay`` seconds have passed since this process's last request to arXiv."""
    with _rate_lock:
        wait = _last_request[0] + delay - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        _last_request[0] = time.monotonic()


class ArxivClient:
    """Records, PDFs and searches from arXiv (or the endpoint in settings), politely, with the cache in front.

    Records are cached by versioned id and served without network. An id without a version is resolved to the
    latest version once a day (arXiv announces new versions daily); within that day, or when arXiv cannot be
    reached, the cached latest version is served.
    """

    def __init__(self, settings: Settings | None = None, *, page_size: int = 100, cache: Cache | None = None):
        """A client for ``settings`` (default: from the environment); ``page_size`` results per search request."""
        self.settings = settings or Settings.from_env()
        self.cache = cache or Cache(self.settings.cache_path)
        self.page_size = page_size
        self._session = requests.Session()
        self._session.headers["User-Agent"] = f"chatpaper (arxiv.py/{arxiv.__version__})"
        adapter = _PoliteAdapter(self.settings.timeout, self.settings.arxiv_delay)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    def __enter__(self) -> "ArxivClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connections."""
        self._session.close()

    def fetch_record(self, ref: ArxivRef | str, version: int | None = None) -> Record:
        """The record of one paper, from the cache or arXiv; ``version`` overrides the reference's.

        A string (any id or link form) is parsed here, for callers from Python; the pipeline passes the ``ArxivRef``
        its caller parsed at the edge.

        Raises:
            InvalidSource, PaperNotFound (unknown id), PaperWithdrawn, NetworkError.
        """
        ref = ArxivRef.parse(ref) if isinstance(ref, str) else ref
        base, version = ref.id, version or ref.version
        cached = self._cached_record(base, version)
        if cached:
            log.debug("record %s served from the cache", cached.versioned_id)
            return cached
        wanted = f"{base}v{version}" if version else base
        try:
            results = self._results(arxiv.Search(id_list=[wanted], max_results=1), what=f"arXiv paper {wanted}")
        except NetworkError:
            stale = self._cached_record(base, None, stale_ok=True) if version is None else None
            if stale:
                log.warning("arXiv unreachable; serving the cached record %s", stale.versioned_id)
                return stale
            raise
        records = [_to_record(r) for r in results if not _is_error_entry(r)]
        records = [r for r in records if r.id == base and (version is None or r.version == version)]
        if not records:
            raise PaperNotFound(f"no arXiv paper {wanted}; check the id")
        record = records[0]
        _check_not_withdrawn(record)
        self._store_record(record, latest=version is None)
        return record

    def download_pdf(self, record: Record) -> Path:
        """The record's PDF in the cache, downloaded (streamed, size-capped, checked) if not there yet.

        Raises:
            InvalidSource (PDF link not on arXiv), PdfError (no PDF, too large, not a PDF), NetworkError.
        """
        key = record.versioned_id
        if not key:
            raise PdfError("this record has no arXiv id, so there is no arXiv PDF to download")
        cached = self.cache.get_file("pdf", key, ".pdf")
        if cached and _starts_like_pdf(cached):
            return cached
        if not record.pdf_url:
            raise PdfError(f"arXiv lists no PDF for {key} (withdrawn, or source only); try another version")
        url = self._checked_url(record.pdf_url)
        try:
            with self.cache.lock("pdf", key, timeout=max(60.0, 20 * self.settings.timeout)):
                cached = self.cache.get_file("pdf", key, ".pdf")  # another process may have fetched it meanwhile
                if cached and _starts_like_pdf(cached):
                    return cached
                self._stream_pdf(url, key)
        except filelock.Timeout:
            raise NetworkError(f"another process is still downloading the PDF of {key}; try again in a minute") from None
        return self.cache.path_for("pdf", key, ".pdf")

    def search(self, query: str, categories: Iterable[str] | None = None, start_date: date | str | None = None,
               end_date: date | str | None = None, max_results: int = 30) -> list[Record]:
        """Papers matching an arXiv query (``ti:NeRF OR abs:"neural radiance"``), newest first.

        ``categories`` keeps papers listed in any of them (``cs.CV``); the window keeps papers first published
        between the two dates (inclusive, UTC), asked of arXiv as a submittedDate range and checked again here.
        """
        categories = [c.strip() for c in (categories or []) if c and c.strip()]
        start, end = parse_date(start_date, "start_date"), parse_date(end_date, "end_date")
        if max_results < 1:
            raise InvalidSource(f"max_results must be at least 1, not {max_results}")
        full_query = _build_query(query, categories, start, end)
        search = arxiv.Search(query=full_query, max_results=max_results,
                              sort_by=arxiv.SortCriterion.SubmittedDate, sort_order=arxiv.SortOrder.Descending)
        results = self._results(search, what=f"the search {full_query!r}", rejected=InvalidSource)
        records = [_to_record(r) for r in results if not _is_error_entry(r)]
        records = [r for r in records if _in_window(r, start, end) and _in_categories(r, categories)]
        records.sort(key=lambda r: r.published, reverse=True)
        for record in records:
            self._store_record(record, latest=False)
        return records[:max_results]

    def _arxiv_client(self, page_size: int) -> arxiv.Client:
        """An ``arxiv.Client`` on our session: it then gets our timeout, rate limit and retries.

        arxiv 4.0.2 takes no session or timeout argument, so its private ``_session`` is replaced (checked in
        tests/test_arxiv_source.py). Its own delay and retries are off because the adapter does both.
        """
        client = arxiv.Client(page_size=page_size, delay_seconds=0, num_retries=0)
        client._session = self._session
        joiner = "&" if "?" in self.settings.arxiv_api_url else "?"
        client.query_url_format = self.settings.arxiv_api_url.replace("{", "{{").replace("}", "}}") + joiner + "{}"
        return client

    def _results(self, search: arxiv.Search, what: str, rejected: type[Exception] = PaperNotFound) -> list[arxiv.Result]:
        """Run a search through the arxiv package, turning its failures into our errors (HTTP 400 into ``rejected``)."""
        page_size = min(self.page_size, search.max_results or self.page_size)
        found: list[arxiv.Result] = []
        try:
            for result in self._arxiv_client(page_size).results(search):
                found.append(result)
        except arxiv.UnexpectedEmptyPageError:
            # arXiv sporadically answers an empty page in the middle of a result set; keep what came before.
            log.warning("arXiv answered an empty page for %s after %d results", what, len(found))
        except arxiv.HTTPError as exc:
            if exc.status == 400:
                raise rejected(f"arXiv rejected the request for {what} (HTTP 400); check the id or query") from None
            raise self._http_error(exc.status, what) from None
        except requests.Timeout:
            raise NetworkError(f"arXiv did not answer within {self.settings.timeout:g} s for {what}; try again "
                               "later, or raise CHATPAPER_TIMEOUT") from None
        except requests.RequestException as exc:
            raise NetworkError(f"cannot reach arXiv ({self._api_host()}) for {what}: {_reason(exc)}; "
                               "check the network connection") from None
        return found

    def _http_error(self, status: int, what: str) -> Exception:
        if status == 429:
            return NetworkError(f"arXiv kept answering 'too many requests' (HTTP 429) for {what}; wait a few "
                                "minutes and try again")
        return NetworkError(f"arXiv answered HTTP {status} for {what}; try again later")

    def _checked_url(self, url: str) -> str:
        """The URL if it is an arXiv host on its standard port (upgraded to https) or the configured API host and
        port; refuses any other.

        The URL is parsed once, by urllib3's ``parse_url``, the parser requests connects with: Python's urlsplit
        reads ``http://evil.example\\@arxiv.org/`` as arxiv.org while requests connects to evil.example. The
        returned URL is the parsed one, so what was checked is what is fetched.
        """
        refused = InvalidSource(f"only arXiv links are fetched; refusing {url}")
        if re.search(r"[\\\s]", url or ""):
            raise refused  # backslashes and whitespace are read differently by different parsers: none allowed
        try:
            parts = parse_url(url)
        except LocationParseError:
            raise refused from None
        scheme, host = (parts.scheme or "").lower(), (parts.host or "").lower()
        if scheme not in ("http", "https") or parts.auth or not host:
            raise refused
        port = parts.port or (443 if scheme == "https" else 80)
        if host in ARXIV_HOSTS and port == (443 if scheme == "https" else 80):
            return parts._replace(scheme="https", host=host, port=None).url
        if (scheme, host, port) == self._api_origin():
            return parts._replace(scheme=scheme, host=host).url
        raise refused

    def _api_host(self) -> str:
        return self._api_origin()[1]

    def _api_origin(self) -> tuple[str, str, int]:
        """Scheme, host and port of the configured API endpoint (a mirror or a test server may serve PDFs too)."""
        parts = parse_url(self.settings.arxiv_api_url)
        scheme = (parts.scheme or "").lower()
        return scheme, (parts.host or "").lower(), parts.port or (443 if scheme == "https" else 80)

    def _get(self, url: str, **kwargs) -> requests.Response:
        """GET following redirects only to allowed hosts (requests would follow them anywhere)."""
        for _ in range(5):
            response = self._session.get(url, allow_redirects=False, **kwargs)
            if not response.is_redirect:
                return response
            response.close()
            url = self._checked_url(urljoin(url, response.headers["Location"]))
        raise NetworkError(f"arXiv redirected too many times for {url}")

    def _stream_pdf(self, url: str, key: str) -> None:
        """Download the PDF at ``url`` into the cache entry ``key``, atomically; nothing is left on failure."""
        cap = self.settings.max_pdf_bytes
        deadline = time.monotonic() + max(60.0, 10 * self.settings.timeout)
        try:
            with self._get(url, stream=True) as response:
                _check_pdf_response(response, key, cap, self.settings)
                with self.cache.writer("pdf", key, ".pdf") as out:
                    head, size = b"", 0
                    for chunk in response.iter_content(64 * 1024):
                        size += len(chunk)
                        if size > cap:
                            raise PdfError(_too_large(key, size, self.settings, partial=True))
                        if len(head) < _PDF_MAGIC_WINDOW:
                            head += chunk[:_PDF_MAGIC_WINDOW - len(head)]
                            if len(head) >= _PDF_MAGIC_WINDOW:
                                _check_magic(head, response, key)
                        if time.monotonic() > deadline:
                            raise NetworkError(f"the PDF of {key} is downloading too slowly; try again later")
                        out.write(chunk)
                    _check_magic(head, response, key)
        except requests.Timeout:
            raise NetworkError(f"arXiv stopped answering while sending the PDF of {key} (timeout "
                               f"{self.settings.timeout:g} s); try again later") from None
        except requests.RequestException as exc:
            raise NetworkError(f"cannot download the PDF of {key}: {_reason(exc)}; check the network "
                               "connection") from None
        log.info("downloaded the PDF of %s (%d bytes)", key, size)

    def _cached_record(self, base: str, version: int | None, stale_ok: bool = False) -> Record | None:
        if version is None:
            latest = self.cache.get_json("latest", base)
            if not isinstance(latest, dict) or not isinstance(latest.get("version"), int):
                return None
            if not stale_ok and time.time() - float(latest.get("fetched", 0)) > _LATEST_TTL:
                return None
            version = latest["version"]
        data = self.cache.get_json("record", f"{base}v{version}")
        names = {f.name for f in fields(Record)}
        if not isinstance(data, dict) or not {"title", "authors"} <= data.keys():
            return None
        return Record(**{k: v for k, v in data.items() if k in names})

    def _store_record(self, record: Record, latest: bool) -> None:
        data = record.to_dict()
        data["pdf_path"] = None  # the PDF's place is the cache's business, found again by download_pdf
        self.cache.put_json("record", record.versioned_id, data)
        if latest:
            self.cache.put_json("latest", record.id, {"version": record.version, "fetched": time.time()})


def fetch_record_and_pdf(ref: ArxivRef | str, settings: Settings,
                         progress: Callable[[str], None] | None = None) -> Record:
    """The arXiv record of ``ref`` (a string: any id or link) with ``pdf_path`` set to its PDF in the cache."""
    progress = progress or (lambda message: None)
    ref = ArxivRef.parse(ref) if isinstance(ref, str) else ref
    with ArxivClient(settings) as client:
        progress(f"looking up arXiv {ref}")
        record = client.fetch_record(ref)
        cached = client.cache.get_file("pdf", record.versioned_id, ".pdf")
        progress(f"{'PDF from the cache' if cached else 'downloading the PDF'} of {record.versioned_id}: {record.title}")
        record.pdf_path = str(client.download_pdf(record))
    return record


def _to_record(result: arxiv.Result) -> Record:
    """Our Record from an arxiv.Result: whitespace folded, LaTeX text mode of title and abstract as text (math
    kept as $...$), dates in ISO 8601, arXiv links on https."""
    found = _match_id(result.get_short_id())
    arxiv_id, version = found if found else (result.get_short_id(), None)
    abs_url = next((link.href for link in result.links if link.rel == "alternate"), result.entry_id)
    return Record(
        title=latex_to_text(_fold(result.title)),
        authors=[_fold(a.name) for a in result.authors],
        abstract=latex_to_text(_fold(result.summary)),
        id=arxiv_id,
        version=version,
        comment=_fold(result.comment or ""),
        journal_ref=_fold(result.journal_ref or ""),
        doi=(result.doi or "").strip(),
        categories=list(result.categories),
        primary_category=result.primary_category or (result.categories[0] if result.categories else ""),
        published=result.published.isoformat(),
        updated=result.updated.isoformat(),
        abs_url=_https(abs_url),
        pdf_url=_https(result.pdf_url or ""),
    )


def _fold(text: str) -> str:
    return " ".join(text.split())


def _https(url: str) -> str:
    """arXiv links on https (the API still writes http:// in older answers); other hosts left alone."""
    parts = urlsplit(url)
    if parts.scheme == "http" and (parts.hostname or "").lower() in ARXIV_HOSTS:
        return urlunsplit(parts._replace(scheme="https"))
    return url


def _is_error_entry(result: arxiv.Result) -> bool:
    """arXiv reports some errors as a feed entry whose id is https://arxiv.org/api/errors#..."""
    return "/api/errors" in result.entry_id


def _check_not_withdrawn(record: Record) -> None:
    # arXiv keeps a withdrawn version's entry; its comment says so and it has no PDF.
    if re.search(r"\bwithdrawn\b", record.comment, re.IGNORECASE):
        earlier = f"; an earlier version may still be readable: {record.id}v{record.version - 1}" \
            if record.version and record.version > 1 else ""
        raise PaperWithdrawn(f"arXiv paper {record.versioned_id} was withdrawn ({record.comment}){earlier}")


def _check_pdf_response(response: requests.Response, key: str, cap: int, settings: Settings) -> None:
    if response.status_code == 404:
        raise PdfError(f"arXiv has no PDF for {key} (HTTP 404); the paper may be source-only or withdrawn")
    if response.status_code == 429:
        raise NetworkError(f"arXiv kept answering 'too many requests' (HTTP 429) for the PDF of {key}; wait a few "
                           "minutes and try again")
    if response.status_code != 200:
        raise NetworkError(f"arXiv answered HTTP {response.status_code} for the PDF of {key}; try again later")
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > cap:
        raise PdfError(_too_large(key, int(declared), settings))


def _check_magic(head: bytes, response: requests.Response, key: str) -> None:
    if b"%PDF-" in head[:_PDF_MAGIC_WINDOW]:
        return
    content_type = response.headers.get("Content-Type", "")
    if "html" in content_type.lower() or re.search(rb"<(!doctype|html|head|body)", head, re.IGNORECASE):
        raise PdfError(f"arXiv returned a web page, not a PDF, for {key} (the PDF may still be being built, or "
                       "arXiv is limiting downloads); try again later, or download the PDF yourself and give its file")
    raise PdfError(f"arXiv returned something that is not a PDF for {key} ({content_type or 'no content type'}); "
                   "try again later")


def _too_large(key: str, size: int, settings: Settings, partial: bool = False) -> str:
    amount = "" if partial else f"{size / 1024 / 1024:.1f} MB, "
    return (f"the PDF of {key} is {amount}over the limit of {settings.max_pdf_mb:g} MB; raise "
            "CHATPAPER_MAX_PDF_MB to accept it")


def _starts_like_pdf(path: Path) -> bool:
    with open(path, "rb") as f:
        return b"%PDF-" in f.read(_PDF_MAGIC_WINDOW)


def _reason(exc: Exception) -> str:
    """The innermost cause of a requests failure, in a few words (requests nests urllib3's errors deeply)."""
    text = str(exc)
    m = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if m:
        return m.group(1).strip()
    return text[:160] or type(exc).__name__


def parse_date(value: date | str | None, name: str = "the date") -> date | None:
    """A day from ``YYYY-MM-DD``, a date or a datetime (an aware one's UTC day); None or "" gives None.

    The one date parser of the package: the search window, the daily post and the app's Topic tab read dates here.

    Raises:
        InvalidSource: naming ``name`` (``--date``, ``start_date``) and the form to write.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise InvalidSource(f"{name} {value!r} is not a date: expected YYYY-MM-DD, e.g. 2024-01-30") from None


def _build_query(query: str, categories: list[str], start: date | None, end: date | None) -> str:
    """One arXiv query string: the user's query AND any of the categories AND the submission window."""
    for category in categories:
        if not re.fullmatch(r"[a-z-]+(\.[A-Za-z-]+)?", category):
            raise InvalidSource(f"{category!r} is not an arXiv category: expected e.g. cs.CV, hep-th or math.GT")
    parts = [query.strip()] if query and query.strip() else []
    if categories:
        parts.append(" OR ".join(f"cat:{c}" for c in categories))
    if start or end:
        # arXiv's range syntax: submittedDate:[YYYYMMDDHHMM TO YYYYMMDDHHMM] (API user manual, "query details")
        low = (start or date(1991, 1, 1)).strftime("%Y%m%d") + "0000"
        high = (end or datetime.now(timezone.utc).date()).strftime("%Y%m%d") + "2359"
        parts.append(f"submittedDate:[{low} TO {high}]")
    if not parts:
        raise InvalidSource('give a search query (e.g. ti:NeRF OR abs:"neural radiance") or a category')
    return parts[0] if len(parts) == 1 else " AND ".join(f"({p})" for p in parts)


def _published_date(record: Record) -> date:
    return datetime.fromisoformat(record.published).astimezone(timezone.utc).date()


def _in_window(record: Record, start: date | None, end: date | None) -> bool:
    day = _published_date(record)
    return (start is None or day >= start) and (end is None or day <= end)


def _in_categories(record: Record, categories: list[str]) -> bool:
    if not categories:
        return True
    return any(rc == c or rc.startswith(c + ".") for c in categories for rc in record.categories)
