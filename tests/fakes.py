"""A scripted backend for unit tests of the digest logic: real ChatStream, canned answers, every call recorded."""
from __future__ import annotations

import threading
from typing import Callable

from chatpaper.backends import Backend, ChatStream, Usage, estimate_tokens


def task_of(messages: list[dict]) -> str:
    """Which digest call these messages are: summary, methods, conclusion, translate or repair (+ ".en"/".zh")."""
    user = messages[-1]["content"]
    lang = "zh" if "简体中文" in messages[0]["content"] else "en"
    if user.startswith("把下面这段论文摘要的英文翻译成简体中文"):
        return "translate.zh"
    if "lacked some parts" in user or "缺少了一些部分" in user:
        return f"repair.{lang}"
    if "SUMMARY:" in user:
        return f"summary.{lang}"
    if "SIGNIFICANCE:" in user:
        return f"conclusion.{lang}"
    return f"methods.{lang}"


class ScriptedBackend(Backend):
    """Answers each call from ``script``: a list of replies used in order, or a function of the messages."""

    id = "scripted"
    key_env_var = None
    max_parallel = 1

    def __init__(self, script: list[str] | Callable[[list[dict]], str], *, model: str = "scripted-model",
                 context_tokens: int = 4096, chunk: int = 7, usage: tuple[int, int] | None = None):
        self.script = script
        self.model = model
        self.context_tokens = context_tokens
        self.chunk = chunk  # characters per streamed chunk
        self.usage = usage  # fixed (prompt, completion) tokens per call, for output that must not move with prompts
        self.calls: list[list[dict]] = []
        self._lock = threading.Lock()

    def chat(self, messages: list[dict], *, max_tokens: int = 512, temperature: float = 0.2,
             stop: list[str] | None = None, cancel: threading.Event | None = None) -> ChatStream:
        """Stream the next scripted reply in chunks, reporting estimated token usage."""
        with self._lock:
            self.calls.append(messages)
            if callable(self.script):
                reply = self.script(messages)
            else:
                if not self.script:
                    raise AssertionError("ScriptedBackend ran out of replies")
                reply = self.script.pop(0)
        if isinstance(reply, Exception):
            raise reply

        def produce(stop_event: threading.Event):
            for i in range(0, len(reply), self.chunk):
                yield reply[i:i + self.chunk]
            if self.usage:
                return Usage(*self.usage), "stop"
            prompt = sum(estimate_tokens(m["content"]) for m in messages)
            return Usage(prompt_tokens=prompt, completion_tokens=estimate_tokens(reply)), "stop"

        return ChatStream(produce, cancel=cancel, source="the scripted backend")

    def count_tokens(self, text: str) -> int:
        """The backends' tokenizer-free estimate."""
        return estimate_tokens(text)

    def tasks(self) -> list[str]:
        """The task of every call made so far, in order."""
        return [task_of(m) for m in self.calls]
