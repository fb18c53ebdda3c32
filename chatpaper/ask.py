"""Ask the paper: questions answered from the paper's own text, with the pages the answer comes from.

The paper is cut into passages (section text a page at a time, figure captions, table cells), ranked for each
question with BM25 (``bm25s``), and the best ones that fit the backend's context go to the model inside data tags.
The prompt keeps the digest's prefix discipline: a fixed paper context first (instructions, title, abstract and
outline), then the conversation turn by turn, each turn with the passages it added. A follow-up question therefore
starts with exactly the tokens of the previous request, and llama.cpp reuses their cache instead of reading them
again. The answer names its pages ("p. 4"); where the model cited none, the passage its wording matches best is
named instead. Questions the passages do not answer get "The paper does not say."
"""
from __future__ import annotations

import hashlib
import html
import logging
import re
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from chatpaper import backends, checks, pipeline, sections
from chatpaper.errors import ChatPaperError
from chatpaper.paper import Paper, Record
from chatpaper.prompts import load_prompt
from chatpaper.sanitize import markdown as safe_markdown
from chatpaper.settings import Settings
from chatpaper.sources import Source

log = logging.getLogger(__name__)

#: Longest answer, in tokens (1-3 sentences asked for; Chinese takes more tokens for the same content).
ANSWER_TOKENS = 320
#: A Chinese question's answer must be at least this share of CJK characters (names and page references aside):
#: a small model often answers a Chinese question in English, and that answer is then translated behind the prompt.
MIN_ZH_SHARE = 0.3
#: Passage text per question, in tokens, at most (a small model reads a few relevant passages best).
PASSAGE_TOKENS = 1200
#: The fixed paper context (abstract and outline), in tokens, at most.
HEADER_TOKENS = 520
#: Passages per question, at most.
TOP_K = 6
#: Words per passage: a paragraph or two, small enough that its page is one page.
PASSAGE_WORDS = 110
REFUSAL = {"en": "The paper does not say.", "zh": "论文中没有说明。"}
_SHOWN_REFUSALS = tuple(r[:-1] for r in REFUSAL.values())  # how every refusal shown begins
SOURCES_LABEL = {"en": "Sources", "zh": "来源"}
# How a refusal is worded when the model words it its own way (checked on the answer, case-folded).
_REFUSALS = ("does not say", "doesn't say", "does not mention", "does not specify", "does not state",
             "not mentioned", "not stated", "not specified", "no information", "does not provide", "not provided",
             "没有说明", "没有提到", "未提及", "未说明", "没有提及", "未提到", "没有给出", "未给出")
_PAGE_REF = re.compile(r"(?:\bpp?\.|\bpages?|第)\s*(\d{1,3})(?:\s*(?:[-–—~]|to|and|,)\s*(\d{1,3}))?\s*页?", re.I)
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_SKIP_HEADINGS = ("reference", "bibliograph", "acknowledg")
# English words for a Chinese question's common research terms: the passages are English, and BM25 matches words.
# General vocabulary of questions about papers, not any one paper's terms.
_ZH_TERMS = {
    "数据集": "dataset datasets", "数据": "data", "训练": "training train trained", "测试": "test testing",
    "方法": "method approach", "模型": "model", "结果": "results", "实验": "experiments experiment",
    "性能": "performance", "准确率": "accuracy", "精度": "accuracy precision", "速度": "speed fast",
    "运行时间": "runtime time seconds", "时间": "time seconds", "作者": "authors", "代码": "code github",
    "损失": "loss", "网络": "network", "层": "layers layer", "参数": "parameters", "评估": "evaluation evaluate",
    "指标": "metric metrics", "基线": "baseline baselines", "对比": "compare comparison", "比较": "compare comparison",
    "图像": "image images", "分割": "segmentation", "检测": "detection", "分类": "classification",
    "优化": "optimization optimizer", "学习率": "learning rate", "批量": "batch", "迭代": "iterations",
    "机器": "machines machine", "集群": "cluster", "内存": "memory", "硬件": "hardware gpu", "显卡": "gpu",
    "语言": "language", "翻译": "translation", "视图": "view views", "渲染": "rendering render",
    "剪枝": "pruning", "通道": "channels channel", "注意力": "attention", "编码器": "encoder",
    "解码器": "decoder", "大小": "size", "数量": "number", "多少": "number", "贡献": "contributions",
    "局限": "limitations", "限制": "limitations", "未来": "future work", "问题": "problem", "任务": "task tasks",
    "定理": "theorem theorems", "证明": "proof prove", "主题": "topic topics", "采样": "sampling",
    "安全": "safety", "对齐": "alignment", "去噪": "denoising", "噪声": "noise", "配准": "registration",
    "场景": "scene scenes", "文档": "documents document", "引用": "citations citation", "论文": "paper papers",
    "提出": "propose proposed", "引言": "introduction", "介绍": "introduction", "结论": "conclusion",
    "摘要": "abstract", "相关工作": "related work", "美元": "dollars usd", "欧元": "euros", "成本": "cost costs",
    "花费": "cost spent spend", "费用": "cost costs", "价格": "price", "能耗": "energy consumption", "能量": "energy",
    "电力": "electricity power", "耗电": "electricity power", "功耗": "power", "志愿者": "volunteers",
    "参与者": "participants", "用户研究": "user study", "人数": "number people participants", "百分比": "percentage", "背景": "background", "贡献点": "contributions", "使用": "use used", "分辨率": "resolution", "输入": "input", "输出": "output",
}


