"""The ``hf`` backend: Hugging Face Inference Providers (or one endpoint's URL) through ``InferenceClient``."""
from __future__ import annotations

import logging

from chatpaper.backends import RemoteBackend, Retry, Usage, retry_after
from chatpaper.errors import BackendError, MissingKey
from chatpaper.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_MODEL = "Qwen/Qwen2.5-7B-Instruct"  # multilingual (English and Chinese), served by several providers


def _import_hub():
    try:
        import httpx2
        import huggingface_hub
    except ImportError:
        raise BackendError("The hf backend needs huggingface_hub: pip install 'huggingface_hub>=1.0,<3'") from None
    return huggingface_hub, httpx2


class HFBackend(RemoteBackend):
    """Chat through ``huggingface_hub.InferenceClient``: a Hub model id with a provider, or ``hf_base_url``."""

    id = "hf"
    label = "Hugging Face Inference Providers"
    key_env_var = "HF_TOKEN"
    max_parallel = 4

    def __init__(self, settings: Settings, *, retries: int = 3, backoff: float = 1.0):
        self.base_url = settings.hf_base_url.rstrip("/")
        if not settings.hf_token and not self.base_url:
            raise MissingKey("The hf backend needs a Hugging Face token: set HF_TOKEN (create one at "
                             "https://huggingface.co/settings/tokens), or use CHATPAPER_BACKEND=local.")
        self._token = settings.hf_token or None
        self.model = settings.model or DEFAULT_MODEL
        self.provider = settings.hf_provider or "auto"
        self.context_tokens = settings.context_tokens or 32768
        self.timeout = settings.llm_timeout
        # Servers may keep the socket alive with SSE pings while sending no token; this catches that too.
        self.idle_timeout = settings.llm_timeout
        self.retries, self.backoff = retries, backoff
        self._hub, self._httpx = _import_hub()

    def describe(self) -> str:
        """A short name for messages: the model and provider, never an endpoint's address (messages may reach a
        web visitor; the address goes to the log)."""
        where = "its endpoint" if self.base_url else f"provider {self.provider}"
        return f"the hf backend ({self.model} at {where})"

    def _client(self):
        # One client per request: the token belongs to the request's Settings, never to the process.
        if self.base_url:
            return self._hub.InferenceClient(base_url=self.base_url, token=self._token, timeout=self.timeout)
        return self._hub.InferenceClient(model=self.model, provider=self.provider, token=self._token,
                                         timeout=self.timeout)

    def _attempt(self, client, messages, max_tokens, temperature, stop, stop_event, schema=None):
        """One request: yield the streamed text, return (Usage, finish_reason)."""
        # max_tokens is always sent: InferenceClient's default of 100 would cut every digest short.
        chunks = client.chat_completion(messages, model=self.model, max_tokens=max_tokens, temperature=temperature,
                                        stop=stop or None, stream=True, stream_options={"include_usage": True})
        usage, finish = Usage(), None
        for chunk in chunks:
            if stop_event.is_set():
                return usage, finish
            if getattr(chunk, "usage", None):
                usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
            for choice in (chunk.choices or [])[:1]:
                finish = choice.finish_reason or finish
                if choice.delta and choice.delta.content:
                    yield choice.delta.content
        if finish is None:
            raise BackendError(f"{self.describe()} ended the answer before it was complete; try again.",
                               detail=self.base_url or f"provider {self.provider}")
        return usage, finish

    def _classify(self, exc: Exception) -> Retry:
        """Map a hub or HTTP failure to a message, and say whether another attempt may succeed (the server's own
        words and address go to ``detail``, for the log and the CLI)."""
        errors, httpx = self._hub.errors, self._httpx
        where = self.describe()
        endpoint = self.base_url or f"provider {self.provider}"
        if isinstance(exc, (errors.InferenceTimeoutError, httpx.TimeoutException)):
            return Retry(f"{where} did not answer within {self.timeout:.0f} s (CHATPAPER_LLM_TIMEOUT); "
                         "the provider may be overloaded, try again later.", detail=endpoint)
        if isinstance(exc, errors.HfHubHTTPError) and exc.response is not None:
            status = exc.response.status_code
            detail = f"{endpoint} answered {status}: {str(exc).splitlines()[0][:200]}"
            if status in (401, 403):
                return Retry(f"{where} refused the token ({status}); check HF_TOKEN and its "
                             "'Inference Providers' permission.", detail=detail)
            if status == 404:
                return Retry(f"{where}: model {self.model!r} is not available (404); set CHATPAPER_MODEL "
                             "or CHATPAPER_HF_PROVIDER.", detail=detail)
            if status == 429 or status >= 500:
                return Retry(f"{where} answered {status}.", retryable=True, after=retry_after(exc.response.headers),
                             detail=detail)
            return Retry(f"{where} rejected the request ({status}).", detail=detail)
        if isinstance(exc, (httpx.TransportError, ConnectionError)):
            return Retry(f"Cannot reach {where}. Check the network (or CHATPAPER_HF_BASE_URL).", retryable=True,
                         detail=f"{endpoint}: {exc}")
        if isinstance(exc, errors.TextGenerationError):
            return Retry(f"{where} reported an error.", detail=f"{endpoint}: {exc}"[:500])
        return Retry(f"{where} failed ({type(exc).__name__}).", detail=f"{endpoint}: {exc}"[:500])
