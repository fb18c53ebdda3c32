"""A scripted backend for unit tests of the digest logic: real ChatStream, canned answers, every call recorded."""
from __future__ import annotations

import re
import threading
from typing import Callable

from chatpaper.backends import Backend, ChatStream, Usage, estimate_tokens


#: The first key a digest question asks for, and the question it belongs to.
_QUESTION_OF = {"summary": "overview", "background": "summary", "methods": "methods", "significance": "conclusion"}


def task_of(messages: list[dict]) -> str:
    """Which digest call these messages are: overview, summary, methods, conclusion, repair or rewrite (".en"), or
    translate or glossary (".zh")."""
    user = messages[-1]["content"]
    if user.startswith("把下面 draft 标签里的英文译成简体中文"):
        return "translate.zh"
    if "还留着英文单词" in user:
        return "glossary.zh"
    if user.startswith("Rewrite the draft below"):
        return "rewrite.en"
    if "are missing or say the same as another part" in user:
        return "repair.en"
    if "leaves out the paper's key terms" in user:
        return "terms.en"
    first = re.search(r'^- "(\w+)":', user, re.M)
    return f"{_QUESTION_OF.get(first.group(1), first.group(1)) if first else 'unknown'}.en"


def draft_of(messages: list[dict]) -> str:
    """The text between the last <draft> and </draft> of a call (what a translation or rewrite call is about)."""
    user = messages[-1]["content"]
    return user[user.rindex("<draft>") + 7:user.rindex("</draft>")].strip("\n")


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
        self.schemas: list[dict | None] = []  # the JSON schema of each call (None: plain text)
        self._lock = threading.Lock()

    def chat(self, messages: list[dict], *, max_tokens: int = 512, temperature: float = 0.2,
             stop: list[str] | None = None, cancel: threading.Event | None = None,
             schema: dict | None = None) -> ChatStream:
        """Stream the next scripted reply in chunks, reporting estimated token usage."""
        with self._lock:
            self.calls.append(messages)
            self.schemas.append(schema)
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
