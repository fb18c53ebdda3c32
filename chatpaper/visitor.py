"""What a web visitor may choose for their own requests: a backend, a model, an API key and a base URL.

On a hosted Space the visitor is a stranger. Two rules keep the server's secrets and network out of their reach:

- The server's keys go only to the server's own endpoints. A visitor who types a base URL brings their own key (or
  none); a visitor who types only a key uses the provider's default endpoint (api.openai.com, HF Inference
  Providers), never the server's private one.
- A visitor's base URL is checked by the rule in ``Settings.visitor_rule``: ``off`` refuses it, ``any`` takes it
  (a local ``python app.py``, where the visitor is the owner), ``public`` takes only https to a host whose every
  address is public, and the connection goes to the address that was checked (``PinnedTransport``): a DNS answer
  that changes between the check and the connection (DNS rebinding) cannot steer it to the server's network.

The URL is parsed once, by httpx2, the library that connects (the openai SDK sends through it).
"""
from __future__ import annotations

import ipaddress
import logging
import socket
from dataclasses import dataclass

import httpx2 as httpx  # the openai SDK (3.x) and huggingface_hub send through httpx2, httpx's successor

from chatpaper.backends import default_backend_name, is_in_process
from chatpaper.errors import ChatPaperError
from chatpaper.settings import Settings

log = logging.getLogger(__name__)

#: The base URL a visitor's own key is used with when they type no base URL (the openai backend's default).
DEFAULT_OPENAI_URL = "https://api.openai.com/v1"


class RefusedBaseURL(ChatPaperError):
    """A visitor's base URL that this server will not connect to; the message says why."""


@dataclass(frozen=True)
class CheckedURL:
    """A visitor's base URL that passed the ``public`` rule, with the address the connection must go to."""

    url: str  #: the URL as httpx parsed it
    scheme: str  #: "https" (the rule allows no other; tests pin plain http on loopback)
    host: str  #: its host name (or IP literal), lower case
    port: int  #: its port (443 when not written)
    address: str  #: the public IP address that was checked; connections go here and nowhere else


def visitor_settings(server: Settings, *, backend: str = "", model: str = "", base_url: str = "",
                     api_key: str = "") -> Settings:
    """The server's settings with a visitor's choices on top, the server's keys kept off the visitor's endpoints.

    Raises RefusedBaseURL when the base URL breaks the server's rule, ChatPaperError for a base URL with a
    backend that takes none.
    """
    backend = (backend or "").strip().lower()
    backend = "" if backend == "auto" else backend
    key, url, model = (api_key or "").strip(), (base_url or "").strip(), (model or "").strip()
    if not backend and (key or url):
        backend = "openai"  # a key or a server typed here means: use it, not whatever the server's env picks
    changes: dict = {"backend": backend or None, "model": model or None}
    if backend and not model and backend != default_backend_name(server):
        # The server's CHATPAPER_MODEL names a model of its own backend (gpt-4o-mini), not of the one chosen here:
        # the chosen backend's default answers (the local backend refuses a name it does not bundle).
        changes["model"] = ""
    if model and is_in_process(backend) and server.visitor_rule != "any":
        # An in-process model named by a visitor would be a folder on this server or a download from the Hub.
        raise ChatPaperError(f"The {backend} backend runs only this server's own model: leave Model empty.")
    if url:
        if backend != "openai":
            raise ChatPaperError("The base URL is for an OpenAI-compatible server: choose that backend (Hugging Face "
                                 "endpoints and TGI speak it too), or leave the base URL empty.")
        rule = server.visitor_rule
        if rule == "off":
            raise RefusedBaseURL("This server does not connect to a base URL typed by a visitor "
                                 "(CHATPAPER_VISITOR_BASE_URL=off): leave it empty to use the server's model, or "
                                 "give only your API key to use api.openai.com.")
        checked = check_public_url(url) if rule == "public" else None
        # The visitor's server gets the visitor's key or none: every server secret is dropped.
        changes.update(openai_base_url=checked.url if checked else url, openai_api_key=key, hf_token="",
                       hf_base_url="", model=model, guard_base_url=checked is not None)
    elif key:
        # The visitor's key goes to the provider's own endpoint, never to a private one the server configured.
        if backend == "hf":
            changes.update(hf_token=key, hf_base_url="", openai_api_key="", model=model)
        elif backend == "openai":
            changes.update(openai_api_key=key, openai_base_url=DEFAULT_OPENAI_URL, hf_token="", model=model)
    return server.replace(**changes)