class AskError(ChatPaperError):
    """A question that cannot be asked (empty, too long)."""


@dataclass
class Passage:
    """A span of the paper's own text that an answer may be built from."""

    id: int  #: position in the paper's passage list
    kind: str  #: "abstract", "section", "caption" or "table"
    label: str  #: the heading, or "Figure 3", "Table 2"
    page: int  #: 1-based page the text is printed on
    text: str  #: the text itself

    def cite(self) -> str:
        """How the prompt and the answer name it: "p. 4 · 3.1 Training"."""
        return f"p. {self.page} · {self.label}"


@dataclass
class Answer:
    """One answered question."""

    question: str  #: as asked
    language: str  #: "en" or "zh", the question's language
    text: str  #: the answer as shown (sanitised), the model's page references kept
    markdown: str  #: ``text`` and the sources line: what the chat and the API show
    passages: list[Passage] = field(default_factory=list)  #: passages this question added to the prompt
    cited: list[Passage] = field(default_factory=list)  #: the passages the answer names, in page order
    cited_pages: list[int] = field(default_factory=list)  #: pages the answer names
    attributed: bool = False  #: True when the model cited no page and the best-matching passage was named
    refused: bool = False  #: the answer is "the paper does not say"
    first_token_s: float | None = None  #: seconds from the request to the first streamed text
    seconds: float = 0.0  #: seconds for the whole answer
    prompt_tokens: int = 0  #: tokens of the prompt (counted with the backend's tokenizer)
    history_used: int = 0  #: earlier turns kept in the prompt (older ones dropped to fit the context)
    unsupported_numbers: list[str] = field(default_factory=list)  #: numbers of the answer the paper does not print

    def to_dict(self) -> dict:
        """A JSON-ready dict (``ask --json`` and the API's second output)."""
        return asdict(self)


@dataclass
class AskEvent:
    """One step of ``answer_events``: the text so far while streaming, then the final answer."""

    text: str  #: the answer so far (sanitised, no sources line yet)
    answer: Answer | None = None  #: only on the last event


# ------------------------------------------------------------------------------------------------ passages

def language_of(text: str) -> str:
    """ "zh" when the question is mostly Chinese characters (or has a few and little else), else "en"."""
    letters = [c for c in text if c.isalpha()]
    cjk = sum(1 for c in letters if checks.has_cjk(c))
    return "zh" if letters and cjk / len(letters) >= 0.3 else "en"


