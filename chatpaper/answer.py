"""Parse a model's answer ("LABEL: text" parts) into digest fields, tolerating the ways small models vary it.

Models write "**Summary:**", "## Key Takeaways", "1. BACKGROUND：", Chinese labels ("研究背景：") or put a list on
one line as "(1) ... (2) ...". Every known label (English or Chinese) ends the part before it; labels the task did
not ask for are dropped with their text. A part that is absent, empty or a copy of the prompt's own description
is reported missing, for the repair call.
"""
from __future__ import annotations

import re

from chatpaper.digest import LIST_PARTS

#: Labels the prompts use, by digest field. The first one is what the prompts ask for.
LABELS: dict[str, tuple[str, ...]] = {
    "title_translation": ("TITLE", "title translation", "translated title", "chinese title", "标题", "题目", "中文标题",
                          "标题翻译", "文本标题的中文翻译", "标题的中文翻译"),
    "summary": ("SUMMARY", "one-sentence summary", "one sentence summary", "tldr", "tl;dr", "总结", "概要", "概述",
                "一句话总结", "一句话概括"),
    "takeaways": ("TAKEAWAYS", "key takeaways", "key points", "要点", "关键要点", "主要要点", "关键点"),
    "keywords": ("KEYWORDS", "key words", "关键词", "关键字"),
    "background": ("BACKGROUND", "research background", "研究背景", "背景"),
    "past_methods": ("PAST METHODS", "previous methods", "prior methods", "past methods and their problems",
                     "过去的方法", "以往的方法", "过去方法", "以往方法", "过去的方法及其问题"),
    "approach": ("APPROACH", "proposed method", "proposed approach", "本文方法", "本文提出的方法", "提出的方法",
                 "研究方法", "本文提出的研究方法"),
    "performance": ("PERFORMANCE", "tasks and performance", "results", "任务和性能", "性能表现", "方法在任务和性能上的表现"),
    "methods": ("METHODS", "method", "method steps", "steps", "方法", "方法步骤", "步骤"),
    "significance": ("SIGNIFICANCE", "意义", "研究意义"),
    "innovation": ("INNOVATION", "novelty", "创新点", "创新"),
    "performance_eval": ("PERFORMANCE REVIEW", "performance", "evaluation", "性能", "性能评价"),
    "workload": ("WORKLOAD", "工作量"),
}

_LABEL_LINE = re.compile(
    r"^\s*(?:[#>*\-•+]+\s*)?(?:\(?\d{1,2}[.)、]\s*|（\d{1,2}）\s*|\(\d{1,2}\)\s*)?(?:\*\*|__|\*)?\s*"
    r"(?P<label>[A-Za-z][A-Za-z ;\-]{1,38}?|[\u4e00-\u9fff]{1,12})\s*(?:\*\*|__|\*)?\s*(?:[:：]|$)\s*(?:\*\*|__|\*)?\s*"
    r"(?P<rest>.*)$")
_BULLET = re.compile(r"^\s*(?:[-*•+]|\d{1,2}[.)、]|\(\d{1,2}\)|（\d{1,2}）)\s+|^\s*(?:\(\d{1,2}\)|（\d{1,2}）)\s*")
_INLINE_ENUM = re.compile(r"\s*(?:\(\d{1,2}\)|（\d{1,2}）|(?<![\w.])\d{1,2}[.)、](?=\s))\s*")


def _norm(label: str) -> str:
    return re.sub(r"\s+", " ", label.strip().lower().replace("_", " "))


def label_map(parts: list[str]) -> dict[str, str]:
    """Normalised label -> field, for the fields a task asked for (earlier fields win a shared label)."""
    mapping: dict[str, str] = {}
    for part in parts:
        for label in LABELS[part]:
            mapping.setdefault(_norm(label), part)
    return mapping


_ALL_LABELS = {_norm(label) for labels in LABELS.values() for label in labels}


