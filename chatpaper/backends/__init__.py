"""Pluggable LLM backends: one small class per way of running a model, one streaming ``chat`` method each.

A backend turns chat messages into a ``ChatStream`` of text chunks. The stream runs the model on a worker thread
so that ``cancel.set()`` and the idle timeout act promptly even while the model or the server is silent; failures
come out as ``BackendError`` / ``MissingKey`` with messages that say what to do. SDKs are imported inside each
backend, so a missing one only matters when that backend is chosen.
"""
from __future__ import annotations

import importlib
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable, Generator, Iterator

from chatpaper.errors import BackendError, Cancelled
from chatpaper.settings import Settings

log = logging.getLogger(__name__)

# id -> "module:Class"; imported on lookup so that choosing one backend never imports another's SDK.
BACKENDS: dict[str, str] = {
    "openai": "chatpaper.backends.openai:OpenAIBackend",
    "hf": "chatpaper.backends.hf:HFBackend",
    "local": "chatpaper.backends.local:LocalBackend",
    "transformers": "chatpaper.backends.transformers_backend:TransformersBackend",
}

_POLL_S = 0.05  # how often a waiting consumer looks at its cancel event


@dataclass(frozen=True)
class Usage:
    """Tokens of one completion as the backend counted them (None where it did not say)."""

    prompt_tokens: int | None = None  # tokens of the messages sent, chat template included
    completion_tokens: int | None = None  # tokens the model generated
    cached_tokens: int | None = None  # of the prompt tokens, those reused from an earlier call (prefix cache)


@dataclass(frozen=True)
class Wait:
    """Yielded by a producer before it sleeps (a retry backoff), so the consumer's idle clock allows for it."""

    seconds: float


