"""The paper's own release: the code repository or project page its authors point to, or None.

Every URL the paper prints or links is a candidate; what decides is what the text around it says and where it
stands, not the host alone. Each mention is read in its sentence (for a URL in a footnote, also the sentence that
carries the footnote's mark) and scored:

- wording of a release ("our code", "code is available at", "we release", "project page", "Code:") counts for it;
  wording of use ("we use", "based on", "provided by", "released by the authors", a licence) counts against it;
- place: the title block, the abstract and their footnotes count most, the introduction and the conclusion a
  little; a URL in the references is someone else's work and never a candidate;
- the link itself: a repository path on a code host or a project site, or a name shared with the title, adds a
  little (never enough alone); a file (PDF, archive, image) or a bare host counts against it.

The best-scoring URL above a threshold wins; a code repository beats a project page of the same score.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import pymupdf

from chatpaper.pdf.layout import Line, PageText

_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'{}|\\^`\[\]]+|\b(?:github\.com|gitlab\.com|huggingface\.co|"
                  r"bitbucket\.org)/[^\s<>\"'{}|\\^`\[\]]+|\b[\w-]+\.github\.io\b[^\s<>\"'{}|\\^`\[\]]*", re.I)
# Identifiers of papers and people, never a release: DOIs, ORCID, arXiv, review and proceedings pages.
_IDENTIFIER = re.compile(r"doi\.org/|orcid\.org/|arxiv\.org/|openreview\.net/|aclanthology\.org/|aclweb\.org/|"
                         r"proceedings\.|semanticscholar\.org/|dl\.acm\.org/|ieeexplore\.|mailto:", re.I)
_REPO = re.compile(r"^https?://(www\.)?(github\.com|gitlab\.com|bitbucket\.org|huggingface\.co|codeberg\.org)/[^/\s]+/[^/\s]+", re.I)
_SITE = re.compile(r"^https?://([\w-]+\.github\.io|[\w-]+\.gitlab\.io|sites\.google\.com/)", re.I)
_BARE_HOST = re.compile(r"^https?://(www\.)?(github\.com|gitlab\.com|bitbucket\.org|huggingface\.co)(/[^/\s]*)?/?$", re.I)
_FILE = re.compile(r"\.(pdf|zip|gz|tar|tgz|png|jpe?g|gif|mp4|avi|mov|ppt|pptx|docx?|csv|json)(\?.*)?$", re.I)

# What a sentence says about the URL in it, with a weight.
_RELEASE_WORDS: list[tuple[re.Pattern, int]] = [
    (re.compile(r"\b(code|codes|source|implementation|software|models?|weights|checkpoints|toolkit|library|package)\b"
                r"[^.;]{0,60}?\b(available|released?|open-?sourced?|accessible|hosted|downloaded|obtained)\b", re.I), 3),
    (re.compile(r"\b(code|github|repository|repo|project page|website)\s*[:：]", re.I), 3),
    (re.compile(r"\b(our|ours|this work'?s?|the proposed)\b[^.;]{0,40}?\b(code|codes|implementation|software|"
                r"models?|project|toolkit|library|framework|system|data|dataset|benchmark|website|webpage|page|"
                r"repository|results|videos?)\b", re.I), 2),
    (re.compile(r"\bwe\s+(will\s+|also\s+|further\s+)?(publicly\s+)?(release|open-?source|make|publish|share)\b", re.I), 2),
    (re.compile(r"\bproject\s+(page|website|webpage|site)\b", re.I), 2),
    (re.compile(r"\b(web\s?site|web\s?page|homepage)\b", re.I), 1),
    (re.compile(r"\b(available|released?)\s+(at|from|on|online|here|via)\b|\bcan be found (at|here)\b|\bvisit\b", re.I), 1),
]
_USE_WORDS = re.compile(
    r"\bwe\s+(also\s+)?(use|used|adopt|adopted|employ|employed|utili[sz]e|utili[sz]ed|build|built|borrow|borrowed|"
    r"follow|followed|rely|relied|reuse|reused|modify|modified|extend|extended)\b|\b(based on|built (on|upon)|"
    r"builds on|on top of|adapted from|borrowed from|taken from|provided by|released by|developed by|maintained by|"
    r"courtesy of|implementations? of|official|authors'|the authors|their|third[- ]party|baselines?)\b|"
    r"\blicen[cs]e|apache-?\s?2|\bmit license|\bbsd\b|\bgpl\b", re.I)
_REFERENCES = re.compile(r"^(\d+\.?\s+|[IVX]+\.\s+)?(references|bibliography|works cited|literature cited)\b", re.I)
_INTRO = re.compile(r"^(\d+\.?\s+|[IVX]+\.\s+)?introduction\b", re.I)
_CONCLUSION = re.compile(r"^(\d+\.?\s+|[IVX]+\.\s+)?(conclusions?|concluding|summary|discussion|future work|"
                         r"availability|code availability|data availability|reproducibility)\b", re.I)
_MARK = re.compile(r"^\s*([*†‡§¶∗⋆]|\d{1,2}|[a-z])\.?\s*(?=\S)")
_SENTENCE_END = re.compile(r"(?<!\b[A-Z])(?<!\be\.g)(?<!\bi\.e)(?<!\bet al)(?<!\bFig)(?<!\bEq)[.!?;]\s+(?=[A-Z(\[\d])")
THRESHOLD = 3
_HINT = re.compile(r"://|www\.|github|gitlab|huggingface|bitbucket", re.I)


@dataclass
class Mention:
    """One place a URL appears."""

    url: str  #: the URL, scheme added
    page: int  #: 0-based page
    context: str  #: the sentence around it (and, for a footnote, the sentence carrying its mark)
    where: str  #: "front" (title block, abstract), "front note", "intro", "conclusion", "body" or "references"
    footnote: bool = False  #: the URL stands in a footnote


def clean_url(url: str) -> str:
    """A printed URL without trailing punctuation, ``https://`` added where the print omits the scheme."""
    url = url.rstrip(".,;:)]}>'\"")
    if url.count("(") > url.count(")"):
        url = url[:url.index("(")] if url.index("(") > 8 else url
    if not re.match(r"^[a-z]+://", url, re.I):
        url = "https://" + url
    return url