def paper_passages(record: Record, paper: Paper) -> list[Passage]:
    """Every passage of the paper: the abstract, section text a page at a time, captions, tables."""
    out: list[Passage] = []

    def add(kind: str, label: str, page: int, text: str) -> None:
        text = re.sub(r"</?\s*(?:paper|passages)\s*>", "", text, flags=re.I).strip()  # cannot close the data tags
        if text:
            out.append(Passage(len(out), kind, label, page, text))

    abstract = record.abstract or paper.abstract
    for chunk in _chunks(abstract):
        add("abstract", "Abstract", 1, chunk)
    for section in paper.sections:
        if any(w in sections.heading_words(section.heading) for w in _SKIP_HEADINGS):
            continue
        for page, text in _pages_of(section):
            for chunk in _chunks(text):
                add("section", section.heading, page, chunk)
    for figure in paper.figures:
        add("caption", figure.label, figure.page, figure.caption)
    for table in getattr(paper, "tables", None) or []:  # tables as data (extraction, issue 12) when present
        cells = getattr(table, "markdown", "") or getattr(table, "cells", "") or ""
        if not isinstance(cells, str):
            cells = "\n".join(" | ".join(str(c or "") for c in row) for row in cells)
        add("table", getattr(table, "label", "") or "Table", getattr(table, "page", 1),
            f"{getattr(table, 'caption', '')}\n{cells}")
    return out


def _pages_of(section) -> list[tuple[int, str]]:
    """A section's text cut where it moves to the next page, each piece with its page."""
    breaks = [(0, section.page)] + [tuple(b) for b in getattr(section, "page_breaks", []) or []]
    pieces = []
    for (start, page), (end, _) in zip(breaks, breaks[1:] + [(len(section.text), 0)]):
        piece = section.text[start:end].strip()
        if piece:
            pieces.append((page, piece))
    return pieces


def _chunks(text: str) -> list[str]:
    """Text in pieces of about PASSAGE_WORDS words, cut between sentences."""
    chunks, current, words = [], [], 0
    for sentence in sections.split_sentences(text or ""):
        n = len(sentence.split())
        if current and words + n > PASSAGE_WORDS:
            chunks.append(" ".join(current))
            current, words = [], 0
        current.append(sentence)
        words += n
    if current:
        chunks.append(" ".join(current))
    return chunks


# ------------------------------------------------------------------------------------------------ retrieval

def _stemmer():
    try:
        import Stemmer  # PyStemmer: Snowball stemmers, so "trained" finds "training"
    except ImportError:
        return None
    return Stemmer.Stemmer("english")


_STEM = _stemmer()
_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
# Words of a question that say what is asked, not what about: they match every passage (BM25's own English list
# leaves them in).
_QUESTION_WORDS = frozenset("""what which who whom whose why when where how many much does do did done doing were was
    is are be been use used uses using paper papers author authors describe described mention mentioned say says said
    according give given tell kind type exactly please often long far explain summarize summarise summary briefly
    simple simply detail details us we me you""".split())
# Units a question may name in words that papers print as a sign by a number ("what percentage": "96.1%").
_PERCENT, _DOLLARS, _EUROS = r"\d\s?%", r"\$\s?\d", r"€\s?\d|\d\s?€"
_UNIT_SIGNS = {"percent": _PERCENT, "percentage": _PERCENT, "dollar": _DOLLARS, "dollars": _DOLLARS,
               "usd": _DOLLARS, "euro": _EUROS, "euros": _EUROS}


def terms(text: str) -> list[str]:
    """BM25 terms of English text (and of the English words and numbers in Chinese text): lower-cased words
    without stop words, stemmed; a Chinese question's research terms add their English words."""
    from bm25s.stopwords import STOPWORDS_EN

    text = text.lower()
    extra = " ".join(en for zh, en in _ZH_TERMS.items() if zh in text) if checks.has_cjk(text) else ""
    words = [w for w in _WORD.findall(f"{text} {extra}")
             if w not in STOPWORDS_EN and w not in _QUESTION_WORDS and (len(w) > 1 or w.isdigit())]
    return _STEM.stemWords(words) if _STEM is not None else words


# "How many X", "how much X", "多少X": the question asks for an amount of X. Comparatives ("how much faster") ask
# for a ratio instead, of something named elsewhere in the question.
_AMOUNT = re.compile(r"\bhow\s+(?:many|much)\s+((?:[a-z0-9]+(?:[-'][a-z0-9]+)*\s*){1,3})")
_COMPARATIVES = frozenset("more less fewer faster slower higher lower larger smaller bigger better worse longer "
                          "shorter times".split())


