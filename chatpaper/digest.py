"""The digest of one paper in one language: the model's prose, parsed into a typed object.

Facts (title, authors, links, dates, affiliations, code links) are not here: they come from the ``Record`` and the
``Paper`` at render time. A ``Digest`` holds only what the model wrote, after parsing, repair and the faithfulness
checks (numbers not found in the paper are flagged, URLs not in the paper or record are dropped).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass, field, fields
from typing import Callable

from chatpaper.paper import Paper, Record

log = logging.getLogger(__name__)

#: The prose parts of a digest, in the order they are asked for and rendered. Lists are bullet/step lists.
TEXT_PARTS = (
    "summary", "title_translation", "background", "past_methods", "approach", "performance",
    "significance", "innovation", "performance_eval", "workload",
)
LIST_PARTS = ("takeaways", "keywords", "methods")


@dataclass
class Digest:
    """What the model wrote about one paper in one language, parsed and checked."""

    language: str  #: "en" or "zh"
    summary: str = ""  #: one sentence
    takeaways: list[str] = field(default_factory=list)  #: 3-7 key takeaways
    title_translation: str = ""  #: the title in this language (empty for English)
    keywords: list[str] = field(default_factory=list)  #: 3-6 keywords
    background: str = ""  #: Summary (1): research background
    past_methods: str = ""  #: Summary (2): past methods and their problems
    approach: str = ""  #: Summary (3): the proposed method
    performance: str = ""  #: Summary (4): tasks, performance, whether it supports the goals
    methods: list[str] = field(default_factory=list)  #: Methods: the steps
    significance: str = ""  #: Conclusion (1): significance of the work
    innovation: str = ""  #: Conclusion (2): innovation
    performance_eval: str = ""  #: Conclusion (2): performance (strengths and weaknesses)
    workload: str = ""  #: Conclusion (2): workload
    missing: list[str] = field(default_factory=list)  #: parts the model did not give, even after one repair call
    flagged_numbers: list[str] = field(default_factory=list)  #: numbers in the prose not found in the paper text
    removed_urls: list[str] = field(default_factory=list)  #: URLs the model wrote that neither paper nor record has
    prompt_tokens: int = 0  #: tokens sent to the model for this language (all calls)
    completion_tokens: int = 0  #: tokens the model wrote for this language (all calls)
    calls: int = 0  #: model calls made for this language, repairs included
    seconds: float = 0.0  #: wall time spent writing this language
    method: str = ""  #: how this language was written: "direct" or "translated" (from English)

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
    """One step of ``write_digests``, reported to ``on_event`` while the model writes."""

    stage: str  #: "summarising" (writing a language directly) or "translating"
    language: str  #: language being written
    message: str  #: one human-readable progress line
    fraction: float  #: 0..1 of the digest work done
    text: str | None = None  #: everything the model wrote so far for ``language`` (full, not a delta)
    warning: str | None = None  #: a non-fatal problem
    tokens: int = 0  #: tokens (streamed chunks) the model has written in the current call
    max_tokens: int = 0  #: the current call's answer cap in tokens (0 between calls)


#: The model calls of a digest, with the fields each one writes.
TASKS: dict[str, tuple[str, ...]] = {
    "summary": ("summary", "takeaways", "keywords", "background", "past_methods", "approach", "performance"),
    "methods": ("methods",),
    "conclusion": ("significance", "innovation", "performance_eval", "workload"),
}
#: Longest answer per call, in tokens (Chinese takes about 1.5x the tokens of the same English).
MAX_TOKENS = {"summary": 480, "methods": 320, "conclusion": 320, "translate": 600, "repair": 320}
#: How Chinese is written: "translate" (the English digest, one short call per part) or "direct" (three calls with
#: Chinese prompts, the way English is written). Chosen by measurement with the bundled 0.5B model on 1111.2011v2
#: (python -m benchmarks digest): translating sent 3.4k prompt tokens in 12 short calls and reached a CJK share of
#: 0.72 with 1 part lost (86 s CPU); direct sent 16.1k in 6 long calls, 0.69 CJK, 6 parts lost, 320 s CPU.
ZH_MODE = "translate"
#: Chinese prose must be at least this share of CJK characters (terms, names and code excepted).
MIN_CJK_SHARE = 0.6
#: Input cap per call even for long-context models: the digest needs the gist, and tokens cost money.
MAX_INPUT_TOKENS = 12000


def write_digests(record: Record, paper: Paper, backend, languages: list[str], *,
                  on_event: Callable[[DigestProgress], None] | None = None,
                  cancel: threading.Event | None = None, zh_mode: str | None = None) -> dict[str, Digest]:
    """Write one ``Digest`` per language (only those that succeeded).

    A language that fails (backend error, or nothing usable) is left out with a warning event, the others kept.
    Raises BackendError when no language could be written, Cancelled when ``cancel`` is set.
    """
    from chatpaper.writer import DigestWriter

    writer = DigestWriter(record, paper, backend, on_event=on_event, cancel=cancel)
    return writer.write(languages, zh_mode=zh_mode or ZH_MODE)
