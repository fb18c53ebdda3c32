"""The loopback arXiv fixture itself: other components' tests rely on what it promises in its docstring."""
from __future__ import annotations

import os
import re

import arxiv
import pytest
import requests

from chatpaper.settings import Settings


def _ids(body: bytes) -> list[str]:
    return re.findall(r"<id>https?://arxiv\.org/abs/([^<]+)</id>", body.decode())


def test_environment_points_at_the_server(arxiv_server):
    assert os.environ["CHATPAPER_ARXIV_API_URL"] == arxiv_server.url
    assert arxiv_server.url.startswith("http://127.0.0.1:")
    settings = Settings.from_env()
    assert (settings.arxiv_api_url, settings.arxiv_delay) == (arxiv_server.url, 0.0)


def test_recorded_answer_with_pdf_links_rewritten(arxiv_server):
    body = requests.get(arxiv_server.url, params={"id_list": "1111.2011v2"}, timeout=5).content
    assert _ids(body) == ["1111.2011v2"]
    assert f'href="{arxiv_server.base}/pdf/1111.2011v2"'.encode() in body
    assert b"arxiv.org/pdf/" not in body
    assert b'href="http://arxiv.org/abs/1111.2011v2"' in body  # abstract links stay on arXiv


def test_recorded_error_answer(arxiv_server):
    answer = requests.get(arxiv_server.url, params={"id_list": "abc", "start": 0, "max_results": 100}, timeout=5)
    assert answer.status_code == 400 and b"incorrect id format for abc" in answer.content


def test_pages_cut_from_the_recordings(arxiv_server):
    recorded = requests.get(arxiv_server.url, params={"search_query": "testing", "start": 0, "max_results": 10},
                            timeout=5).content
    cut = requests.get(arxiv_server.url, params={"search_query": "testing", "start": 3, "max_results": 4},
                       timeout=5).content
    assert _ids(cut) == _ids(recorded)[3:7]
    assert b"<opensearch:totalResults>214881</opensearch:totalResults>" in cut
    assert arxiv_server.count("api") == 2 and arxiv_server.requests[-1].params["start"] == "3"


def test_synthetic_entries_and_canned_feeds(arxiv_server):
    arxiv_server.add_entry("2411.00001v1", title="A new paper", published="2024-11-05",
                           authors=["Ada Lovelace"], categories=["cs.CV"])
    arxiv_server.add_entry("2411.00001v2", title="A new paper, revised", published="2024-11-05",
                           updated="2024-11-09")
    arxiv_server.add_feed("ti:new", ["2411.00001", "2104.12255v1"])
    with pytest.raises(KeyError, match="9999.99999"):
        arxiv_server.add_feed("x", ["9999.99999"])
    client = arxiv.Client(delay_seconds=0)
    client.query_url_format = arxiv_server.url + "?{}"
    found = list(client.results(arxiv.Search(query="ti:new")))
    assert [r.get_short_id() for r in found] == ["2411.00001v2", "2104.12255v1"]
    assert found[0].title == "A new paper, revised" and found[0].updated.day == 9
    first = next(client.results(arxiv.Search(id_list=["2411.00001v1"])))
    assert (first.title, [a.name for a in first.authors], first.categories) == ("A new paper", ["Ada Lovelace"], ["cs.CV"])
    assert first.pdf_url == f"{arxiv_server.base}/pdf/2411.00001v1"


def test_pdfs_by_id_and_default(arxiv_server, arxiv_fixtures):
    real = (arxiv_fixtures / "1111.2011v2.pdf").read_bytes()
    assert requests.get(f"{arxiv_server.base}/pdf/1111.2011v2", timeout=5).content == real
    assert requests.get(f"{arxiv_server.base}/pdf/1111.2011", timeout=5).content == real
    assert requests.get(f"{arxiv_server.base}/pdf/2104.12255v1", timeout=5).status_code == 404
    arxiv_server.default_pdf = arxiv_fixtures / "1111.2011v2.pdf"
    assert requests.get(f"{arxiv_server.base}/pdf/2104.12255v1.pdf", timeout=5).content == real
    assert arxiv_server.count("pdf") == 4


def test_faults_apply_in_order_and_by_kind(arxiv_server):
    arxiv_server.fail_next(1, status=503, kind="pdf")
    arxiv_server.fail_next(1, status=429, retry_after="7")
    answer = requests.get(arxiv_server.url, params={"id_list": "1111.2011v2"}, timeout=5)
    assert (answer.status_code, answer.headers["Retry-After"]) == (429, "7")
    assert requests.get(f"{arxiv_server.base}/pdf/1111.2011v2", timeout=5).status_code == 503
    assert requests.get(f"{arxiv_server.base}/pdf/1111.2011v2", timeout=5).status_code == 200