def counted_words(question: str) -> list[tuple[str, list[str]]]:
    """What a question asks the amount of ("How much electricity ...": electricity), as asked and as BM25 terms:
    the first content word after "how many"/"how much" (with a second one joined to it by a hyphen), or the
    research term right after 多少/几 in a Chinese question."""
    from bm25s.stopwords import STOPWORDS_EN

    text = question.lower()
    found = []
    for m in _AMOUNT.finditer(text):
        words = [w for w in m.group(1).split() if w not in STOPWORDS_EN and w not in _QUESTION_WORDS]
        if words and words[0] not in _COMPARATIVES and not words[0].isdigit():
            word = words[0]  # and its singular: the stemmer keeps "gpus" apart from "gpu"
            found.append((word, terms(word) + (terms(word[:-1]) if word.endswith("s") else [])))
    for m in re.finditer(r"(?:多少|几)[个种位名台块张次]?", text):
        rest = text[m.end():]
        zh = next((zh for zh in sorted(_ZH_TERMS, key=len, reverse=True) if rest.startswith(zh)), None)
        if zh:
            found.append((zh, terms(_ZH_TERMS[zh])))
    return [(w, t) for w, t in found if t]


class PaperIndex:
    """The passages of one paper and their BM25 index."""

    def __init__(self, record: Record, paper: Paper):
        import bm25s

        self.record, self.paper = record, paper
        self.title = record.title or paper.title or "(untitled)"
        self.passages = paper_passages(record, paper)
        self._bm25 = bm25s.BM25()
        corpus = [terms(f"{p.label} {p.text}") for p in self.passages]
        self._vocab = {t for doc in corpus for t in doc}
        #: every number the paper's passages print, for checking the numbers of an answer
        self.numbers = checks.numbers_in("\n".join(f"{p.label} {p.text}" for p in self.passages) + self.title)
        #: the passages' words with hyphens taken out ("ResNet50" is the paper's "ResNet-50")
        self._joined = {t.replace("-", "") for t in self._vocab}
        self._text = "\n".join(p.text for p in self.passages)
        if self.passages:
            self._bm25.index(corpus, show_progress=False)

    def unknown_words(self, question: str) -> list[str]:
        """What the question asks the amount of (``counted_words``) when the paper never prints it: no passage has
        the word, its stem, its unhyphenated form, nor the sign of the unit it names ("percentage": "%").

        A paper that never mentions electricity does not say how much electricity a run took, however well the
        question's other words match; a small model given the best passages answers with whatever number they
        hold. Other words are not checked: a question may name in its own words what the paper has in others
        ("What is the runtime?" of a paper that prints "891 seconds").
        """
        missing = []
        for word, stems in counted_words(question):
            if any(t in self._vocab or t.replace("-", "") in self._joined for t in stems):
                continue
            sign = _UNIT_SIGNS.get(word) or next((_UNIT_SIGNS[w] for w in _ZH_TERMS.get(word, "").split()
                                                  if w in _UNIT_SIGNS), None)
            if sign and re.search(sign, self._text):
                continue
            missing.append(word)
        return missing

    def scores(self, text: str):
        """The BM25 score of every passage for ``text`` (an array by passage id), or None when no word matches."""
        query = list(dict.fromkeys(t for t in terms(text) if t in self._vocab))
        if not query or not self.passages:
            return None
        return self._bm25.get_scores(query)

    def search(self, question: str, k: int = TOP_K) -> list[tuple[Passage, float]]:
        """The passages that match the question best, best first, each with its score (only scores above 0)."""
        scores = self.scores(question)
        if scores is None:
            return []
        ranked = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
        return [(self.passages[i], float(scores[i])) for i in ranked[:k] if scores[i] > 0]

    def header(self, budget: int, count) -> str:
        """The fixed paper context: abstract and outline, within ``budget`` tokens; the same for every question."""
        outline = [f"{'  ' * (s.level - 1)}{s.heading} (p. {s.page})" for s in self.paper.sections if s.level <= 2]
        outline_text = "\n".join(outline[:40])
        abstract = self.record.abstract or self.paper.abstract
        room = max(budget - count(outline_text) - 16, 64)
        abstract = sections.condense(abstract, room, count) if abstract else ""
        text = f"Abstract (p. 1): {abstract}\n\nOutline:\n{outline_text}" if abstract else f"Outline:\n{outline_text}"
        return re.sub(r"</?\s*(?:paper|passages)\s*>", "", text, flags=re.I)