def _key(url: str) -> str:
    u = re.sub(r"^[a-z]+://", "", url.strip().lower())
    return re.sub(r"(\.git)?/*$", "", re.sub(r"^www\.", "", u))


def _where(heading: str | None) -> str:
    if heading is None:
        return "front"
    if _REFERENCES.match(heading):
        return "references"
    if _INTRO.match(heading):
        return "intro"
    if _CONCLUSION.match(heading):
        return "conclusion"
    return "body"


def _block_text(lines: list[Line]) -> tuple[str, list[int]]:
    """The lines joined; a URL broken at a line end is glued back together. Returns the text and each line's
    offset in it."""
    text, starts = "", []
    for ln in lines:
        t = ln.text.strip()
        tail = text.rsplit(" ", 1)[-1] if text else ""
        head = t.split(" ")[0]
        glue = bool(tail) and _URL.search(tail) is not None and "://" not in head and not head.startswith("www.") and \
            (tail.endswith(("/", "-", ".", "_", "=")) or bool(re.match(r"^[\w./#?=&%-]+$", head)) and "/" in head)
        starts.append(len(text) + (0 if glue or not text else 1))
        text = text + t if glue else (f"{text} {t}" if text else t)
    return text, starts


def _sentence(text: str, start: int, end: int) -> str:
    """The sentence of ``text`` that holds ``text[start:end]``."""
    begin = 0
    for m in _SENTENCE_END.finditer(text, 0, start):
        begin = m.end()
    stop = _SENTENCE_END.search(text, end)
    return text[begin: stop.start() + 1 if stop else len(text)]


def _mark_of(line: Line) -> str | None:
    """The footnote mark a footnote line opens with (a superscript or smaller span, or a bare number)."""
    first = line.spans[0]
    t = first.text.strip()
    if t and (first.flags & 1 or first.size < 0.85 * line.size) and len(t) <= 3:
        return t
    m = _MARK.match(line.text)
    return m.group(1) if m and line.text[m.end():m.end() + 4].lower() in ("http", "www.") else None


def _mark_sentence(page: PageText, mark: str, footnote: Line) -> tuple[str, Line | None]:
    """The sentence in the running text that ends at the footnote mark ``mark`` (a raised or smaller span)."""
    for b in page.blocks:
        for i, ln in enumerate(b.lines):
            if ln is footnote or ln.size < footnote.size - 0.2 and ln.y0 > footnote.y0:
                continue
            for k, s in enumerate(ln.spans):
                if k == 0 or s.text.strip() != mark or not (s.flags & 1 or s.size < 0.85 * ln.size):
                    continue
                before = " ".join(x.text for x in ln.spans[:k])
                prev = " ".join(x.text for x in b.lines[i - 1].spans) if i else ""
                text = f"{prev} {before}".strip()
                parts = _SENTENCE_END.split(text)
                return (parts[-1] if parts else text), ln
    return "", None