class StopSignal(threading.Event):
    """Set when the reader stops listening (cancel, timeout, error, or the end); runs the callbacks given to
    ``on_set`` then, so a producer blocked on a socket can have that socket closed under it."""

    def __init__(self):
        super().__init__()
        self._callbacks: list[Callable[[], object]] = []
        self._callbacks_lock = threading.Lock()

    def on_set(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` when the signal is set (at once if it already is)."""
        with self._callbacks_lock:
            if not self.is_set():
                self._callbacks.append(callback)
                return
        callback()

    def set(self) -> None:
        """Set the signal and run the callbacks, each at most once."""
        with self._callbacks_lock:
            if self.is_set():
                return
            super().set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # closing an already broken connection may complain; the stream is over anyway
                log.debug("stop callback failed", exc_info=True)


# A producer is a generator run on the worker thread: it yields text chunks (or Wait) and returns
# (Usage, finish_reason) at the end. It receives a StopSignal (an Event) that is set when the consumer stops listening.
Producer = Callable[[threading.Event], Generator["str | Wait", None, "tuple[Usage, str | None]"]]


class ChatStream:
    """Iterable of the text chunks of one completion; afterwards ``.text``, ``.usage`` and ``.finish_reason``."""

    def __init__(self, producer: Producer, *, cancel: threading.Event | None = None,
                 idle_timeout: float | None = None, source: str = "the model"):
        self._producer = producer
        self._cancel = cancel
        self._idle_timeout = idle_timeout  # None: no limit (in-process models cannot hang on a socket)
        self._source = source
        self._parts: list[str] = []
        self._started = False
        self.usage: Usage = Usage()
        self.finish_reason: str | None = None

    @property
    def text(self) -> str:
        """All chunks received so far, joined."""
        return "".join(self._parts)

    def __iter__(self) -> Iterator[str]:
        if self._started:
            raise RuntimeError("a ChatStream can be iterated only once")
        self._started = True
        if self._cancel is not None and self._cancel.is_set():  # stopped before it started: send nothing
            raise Cancelled(f"Stopped: the answer from {self._source} was cancelled.")
        items: queue.Queue = queue.Queue()
        stop = StopSignal()
        worker = threading.Thread(target=self._work, args=(items, stop), name="chatstream", daemon=True)
        worker.start()
        deadline = self._deadline(0.0)
        try:
            while True:
                if self._cancel is not None and self._cancel.is_set():
                    raise Cancelled(f"Stopped: the answer from {self._source} was cancelled.")
                try:
                    kind, item = items.get(timeout=_POLL_S)
                except queue.Empty:
                    if deadline is not None and time.monotonic() > deadline:
                        raise BackendError(
                            f"{self._source} sent nothing for {self._idle_timeout:.0f} s: it may be overloaded or "
                            "stuck; try again, or raise CHATPAPER_LLM_TIMEOUT.") from None
                    continue
                if kind == "text":
                    deadline = self._deadline(0.0)
                    self._parts.append(item)
                    yield item
                elif kind == "wait":
                    deadline = self._deadline(item.seconds)
                elif kind == "error":
                    raise item
                else:
                    self.usage, self.finish_reason = item
                    if self.finish_reason == "loop":  # the text goes on with one copy of what it repeated
                        self._parts = [self.text[:loop_start(self.text)]]
                    return
        finally:
            stop.set()  # the producer stops at its next chunk and closes its connection

    def _deadline(self, extra: float) -> float | None:
        return None if self._idle_timeout is None else time.monotonic() + self._idle_timeout + extra

    def _work(self, items: queue.Queue, stop: threading.Event) -> None:
        gen = self._producer(stop)
        try:
            while not stop.is_set():
                try:
                    item = next(gen)
                except StopIteration as done:
                    items.put(("done", done.value or (Usage(), None)))
                    return
                if isinstance(item, Wait):
                    items.put(("wait", item))
                elif item:
                    items.put(("text", item))
        except BackendError as exc:
            items.put(("error", exc))
        except Exception as exc:  # a bug or an SDK surprise: still a clear error at the edge, details in the log
            if stop.is_set():  # the reader left and its connection was closed under us: nothing went wrong
                return
            log.exception("backend producer failed")
            items.put(("error", BackendError(f"{self._source} failed unexpectedly ({type(exc).__name__}).",
                                             detail=str(exc)[:500])))
        finally:
            gen.close()


#: A text has fallen into a loop when its end is one piece of up to ``_LOOP_UNIT`` characters repeated at least
#: ``_LOOP_REPEATS`` times and over at least ``_LOOP_CHARS`` characters: "\, " 16 times, a sentence 4 times. Prose
#: never does that; a small model that starts it goes on to its token limit (seen: the bundled model translating a
#: takeaway with a formula wrote "\, " until its 264-token limit, 12 s on 2 cores).
_LOOP_UNIT, _LOOP_REPEATS, _LOOP_CHARS = 80, 4, 48


def loop_start(text: str) -> int | None:
    """Where the repetition that ``text`` ends in starts, after its first copy; None when it ends in no loop."""
    n = len(text)
    for unit in range(1, min(_LOOP_UNIT, n // _LOOP_REPEATS) + 1):
        tail, repeats = text[n - unit:], 1
        while (repeats + 1) * unit <= n and text[n - (repeats + 1) * unit:n - repeats * unit] == tail:
            repeats += 1
        if repeats >= _LOOP_REPEATS and repeats * unit >= _LOOP_CHARS:
            return n - (repeats - 1) * unit
    return None


def _stopping_loops(produced: Generator, stop_event: threading.Event) -> Generator:
    """The producer's items until its text falls into a loop (``loop_start``); then the producer is stopped, as a
    reader that leaves stops it, and its usage is returned with the finish reason "loop" (``ChatStream`` cuts the
    repeats off its text). Only the text's last ``2 * _LOOP_UNIT * _LOOP_REPEATS`` characters are looked at."""
    window = ""
    while True:
        try:
            item = next(produced)
        except StopIteration as done:
            return done.value
        yield item
        if isinstance(item, str):
            window = (window + item)[-2 * _LOOP_UNIT * _LOOP_REPEATS:]
            if loop_start(window) is not None:
                stop_event.set()
                try:
                    while True:  # the producer ends at its next chunk, with the tokens it counted so far
                        next(produced)
                except StopIteration as done:
                    usage = (done.value or (Usage(), None))[0]
                log.info("the answer fell into a loop; stopped after %s tokens", usage.completion_tokens)
                return usage, "loop"


def retrying(attempt: Callable[[], Generator], classify: Callable[[Exception], "Retry"], *,
             retries: int, backoff: float, stop: threading.Event) -> Generator:
    """Run the generator ``attempt()`` and start it again when ``classify`` says the failure is retryable.

    Retries happen only before the first chunk: once text has reached the reader, a second attempt would repeat it.
    The wait doubles each time from ``backoff`` seconds (or follows the server's Retry-After), at most 30 s.
    """
    for n in range(retries + 1):
        gen = attempt()
        sent = 0
        try:
            while True:
                try:
                    item = next(gen)
                except StopIteration as done:
                    return done.value
                sent += not isinstance(item, Wait)
                yield item
        except BackendError:
            raise
        except Exception as exc:
            if stop.is_set():  # the reader is gone and closed the connection: not a failure to retry or report
                return Usage(), None
            verdict = classify(exc)
            detail = verdict.detail
            if n == retries or not verdict.retryable or sent:
                # The message may reach a web visitor without the detail: the log keeps the server's own words.
                log.warning("%s (%s)", verdict.message, detail or type(exc).__name__)
            if sent and verdict.retryable:
                raise BackendError(f"{verdict.message} The connection broke after {sent} chunk"
                                   f"{'s' if sent != 1 else ''} of the answer; try again.", detail=detail) from exc
            if not verdict.retryable:
                raise BackendError(verdict.message, detail=detail) from exc
            if n == retries:
                raise BackendError(f"{verdict.message} Gave up after {n + 1} attempts; try again later.",
                                   detail=detail) from exc
            delay = min(30.0, verdict.after if verdict.after is not None else backoff * 2 ** n)
            log.warning("%s (%s); retry %d of %d in %.1f s", verdict.message, detail, n + 1, retries, delay)
            yield Wait(delay)
            if stop.wait(delay):
                return Usage(), None
        finally:
            gen.close()
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Retry:
    """What ``classify`` decided about one failure: the user-facing message, and whether to try again."""

    message: str  # for the user: names no server address and quotes no server answer (the user may be a visitor)
    retryable: bool = False
    after: float | None = None  # seconds the server asked us to wait (Retry-After)
    detail: str = ""  # for the operator (log, CLI): the server's address and its own words


def retry_after(headers) -> float | None:
    """The Retry-After header in seconds, when a server sent one as a number."""
    try:
        return max(0.0, float(headers.get("retry-after")))
    except (TypeError, ValueError, AttributeError):
        return None


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate: about 4 characters per token for ASCII, 1 token per other character (CJK)."""
    ascii_chars = sum(1 for c in text if ord(c) < 128)
    return (ascii_chars + 3) // 4 + (len(text) - ascii_chars)


class Backend:
    """A way to run a chat model. Subclasses set the attributes and implement ``_produce``."""

    id: str = ""
    label: str = ""  # its name in a list people choose from ("OpenAI-compatible server")
    in_process: bool = True  # the model runs inside this process (one generation at a time, on this CPU)
    key_env_var: str | None = None  # environment variable of the API key, for messages
    model: str = ""  # resolved model name or path
    context_tokens: int = 4096  # prompt + output budget
    max_parallel: int = 1  # requests this backend serves at once
    idle_timeout: float | None = None  # seconds without a chunk before the stream gives up
    supports_schema: bool = False  # True when ``chat(schema=...)`` constrains the answer to the JSON schema
    supports_copy_guard: bool = False  # True when ``chat(avoid=...)`` keeps the answer from pasting that text
    exact_tokens: bool = False  # True when ``count_tokens`` uses the model's own tokenizer

    def chat(self, messages: list[dict], *, max_tokens: int = 512, temperature: float = 0.2,
             stop: list[str] | None = None, cancel: threading.Event | None = None,
             schema: dict | None = None, avoid: str | None = None, chinese: bool = False,
             names: tuple[str, ...] | None = None) -> ChatStream:
        """Stream one completion of ``messages`` (OpenAI-style role/content dicts).

        ``schema``: a JSON schema the answer should follow; backends that can (``supports_schema``) constrain the
        model's output to it, the others ignore it (the prompt still asks for JSON).
        ``avoid``: a text the answer must not paste (the paper); backends that can (``supports_copy_guard``) forbid
        its runs of tokens while decoding (``chatpaper.backends.copy_guard``), the others ignore it.
        ``chinese``: the answer is Chinese prose; backends with a copy guard forbid it to start a lower-case English
        word (``PlainWordGuard``), and with ``names`` (the names the source writes) a capitalised word that does not
        begin one of them; the others ignore both.
        """
        if not messages:
            raise BackendError("Nothing to send: the chat has no messages.")

        def producer(stop_event: threading.Event):
            guard = ({"avoid": avoid, "chinese": chinese, "names": names}
                     if self.supports_copy_guard and (avoid or chinese) else {})
            return _stopping_loops(self._produce(messages, max_tokens=max_tokens, temperature=temperature, stop=stop,
                                                 stop_event=stop_event, schema=schema if self.supports_schema else None,
                                                 **guard), stop_event)

        return ChatStream(producer, cancel=cancel, idle_timeout=self.idle_timeout, source=self.describe())

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` for this model: exact where the backend has the tokenizer, else an estimate."""
        return estimate_tokens(text)

    def describe(self) -> str:
        """A short name for messages, e.g. ``the openai backend (gpt-4o-mini)``."""
        return f"the {self.id} backend ({self.model})" if self.model else f"the {self.id} backend"

    def _produce(self, messages, *, max_tokens, temperature, stop, stop_event, schema=None) -> Generator:
        raise NotImplementedError


class RemoteBackend(Backend):
    """A backend behind HTTP: one client per request, retried before the first chunk, closed on cancel.

    Subclasses implement ``_client()`` (built from the request's Settings: the key never outlives the request),
    ``_attempt(client, messages, max_tokens, temperature, stop, stop_event, schema)`` and ``_classify(exc) -> Retry``, and
    set ``retries`` and ``backoff``.
    """

    in_process = False
    retries: int = 3
    backoff: float = 1.0

    def _produce(self, messages, *, max_tokens, temperature, stop, stop_event: threading.Event, schema=None):
        client = self._client()
        # Closing the client when the reader leaves (cancel, idle timeout) ends a blocked request at once, and
        # the server sees the disconnect and stops generating.
        if isinstance(stop_event, StopSignal):
            stop_event.on_set(client.close)
        try:
            return (yield from retrying(
                lambda: self._attempt(client, messages, max_tokens, temperature, stop, stop_event, schema),
                self._classify, retries=self.retries, backoff=self.backoff, stop=stop_event))
        finally:
            client.close()

    def _client(self):
        raise NotImplementedError

    def _attempt(self, client, messages, max_tokens, temperature, stop, stop_event, schema=None) -> Generator:
        raise NotImplementedError

    def _classify(self, exc: Exception) -> "Retry":
        raise NotImplementedError


def backend_class(name: str) -> type[Backend]:
    """The Backend class registered under ``name``; the error lists the valid names."""
    try:
        target = BACKENDS[name]
    except KeyError:
        raise BackendError(f"Unknown backend {name!r}: choose one of {', '.join(BACKENDS)} "
                           "(CHATPAPER_BACKEND or --backend).") from None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)


def default_backend_name(settings: Settings) -> str:
    """The backend chosen when none is configured: hf with HF_TOKEN, openai with OPENAI_API_KEY, else local."""
    if settings.backend:
        return settings.backend
    if settings.hf_token:
        return "hf"
    if settings.openai_api_key:
        return "openai"
    return "local"


def choices() -> list[tuple[str, str]]:
    """(label, id) of every registered backend, in the registry's order: the app's dropdown."""
    return [(backend_class(name).label or name, name) for name in BACKENDS]


def is_in_process(name: str) -> bool:
    """True when the backend ``name`` runs its model inside this process; False for a name that is no backend."""
    try:
        return backend_class(name.strip().lower()).in_process
    except BackendError:
        return False


def max_parallel(settings: Settings) -> int:
    """Requests the backend ``settings`` pick serves at once; 1 for a name that is no backend (building it fails)."""
    try:
        return backend_class(default_backend_name(settings).strip().lower()).max_parallel
    except BackendError:
        return 1


def get_backend(settings: Settings) -> Backend:
    """The backend named by ``settings.backend`` (or chosen from the keys present), ready to ``chat``."""
    return backend_class(default_backend_name(settings).strip().lower())(settings)


__all__ = ["BACKENDS", "Backend", "ChatStream", "Retry", "StopSignal", "Usage", "Wait", "backend_class", "choices",
           "default_backend_name", "estimate_tokens", "get_backend", "is_in_process", "max_parallel", "retry_after",
           "retrying"]