# ------------------------------------------------------------------------------------------------ loading

_INDEXES: OrderedDict[str, PaperIndex] = OrderedDict()
_INDEXES_LOCK = threading.Lock()
_INDEXES_MAX = 8


def load_index(source: Source, settings: Settings, progress=None) -> PaperIndex:
    """The paper's index, fetched and extracted through the pipeline once per PDF in this process.

    Kept by the PDF's SHA-256 (holding the paper's text, no user data); a repeated question on the same paper does
    not read the PDF again. Raises the pipeline's errors (bad source, bad PDF).
    """
    record, path = pipeline.fetch(source, settings, progress)
    key = _file_key(path)
    with _INDEXES_LOCK:
        if key in _INDEXES:
            _INDEXES.move_to_end(key)
            cached = _INDEXES[key]
            if record is not None and not cached.record.id:  # the same PDF, now with its arXiv record
                cached.record = record
            return cached
    (progress or (lambda m: None))(f"reading {Path(path).name}")
    record, paper = pipeline.extract(record, path, settings)
    index = PaperIndex(record, paper)
    with _INDEXES_LOCK:
        _INDEXES[key] = index
        while len(_INDEXES) > _INDEXES_MAX:
            _INDEXES.popitem(last=False)
    return index


def _file_key(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ------------------------------------------------------------------------------------------------ prompt

@dataclass
class _Turn:
    question: str
    answer: str | None  # None for the question being asked
    passages: list[Passage]


def history_turns(history: Sequence | None) -> list[tuple[str, str]]:
    """Earlier (question, answer) pairs from a history given as pairs or as chat messages (Gradio's format).

    Messages with a title (the cited passages shown under an answer) are display only and left out, and so is
    an answer's sources line.
    """
    pairs: list[tuple[str, str]] = []
    question = None
    for item in history or []:
        if isinstance(item, dict):
            if (item.get("metadata") or {}).get("title"):
                continue
            text = _message_text(item.get("content"))
            if item.get("role") == "user":
                question = text
            elif item.get("role") == "assistant" and question is not None:
                pairs.append((question, answer_body(text)))
                question = None
        elif isinstance(item, (list, tuple)) and len(item) == 2 and item[0]:
            pairs.append((_message_text(item[0]), answer_body(_message_text(item[1] or ""))))
    return pairs


def _message_text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or content.get("content") or "")
    if isinstance(content, list):
        return "\n".join(_message_text(c) for c in content)
    return "" if content is None else str(content)


def answer_body(markdown: str) -> str:
    """An answer without its sources line (the model's own words, as the prompt repeats them)."""
    return re.split(r"\n\n\*\*(?:Sources|来源)[:：]\*\*", markdown, maxsplit=1)[0].strip()


def _passage_block(passages: list[Passage]) -> str:
    if not passages:
        return "(no new passages: use the passages above)"
    return "\n\n".join(f"[{p.cite()}]\n{p.text}" for p in passages)