def split_answer(text: str, parts: list[str]) -> dict[str, str]:
    """The raw text under each label the task asked for (labels it did not ask for end a part and are dropped)."""
    wanted = label_map(parts)
    found: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.replace("\r", "").split("\n"):
        m = _LABEL_LINE.match(line)
        label = _norm(m.group("label")) if m else ""
        is_label = m is not None and label in _ALL_LABELS and (":" in line or "：" in line or _looks_like_heading(line))
        if is_label:
            current = wanted.get(label)
            if current is not None and current in found and found[current] and any(found[current]):
                current = None if current not in LIST_PARTS else current  # a repeated label: keep the first answer
            if current is not None:
                found.setdefault(current, []).append(m.group("rest"))
            continue
        if current is not None:
            found[current].append(line)
    return {part: "\n".join(lines).strip() for part, lines in found.items()}


def _looks_like_heading(line: str) -> bool:
    """A label without a colon counts only as a heading: "## Methods" or "**Methods**" alone on its line."""
    stripped = line.strip()
    return stripped.startswith("#") or (stripped.startswith("**") and stripped.endswith("**"))


def clean_text(raw: str) -> str:
    """One paragraph of prose: Markdown emphasis, bullets and surrounding quotes removed, whitespace collapsed."""
    lines = [_BULLET.sub("", line) for line in raw.split("\n")]
    text = " ".join(line.strip() for line in lines if line.strip())
    text = re.sub(r"\*\*|__|(?<!\w)\*(?!\s)|(?<!\s)\*(?!\w)", "", text)
    text = re.sub(r"\s+", " ", text).strip()
    return text.strip("\"'“”「」 ")


def clean_list(raw: str, part: str) -> list[str]:
    """A list field: one item per bullet line, or split from a single line ("(1) ... (2) ...", commas for keywords)."""
    lines = [line for line in raw.split("\n") if line.strip()]
    if part == "keywords":
        items = re.split(r"[,，、;；]|\n", " ".join(lines) if len(lines) == 1 else "\n".join(lines))
    elif len(lines) == 1 and len(_INLINE_ENUM.findall(lines[0])) >= 2:
        items = _INLINE_ENUM.split(lines[0])
    elif len(lines) == 1:
        # A paragraph where bullets were asked for: one item per sentence.
        from chatpaper.sections import split_sentences

        items = split_sentences(lines[0])
    else:
        items = lines
    cleaned = [clean_text(item).strip("。.;；,， ") if part == "keywords" else clean_text(item) for item in items]
    limit = {"keywords": 6, "takeaways": 7, "methods": 8}.get(part, 8)
    if part == "keywords":  # a run-on "keyword" is a sentence, not a keyword
        cleaned = [k for k in cleaned if len(k) <= 60]
    out: list[str] = []
    for item in cleaned:
        if item and item not in out:
            out.append(item)
    return out[:limit]


def parse_answer(text: str, parts: list[str], descriptions: dict[str, str] | None = None) -> dict[str, str | list[str]]:
    """Fields parsed from ``text``; a field missing, empty or just the prompt's description is left out."""
    descriptions = descriptions or {}
    parsed: dict[str, str | list[str]] = {}
    for part, raw in split_answer(text, parts).items():
        value = clean_list(raw, part) if part in LIST_PARTS else clean_text(raw)
        if not value or _is_echo(value, descriptions.get(part, "")):
            continue
        parsed[part] = value
    return parsed


def _is_echo(value, description: str) -> bool:
    """The model copied the instruction instead of answering it."""
    if not description:
        return False
    text = " ".join(value) if isinstance(value, list) else value
    return _norm(text).rstrip(".。") == _norm(description).rstrip(".。")


_ANY_LABEL = re.compile(r"^\s*(?:[#*]+\s*)?(?:[A-Z][A-Z ]{2,30}|译文|翻译|中文|Translation|Chinese)\s*(?:\*\*)?\s*[:：]\s*")


def parse_translation(text: str, part: str) -> str | list[str] | None:
    """A translated part: the whole answer, without a label, quotes or code fences the model may add."""
    text = re.sub(r"^```\w*\s*|\s*```$", "", text.strip())
    lines = [_ANY_LABEL.sub("", line) for line in text.split("\n")]
    raw = "\n".join(line for line in lines if line.strip())
    value = clean_list(raw, part) if part in LIST_PARTS else clean_text(raw)
    return value or None
