"""Parse a model's answer into digest parts: a JSON object first, labelled text ("LABEL: text") as the fallback.

A backend that constrains its output to the question's JSON schema gives a JSON object; one that does not (or a
server that ignores ``response_format``) may still write JSON, perhaps inside a code fence, cut off at the token
limit, or with its own spelling of the keys; a small model without a schema may write "**Summary:**",
"## Key Takeaways", "1. BACKGROUND：" or Chinese labels instead. Every form is read; a cut-off answer keeps the
parts it completed and reports the one it was writing as cut. Each part is then held to its bound from
``digest.PARTS`` (sentences and characters), whole sentences kept, and what was shortened is reported.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from chatpaper.digest import LIST_PARTS, PART, PARTS
from chatpaper.sections import split_sentences


@dataclass
class Answer:
    """The parts read from one answer."""

    values: dict[str, str | list[str]] = field(default_factory=dict)  #: part -> cleaned text or list
    cut: list[str] = field(default_factory=list)  #: parts cut off mid-text (the answer's or the part's bound)
    structured: bool = False  #: True when the answer was a JSON object


def parse_answer(text: str, parts: list[str]) -> Answer:
    """The ``parts`` found in ``text`` (JSON, else labelled text), cleaned and bounded; absent or empty ones left out."""
    raw, cut = _json_values(text, parts)
    structured = raw is not None
    if raw is None:
        raw, cut = split_answer(text, parts), []
    answer = Answer(structured=structured)
    for part in parts:
        if part not in raw:
            continue
        value = clean_value(raw[part], part)
        if _is_echo(value, part):
            continue
        value, unfinished = (_complete(value), True) if part in cut else _finished(value)
        value, stopped = _whole_sentences(value, part)
        unfinished = unfinished or stopped
        value, shortened = bound(part, value)
        shortened = shortened or unfinished
        if value:
            answer.values[part] = value
            if shortened or part in cut:
                answer.cut.append(part)
    return answer


# ------------------------------------------------------------------------------------------------------ JSON
def _norm_key(key: str) -> str:
    return re.sub(r"[\s\-]+", "_", str(key).strip().lower())


def _key_map(parts: list[str]) -> dict[str, str]:
    """Normalised key -> part: the part's own name, its labels and aliases (a model may write "Past methods")."""
    mapping: dict[str, str] = {}
    for part in parts:
        p = PART.get(part)
        names = [part] + ([*p.label, *p.missing, *p.aliases] if p else [])
        for name in names:
            mapping.setdefault(_norm_key(name), part)
    return mapping


def _json_values(text: str, parts: list[str]) -> tuple[dict | None, list[str]]:
    """The JSON object in ``text`` as {part: raw value}, and the part cut off when the answer ended early.

    None when the text holds no JSON object (the labelled fallback reads it then).
    """
    start = text.find("{")
    if start < 0:
        return None, []
    body = text[start:]
    obj, cut_key = _loads_prefix(body)
    if not isinstance(obj, dict):
        return None, []
    keys = _key_map(parts)
    values: dict = {}
    for key, value in obj.items():
        part = keys.get(_norm_key(key))
        if part is not None and part not in values:
            values[part] = value
    cut = [keys[_norm_key(cut_key)]] if cut_key is not None and _norm_key(cut_key) in keys else []
    return values, cut


def _loads_prefix(body: str):
    """A JSON object from ``body``, even when it was cut off: (object, key of the value that was being written)."""
    decoder = json.JSONDecoder()
    try:
        return decoder.raw_decode(body)[0], None
    except ValueError:
        pass
    # Cut off (the token limit): close the open string, list and object, trying the likely endings.
    keys = re.findall(r'"([^"\\]{1,40})"\s*:', body)
    last = keys[-1] if keys else None
    trimmed = body.rstrip().rstrip(",")
    # Cut between two parts: a next key begun (', "perf') or written without its value (', "performance": ').
    between = re.sub(r',\s*"[^"]*(?:"\s*:?\s*)?$', "", trimmed)
    for text in dict.fromkeys((trimmed, between)):
        for ending in ('"}', '"]}', "]}", "}", '""}', "null}"):
            try:
                obj = decoder.raw_decode(text + ending)[0]
            except ValueError:
                continue
            return obj, (last if text is trimmed else None)
    return None, None


def _complete(value):
    """A value the answer was cut off in: its last list item, or its unfinished last sentence, left out ("…"
    where nothing complete is left)."""
    if isinstance(value, list):
        return value[:-1]
    sentences = split_sentences(value)
    if sentences and not re.search(r"[.!?。！？]$", sentences[-1]):
        return " ".join(sentences[:-1]) if len(sentences) > 1 else sentences[0].rstrip(",;:，；： ") + "…"
    return value