def check_public_url(url: str) -> CheckedURL:
    """``url`` if it is https to a host whose every address is public; the address to connect to with it.

    Raises RefusedBaseURL, whose message says why (never which address a host name resolved to).
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise RefusedBaseURL(f"{url!r} is not a URL: give one such as https://api.example.com/v1.") from None
    if parsed.scheme != "https":
        raise RefusedBaseURL(f"Refused {url!r}: this server connects only to https base URLs for visitors.")
    if parsed.userinfo:
        raise RefusedBaseURL("Refused the base URL: no user name or password in it; give the key in the API key "
                             "field.")  # not echoed: the URL holds a secret
    host = parsed.host.lower().rstrip(".")
    if not host:
        raise RefusedBaseURL(f"Refused {url!r}: it names no host.")
    port = parsed.port or 443
    literal = _ip(host)
    if literal is not None:
        why = _not_public(literal)
        if why:
            raise RefusedBaseURL(f"Refused {url!r}: {host} is {why}; this server connects only to public "
                                 "addresses for visitors.")
        return CheckedURL(str(parsed), parsed.scheme, host, port, str(literal))
    addresses = resolve(host, port)
    if not addresses:
        raise RefusedBaseURL(f"Refused {url!r}: the host name {host} does not resolve; check the spelling.")
    for address in addresses:
        why = _not_public(address)
        if why:
            log.warning("visitor base URL refused: %s resolves to %s (%s)", host, address, why)
            raise RefusedBaseURL(f"Refused {url!r}: {host} resolves to {why}; this server connects only to "
                                 "public addresses for visitors.")
    return CheckedURL(str(parsed), parsed.scheme, host, port, str(addresses[0]))


def resolve(host: str, port: int) -> list:
    """Every IP address ``host`` resolves to (empty when it does not resolve)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        return []
    found = []
    for *_, sockaddr in infos:
        address = _ip(sockaddr[0].split("%", 1)[0])
        if address is not None and address not in found:
            found.append(address)
    return found


def _ip(text: str):
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def _not_public(address) -> str:
    """Why ``address`` is not a public one ("" when it is)."""
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv6 form of an IPv4 address (mapped, 6to4, Teredo) is as public as the IPv4 address inside it.
        inner = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if inner is not None:
            return _not_public(inner)
    if address.is_unspecified:
        return "an unspecified address (0.0.0.0 or ::, this server itself)"
    if address.is_loopback:
        return "a loopback address (this server itself)"
    if address.is_link_local:
        return "a link-local address (cloud metadata services live there)"
    if address.is_private and not address.is_global:
        return "a private network address"
    if address.is_multicast or address.is_unspecified or address.is_reserved or not address.is_global:
        return "not a public internet address"
    return ""


class PinnedTransport(httpx.HTTPTransport):
    """An httpx transport that sends to one checked host only, connecting to the address checked for it.

    The URL keeps its host name, so the Host header and TLS (SNI and the certificate check, through httpx's
    ``sni_hostname`` request extension) are those of the name; only the TCP connection goes to ``address``. A
    request for any other host or port (a redirect elsewhere) is refused.
    """

    def __init__(self, checked: CheckedURL, **kwargs):
        super().__init__(**kwargs)
        self.checked = checked

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` to the checked address, or refuse it when it is for another host or port."""
        url, checked = request.url, self.checked
        port = url.port or (443 if url.scheme == "https" else 80)
        if (url.scheme, url.host.lower().rstrip("."), port) != (checked.scheme, checked.host, checked.port):
            raise httpx.ConnectError(f"refused: {url.scheme}://{url.host}:{port} is not the checked host",
                                     request=request)
        request.url = url.copy_with(host=checked.address)
        if _ip(checked.host) is None:  # SNI carries names only (RFC 6066, section 3)
            request.extensions = {**request.extensions, "sni_hostname": checked.host}
        return super().handle_request(request)


def pinned_client(url: str, **kwargs) -> httpx.Client:
    """An httpx client for a visitor's base URL: checked now, pinned to the checked address, no redirects."""
    checked = check_public_url(url)
    return httpx.Client(transport=PinnedTransport(checked), follow_redirects=False, trust_env=False, **kwargs)


__all__ = ["CheckedURL", "DEFAULT_OPENAI_URL", "PinnedTransport", "RefusedBaseURL", "check_public_url",
           "pinned_client", "resolve", "visitor_settings"]
