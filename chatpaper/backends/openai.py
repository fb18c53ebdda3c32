"""The ``openai`` backend: any OpenAI-compatible chat server (OpenAI, DeepSeek, Gemini, Ollama, vLLM, llama.cpp, TGI)."""
from __future__ import annotations

import logging
from urllib.parse import urlparse

from chatpaper.backends import RemoteBackend, Retry, Usage, retry_after
from chatpaper.errors import BackendError, MissingKey
from chatpaper.settings import Settings
from chatpaper.visitor import pinned_client

log = logging.getLogger(__name__)

OFFICIAL_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4o-mini"  # used only against api.openai.com; other servers are asked for their model list
# Servers on your own machine accept any key, but the SDK refuses to start without one.
_PLACEHOLDER_KEY = "not-needed"


def _import_openai():
    try:
        import openai
    except ImportError:
        raise BackendError("The openai backend needs the openai package: pip install 'openai>=1.40,<4'") from None
    return openai


class OpenAIBackend(RemoteBackend):
    """Chat through the OpenAI SDK against ``settings.openai_base_url`` (api.openai.com when empty)."""

    id = "openai"
    label = "OpenAI-compatible server"
    key_env_var = "OPENAI_API_KEY"
    max_parallel = 4
    supports_schema = True  # asked for; a server that refuses response_format is asked again without it

    def __init__(self, settings: Settings, *, retries: int = 3, backoff: float = 1.0):
        self.base_url = (settings.openai_base_url or OFFICIAL_URL).rstrip("/")
        self.official = urlparse(self.base_url).hostname == "api.openai.com"
        if self.official and not settings.openai_api_key:
            raise MissingKey("The openai backend needs an API key for api.openai.com: set OPENAI_API_KEY, or set "
                             "OPENAI_BASE_URL to a local server (Ollama, llama.cpp), or use CHATPAPER_BACKEND=local.")
        self._key = settings.openai_api_key or _PLACEHOLDER_KEY
        self._guard = settings.guard_base_url  # a visitor's URL under the public rule: pinned, no redirects
        self.model = settings.model or (DEFAULT_MODEL if self.official else "")
        self.context_tokens = settings.context_tokens or 32768
        self.timeout = settings.llm_timeout
        # Servers may keep the socket alive with SSE pings while sending no token; this catches that too.
        self.idle_timeout = settings.llm_timeout
        self.retries, self.backoff = retries, backoff
        self._include_usage = True  # cleared once a server rejects stream_options
        # How this server takes a JSON schema, tried in order; a form the server rejects is dropped for good:
        # OpenAI's (and vLLM's, llama.cpp's C++ server's) json_schema, then llama-cpp-python's server's json_object
        # with a schema, then none (the prompt still asks for JSON and the answer is parsed either way).
        self._schema_forms = ["json_schema", "json_object"]
        self._openai = _import_openai()

    def describe(self) -> str:
        """A short name for messages; never the server's address (messages may reach a web visitor)."""
        where = "api.openai.com" if self.official else "the model server"
        return f"the openai backend at {where}" + (f" ({self.model})" if self.model else "")

    def _client(self):
        # One client per request: the key belongs to the request's Settings, never to the process. A visitor's
        # base URL is checked again now and the connection pinned to the checked address (chatpaper.visitor).
        http_client = None
        if self._guard:
            http_client = pinned_client(self.base_url, timeout=self.timeout)
        return self._openai.OpenAI(api_key=self._key, base_url=self.base_url, timeout=self.timeout, max_retries=0,
                                   http_client=http_client)

    def _attempt(self, client, messages, max_tokens, temperature, stop, stop_event, schema=None):
        """One request: open the stream, yield its text, return (Usage, finish_reason)."""
        if not self.model:
            self.model = self._server_model(client)
        stream = self._open_structured(client, messages, max_tokens, temperature, stop, schema)
        usage, finish = Usage(), None
        try:
            for chunk in stream:
                if stop_event.is_set():
                    return usage, finish
                if chunk.usage is not None:
                    details = getattr(chunk.usage, "prompt_tokens_details", None)
                    usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens,
                                  getattr(details, "cached_tokens", None))
                for choice in chunk.choices[:1]:
                    finish = choice.finish_reason or finish
                    if choice.delta and choice.delta.content:
                        yield choice.delta.content
        finally:
            stream.close()
        if finish is None:
            # The stream ended without [DONE]'s finish_reason: the server died or a proxy cut the answer short.
            raise BackendError(f"{self.describe()} ended the answer before it was complete; try again.",
                               detail=self.base_url or "")
        return usage, finish

    def _open_structured(self, client, messages, max_tokens, temperature, stop, schema):
        """Open the stream with the schema in the first form the server accepts (see ``_schema_forms``)."""
        while schema and self._schema_forms:
            form = self._schema_forms[0]
            if form == "json_schema":
                response_format = {"type": "json_schema",
                                   "json_schema": {"name": "answer", "schema": schema, "strict": True}}
            else:
                response_format = {"type": "json_object", "schema": schema}
            try:
                return self._open(client, messages, max_tokens, temperature, stop, response_format)
            except (self._openai.BadRequestError, self._openai.UnprocessableEntityError,
                    self._openai.InternalServerError) as exc:  # llama-cpp-python's server says 500 for it
                if "response_format" not in str(exc):
                    raise
                log.info("%s rejects response_format %s; trying the next form", self.base_url, form)
                self._schema_forms.pop(0)
        return self._open(client, messages, max_tokens, temperature, stop)

    def _open(self, client, messages, max_tokens, temperature, stop, response_format=None):
        kwargs = dict(model=self.model, messages=messages, max_tokens=max_tokens, temperature=temperature,
                      stream=True)
        if response_format:
            kwargs["response_format"] = response_format
        if stop:
            kwargs["stop"] = stop
        if self._include_usage:
            try:
                return client.chat.completions.create(**kwargs, stream_options={"include_usage": True})
            except self._openai.BadRequestError as exc:
                if "stream_options" not in str(exc) and "include_usage" not in str(exc):
                    raise
                log.info("%s rejects stream_options; continuing without usage", self.base_url)
                self._include_usage = False
        return client.chat.completions.create(**kwargs)

    def _server_model(self, client) -> str:
        """The first model a non-OpenAI server lists (llama.cpp and Ollama serve what they loaded)."""
        models = list(client.models.list())
        if not models:
            raise BackendError(f"{self.describe()} lists no models: set CHATPAPER_MODEL (or --model).",
                               detail=self.base_url)
        return models[0].id

    def _classify(self, exc: Exception) -> Retry:
        """Map an SDK failure to a message, and say whether another attempt may succeed.

        The message names no address and quotes nothing the server said (a web visitor may read it); both go to
        ``detail``, for the log and the CLI.
        """
        openai = self._openai
        where = self.describe()
        if isinstance(exc, openai.APITimeoutError):
            return Retry(f"{where} did not answer within {self.timeout:.0f} s (CHATPAPER_LLM_TIMEOUT); "
                         "the server may be overloaded, try again later.", detail=self.base_url)
        if isinstance(exc, openai.APIConnectionError):
            return Retry(f"Cannot reach {where}. Check that the server is running and the base URL is right.",
                         retryable=True, detail=f"{self.base_url}: {exc.__cause__ or exc}")
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            detail = f"{self.base_url} answered {status}: {_short(exc)}"
            if status in (401, 403):
                return Retry(f"{where} refused the API key ({status}); check OPENAI_API_KEY or the key you gave.",
                             detail=detail)
            if status == 404:
                return Retry(f"{where} does not know model {self.model!r} (404); set CHATPAPER_MODEL.",
                             detail=detail)
            if status == 429 or status >= 500:
                return Retry(f"{where} answered {status}.", retryable=True, after=retry_after(exc.response.headers),
                             detail=detail)
            return Retry(f"{where} rejected the request ({status}).", detail=detail)
        return Retry(f"{where} failed ({type(exc).__name__}).", detail=f"{self.base_url}: {exc}"[:500])


def _short(exc, limit: int = 200) -> str:
    """The server's own error message, shortened for one line."""
    body = getattr(exc, "body", None)
    message = body.get("message") if isinstance(body, dict) else None
    text = str(message or getattr(exc, "message", "") or exc)
    return text if len(text) <= limit else text[:limit] + "…"