def _is_echo(value, part: str) -> bool:
    """The model copied what the question asked for ("strengths and weaknesses of the results") as its answer."""
    p = PART.get(part)
    if p is None:
        return False
    ask = set(re.findall(r"[a-z]+", p.ask.lower()))
    items = value if isinstance(value, list) else [value]
    words = (set(re.findall(r"[a-z]+", i.lower())) - _SMALL_WORDS for i in items)
    return any(len(w) >= 2 and len(w & ask) / len(w) >= 0.8 for w in words)


_SMALL_WORDS = {"a", "an", "and", "or", "the", "of", "to", "in", "on", "for", "with", "by"}


def _whole_sentences(value, part: str):
    """A value that reached its part's length bound (the schema's maxLength closed the string there) without its
    unfinished last sentence: (value, whether a sentence was left out or cut). "... overhead. Compared to" loses
    "Compared to"; a single sentence stopped at the bound ends in "…"."""
    p = PART.get(part)
    if p is None or part == "keywords" or not value:
        return value, False
    if isinstance(value, list):
        done = [_whole_sentences(v, part) for v in value]
        return [v for v, _ in done if v], any(c for _, c in done)
    if re.search(r"[.!?。！？)\"”…]$", value):
        return value, False
    # A list item may be a phrase; a part of prose ends in a full stop. Without one the string was closed early:
    # at its bound, or where the copy guard stopped a pasted run and the model ended the string instead.
    several = len(split_sentences(value)) > 1
    if (p.is_list or not several) and len(value) < 0.9 * p.chars and not _DANGLING.search(value):
        return value, False
    if len(split_sentences(value)) < 2:  # one sentence: up to its last clause that ends in a whole word
        return _DANGLING.sub("", value).rstrip(",;:，；： ") + "…", True
    return _complete(value), True


# A text that ends in one of these words stopped mid-clause ("improves the anti-aliasing properties of").
_DANGLING = re.compile(r"(?:\s+\b(?:of|the|a|an|and|or|to|with|by|for|in|on|at|from|as|that|which|while|than|its|"
                       r"their|is|are|was|were|be|into|via|between|such|compared|incurring))+\s*$", re.I)


def _finished(value):
    """A value whose last sentence stops short (a length bound closed the string) without that sentence, when an
    earlier one is complete: (value, whether a sentence was left out)."""
    if isinstance(value, list):
        done = [_finished(v) for v in value]
        return [v for v, _ in done], any(c for _, c in done)
    sentences = split_sentences(value)
    if sentences and not re.search(r"[.!?。！？)\"”]$", sentences[-1]) and re.search(r"[,;:(（，；：]\s*\w*$", sentences[-1]):
        # stopped mid-clause ("…, however there are (Klavans and Boyack, 20"): drop it, or mark the cut
        if len(sentences) > 1:
            return " ".join(sentences[:-1]), True
        return re.sub(r"\s*[,;:(（，；：]\s*\w*$", "", sentences[0]) + "…", True
    return value, False


# -------------------------------------------------------------------------------------------- labelled text
_LABEL_LINE = re.compile(
    r"^\s*(?:[#>*\-•+]+\s*)?(?:\(?\d{1,2}[.)、]\s*|（\d{1,2}）\s*|\(\d{1,2}\)\s*)?(?:\*\*|__|\*)?\s*"
    r"(?P<label>[A-Za-z][A-Za-z ;_\-]{1,38}?|[\u4e00-\u9fff]{1,12})\s*(?:\*\*|__|\*)?\s*(?:[:：]|$)\s*(?:\*\*|__|\*)?\s*"
    r"(?P<rest>.*)$")
_BULLET = re.compile(r"^\s*(?:[-*•+]|\d{1,2}[.)、]|\(\d{1,2}\)|（\d{1,2}）)\s+|^\s*(?:\(\d{1,2}\)|（\d{1,2}）)\s*")
_INLINE_ENUM = re.compile(r"\s*(?:\(\d{1,2}\)|（\d{1,2}）|(?<![\w.])\d{1,2}[.)、](?=\s))\s*")


def _norm(label: str) -> str:
    return re.sub(r"\s+", " ", label.strip().lower().replace("_", " "))


def _labels(part: str) -> list[str]:
    p = PART.get(part)
    return [part.replace("_", " "), *p.label, *p.missing, *p.aliases] if p else [part]


_ALL_LABELS = {_norm(label) for p in PARTS for label in _labels(p.name)}


def label_map(parts: list[str]) -> dict[str, str]:
    """Normalised label -> part, for the parts asked for (earlier parts win a shared label)."""
    mapping: dict[str, str] = {}
    for part in parts:
        for label in _labels(part):
            mapping.setdefault(_norm(label), part)
    return mapping