class Conversation:
    """Builds the messages for one question: fixed paper context, earlier turns, the new turn."""

    def __init__(self, index: PaperIndex, backend):
        self.index, self.backend = index, backend

    def count(self, text: str) -> int:
        """Tokens with the backend's tokenizer."""
        return self.backend.count_tokens(text) if text else 0

    def budget(self) -> int:
        """Tokens the prompt may take: the context less the answer and the chat template's overhead."""
        return max(self.backend.context_tokens - ANSWER_TOKENS - 64, 512)

    def messages(self, question: str, history: list[tuple[str, str]]) -> tuple[list[dict], list[_Turn]]:
        """The messages and the turns they hold (the last one is the new question).

        The oldest turns are dropped until the prompt fits (the cache then reuses only the fixed context).
        """
        budget = self.budget()
        header = self.index.header(min(HEADER_TOKENS, budget // 6), self.count)
        fixed = self.count(load_prompt("ask.en").render(title=self.index.title, header=header))
        # Passages per turn: room for the question and one follow-up with its answer, so that the follow-up
        # still fits behind the first turn and reuses its cache.
        per_turn = min(PASSAGE_TOKENS, max((budget - fixed - ANSWER_TOKENS - 120) // 2, 200))
        for start in range(len(history) + 1):
            # A dropped turn changes what the later ones repeat, and maybe the first language: build afresh.
            kept = history[start:]
            first_lang = language_of(kept[0][0] if kept else question)
            system = load_prompt(f"ask.{first_lang}").render(title=self.index.title, header=header)
            turns = self._turns(kept, question, per_turn)
            messages = [{"role": "system", "content": system}]
            for turn in turns:
                user = load_prompt(f"ask_turn.{language_of(turn.question)}").render(
                    passages=_passage_block(turn.passages), question=turn.question.strip())
                messages.append({"role": "user", "content": user})
                if turn.answer is not None:
                    messages.append({"role": "assistant", "content": turn.answer})
            if sum(self.count(m["content"]) + 8 for m in messages) <= self.budget():
                break
        return messages, turns

    def _turns(self, history: list[tuple[str, str]], question: str, per_turn: int) -> list[_Turn]:
        """Each turn with the passages it adds: its best matches not already given in an earlier turn.

        Deterministic: the same history gives the same turns, so a follow-up repeats the previous prompt exactly.
        """
        given: set[int] = set()
        turns = []
        for q, a in [*history, (question, None)]:
            chosen, used = [], 0
            for passage, _ in self.index.search(q):
                if passage.id in given:
                    continue
                cost = self.count(passage.text) + 12
                if used + cost > per_turn:
                    continue
                chosen.append(passage)
                used += cost
            given.update(p.id for p in chosen)
            turns.append(_Turn(q, a, chosen))
        return turns


# ------------------------------------------------------------------------------------------------ answering

def check_question(question: str | None) -> str:
    """The question stripped; AskError when it is empty or too long."""
    question = (question or "").strip()
    if not question:
        raise AskError("Type a question about the paper.")
    if len(question) > 2000:
        raise AskError(f"The question is {len(question)} characters long; ask in at most 2000.")
    return question


def answer_events(index: PaperIndex, question: str, history: Sequence | None, backend, *,
                  cancel: threading.Event | None = None) -> Iterator[AskEvent]:
    """Answer ``question`` about the paper, streaming: events with the text so far, the last with the Answer.

    Raises AskError for an empty question, BackendError/Cancelled from the backend.
    """
    question = check_question(question)
    lang = language_of(question)
    started = time.monotonic()
    conversation = Conversation(index, backend)
    # A turn the paper did not answer is left out of the prompt: it holds no fact a follow-up needs, and a small
    # model shown "The paper does not say." answers the next questions with it too (the benchmark's MapReduce
    # conversation: one refusal, then four more of questions the passages answer).
    answered = [(q, a) for q, a in history_turns(history) if not a.startswith(_SHOWN_REFUSALS)]
    messages, turns = conversation.messages(question, answered)
    passages = turns[-1].passages
    offered = [p for turn in turns for p in turn.passages]
    prompt_tokens = sum(conversation.count(m["content"]) for m in messages)
    unknown = index.unknown_words(question)
    if unknown or (len(turns) == 1 and not index.search(question)):
        # The question is about something the paper never mentions (or not one of its words is in the paper):
        # nothing to answer from, and no model call to pay for. The refusal names the words, so that a reader
        # who used another word than the paper's can ask again.
        log.info("refused without a model call: the paper never prints %s", unknown)
        answer = _finish(index, question, lang, refusal(lang, unknown), [], [], None, started, prompt_tokens, 0)
        yield AskEvent(answer.text, answer)
        return
    stream = backend.chat(messages, max_tokens=ANSWER_TOKENS, temperature=0.0, cancel=cancel)
    first = None
    for _ in stream:
        if first is None:
            first = time.monotonic() - started
        yield AskEvent(sanitize(stream.text))
    raw = stream.text
    if lang == "zh" and not is_refusal(sanitize(raw)) and not _chinese_enough(raw):
        # Answered in English: translated in a second turn behind the same messages, so the model reuses the whole
        # prompt it has just read (and the paper prefix stays in its cache for the next question).
        again = messages + [{"role": "assistant", "content": raw},
                            {"role": "user", "content": load_prompt("ask_translate.zh").render()}]
        translated = backend.chat(again, max_tokens=ANSWER_TOKENS, temperature=0.0, cancel=cancel)
        for _ in translated:
            yield AskEvent(sanitize(translated.text))
        prompt_tokens += conversation.count(again[-2]["content"]) + conversation.count(again[-1]["content"])
        if _chinese_enough(translated.text):
            raw = translated.text
    answer = _finish(index, question, lang, raw, passages, offered, first, started, prompt_tokens,
                     len(turns) - 1)
    yield AskEvent(answer.text, answer)


def _chinese_enough(text: str) -> bool:
    return checks.cjk_share(_PAGE_REF.sub(" ", text)) >= MIN_ZH_SHARE


def _finish(index: PaperIndex, question: str, lang: str, raw: str, passages: list[Passage],
            offered: list[Passage], first: float | None, started: float, prompt_tokens: int, kept: int) -> Answer:
    """The Answer: sanitised text, refusal or cited passages, and the sources line.

    An answer whose every result-like number (a count of 10 or more, a decimal, a percentage) is printed nowhere in
    the paper is a guess, not an answer from the paper: it becomes the refusal. Some unsupported numbers among
    supported ones are marked with ⚠, as in the digest.
    """
    text = sanitize(raw.strip()) or REFUSAL[lang]
    refused = is_refusal(text)
    prose = _PAGE_REF.sub(" ", text)
    numbers = checks.checkable_numbers(prose)
    unsupported = checks.unsupported_numbers(prose, index.numbers)
    if not refused and numbers and len(unsupported) == len(numbers):
        log.info("answer refused: its numbers %s are not in the paper", unsupported)
        text, refused = REFUSAL[lang], True
    elif not refused:
        for number in unsupported:
            text = re.sub(rf"(?<![\d.]){re.escape(number)}(?![\d])", f"{number} ⚠", text, count=1)
    cited, attributed = [], False
    if refused:
        if not text.startswith(REFUSAL[lang][:-1]):  # the model's wording of it, unless it is long
            text = REFUSAL[lang] if len(text) < 160 else text
    else:
        by_page = {}
        for p in offered + [p for p in index.passages if p.kind == "abstract"]:  # the prompt's header has p. 1's
            by_page.setdefault(p.page, p)
        text = _drop_pages(text, set(by_page))
        cited = [by_page[n] for n in cited_pages(text) if n in by_page]
        if not cited and offered:
            # The model cited no page it was given (a small one seldom cites at all): the sources line then names
            # the passage the answer was most likely read from, found by matching, and Answer.attributed says so.
            cited, attributed = [_best_match(index, question, text, offered)], True
    cited.sort(key=lambda p: p.page)
    markdown = text
    if cited:
        names = " · ".join(f"p. {p.page} ({html.escape(p.label)})" for p in cited)
        markdown = f"{text}\n\n**{SOURCES_LABEL[lang]}{'：' if lang == 'zh' else ':'}** {names}"
    return Answer(question=question, language=lang, text=text, markdown=markdown, passages=passages, cited=cited,
                  cited_pages=sorted({p.page for p in cited}), attributed=attributed, refused=refused,
                  first_token_s=first, seconds=time.monotonic() - started, prompt_tokens=prompt_tokens,
                  history_used=kept, unsupported_numbers=unsupported if not refused else [])


def refusal(lang: str, unknown: Sequence[str] = ()) -> str:
    """ "The paper does not say.", with the question's words that the paper never prints when there are some."""
    if not unknown:
        return REFUSAL[lang]
    quoted = ", ".join(f"“{w}”" for w in unknown[:4])
    if lang == "zh":
        return f"{REFUSAL[lang][:-1]}：论文中没有出现 {quoted}。"
    return f"{REFUSAL[lang][:-1]}: it never mentions {quoted}."


def is_refusal(text: str) -> bool:
    """The answer says the paper does not answer the question."""
    folded = text.lower()
    return any(r in folded for r in _REFUSALS)


def cited_pages(text: str) -> list[int]:
    """Pages an answer names: "p. 4", "pp. 3-5", "page 7", "第 4 页"."""
    pages: list[int] = []
    for m in _PAGE_REF.finditer(text):
        a = int(m.group(1))
        b = int(m.group(2)) if m.group(2) else a
        for n in range(a, min(b, a + 5) + 1) if b >= a else (a, b):
            if n not in pages:
                pages.append(n)
    return pages


def _best_match(index: PaperIndex, question: str, text: str, offered: list[Passage]) -> Passage:
    """The passage of the prompt (this turn's or an earlier one's) that the answer was most likely read from: the
    one printing most of the answer's numbers, then most of the answer's own words (those the question does not
    have), then the one matching the question best (BM25)."""
    asked = set(terms(question))
    own = [t for t in dict.fromkeys(terms(text)) if t not in asked]
    numbers = {n.replace(",", "") for n in _NUMBER.findall(_PAGE_REF.sub(" ", text))}
    scores = index.scores(question)

    def evidence(p: Passage):
        words = set(terms(f"{p.label} {p.text}"))
        printed = {n.replace(",", "") for n in _NUMBER.findall(p.text)}
        return (len(numbers & printed), sum(t in words for t in own),
                float(scores[p.id]) if scores is not None else 0.0, -p.id)

    return max(offered, key=evidence)


def _drop_pages(text: str, pages: set[int]) -> str:
    """``text`` without the page references ("(p. 99)") to pages none of the prompt's passages is printed on: the
    model cannot have read a fact there."""
    def keep(m: re.Match) -> str:
        return m.group(0) if set(cited_pages(m.group(0))) <= pages else ""

    text = re.sub(rf"\s*\((?:{_PAGE_REF.pattern})\)", keep, text, flags=re.I)
    return _PAGE_REF.sub(keep, text)


def sanitize(text: str) -> str:
    """Model text safe to show as Markdown: the app's one sanitizer (``chatpaper.sanitize``: no HTML, no image, so
    nothing loads from elsewhere, reference images and brackets in alt text included), then links as text."""
    return re.sub(r"(?<!\\)\[([^\[\]\n]*)\]\((?:[^)\n]*)\)", r"\1", safe_markdown(text))


def ask_events(source: Source, question: str, settings: Settings, *,
               history: Sequence | None = None, progress=None,
               cancel: threading.Event | None = None) -> Iterator[AskEvent]:
    """Answer one question about a paper (arXiv id/link or PDF), streaming: the paper is fetched and extracted once
    (``load_index``), the backend comes from ``settings`` (the caller's, key included)."""
    check_question(question)
    index = load_index(source, settings, progress)
    yield from answer_events(index, question, history, backends.get_backend(settings), cancel=cancel)


def ask(source: Source, question: str, settings: Settings, *,
        history: Sequence | None = None, progress=None, on_text=None, cancel: threading.Event | None = None) -> Answer:
    """Answer one question about a paper; ``on_text`` gets each new piece of the streamed text."""
    shown = ""
    for event in ask_events(source, question, settings, history=history, progress=progress, cancel=cancel):
        if event.answer is not None:
            return event.answer
        if on_text is not None and event.text.startswith(shown) and len(event.text) > len(shown):
            on_text(event.text[len(shown):])
            shown = event.text
    raise AssertionError("unreachable")


__all__ = ["Answer", "AskError", "AskEvent", "PaperIndex", "Passage", "answer_events", "ask", "ask_events", "check_question", "cited_pages",
           "history_turns", "is_refusal", "language_of", "load_index", "paper_passages", "sanitize"]
