"""Section-aware model input: which parts of a paper each digest task reads, within a token budget.

Headings are classified by what they mean, not matched against a fixed list: each heading is scored against the
vocabulary of each role (introduction, related work, method, experiments, conclusion, back matter), the body text
under it adds cues ("we propose", "outperforms"), and its position in the paper breaks ties, so "3 Divide and
Conquer" between the introduction and the experiments reads as a method section. Subsections inherit their
parent's role unless their own heading says otherwise. Long sections are condensed at sentence boundaries.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from chatpaper.paper import Paper, Section

INTRO, RELATED, METHOD, EXPERIMENTS, CONCLUSION, BACK = "intro", "related", "method", "experiments", "conclusion", "back"

# Word stems that signal a role in a heading; a heading is a few words, so one hit is strong evidence.
_HEADING_VOCAB = {
    INTRO: ("introduc", "motivat", "overview", "background", "preliminar", "problem", "setting", "notation"),
    RELATED: ("related", "prior work", "previous work", "literature", "survey", "state of the art"),
    METHOD: ("method", "approach", "model", "architecture", "algorithm", "framework", "design", "formulation",
             "proposed", "our ", "training", "implementation", "system", "technique", "network", "learning",
             "objective", "loss", "optimi", "representation", "procedure", "pipeline", "module", "theory", "analysis of"),
    EXPERIMENTS: ("experiment", "evaluat", "result", "benchmark", "ablation", "comparison", "empirical", "dataset",
                  "performance", "study", "applications", "measure", "case stud"),
    CONCLUSION: ("conclu", "discussion", "summary", "future", "limitation", "outlook", "closing", "remarks"),
    BACK: ("reference", "bibliograph", "acknowledg", "appendi", "supplement", "broader impact", "societal impact",
           "ethic", "checklist", "funding", "author contribution", "contents"),
}
# Phrases in body text that hint at a role; weaker than the heading, counted per 1,000 characters.
_BODY_CUES = {
    METHOD: ("we propose", "our method", "our approach", "we define", "we introduce", "is defined as", "loss",
             "we use", "algorithm", "equation"),
    EXPERIMENTS: ("table", "outperform", "accuracy", "baseline", "dataset", "we evaluate", "results", "psnr",
                  "state-of-the-art", "ablation"),
    CONCLUSION: ("in this paper", "we presented", "we have presented", "future work", "in conclusion", "limitation"),
    RELATED: ("et al.", "prior work", "previous work", "has been studied"),
}
_NUMBERING = re.compile(r"^\s*((\d+(\.\d+)*|[IVXLC]+|[A-Z](\.\d+)*)[.)]?\s+)")

#: Which roles each digest task reads, in order of priority.
TASK_ROLES = {
    "summary": (INTRO, RELATED),
    "methods": (METHOD,),
    "conclusion": (CONCLUSION, EXPERIMENTS),
}


@dataclass
class Piece:
    """A labelled span of paper text chosen for a task."""

    label: str  #: heading (or "Abstract")
    text: str  #: body text, possibly condensed


def heading_words(heading: str) -> str:
    """The heading lower-cased without its number ("3.1 Training" -> "training")."""
    return _NUMBERING.sub("", heading).strip().lower() + " "


def classify_sections(sections: list[Section]) -> list[str]:
    """The role of each section: intro, related, method, experiments, conclusion or back."""
    roles: list[str] = []
    parent_role = None
    n = max(len(sections), 1)
    back_started = False
    numbered = [bool(_NUMBERING.match(s.heading)) for s in sections]
    mostly_numbered = sum(numbered) > len(sections) / 2
    for i, section in enumerate(sections):
        scores = _scores(section, i / n)
        best = max(scores, key=scores.get)
        strong = scores[best] >= 3  # a heading hit, not only cues and position
        # In a numbered paper an unnumbered "heading" is usually a table row or run-in title misread as one: it
        # continues the section before it.
        if mostly_numbered and not numbered[i] and roles and not (strong and best == BACK):
            roles.append(roles[-1])
            continue
        # A subsection belongs to its parent ("3.1 Execution Overview" under "3 Implementation") unless its own
        # heading clearly starts a later part of the paper ("4.2 Ablation study" under a method section).
        if section.level > 1 and parent_role and not (strong and best in (EXPERIMENTS, CONCLUSION, BACK)):
            role = parent_role
        else:
            role = best
        # Everything after the references or an appendix heading is back matter, whatever its name.
        if role == BACK and any(w in heading_words(section.heading) for w in ("reference", "bibliograph", "appendi", "supplement")):
            back_started = True
        if back_started:
            role = BACK
        if section.level <= 1:
            parent_role = role
        roles.append(role)
    return roles


def _scores(section: Section, position: float) -> dict[str, float]:
    words = heading_words(section.heading)
    scores = {role: 0.0 for role in _HEADING_VOCAB}
    for role, stems in _HEADING_VOCAB.items():
        if any(stem in words for stem in stems):
            scores[role] += 3
    body = section.text[:4000].lower()
    per_k = max(len(body) / 1000, 1)
    for role, cues in _BODY_CUES.items():
        scores[role] += min(sum(body.count(c) for c in cues) / per_k, 1.5)
    # Position prior: papers run introduction -> method -> experiments -> conclusion.
    scores[INTRO] += 1.0 if position < 0.15 else 0
    scores[METHOD] += 1.0 if 0.15 <= position < 0.6 else 0.3
    scores[EXPERIMENTS] += 1.0 if 0.45 <= position < 0.9 else 0
    scores[CONCLUSION] += 1.0 if position >= 0.75 else 0
    return scores


def task_pieces(paper: Paper, abstract: str, task: str) -> list[Piece]:
    """The paper text a task reads, in the paper's order: abstract and introduction for the summary, and so on."""
    roles = classify_sections(paper.sections)
    wanted = TASK_ROLES[task]
    pieces = []
    if task == "summary" and abstract.strip():
        pieces.append(Piece("Abstract", abstract.strip()))
    for section, role in zip(paper.sections, roles):
        text = without_back_matter(section.text)
        if role in wanted and text:
            pieces.append(Piece(section.heading, text))
    if len(pieces) <= (1 if task == "summary" else 0):
        pieces += _fallback(paper, task)
    return pieces