def split_answer(text: str, parts: list[str]) -> dict[str, str]:
    """The raw text under each label asked for (labels not asked for end a part and are dropped)."""
    wanted = label_map(parts)
    found: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.replace("\r", "").split("\n"):
        m = _LABEL_LINE.match(line)
        label = _norm(m.group("label")) if m else ""
        is_label = m is not None and label in _ALL_LABELS and (":" in line or "：" in line or _looks_like_heading(line))
        if is_label:
            current = wanted.get(label)
            if current is not None and any(found.get(current, [])):
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


# ------------------------------------------------------------------------------------------- cleaning, bounds
def clean_text(raw: str) -> str:
    """One paragraph of prose: Markdown emphasis, bullets and surrounding quotes removed, whitespace collapsed."""
    lines = [_BULLET.sub("", line) for line in str(raw).split("\n")]
    text = " ".join(line.strip() for line in lines if line.strip())
    text = re.sub(r"\*\*|__|(?<!\w)\*(?!\s)|(?<!\s)\*(?!\w)", "", text)
    text = re.sub(r"\s+", " ", text).strip()
    # A comma or colon right before the closing full stop: the clause was cut there and the stop added after it
    # ("... invariant to light, ." in a takeaway the schema's pattern closed).
    text = re.sub(r"\s*[,;:，；：]+\s*([.!?。！？][\"'“”」]?)$", r"\1", text)
    return text.strip("\"'“”「」 ")


def clean_list(raw, part: str) -> list[str]:
    """A list part: a JSON list, bullet lines, or one line split ("(1) ... (2) ...", commas for keywords)."""
    if isinstance(raw, list):
        items = [str(item) for item in raw if isinstance(item, (str, int, float))]
    else:
        lines = [line for line in str(raw).split("\n") if line.strip()]
        if part == "keywords":
            items = re.split(r"[,，、;；]|\n", " ".join(lines) if len(lines) == 1 else "\n".join(lines))
        elif len(lines) == 1 and len(_INLINE_ENUM.findall(lines[0])) >= 2:
            items = _INLINE_ENUM.split(lines[0])
        elif len(lines) == 1:  # a paragraph where bullets were asked for: one item per sentence
            items = split_sentences(lines[0])
        else:
            items = lines
    if part == "keywords":  # one keyword per item, also when a model pastes a list ("NeRFs, K-Planes, iNGP") into one
        items = [k for item in items for k in re.split(r"[,，、;；]", item)]
    cleaned = [clean_text(item).strip("。.;；,， ") if part == "keywords" else clean_text(item) for item in items]
    out: list[str] = []
    for item in cleaned:
        if item and item.lower() not in (o.lower() for o in out):
            out.append(item)
    return out


def clean_value(raw, part: str):
    """A raw JSON value or labelled text, cleaned into the part's shape (a string, or a list of strings)."""
    if part in LIST_PARTS:
        return clean_list(raw, part)
    if isinstance(raw, list):
        raw = " ".join(str(item) for item in raw)
    elif raw is None or isinstance(raw, (dict, bool)):
        return ""
    return clean_text(str(raw))


def bound(part: str, value):
    """``value`` held to the part's bound (items, sentences, characters): (bounded value, whether text was cut).

    Whole sentences and items are kept and the rest left out (a shorter part, not a cut one); a single sentence
    over the limit is cut at a word and ends in "…" (a cut).
    """
    p = PART.get(part)
    if p is None or not value:
        return value, False
    if isinstance(value, list):
        kept = [bound_prose(_without_label(item) if p.sentences == 1 else item, p.sentences, p.chars)
                for item in value[:p.items]]
        return [v for v, _ in kept if v], any(c for _, c in kept)
    return bound_prose(value, p.sentences, p.chars)


def _without_label(item: str) -> str:
    """A one-sentence item without a lead of under four words when more follows: a run-in heading the model copied
    ("Grid-based methods. The original NeRF took ..."), which bounding to one sentence would keep alone."""
    parts = split_sentences(item)
    return " ".join(parts[1:]) if len(parts) > 1 and len(parts[0].split()) < 4 else item


def bound_prose(text: str, sentences: int, chars: int) -> tuple[str, bool]:
    """At most ``sentences`` sentences and ``chars`` characters of ``text``, and whether a sentence was cut."""
    parts = split_sentences(text) or [text]
    kept: list[str] = []
    for sentence in parts[:sentences]:
        if len(" ".join(kept + [sentence])) > chars:
            break
        kept.append(sentence)
    if not kept:  # one sentence longer than the bound: cut at a word
        cut = parts[0][:chars].rsplit(" ", 1)[0] if " " in parts[0][:chars] else parts[0][:chars]
        return cut.rstrip(",;:，；： ") + "…", True
    return " ".join(kept), False
