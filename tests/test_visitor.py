"""A hostile visitor on a hosted Space: the server's key never reaches a visitor's URL, `public` refuses every address
of the server's own network, connections go to the address that was checked, and messages on the page name no
server address and quote no server answer.

The model servers here are small loopback listeners (tests/plugins/openai_listener.py) that record every request's
headers and answer the OpenAI chat API with a short streamed reply (nothing leaves the machine).
"""
from __future__ import annotations

import logging
import datetime as dt
import socket
import ssl

import gradio as gr
import httpx2
import pytest

import app
from chatpaper import visitor
from chatpaper.settings import Settings
from chatpaper.visitor import CheckedURL, PinnedTransport, RefusedBaseURL, check_public_url, visitor_settings
from tests.plugins.openai_listener import INTERNAL_ANSWER

SERVER_KEY = "sk-server-secret-5b1e"
VISITOR_KEY = "sk-visitor-own-77aa"
@pytest.fixture
def small_pdf(corpus_dir):
    return str(corpus_dir / "phrase_generation_vectors_acl2014.pdf")


def serve_backend(monkeypatch, url: str, rule: str | None = None) -> None:
    """The server's environment: the openai backend at ``url`` with the server's secret key (a Space's secrets)."""
    monkeypatch.setenv("CHATPAPER_BACKEND", "openai")
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    monkeypatch.setenv("OPENAI_API_KEY", SERVER_KEY)
    monkeypatch.setenv("CHATPAPER_MODEL", "stub")
    monkeypatch.setenv("HF_TOKEN", "hf_server_secret")
    if rule:
        monkeypatch.setenv("CHATPAPER_VISITOR_BASE_URL", rule)


def run(pdf, **kw):
    return list(app.digest("", pdf, ["en"], **kw))


def test_a_visitor_url_never_gets_the_server_key(listeners, monkeypatch, small_pdf, tmp_path):
    server, theirs = listeners(), listeners()
    serve_backend(monkeypatch, server.url, rule="any")  # the loosest rule: loopback allowed, the key still withheld
    run(small_pdf, base_url=theirs.url)  # the key field left empty
    assert theirs.requests, "the visitor's listener was never called"
    assert not any(SERVER_KEY in a for a in theirs.authorizations())
    assert server.requests == []
    monkeypatch.setenv("CHATPAPER_CACHE_DIR", str(tmp_path / "second"))  # the model is called again
    run(small_pdf, base_url=theirs.url, api_key=VISITOR_KEY)  # their own key goes to their own server
    assert f"Bearer {VISITOR_KEY}" in theirs.authorizations()
    assert not any(SERVER_KEY in a for a in theirs.authorizations())
    run(small_pdf)  # a visitor who types nothing uses the server's backend, with the server's key
    assert server.authorizations() and all(a == f"Bearer {SERVER_KEY}" for a in server.authorizations())


def test_the_server_backend_never_gets_a_visitor_key():
    server = Settings(backend="openai", openai_base_url="http://10.0.0.2:8000/v1", openai_api_key=SERVER_KEY,
                      model="private-model", hf_token="hf_server", hf_base_url="http://10.0.0.3/v1",
                      visitor_base_url="public")
    mine = visitor_settings(server, api_key=VISITOR_KEY)
    assert mine.openai_base_url == visitor.DEFAULT_OPENAI_URL and mine.openai_api_key == VISITOR_KEY
    assert mine.model == "" and mine.hf_token == ""  # the server's model is the server's server's
    hf = visitor_settings(server, backend="hf", api_key="hf_visitor")
    assert hf.hf_token == "hf_visitor" and hf.hf_base_url == "" and hf.openai_api_key == ""
    theirs = visitor_settings(server, base_url="https://8.8.8.8/v1")  # public IP literal: no DNS needed
    assert theirs.openai_api_key == "" and theirs.hf_token == "" and theirs.guard_base_url
    assert visitor_settings(server) == server  # nothing typed: the server's own settings, key and all


@pytest.mark.parametrize("url, why", [
    ("https://127.0.0.1:8443/v1", "loopback"),
    ("https://[::1]/v1", "loopback"),
    ("https://localhost/v1", "loopback"),  # a host name that resolves to loopback
    ("https://10.0.0.7/v1", "private"),
    ("https://192.168.1.20/v1", "private"),
    ("https://169.254.169.254/latest/meta-data/", "link-local"),  # the cloud metadata service
    ("https://[fd00:ec2::254]/", "private"),  # AWS's IPv6 metadata address
    ("https://[::ffff:169.254.169.254]/", "link-local"),  # the same, written as IPv4-mapped IPv6
    ("https://100.100.100.200/", "not a public"),  # Alibaba's metadata address (shared address space)
    ("https://0.0.0.0:7860/", "unspecified"),
    ("http://api.openai.com/v1", "only to https"),
    ("ftp://example.com/v1", "only to https"),
])
def test_public_refuses_the_servers_own_network(url, why):
    with pytest.raises(RefusedBaseURL) as excinfo:
        check_public_url(url)
    assert why in str(excinfo.value)