def digest_pieces(paper: Paper, abstract: str) -> list[Piece]:
    """The paper text a whole digest reads, once: the abstract, then the sections of every task, in paper order."""
    pieces: list[Piece] = []
    for task in TASK_ROLES:
        for piece in task_pieces(paper, abstract, task):
            if all(piece.label != p.label or piece.text != p.text for p in pieces):
                pieces.append(piece)
    order = {s.heading: i for i, s in enumerate(paper.sections)}
    return sorted(pieces, key=lambda p: -1 if p.label == "Abstract" else order.get(p.label, len(order)))


# Back matter written inside a section: a run-in heading ("Acknowledgements. HT was supported ..."), after which
# the section says nothing about the research, and sentences about who paid for it or who may reprint it.
_RUN_IN_BACK = re.compile(r"(?:^|(?<=[.!?]\s)|\n)\s*(?:Acknowledge?ments?|Funding|Disclosure of Funding)\b\s*[.:]", re.I)
_BACK_SENTENCE = re.compile(r"\b(?:supported (?:in part )?by|funded (?:in part )?by|grant (?:no|number)|contract number|"
                            r"we (?:would like to )?thank|(?:are|is) grateful to|acknowledges? (?:the )?(?:support|funding)|"
                            r"views and conclusions contained|authorized to reproduce and distribute|"
                            r"official policies or endorsements)\b", re.I)


def without_back_matter(text: str) -> str:
    """A section's text without the acknowledgements and funding notes a PDF runs into it (they are not what a
    digest reads: a small model pastes them as results)."""
    m = _RUN_IN_BACK.search(text)
    if m:
        text = text[:m.start()]
    if not _BACK_SENTENCE.search(text):
        return text.strip()
    return " ".join(s for s in split_sentences(text) if not _BACK_SENTENCE.search(s))


