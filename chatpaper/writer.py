"""The steps of writing digests: choose the input per task, call the model, parse, repair once, check.

English takes three calls (summary, methods, conclusion), each reading the sections that task needs. Chinese is
either translated from the English digest, one short call per part (``zh_mode="translate"``), or written directly with Chinese
prompts (``"direct"``). Each call's missing parts get one repair call; Chinese parts that are not really Chinese
get one translation call; what is still missing is marked missing, never left silently empty.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from chatpaper import answer, checks, sections
from chatpaper.digest import (LIST_PARTS, MAX_INPUT_TOKENS, MAX_TOKENS, MIN_CJK_SHARE, TASKS, Digest, DigestProgress)
from chatpaper.errors import BackendError, Cancelled
from chatpaper.paper import Paper, Record
from chatpaper.prompts import load_prompt

log = logging.getLogger(__name__)

_PART_ORDER = ("title_translation",) + tuple(p for parts in TASKS.values() for p in parts)
_EMIT_EVERY_S = 0.15  # streamed text reaches the UI at most this often per language


class DigestWriter:
    """Writes the digests of one paper with one backend."""

    def __init__(self, record: Record, paper: Paper, backend, *,
                 on_event: Callable[[DigestProgress], None] | None = None, cancel: threading.Event | None = None):
        self.record, self.paper, self.backend = record, paper, backend
        self.on_event = on_event or (lambda event: None)
        self.cancel = cancel
        self.title = record.title or paper.title or "(untitled)"
        self._inputs: dict[str, str] = {}
        self._paper_text = _paper_text(record, paper)
        self._paper_numbers = checks.numbers_in(self._paper_text)
        self._names = tuple(record.authors or paper.authors)
        self._calls_done, self._calls_planned = 0, 1
        self._streamed: dict[str, str] = {}
        self._last_emit = 0.0
        self.raw_cjk: dict[str, float] = {}  # CJK share of the first Chinese answer, before repairs (for the bench)

    # ----------------------------------------------------------------------------------------------- languages
    def write(self, languages: list[str], *, zh_mode: str = "translate") -> dict[str, Digest]:
        """Digests by language, only those that succeeded; BackendError when none did."""
        want_en = "en" in languages
        translate = "zh" in languages and zh_mode == "translate"
        self._calls_planned = 3 * (want_en or translate) + ("zh" in languages) * (len(_PART_ORDER) if translate else 3)
        digests: dict[str, Digest] = {}
        errors: list[str] = []
        english: Digest | None = None
        if want_en or translate:
            try:
                english = self.write_language("en")
                if want_en:
                    digests["en"] = english
            except BackendError as exc:  # Cancelled is not a BackendError: it stops everything
                errors.append(f"English digest failed: {exc}")
                self._warn("en", errors[-1])
        if "zh" in languages:
            try:
                if translate and english is not None and _has_content(english):
                    zh = self.translate(english)
                    if not want_en:  # the English calls were made for Chinese: count them there
                        zh.prompt_tokens += english.prompt_tokens
                        zh.completion_tokens += english.completion_tokens
                        zh.calls += english.calls
                else:
                    zh = self.write_language("zh")
                if not _has_content(zh):
                    raise BackendError("the model wrote no usable Chinese text")
                digests["zh"] = zh
            except BackendError as exc:
                errors.append(f"Chinese digest failed ({exc}); the English digest is kept." if digests else
                              f"Chinese digest failed: {exc}")
                self._warn("zh", errors[-1])
        if not digests:
            raise BackendError("; ".join(errors) or "no language was requested")
        return digests

    def write_language(self, lang: str) -> Digest:
        """One language written directly: three task calls, each with one repair call if parts are missing."""
        digest = Digest(language=lang, method="direct")
        start = time.monotonic()
        for task, parts in TASKS.items():
            parts = list(parts) + (["title_translation"] if lang == "zh" and task == "summary" else [])
            prompt = load_prompt(f"{task}.{lang}")
            text = self._input(task)
            reply = self._call(lang, prompt.render(title=self.title, text=text), MAX_TOKENS[task], digest, task)
            descriptions = _descriptions(prompt)
            found = answer.parse_answer(reply, parts, descriptions)
            missing = [p for p in parts if p not in found]
            if missing:
                found.update(self._repair(lang, task, missing, text, digest, descriptions))
            _store(digest, found)
        if lang == "zh":
            self._chinese_repair(digest)
        self._finish(digest)
        digest.seconds = time.monotonic() - start
        return digest

    def _chinese_repair(self, digest: Digest) -> None:
        """Parts a direct Chinese answer wrote in English get one translation call."""
        present = [p for p in _PART_ORDER if getattr(digest, p)]
        self.raw_cjk["zh"] = checks.cjk_share(_joined(digest, present), exclude=self._names)
        drifted = [p for p in present if not self._is_chinese(getattr(digest, p))]
        if drifted:
            fixed = self._translate_parts(drifted, {p: getattr(digest, p) for p in drifted}, digest)
            _store(digest, {p: v for p, v in fixed.items() if self._is_chinese(v)})

    def translate(self, english: Digest) -> Digest:
        """The Chinese digest translated from the English one, part by part; a part that comes back empty or not
        Chinese is translated once more, then marked missing."""
        digest = Digest(language="zh", method="translated", missing=list(english.missing))
        start = time.monotonic()
        parts = ["title_translation"] + [p for p in _PART_ORDER[1:] if getattr(english, p)]
        source = {"title_translation": self.title, **{p: getattr(english, p) for p in parts[1:]}}
        found = self._translate_parts(parts, source, digest)
        self.raw_cjk["zh"] = checks.cjk_share(_joined(found, list(found)), exclude=self._names)
        redo = [p for p in parts if p not in found or not self._is_chinese(found[p])]
        if redo:
            again = self._translate_parts(redo, source, digest)
            found.update({p: v for p, v in again.items() if self._is_chinese(v) or p not in found})
        _store(digest, found)
        self._finish(digest)
        digest.seconds = time.monotonic() - start
        return digest

    # ------------------------------------------------------------------------------------------------- steps
    def _translate_parts(self, parts: list[str], source: dict, digest: Digest) -> dict:
        """Translate each part in its own short call: small models drop labels in a long labelled translation."""
        prompt = load_prompt("translate.zh")
        found: dict = {}
        for part in parts:
            value = source[part]
            if part == "keywords":
                text = ", ".join(value)
            elif isinstance(value, list):
                text = "\n".join(f"- {item}" for item in value)
            else:
                text = value
            budget = min(max(64, 3 * self._count(text)), MAX_TOKENS["translate"])
            reply = self._call("zh", prompt.render(text=text, is_list=part in LIST_PARTS and part != "keywords"),
                               budget, digest, "translate")
            parsed = answer.parse_translation(reply, part)
            if parsed:
                found[part] = parsed
        return found

    def _repair(self, lang: str, task: str, missing: list[str], text: str, digest: Digest,
                descriptions: dict[str, str]) -> dict:
        """One call asking only for the missing parts of a task."""
        prompt = load_prompt(f"repair.{lang}")
        wanted = [(answer.LABELS[p][0], descriptions.get(p, p.replace("_", " "))) for p in missing]
        reply = self._call(lang, prompt.render(title=self.title, text=text, parts=wanted), MAX_TOKENS["repair"],
                           digest, "repair")
        return answer.parse_answer(reply, missing, descriptions)

    def _finish(self, digest: Digest) -> None:
        """Faithfulness and language checks on every part; what fails them is marked, never silently kept."""
        for part in _PART_ORDER:
            value = getattr(digest, part)
            if not value:
                if part != "title_translation" or digest.language == "zh":
                    if part not in digest.missing:
                        digest.missing.append(part)
                continue
            if isinstance(value, str):  # small models run on: one sentence for the summary, three for the others
                value = " ".join(sections.split_sentences(value)[:1 if part == "summary" else 3]) or value
            items = value if isinstance(value, list) else [value]
            kept = []
            for item in items:
                item, removed = checks.drop_unknown_urls(item, self._paper_text)
                digest.removed_urls += [u for u in removed if u not in digest.removed_urls]
                digest.flagged_numbers += [n for n in checks.unsupported_numbers(item, self._paper_numbers)
                                           if n not in digest.flagged_numbers]
                if item:
                    kept.append(item)
            if digest.language == "zh" and not self._is_chinese(kept):
                kept = []
            elif digest.language == "en" and any(checks.has_cjk(k) for k in kept):
                kept = [k for k in kept if not checks.has_cjk(k)]
            if not kept and part not in digest.missing:
                digest.missing.append(part)
            setattr(digest, part, kept if part in LIST_PARTS else (kept[0] if kept else ""))
        digest.missing.sort(key=_PART_ORDER.index)

    def _is_chinese(self, value) -> bool:
        text = " ".join(value) if isinstance(value, list) else value
        return checks.cjk_share(text, exclude=self._names) >= MIN_CJK_SHARE

    def _input(self, task: str) -> str:
        """The paper text for a task, fitted to the backend's context (same for both languages)."""
        if task not in self._inputs:
            # The same input serves both languages, so it must fit beside the longer of the two prompts.
            overhead = max(self._count(load_prompt(f"system.{lang}").render()) +
                           self._count(load_prompt(f"{task}.{lang}").render(title=self.title, text=""))
                           for lang in ("en", "zh")) + 48  # chat template and margin
            context = min(self.backend.context_tokens, MAX_INPUT_TOKENS + MAX_TOKENS[task] + overhead)
            budget = max(context - MAX_TOKENS[task] - overhead, 256)
            pieces = sections.task_pieces(self.paper, self.record.abstract or self.paper.abstract, task)
            self._inputs[task] = sections.format_pieces(sections.fit_pieces(pieces, budget, self._count))
        return self._inputs[task]

    def _count(self, text: str) -> int:
        return self.backend.count_tokens(text) if text else 0

    def _call(self, lang: str, user: str, max_tokens: int, digest: Digest, step: str) -> str:
        """One streamed model call; its text is reported as it arrives, its tokens added to the digest."""
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled("Stopped: the digest was cancelled.")
        stage = "translating" if step == "translate" else "summarising"
        name = {"en": "English", "zh": "Chinese"}.get(lang, lang)
        doing = {"translate": "Translating the digest into Chinese", "repair": f"Asking again for the missing {name} parts"}
        message = doing.get(step, f"Writing the {name} {step}") + "…"
        self._emit(stage, lang, message, max_tokens=max_tokens)
        messages = [{"role": "system", "content": load_prompt(f"system.{lang}").render()},
                    {"role": "user", "content": user}]
        stream = self.backend.chat(messages, max_tokens=max_tokens, temperature=0.2, cancel=self.cancel)
        before = self._streamed.get(lang, "")
        prefix = before + ("\n\n" if before else "")
        written = 0
        for _ in stream:
            written += 1  # a streamed chunk is one token for llama.cpp and the OpenAI-compatible servers
            self._streamed[lang] = prefix + stream.text
            if time.monotonic() - self._last_emit >= _EMIT_EVERY_S:
                self._emit(stage, lang, message, text=self._streamed[lang], tokens=written, max_tokens=max_tokens)
        self._streamed[lang] = prefix + stream.text
        usage = stream.usage
        digest.prompt_tokens += usage.prompt_tokens if usage.prompt_tokens is not None else \
            sum(self._count(m["content"]) for m in messages)
        digest.completion_tokens += usage.completion_tokens if usage.completion_tokens is not None else \
            self._count(stream.text)
        digest.calls += 1
        self._calls_done += 1
        self._emit(stage, lang, f"{name} {step} done", text=self._streamed[lang], tokens=written)
        return stream.text

    def _emit(self, stage: str, lang: str, message: str, text: str | None = None, tokens: int = 0,
              max_tokens: int = 0) -> None:
        self._last_emit = time.monotonic()
        fraction = min(self._calls_done / max(self._calls_planned, 1), 1.0)
        self.on_event(DigestProgress(stage=stage, language=lang, message=message, fraction=fraction, text=text,
                                     tokens=tokens, max_tokens=max_tokens))

    def _warn(self, lang: str, warning: str) -> None:
        log.warning("%s", warning)
        fraction = min(self._calls_done / max(self._calls_planned, 1), 1.0)
        self.on_event(DigestProgress(stage="summarising", language=lang, message=warning, fraction=fraction,
                                     warning=warning))