@pytest.fixture
def fake_dns(monkeypatch):
    """Host names of our choosing: name -> list of addresses, answered in order on each lookup (a rebinding)."""
    answers: dict[str, list[list[str]]] = {}
    lookups: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        addresses = answers[host].pop(0) if len(answers[host]) > 1 else answers[host][0]
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in addresses]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    answers["lookups"] = lookups  # type: ignore[assignment]
    return answers


def test_public_refuses_a_name_with_any_private_address(fake_dns):
    fake_dns["internal.example"] = [["10.20.30.40"]]
    fake_dns["mixed.example"] = [["93.184.216.34", "127.0.0.1"]]  # one public address is not enough
    fake_dns["metadata.example"] = [["169.254.169.254"]]
    for host, why in [("internal.example", "private"), ("mixed.example", "loopback"),
                      ("metadata.example", "link-local")]:
        with pytest.raises(RefusedBaseURL) as excinfo:
            check_public_url(f"https://{host}/v1")
        message = str(excinfo.value)
        assert why in message and host in message
        assert "10.20.30.40" not in message and "169.254" not in message  # what the server's DNS says stays inside
    fake_dns["api.example"] = [["93.184.216.34"]]
    assert check_public_url("https://api.example/v1").address == "93.184.216.34"


def test_the_connection_goes_to_the_checked_address(fake_dns, listeners):
    # A rebinding name: public when checked, loopback a moment later. The client connects to the checked address.
    fake_dns["rebind.example"] = [["93.184.216.34"], ["127.0.0.1"]]
    client = visitor.pinned_client("https://rebind.example/v1")
    assert client._transport.checked.address == "93.184.216.34"
    assert fake_dns["lookups"] == ["rebind.example"]  # looked up once, at the check; httpx2 never asks again
    client.close()
    # The pinned transport really sends to its address: a name nothing resolves reaches the loopback listener,
    # with its own name in the Host header; any other host (a redirect elsewhere) is refused.
    theirs = listeners()
    checked = CheckedURL(f"http://visitor.invalid:{theirs.port}/v1", "http", "visitor.invalid", theirs.port,
                         "127.0.0.1")
    with httpx2.Client(transport=PinnedTransport(checked), follow_redirects=True) as pinned:
        assert pinned.get(f"http://visitor.invalid:{theirs.port}/v1/models").status_code == 200
        assert theirs.requests[-1][1]["host"] == f"visitor.invalid:{theirs.port}"
        with pytest.raises(httpx2.ConnectError, match="not the checked host"):
            pinned.get(f"http://127.0.0.1:{theirs.port}/v1/models")
        with pytest.raises(httpx2.ConnectError, match="not the checked host"):
            pinned.get(f"http://visitor.invalid:{theirs.port + 1}/v1/models")  # same host, another port


