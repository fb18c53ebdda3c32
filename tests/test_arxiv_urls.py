"""PDF links and redirects are checked with the parser that connects (urllib3's, under requests) and must stay on an
arXiv host and port, or the configured API server's own host and port."""
from __future__ import annotations

import pytest
from urllib3.util import parse_url

from chatpaper.arxiv_source import ArxivClient
from chatpaper.errors import InvalidSource
from chatpaper.paper import Record
from chatpaper.settings import Settings


@pytest.fixture
def settings(arxiv_server) -> Settings:
    return Settings.from_env()


@pytest.mark.parametrize("url", [
    "http://evil.example\\@arxiv.org/x.pdf",  # urlsplit reads arxiv.org; requests would connect to evil.example
    "https://evil.example\\@arxiv.org/x.pdf",
    "https://arxiv.org%2f@evil.example/x.pdf",
    "https://user:pw@arxiv.org/pdf/2401.16144v1",
    "https://arxiv.org:8443/pdf/2401.16144v1",  # an arXiv name on another port
    "http://arxiv.org:443/pdf/2401.16144v1",
    "https://arxiv.org /pdf/2401.16144v1",
])
def test_pdf_links_that_parsers_read_differently_are_refused(arxiv_server, settings, url):
    record = Record(title="x", authors=[], id="2401.16144", version=1, pdf_url=url)
    with pytest.raises(InvalidSource, match="only arXiv links are fetched"):
        ArxivClient(settings).download_pdf(record)
    assert arxiv_server.count() == 0


def test_the_checked_url_is_the_one_fetched(settings):
    client = ArxivClient(settings)
    assert client._checked_url("http://ArXiv.org/pdf/2401.16144v1") == "https://arxiv.org/pdf/2401.16144v1"
    assert parse_url(client._checked_url("https://export.arxiv.org/pdf/1")).host == "export.arxiv.org"


def test_a_redirect_to_another_port_on_the_api_host_is_refused(arxiv_server, settings):
    client = ArxivClient(settings)
    record = client.fetch_record("1111.2011v2")
    api = parse_url(settings.arxiv_api_url)
    arxiv_server.pdf_redirect = f"http://{api.host}:{api.port + 1}/pdf/{{name}}.pdf"
    with pytest.raises(InvalidSource, match=f"refusing http://{api.host}:{api.port + 1}/"):
        client.download_pdf(record)
    arxiv_server.pdf_redirect = "https://arxiv.org:8443/pdf/{name}.pdf"
    with pytest.raises(InvalidSource, match="refusing https://arxiv.org:8443/"):
        client.download_pdf(record)
    assert [r.kind for r in arxiv_server.requests].count("pdf") == 2  # the redirects were never followed