def _paper_text(record: Record, paper: Paper) -> str:
    """Everything the paper and the record say, for checking numbers and URLs the model wrote."""
    parts = [record.title, record.abstract, record.comment, record.journal_ref, record.doi, record.abs_url,
             record.pdf_url, paper.title, paper.abstract, *paper.links, *(s.heading + "\n" + s.text for s in paper.sections),
             *(f.caption for f in paper.figures)]
    return "\n".join(p for p in parts if p)


def _descriptions(prompt) -> dict[str, str]:
    """Each field's description, from the "LABEL: description" lines of its task prompt."""
    by_label = prompt.labelled_lines()
    out = {}
    for part, labels in answer.LABELS.items():
        if labels[0] in by_label:
            out[part] = by_label[labels[0]]
    if prompt.name == "methods.zh":
        out.setdefault("methods", "按顺序写出 3 到 6 个方法步骤，每个步骤单独一行，以 \"- \" 开头")
    elif prompt.name.startswith("methods"):
        out.setdefault("methods", "the method as 3 to 6 steps, each on its own line starting with \"- \"")
    return out


def _store(digest: Digest, found: dict) -> None:
    for part, value in found.items():
        setattr(digest, part, value)


def _joined(source, parts: list[str]) -> str:
    """The text of some parts of a Digest (or a dict of parsed parts) as one string."""
    values = [source.get(p) if isinstance(source, dict) else getattr(source, p) for p in parts]
    return " ".join(" ".join(v) if isinstance(v, list) else (v or "") for v in values)


def _has_content(digest: Digest) -> bool:
    return any(getattr(digest, p) for p in _PART_ORDER if p != "title_translation")
