"""The digest of one paper in one language, as data: ``Digest``, ``DigestProgress`` and the table of its parts.

Facts (title, authors, links, dates, affiliations, code links) are not here: they come from the ``Record`` and the
``Paper`` at render time. A ``Digest`` holds only what the model wrote, after parsing, rewriting and the
faithfulness checks. ``PARTS`` is the one table of the digest's parts: the writer asks for them by it, the parser
reads their labels from it, and the renderer takes their names and bounds from it. Writing lives in
``chatpaper.writer``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


#: The languages a digest is written in, by code, with their English names for messages ("no Chinese digest").
LANGUAGES: dict[str, str] = {"en": "English", "zh": "Chinese"}


@dataclass(frozen=True)
class Part:
    """One prose part of a digest."""

    name: str  #: the ``Digest`` field
    question: str  #: which question writes it: "overview", "summary", "methods", "conclusion" (or "title"); the
    #: numbered item it is rendered under
    ask: str  #: what the English question asks for (the JSON key's description)
    label: tuple[str, str]  #: the label shown before it, English and Chinese ("Background", "研究背景")
    missing: tuple[str, str]  #: its name in "(missing: the model gave no …)", English and Chinese
    aliases: tuple[str, ...] = ()  #: other labels a model may write for it in labelled text (any language)
    items: int = 0  #: for a list: most items kept (0: the part is one piece of prose)
    sentences: int = 2  #: most sentences kept in one piece of prose (per item for a list)
    from_record: bool = False  #: written from the record by the writer, in each language; the model is not asked
    chars: int = 260  #: longest piece of prose (per item for a list), in characters: the answer's bound (two
    #: sentences of 20 words; at 200 a second sentence was cut at the bound in most parts)

    @property
    def is_list(self) -> bool:
        """True for the bullet lists (takeaways, keywords, methods)."""
        return self.items > 0

    def label_in(self, lang: str) -> str:
        """The label in ``lang`` ("en" or "zh")."""
        return self.label[1 if lang == "zh" else 0]

    def missing_in(self, lang: str) -> str:
        """The name used in the missing marker, in ``lang``."""
        return self.missing[1 if lang == "zh" else 0]


#: Every prose part, in the order they are rendered.
PARTS: tuple[Part, ...] = (
    Part("title_translation", "title", "the paper's title in Chinese", ("Title", "标题"), ("title translation", "标题翻译"),
         ("title translation", "translated title", "chinese title", "标题", "题目", "中文标题", "标题翻译"),
         sentences=1, chars=160),
    Part("summary", "overview", "one sentence: what the paper does and what it finds", ("Summary", "总结"),
         ("summary", "总结"), ("one-sentence summary", "tldr", "tl;dr", "总结", "概要", "概述", "一句话总结"),
         sentences=1, chars=260),
    Part("takeaways", "overview", "3 to 5 key findings, each one short sentence", ("Key Takeaways", "要点"),
         ("key takeaways", "要点"), ("key takeaways", "key points", "要点", "关键要点", "主要要点"),
         items=5, sentences=1, chars=200),
    Part("keywords", "overview", "3 to 5 keywords of the paper", ("Keywords", "关键词"), ("keywords", "关键词"),
         ("key words", "关键词", "关键字"), items=5, sentences=1, chars=40),
    Part("key_terms", "terms", "each key term explained in one short sentence that starts with it", ("Key terms", "术语"),
         ("key terms", "术语"), ("glossary", "terms", "术语", "术语解释"), items=5, sentences=1, chars=170),
    Part("background", "summary", "the problem and why it matters, 1-2 sentences", ("Background", "研究背景"),
         ("background", "研究背景"), ("research background", "研究背景", "背景")),
    Part("past_methods", "summary", "what earlier work did and what it lacks, 1-2 sentences",
         ("Past methods and their problems", "过去的方法及其问题"), ("past methods", "过去的方法"),
         ("past methods", "previous methods", "prior methods", "prior work", "过去的方法", "以往的方法")),
    Part("approach", "summary", "how the authors' method works, 1-2 sentences", ("Proposed method", "本文提出的方法"),
         ("proposed method", "本文方法"), ("proposed method", "proposed approach", "本文方法", "提出的方法")),
    Part("performance", "summary", "what it was tested on (name the datasets and metrics) and how well it did, 1-2 sentences",
         ("Tasks and performance", "任务与性能"), ("tasks and performance", "任务与性能"),
         ("tasks and performance", "results", "任务和性能", "性能表现")),
    Part("methods", "methods", "how the method works, as 3 to 5 steps in order, each one short sentence with a verb (not a section title)", ("Methods", "方法"),
         ("methods", "方法步骤"), ("method", "method steps", "steps", "方法", "方法步骤", "步骤"),
         items=5, sentences=1, chars=200),
    Part("significance", "conclusion", "why this work matters, 1-2 sentences", ("Significance", "意义"),
         ("significance", "意义"), ("意义", "研究意义")),
    Part("innovation", "conclusion", "what is new in it, 1-2 sentences", ("Innovation", "创新点"),
         ("innovation", "创新点"), ("novelty", "创新点", "创新")),
    Part("performance_eval", "conclusion", "strengths and weaknesses of the results, 1-2 sentences",
         ("Performance", "性能"), ("performance review", "性能评价"),
         ("performance review", "strengths and weaknesses", "evaluation", "性能", "性能评价")),
    # The workload is counted from the record (the paper's numbered tables and figures, and what their captions
    # name): asked, the bundled model invented it ("It took 10 experiments, 1 dataset, and 1 implementation").
    Part("workload", "conclusion", "how much work it took: experiments, datasets, implementation, 1-2 sentences",
         ("Workload", "工作量"), ("workload", "工作量"), ("工作量",), from_record=True),
)
PART = {p.name: p for p in PARTS}
#: The questions of an English digest, in the order they are asked, with the parts each one writes.
QUESTIONS: dict[str, tuple[str, ...]] = {
    q: tuple(p.name for p in PARTS if p.question == q and not p.from_record)
    for q in ("overview", "summary", "methods", "conclusion")}
#: The parts of each numbered item, in the order they are rendered (the record's with the model's).
RENDERED: dict[str, tuple[str, ...]] = {q: tuple(p.name for p in PARTS if p.question == q) for q in QUESTIONS}
LIST_PARTS = tuple(p.name for p in PARTS if p.is_list)
#: Parts a digest may lack without a gap: a paper with no key terms left to explain has no glossary.
OPTIONAL_PARTS = ("key_terms",)


@dataclass
class Digest:
    """What the model wrote about one paper in one language, parsed and checked."""

    language: str  #: "en" or "zh"
    summary: str = ""  #: one sentence
    takeaways: list[str] = field(default_factory=list)  #: 3-5 key takeaways
    title_translation: str = ""  #: the title in this language (empty for English)
    keywords: list[str] = field(default_factory=list)  #: 3-5 keywords
    key_terms: list[str] = field(default_factory=list)  #: the paper's key terms the prose leaves out, explained
    background: str = ""  #: Summary (1): research background
    past_methods: str = ""  #: Summary (2): past methods and their problems
    approach: str = ""  #: Summary (3): the proposed method
    performance: str = ""  #: Summary (4): tasks, performance, whether it supports the goals
    methods: list[str] = field(default_factory=list)  #: Methods: the steps
    significance: str = ""  #: Conclusion (1): significance of the work
    innovation: str = ""  #: Conclusion (2): innovation
    performance_eval: str = ""  #: Conclusion (3): performance (strengths and weaknesses)
    workload: str = ""  #: Conclusion (4): workload
    missing: list[str] = field(default_factory=list)  #: parts the model did not give, even after one more call
    truncated: list[str] = field(default_factory=list)  #: parts cut at their length bound (or the answer's)
    flagged_numbers: list[str] = field(default_factory=list)  #: numbers in the prose not found in the paper text
    removed_urls: list[str] = field(default_factory=list)  #: URLs the model wrote that neither paper nor record has
    prompt_tokens: int = 0  #: prompt tokens of this language's calls, reused ones included
    cached_tokens: int = 0  #: of those, tokens the backend reused from the previous call (prefix cache)
    completion_tokens: int = 0  #: tokens the model wrote for this language (all calls)
    tokens_exact: bool = True  #: False when some call's tokens were estimated (the server sent no usage)
    calls: int = 0  #: model calls made for this language, rewrites included
    seconds: float = 0.0  #: wall time spent writing this language
    method: str = ""  #: how this language was written: "direct" (English) or "translated" (from English)

    def to_dict(self) -> dict:
        """A JSON-ready dict (the digest cache stores this)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Digest":
        """The inverse of ``to_dict``; unknown keys are ignored so old cache entries still load."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class DigestProgress:
    """One step of writing digests, reported to ``on_event`` while the model writes."""

    stage: str  #: "summarising" (writing English) or "translating"
    language: str  #: language being written
    message: str  #: one human-readable progress line
    fraction: float  #: 0..1 of the digest work done
    text: str | None = None  #: everything the model wrote so far for ``language`` (full, not a delta)
    warning: str | None = None  #: a non-fatal problem
    tokens: int = 0  #: tokens (streamed chunks) the model has written in the current call
    max_tokens: int = 0  #: the current call's answer cap in tokens (0 between calls)