def _fallback(paper: Paper, task: str) -> list[Piece]:
    """No section had the role (or the extractor found no headings): take the matching third of the body."""
    body = "\n".join(without_back_matter(s.text) for s in paper.sections if s.text.strip()) or paper.abstract
    sentences = split_sentences(body)
    third = max(len(sentences) // 3, 1)
    part = {"summary": sentences[:third], "methods": sentences[third:2 * third], "conclusion": sentences[2 * third:]}[task]
    return [Piece("Body text", " ".join(part))] if part else []


# Abbreviations whose full stop does not end a sentence.
_ABBREV = re.compile(r"(\b(e\.g|i\.e|et al|etc|Fig|Figs|Eq|Eqs|Sec|Secs|Tab|vs|cf|resp|approx|No|Ref|Refs|Ch|Dr|Mr|Ms|Prof|St|al)\.|\b[A-Z]\.)$")


def split_sentences(text: str) -> list[str]:
    """Sentences of English or Chinese text; abbreviations such as "e.g." and "Fig." do not end one."""
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        return []
    parts = re.split(r"(?<=[.!?。！？])\s+(?=[\"“(\[]?[A-Z0-9\u4e00-\u9fff])|(?<=[。！？])", text)
    sentences: list[str] = []
    for part in parts:
        if not part:
            continue
        if sentences and _ABBREV.search(sentences[-1]):
            sentences[-1] += " " + part
        else:
            sentences.append(part.strip())
    return [s for s in sentences if s]


_SALIENT = re.compile(r"\d|we propose|we present|we introduce|our (method|approach|model)|outperform|achiev|improv|"
                      r"result|show that|state-of-the-art|novel|contribution|key|main", re.I)


def condense(text: str, budget: int, count: Callable[[str], int]) -> str:
    """Shorten ``text`` to at most ``budget`` tokens by dropping whole sentences (never cutting one).

    The first sentence of the text is kept when it fits; then sentences with numbers and claims ("we propose",
    "outperforms") are preferred; the chosen ones keep their original order, with " … " where text was left out.
    """
    sentences = split_sentences(text)
    costs = [count(s) + 1 for s in sentences]
    if sum(costs) <= budget:
        return " ".join(sentences)
    order = [0] + sorted(range(1, len(sentences)), key=lambda i: (-len(_SALIENT.findall(sentences[i])), i))
    chosen, used = set(), 0
    for i in order:
        if used + costs[i] + 1 <= budget:
            chosen.add(i)
            used += costs[i] + 1
    out, last = [], -1
    for i in sorted(chosen):
        if out and i != last + 1:
            out.append("…")
        out.append(sentences[i])
        last = i
    return " ".join(out)


def fit_pieces(pieces: list[Piece], budget: int, count: Callable[[str], int]) -> list[Piece]:
    """Pieces within ``budget`` tokens in all: short ones whole, long ones condensed to an equal share each."""
    costs = [count(p.text) + count(p.label) + 4 for p in pieces]
    if sum(costs) <= budget:
        return pieces
    # Water-filling: pieces under the fair share keep everything, the rest split what is left equally.
    remaining, open_idx = budget, list(range(len(pieces)))
    shares = [0] * len(pieces)
    while open_idx:
        share = remaining // len(open_idx)
        small = [i for i in open_idx if costs[i] <= share]
        if not small:
            for i in open_idx:
                shares[i] = share
            break
        for i in small:
            shares[i] = costs[i]
            remaining -= costs[i]
        open_idx = [i for i in open_idx if i not in small]
    fitted = []
    for piece, cost, share in zip(pieces, costs, shares):
        text = piece.text if cost <= share else condense(piece.text, share - count(piece.label) - 4, count)
        if text:
            fitted.append(Piece(piece.label, text))
    return fitted


def format_pieces(pieces: list[Piece]) -> str:
    """Pieces as the text between the <paper> tags: "## heading" then the text, per piece."""
    # The paper must not be able to close the data block early.
    text = "\n\n".join(f"## {p.label}\n{p.text}" for p in pieces)
    return re.sub(r"</?\s*paper\s*>", "", text, flags=re.I)
