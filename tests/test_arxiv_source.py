"""ArxivClient against the loopback arXiv (recorded answers): records, errors, retries, timeouts, PDFs, search, cache."""
from __future__ import annotations

import json
import threading
import time

import arxiv
import pytest

from chatpaper.arxiv_source import ArxivClient, fetch_record_and_pdf
from chatpaper.cache import Cache
from chatpaper.errors import InvalidSource, NetworkError, PaperNotFound, PaperWithdrawn, PdfError
from chatpaper.paper import Record
from chatpaper.settings import Settings


@pytest.fixture
def settings(arxiv_server) -> Settings:
    return Settings.from_env()


def test_record_has_every_field(arxiv_server, settings):
    record = ArxivClient(settings).fetch_record("1111.2011v2")
    assert record.title == "Quantum Criticality for Extended Nodes on a Bethe Lattice in the Large Connectivity Limit"
    assert record.authors == ["James M. Murray", "Adrian Del Maestro", "Zlatko Tesanovic"]
    assert record.abstract.startswith("Theoretical description of anisotropic systems, such as layered superconductors")
    assert "\n" not in record.abstract and "  " not in record.abstract
    assert (record.id, record.version, record.versioned_id) == ("1111.2011", 2, "1111.2011v2")
    assert record.comment == "8 pages, 3 figures. Published version"
    assert record.journal_ref == "Phys. Rev. B 85, 115117 (2012)"
    assert record.doi == "10.1103/PhysRevB.85.115117"
    assert record.categories == ["cond-mat.str-el", "cond-mat.stat-mech"]
    assert record.primary_category == "cond-mat.str-el"
    assert record.published == "2011-11-08T18:48:36+00:00"
    assert record.updated == "2012-04-02T12:38:54+00:00"
    assert record.abs_url == "https://arxiv.org/abs/1111.2011v2"
    assert record.pdf_url == f"{arxiv_server.base}/pdf/1111.2011v2"
    assert record.pdf_path is None


def test_old_style_and_unversioned_ids(arxiv_server, settings):
    client = ArxivClient(settings)
    old = client.fetch_record("https://arxiv.org/abs/quant-ph/0201082v1")
    assert (old.id, old.version) == ("quant-ph/0201082", 1)
    assert old.title.startswith("Quantum Computers and Quantum Computer Languages")
    latest = client.fetch_record("arXiv:1605.08386")  # no version: arXiv answers the latest
    assert (latest.id, latest.version, latest.title) == ("1605.08386", 1, "Heat-bath random walks with Markov bases")
    assert arxiv_server.requests[-1].params["id_list"] == "1605.08386"


@pytest.mark.parametrize("arxiv_id", ["2401.99999", "0808.05394"])
def test_unknown_id(arxiv_server, settings, arxiv_id):
    with pytest.raises(PaperNotFound, match=rf"no arXiv paper {arxiv_id}; check the id"):
        ArxivClient(settings).fetch_record(arxiv_id)


def test_unknown_version(arxiv_server, settings):
    with pytest.raises(PaperNotFound, match=r"no arXiv paper 1111.2011v7"):
        ArxivClient(settings).fetch_record("1111.2011v7")


def test_arxiv_rejecting_the_id(arxiv_server, settings):
    arxiv_server.fail_next(1, status=400)
    with pytest.raises(PaperNotFound, match="rejected"):
        ArxivClient(settings).fetch_record("2401.16144")
    assert arxiv_server.count("api") == 1  # a 400 is not retried


def test_withdrawn_paper(arxiv_server, settings):
    arxiv_server.add_entry("1111.2011v3", comment="This paper has been withdrawn by the author due to a sign error")
    with pytest.raises(PaperWithdrawn, match=r"1111.2011v3 was withdrawn .*sign error.*1111.2011v2"):
        ArxivClient(settings).fetch_record("1111.2011v3")
    assert isinstance(PaperWithdrawn("x"), PaperNotFound)


