"""A scripted backend for unit tests of the digest logic: real ChatStream, canned answers, every call recorded; and
``scripted_reply``, well-formed answers to every digest call about any paper."""
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
    if "Explain each key term below" in user:
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


#: The scripted backend's Chinese for each English line it writes (anything else is a title: "论文标题").
ZH = {"It states the problem clearly.": "清楚地陈述了问题。", "It proposes a simple method.": "提出了一种简单的方法。",
      "It reports an evaluation.": "给出了评估。", "testing, evaluation, method": "测试，评估，方法",
      "Prior work left the problem open.": "以往工作没有解决这个问题。", "Earlier methods were slow.": "早期方法速度较慢。",
      "The authors propose a new procedure.": "作者提出了一种新的流程。",
      "The evaluation supports the goals.": "实验结果支持其目标。", "Collect the data.": "收集数据。",
      "Build the model.": "构建模型。", "Evaluate the results.": "评估结果。",
      "The work matters for practitioners.": "这项工作对从业者很重要。", "The procedure is new.": "该流程是新的。",
      "It performs well on the chosen tasks.": "在所选任务上表现良好。",
      "The experiments are extensive.": "实验工作量很大。"}


def scripted_reply(messages: list[dict]) -> str:
    """Well-formed answers for each digest call, naming the paper so each digest is its own."""
    task = task_of(messages)
    user = messages[-1]["content"]
    title = re.search(r"^Title: (.*)", user, re.M)
    short = " ".join((title.group(1) if title else "the paper").split()[:3])
    if task in ("overview.en", "summary.en"):  # labelled text: each question reads the parts it asked for
        return (f"SUMMARY: The paper studies {short}.\nTAKEAWAYS:\n- It states the problem clearly.\n"
                "- It proposes a simple method.\n- It reports an evaluation.\nKEYWORDS: testing, evaluation, method\n"
                "BACKGROUND: Prior work left the problem open.\nPAST METHODS: Earlier methods were slow.\n"
                "APPROACH: The authors propose a new procedure.\nPERFORMANCE: The evaluation supports the goals.")
    if task == "methods.en":
        return "METHODS:\n- Collect the data.\n- Build the model.\n- Evaluate the results."
    if task == "conclusion.en":
        return ("SIGNIFICANCE: The work matters for practitioners.\nINNOVATION: The procedure is new.\n"
                "PERFORMANCE REVIEW: It performs well on the chosen tasks.\nWORKLOAD: The experiments are extensive.")
    if task == "terms.en":  # the key terms explained: this model knows none of them
        return "{}"
    if task == "translate.zh":  # one part per call: the English text between the draft tags
        english = draft_of(messages).strip()
        lines = [ZH.get(line.removeprefix("- "), "论文标题") for line in english.splitlines()]
        if english.startswith("- "):
            return "\n".join(f"- {line}" for line in lines)
        return "本文研究了一个问题。" if english.startswith("The paper studies") else lines[0]
    raise AssertionError(f"unexpected call {task}")