def _certificate(tmp_path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for ``name``: the server's TLS context and a client context that trusts it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_pem, key_pem = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_pem, key_pem)
    return server, ssl.create_default_context(cafile=str(cert_pem))


def test_pinned_https_checks_the_certificate_of_the_name(listeners, tmp_path):
    # TCP goes to the pinned address; TLS still sends the name (SNI) and checks the certificate against it.
    server_tls, trust = _certificate(tmp_path, "visitor.test")
    theirs = listeners(tls=server_tls)
    checked = CheckedURL(f"https://visitor.test:{theirs.port}/v1", "https", "visitor.test", theirs.port, "127.0.0.1")
    with httpx2.Client(transport=PinnedTransport(checked, verify=trust)) as pinned:
        assert pinned.get(f"https://visitor.test:{theirs.port}/v1/models").json()["data"][0]["id"] == "stub"
    other = CheckedURL(f"https://other.test:{theirs.port}/v1", "https", "other.test", theirs.port, "127.0.0.1")
    with httpx2.Client(transport=PinnedTransport(other, verify=trust)) as pinned:
        with pytest.raises(httpx2.ConnectError, match="certificate|hostname"):
            pinned.get(f"https://other.test:{theirs.port}/v1/models")


def test_pinned_client_follows_no_redirect(listeners):
    inside = listeners()
    redirector = listeners(redirect=inside.url + "/chat/completions")
    checked = CheckedURL(redirector.url, "http", "127.0.0.1", redirector.port, "127.0.0.1")
    with httpx2.Client(transport=PinnedTransport(checked), follow_redirects=False) as pinned:
        assert pinned.post(redirector.url + "/chat/completions", json={}).status_code == 302
    assert inside.requests == []


def test_public_rule_in_the_app_refuses_with_a_clean_message(listeners, monkeypatch, small_pdf):
    server, theirs = listeners(), listeners()
    serve_backend(monkeypatch, server.url, rule="public")
    for url in (theirs.url, f"https://localhost:{theirs.port}/v1", "https://169.254.169.254/v1"):
        with pytest.raises(gr.Error) as excinfo:
            run(small_pdf, base_url=url)
        message = excinfo.value.message
        assert "Refused" in message and "for visitors" in message
        assert server.url not in message and str(server.port) not in message and "Traceback" not in message
    assert theirs.requests == [] and server.requests == []
    monkeypatch.setenv("CHATPAPER_VISITOR_BASE_URL", "off")
    with pytest.raises(gr.Error, match="does not connect to a base URL typed by a visitor"):
        run(small_pdf, base_url="https://8.8.8.8/v1")


def test_default_rule_is_public_on_a_space_or_beyond_loopback():
    assert Settings().visitor_rule == "any"  # python app.py on 127.0.0.1
    assert Settings(space_id="someone/chatpaper").visitor_rule == "public"
    assert Settings(server_name="0.0.0.0").visitor_rule == "public"
    assert Settings(server_name="0.0.0.0", visitor_base_url="off").visitor_rule == "off"
    assert Settings.from_env({"SPACE_ID": "a/b", "GRADIO_SERVER_NAME": "0.0.0.0"}).visitor_rule == "public"
    with pytest.raises(Exception, match="not one of off, public, any"):
        Settings(visitor_base_url="sometimes").visitor_rule


def test_page_errors_name_no_server_address_and_quote_no_server_answer(listeners, monkeypatch, small_pdf, caplog):
    for status in (401, 500, 400):
        server = listeners(status=status)
        serve_backend(monkeypatch, server.url)
        with caplog.at_level(logging.WARNING), pytest.raises(gr.Error) as excinfo:
            run(small_pdf)
        message = excinfo.value.message
        assert str(status) in message
        assert server.url not in message and f":{server.port}" not in message and "127.0.0.1" not in message
        assert INTERNAL_ANSWER not in message and "10.0.0.3" not in message
        assert INTERNAL_ANSWER in caplog.text and str(server.port) in caplog.text  # the log keeps both
        assert SERVER_KEY not in caplog.text


def test_openai_backend_sends_a_visitor_url_through_the_pinned_transport(fake_dns):
    from chatpaper.backends import get_backend

    fake_dns["api.visitor.example"] = [["93.184.216.34"]]
    server = Settings(backend="openai", openai_api_key=SERVER_KEY, visitor_base_url="public")
    backend = get_backend(visitor_settings(server, base_url="https://api.visitor.example/v1", model="m"))
    client = backend._client()
    transport = client._client._transport  # the SDK's httpx2 client
    assert isinstance(transport, PinnedTransport) and transport.checked.address == "93.184.216.34"
    assert client._client.follow_redirects is False and client.api_key != SERVER_KEY
    client.close()
    own = get_backend(server)._client()  # the server's own URL: the SDK's ordinary client
    assert not isinstance(own._client._transport, PinnedTransport)
    own.close()


def test_a_visitor_cannot_name_an_in_process_model_on_a_hosted_server():
    hosted = Settings(space_id="someone/chatpaper")
    for backend, model in [("transformers", "/etc"), ("transformers", "someone/huge-model"), ("local", "/tmp/x.gguf")]:
        with pytest.raises(Exception, match="runs only this server's own model"):
            visitor_settings(hosted, backend=backend, model=model)
    assert visitor_settings(hosted, backend="local").backend == "local"  # the server's own model: fine
    assert visitor_settings(Settings(), backend="transformers", model="/models/mine").model == "/models/mine"  # local


def test_a_visitor_choosing_another_backend_does_not_inherit_the_servers_model_name():
    """CHATPAPER_MODEL=gpt-4o-mini on the server is its openai model; a visitor who picks the bundled local model
    gets the local default (the local backend refuses names it does not bundle), and one who names a model keeps it."""
    from chatpaper.backends import local

    server = Settings(openai_api_key="sk-server", model="gpt-4o-mini")
    chosen = visitor.visitor_settings(server, backend="local")
    assert chosen.model == "" and local.bundled_model(chosen) is local.BUNDLED[local.DEFAULT_BUNDLED]
    assert visitor.visitor_settings(server, backend="openai").model == "gpt-4o-mini"  # its own backend: kept
    assert visitor.visitor_settings(server).model == "gpt-4o-mini"
    assert visitor.visitor_settings(server, backend="local", model="qwen2.5-coder-1.5b").model == "qwen2.5-coder-1.5b"