def test_429_then_success(arxiv_server, settings):
    arxiv_server.fail_next(2, status=429)
    started = time.monotonic()
    record = ArxivClient(settings).fetch_record("2104.12255v1")
    assert record.title == "0" and record.authors == ["Quan Thoi Minh Nguyen"]
    assert arxiv_server.count("api") == 3
    assert time.monotonic() - started >= 0.25 + 0.5  # backoff doubles from max(delay, 0.25 s)


def test_retry_after_is_honoured(arxiv_server, settings):
    arxiv_server.fail_next(1, status=503, retry_after="1")
    started = time.monotonic()
    ArxivClient(settings).fetch_record("2104.12255v1")
    assert time.monotonic() - started >= 1.0


def test_5xx_that_does_not_go_away(arxiv_server, settings):
    arxiv_server.fail_next(10, status=503)
    with pytest.raises(NetworkError, match="HTTP 503"):
        ArxivClient(settings).fetch_record("2104.12255v1")
    assert arxiv_server.count("api") == 4  # one try and three retries


@pytest.mark.timeout(30)
def test_server_that_never_answers(arxiv_server):
    arxiv_server.hang_next()
    settings = Settings.from_env(timeout=0.5)
    started = time.monotonic()
    with pytest.raises(NetworkError, match=r"did not answer within 0.5 s"):
        ArxivClient(settings).fetch_record("2104.12255v1")
    assert time.monotonic() - started < 5
    assert arxiv_server.count("api") == 1  # a silent server is not asked again


def test_dead_network(arxiv_server, settings):
    client = ArxivClient(settings)
    client.fetch_record("2104.12255v1")  # leaves a keep-alive connection that stop() must cut
    arxiv_server.stop()
    with pytest.raises(NetworkError, match="cannot reach arXiv .*127.0.0.1.*check the network"):
        client.fetch_record("1605.08386")
    assert arxiv_server.count() == 1