def find_mentions(doc: pymupdf.Document, pages: list[PageText], ordered: list[Line],
                  heading_lines: list[tuple[Line, str]], body: float) -> list[Mention]:
    """Every printed or linked URL with its sentence and its place in the paper."""
    section: dict[int, str | None] = {}
    heads = {id(ln): text for ln, text in heading_lines}
    current: str | None = None
    for ln in ordered:
        current = heads.get(id(ln), current)
        section[id(ln)] = current
    out: list[Mention] = []
    for p in pages:
        for b in p.blocks:
            lines = [ln for ln in b.lines if not ln.furniture]
            if not lines or not any(_HINT.search(ln.text) for ln in lines):
                continue  # most blocks print no URL: skip joining them
            text, starts = _block_text(lines)
            found = list(_URL.finditer(text))
            if not found:
                continue
            for m in found:
                at = max(i for i, s in enumerate(starts) if s <= m.start())
                out.append(_mention(p, lines, at, text, m.start(), m.end(), clean_url(m.group(0)), section, body))
        # Links whose anchor is a word ("code", "project page") rather than the printed URL.
        page = doc[p.number]
        link = page.first_link
        while link:
            uri = link.uri if link.is_external else ""
            if uri and uri.lower().startswith(("http://", "https://")):
                r = link.rect
                hit = [(b, i) for b in p.blocks for i, ln in enumerate(b.lines)
                       if not ln.furniture and min(ln.y1, r.y1) - max(ln.y0, r.y0) > 0.5 * (ln.y1 - ln.y0)
                       and min(ln.x1, r.x1) - max(ln.x0, r.x0) > 1]
                if hit:
                    b, i = hit[0]
                    lines = [ln for ln in b.lines if not ln.furniture]
                    text, starts = _block_text(lines)
                    at = lines.index(b.lines[i]) if b.lines[i] in lines else 0
                    s = starts[at]
                    out.append(_mention(p, lines, at, text, s, s + len(b.lines[i].text), clean_url(uri), section, body))
            link = link.next
    return [m for m in out if not _IDENTIFIER.search(m.url)]


def _mention(p: PageText, lines: list[Line], at: int, text: str, start: int, end: int, url: str,
             section: dict[int, str | None], body: float) -> Mention:
    line = lines[at]
    where = _where(section.get(id(line), None)) if id(line) in section else "body"
    context = _sentence(text, start, end)
    # A footnote: small type low on the page, opened by a mark (the nearest line at or above the URL's that has one).
    opener = next((ln for ln in reversed(lines[:at + 1]) if _mark_of(ln) is not None), lines[0])
    footnote = line.role == "footnote" or (line.size < body - 0.5 and line.y0 > 0.5 * p.height and _mark_of(opener) is not None)
    if footnote:
        mark = _mark_of(opener)
        said, marked = _mark_sentence(p, mark, opener) if mark else ("", None)
        if marked is not None:
            context = f"{said} … {context}"
            where = _where(section.get(id(marked))) if id(marked) in section else where
        elif p.number == 0:
            where = "front note"  # a first-page footnote whose mark was not found: less sure than the title block
    if where == "references" or (where != "front" and re.match(r"^\[\d+\]", lines[0].text)):
        where = "references"
    return Mention(url=url, page=p.number, context=context, where=where, footnote=footnote)


def score(m: Mention, title: str) -> int:
    """How surely a mention points to the paper's own release (see the module's rules)."""
    if m.where == "references":
        return -99
    url_at = m.context.find(m.url.split("://", 1)[-1][:20])
    # Wording nearest the URL counts: the sentence before it, and a few words after (a "(PyTorch)" or a "code").
    words = m.context if url_at < 0 else m.context[:url_at] + " " + m.context[url_at:][len(m.url):][:40]
    s = sum(weight for pattern, weight in _RELEASE_WORDS if pattern.search(words))
    if _USE_WORDS.search(words):
        s -= 4
    s += {"front": 2, "front note": 1, "intro": 1, "conclusion": 1}.get(m.where, 0)
    repo, site = _REPO.match(m.url), _SITE.match(m.url)
    if repo or site:
        s += 1
        # The project's name (the repository, or the site's subdomain) is the title's name for the method.
        name = _key(m.url).split("/")[2] if repo else _key(m.url).split(".")[0]
        if _names_the_title(name, title):
            s += 1
    if _FILE.search(m.url) or _BARE_HOST.match(m.url):
        s -= 5
    return s


def _names_the_title(name: str, title: str) -> bool:
    """True when ``name`` is what the title calls the method: the part before its colon, its first word, or two to
    four of its words run together ("FisherPruning" in "Group Fisher Pruning for ...")."""
    name = re.sub(r"[^a-z0-9]", "", name.lower())
    words = re.findall(r"[a-z0-9]+", title.lower())
    if len(name) < 4 or not words:
        return False
    lead = re.sub(r"[^a-z0-9]", "", title.split(":")[0].lower()) if ":" in title else words[0]
    runs = {"".join(words[i:i + k]) for k in (2, 3, 4) for i in range(len(words) - k + 1)}
    return name == lead or name == words[0] or name in runs


def own_code(mentions: list[Mention], title: str) -> str | None:
    """The URL of the paper's own code or project page, or None when no mention scores above the threshold."""
    scores: dict[str, int] = {}
    first: dict[str, tuple[int, str]] = {}
    for order, m in enumerate(mentions):
        k = _key(m.url)
        scores[k] = max(scores.get(k, -99), score(m, title))
        first.setdefault(k, (order, m.url))
    cited = {_key(m.url) for m in mentions if m.where == "references"}  # someone else's work, wherever else it appears
    ranked = sorted(((s, bool(_REPO.match(first[k][1])), -first[k][0], first[k][1]) for k, s in scores.items()
                     if k not in cited), reverse=True)
    if ranked and ranked[0][0] >= THRESHOLD:
        return ranked[0][3]
    return None