def test_requests_are_spaced_by_the_delay_across_clients(arxiv_server):
    settings = Settings.from_env(arxiv_delay=0.3)
    ids = ["2104.12255v1", "1605.08386", "1707.08567", "astro-ph/0601001"]
    threads = [threading.Thread(target=ArxivClient(settings).fetch_record, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    times = sorted(r.time for r in arxiv_server.requests)
    assert len(times) == 4
    assert min(b - a for a, b in zip(times, times[1:])) >= 0.28


def test_arxiv_package_still_has_the_session_we_replace():
    # We give arxiv.Client our session (timeouts, rate limit, retries); a release that renames it must fail here.
    client = arxiv.Client()
    assert hasattr(client, "_session") and hasattr(client, "query_url_format")


def test_records_are_cached(arxiv_server, settings):
    first = ArxivClient(settings).fetch_record("1111.2011v2")
    ArxivClient(settings).fetch_record("https://arxiv.org/abs/1111.2011v2")  # a new client: as after a restart
    assert arxiv_server.count("api") == 1
    arxiv_server.stop()
    again = ArxivClient(settings).fetch_record("1111.2011v2")
    assert again == first and arxiv_server.count() == 1


def test_unversioned_id_served_from_cache_within_a_day_and_stale_when_down(arxiv_server, settings):
    client = ArxivClient(settings)
    assert client.fetch_record("1605.08386").version == 1
    assert client.fetch_record("1605.08386").version == 1
    assert arxiv_server.count("api") == 1
    cache = Cache(settings.cache_path)
    cache.put_json("latest", "1605.08386", {"version": 1, "fetched": time.time() - 2 * 86400})
    client.fetch_record("1605.08386")  # a day old: asked again
    assert arxiv_server.count("api") == 2
    cache.put_json("latest", "1605.08386", {"version": 1, "fetched": time.time() - 2 * 86400})
    arxiv_server.stop()
    assert client.fetch_record("1605.08386").title == "Heat-bath random walks with Markov bases"
    assert arxiv_server.count("api") == 2  # arXiv was down: the stale cached record was served


def test_pdf_download_and_cache_hit_with_server_down(arxiv_server, settings, arxiv_fixtures):
    client = ArxivClient(settings)
    record = client.fetch_record("1111.2011v2")
    path = client.download_pdf(record)
    assert path.parent == settings.cache_path / "pdf" and path.name == "1111.2011v2.pdf"
    assert path.read_bytes() == (arxiv_fixtures / "1111.2011v2.pdf").read_bytes()
    assert arxiv_server.count("pdf") == 1
    arxiv_server.stop()
    assert client.download_pdf(record) == path
    again = fetch_record_and_pdf("https://arxiv.org/pdf/1111.2011v2.pdf", Settings.from_env(), progress=None)
    assert again.pdf_path == str(path) and again.title == record.title
    assert arxiv_server.count() == 2


def test_fetch_record_and_pdf_reports_progress(arxiv_server, settings):
    messages = []
    record = fetch_record_and_pdf(" <https://arxiv.org/abs/1111.2011v2> ", settings, messages.append)
    assert record.versioned_id == "1111.2011v2"
    assert record.pdf_path and open(record.pdf_path, "rb").read(5) == b"%PDF-"
    assert messages[0] == "looking up arXiv 1111.2011v2"
    assert messages[1].startswith("downloading the PDF of 1111.2011v2: Quantum Criticality")
    fetch_record_and_pdf("1111.2011v2", settings, messages.append)
    assert messages[3].startswith("PDF from the cache of 1111.2011v2")


def _no_pdf_left(settings: Settings) -> bool:
    folder = settings.cache_path / "pdf"
    return not folder.exists() or not any(folder.iterdir())


def test_html_where_a_pdf_was_expected(arxiv_server, settings):
    arxiv_server.pdf_mode = "html"
    client = ArxivClient(settings)
    record = client.fetch_record("1111.2011v2")
    with pytest.raises(PdfError, match="arXiv returned a web page, not a PDF, for 1111.2011v2"):
        client.download_pdf(record)
    assert _no_pdf_left(settings)
    arxiv_server.pdf_mode = "pdf"  # arXiv recovers: the next try works
    assert client.download_pdf(record).read_bytes()[:5] == b"%PDF-"


@pytest.mark.parametrize("declare_length", [True, False])
def test_pdf_over_the_cap(arxiv_server, declare_length):
    settings = Settings.from_env(max_pdf_mb=1.0)
    arxiv_server.huge_pdf(3 * 1024 * 1024, declare_length=declare_length)
    client = ArxivClient(settings)
    with pytest.raises(PdfError, match=r"over the limit of 1 MB; raise CHATPAPER_MAX_PDF_MB"):
        client.download_pdf(client.fetch_record("1111.2011v2"))
    assert _no_pdf_left(settings)


def test_missing_pdf(arxiv_server, settings):
    client = ArxivClient(settings)
    with pytest.raises(PdfError, match="no PDF for 2104.12255v1 \\(HTTP 404\\)"):
        client.download_pdf(client.fetch_record("2104.12255v1"))


@pytest.mark.timeout(30)
def test_pdf_server_that_never_answers(arxiv_server):
    settings = Settings.from_env(timeout=0.5)
    client = ArxivClient(settings)
    record = client.fetch_record("1111.2011v2")
    arxiv_server.hang_next(kind="pdf")
    with pytest.raises(NetworkError, match="PDF of 1111.2011v2"):
        client.download_pdf(record)


@pytest.mark.parametrize("url", ["https://evil.example/paper.pdf", "file:///etc/passwd", "http://10.0.0.1/pdf/1"])
def test_pdf_links_off_arxiv_are_refused(arxiv_server, settings, url):
    record = Record(title="x", authors=[], id="2401.16144", version=1, pdf_url=url)
    with pytest.raises(InvalidSource, match="only arXiv links are fetched"):
        ArxivClient(settings).download_pdf(record)
    assert arxiv_server.count() == 0


def test_search_pages_through_results_newest_first(arxiv_server, settings):
    records = ArxivClient(settings, page_size=10).search("testing", max_results=30)
    api = [r.params for r in arxiv_server.requests]
    assert [(p["start"], p["max_results"]) for p in api] == [("0", "10"), ("10", "10"), ("20", "10")]
    assert all(p["search_query"] == "testing" and p["sortBy"] == "submittedDate" for p in api)
    assert len(records) == 30 and len({r.versioned_id for r in records}) == 30
    assert [r.published for r in records] == sorted((r.published for r in records), reverse=True)
    titles = {r.title for r in records}
    assert "Testing Deep Learning Models: A First Comparative Study of Multiple Testing Techniques" in titles
    # search results are cached: looking one up afterwards needs no request
    ArxivClient(settings).fetch_record(records[5].versioned_id)
    assert arxiv_server.count("api") == 3


def test_search_window_and_categories(arxiv_server, settings):
    arxiv_server.add_entry("2411.00001v1", title="In window", published="2024-11-05", categories=["cs.CV", "cs.LG"])
    arxiv_server.add_entry("2411.00002v1", title="Newest", published="2024-11-06T08:00:00Z", categories=["cs.CV"])
    arxiv_server.add_entry("2410.00003v2", title="Too old", published="2024-10-20", categories=["cs.CV"])
    arxiv_server.add_entry("2411.00004v1", title="Other field", published="2024-11-04", categories=["math.AG"])
    arxiv_server.add_feed("*", ["2411.00001v1", "2410.00003v2", "2411.00004v1", "2411.00002v1"])
    records = ArxivClient(settings).search('ti:NeRF OR abs:"neural radiance"', categories=["cs.CV"],
                                           start_date="2024-11-01", end_date="2024-11-07", max_results=10)
    assert [r.title for r in records] == ["Newest", "In window"]
    assert records[1].categories == ["cs.CV", "cs.LG"] and records[1].published.startswith("2024-11-05")
    sent = arxiv_server.requests[-1].params["search_query"]
    assert sent == ('(ti:NeRF OR abs:"neural radiance") AND (cat:cs.CV) AND '
                    "(submittedDate:[202411010000 TO 202411072359])")


def test_search_arxiv_rejects(arxiv_server, settings):
    arxiv_server.fail_next(1, status=400)
    with pytest.raises(InvalidSource, match="arXiv rejected the request for the search 'ti:\\(' .*check the id or query"):
        ArxivClient(settings).search("ti:(")


def test_search_without_results(arxiv_server, settings):
    assert ArxivClient(settings).search("ti:nothing_recorded_for_this") == []


@pytest.mark.parametrize("kwargs, message", [
    ({"query": ""}, "give a search query"),
    ({"query": "x", "categories": ["cs.CV OR 1"]}, "not an arXiv category"),
    ({"query": "x", "start_date": "yesterday"}, "expected YYYY-MM-DD"),
    ({"query": "x", "max_results": 0}, "at least 1"),
])
def test_bad_searches(arxiv_server, settings, kwargs, message):
    with pytest.raises(InvalidSource, match=message):
        ArxivClient(settings).search(**kwargs)
    assert arxiv_server.count() == 0


def test_pdf_redirects_are_followed_only_on_arxiv(arxiv_server, settings):
    client = ArxivClient(settings)
    record = client.fetch_record("1111.2011v2")
    arxiv_server.pdf_redirect = "https://elsewhere.example/{name}.pdf"
    with pytest.raises(InvalidSource, match="only arXiv links are fetched; refusing https://elsewhere.example/"):
        client.download_pdf(record)
    arxiv_server.pdf_redirect = "{base}/pdf/{name}.pdf"  # same host: followed
    assert client.download_pdf(record).read_bytes()[:5] == b"%PDF-"
    assert [r.path for r in arxiv_server.requests if r.kind == "pdf"][-2:] == ["/pdf/1111.2011v2", "/pdf/1111.2011v2.pdf"]


def test_cli_info_json(arxiv_server, capsys):
    from chatpaper.cli import main

    assert main(["info", "https://arxiv.org/abs/1111.2011v2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"id", "version", "title", "authors", "abstract", "comment", "categories", "published", "updated",
            "abs_url", "pdf_url", "pdf_path"} <= out.keys()
    assert (out["id"], out["version"], out["authors"][0]) == ("1111.2011", 2, "James M. Murray")
    assert open(out["pdf_path"], "rb").read(5) == b"%PDF-"
    assert main(["info", "https://example.com/abs/1111.2011"]) == 1
    assert "only arXiv links are fetched" in capsys.readouterr().err
