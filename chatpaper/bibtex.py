"""The paper's BibTeX entry, from the record: arXiv's ``@misc`` form, or what an uploaded PDF says about itself.

An arXiv paper gets the fields arXiv's own "Export BibTeX Citation" gives (``eprint``, ``archivePrefix``,
``primaryClass``, ``url``), plus ``journal`` and ``doi`` when the record has a journal reference or a DOI
(https://info.arxiv.org/help/bib_cite.html). An upload has no record beyond its PDF: title, authors, a DOI printed
in its metadata, and arXiv's margin stamp (id, class, date) when it was downloaded from arXiv, else the year
of the PDF's own date.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import replace

from chatpaper.paper import Paper, Record

_STAMP = re.compile(r"arXiv:\s?(?P<id>\S+?)v(?P<version>\d+)\s+\[(?P<cls>[\w.-]+)\].*?(?P<year>\d{4})$")
_STOP_WORDS = {"a", "an", "the", "on", "of", "for", "and", "in", "to", "with", "towards", "toward", "via", "from"}


def bibtex_entry(record: Record, paper: Paper | None = None) -> str:
    """The BibTeX entry of the paper (one ``@misc``), ending with a newline."""
    if not record.id and paper is not None:
        record = _record_from_pdf(record, paper)
    year = (record.published or "")[:4]
    fields = [("title", record.title or (paper.title if paper else "") or "Untitled"),
              ("author", " and ".join(_name(a) for a in (record.authors or (paper.authors if paper else [])))),
              ("year", year)]
    if record.id:
        fields += [("eprint", record.id), ("archivePrefix", "arXiv"),
                   ("primaryClass", record.primary_category or (record.categories[:1] or [""])[0]),
                   ("url", record.abs_url or f"https://arxiv.org/abs/{record.versioned_id}")]
    fields += [("journal", record.journal_ref), ("doi", record.doi)]
    body = ",\n".join(f"  {name} = {{{_value(value)}}}" for name, value in fields if value)
    return f"@misc{{{_key(record, paper, year)},\n{body}\n}}\n"


def _record_from_pdf(record: Record, paper: Paper) -> Record:
    """An upload's record with what its PDF says about itself: arXiv's margin stamp (id, version, primary class,
    date), else the year of the PDF's creation date; the DOI of its metadata."""
    stamp = _STAMP.search(paper.arxiv_stamp or "")
    changes = {"doi": record.doi or paper.doi}
    if stamp:
        changes.update(id=stamp["id"], version=int(stamp["version"]), primary_category=stamp["cls"],
                       published=f"{stamp['year']}", abs_url=f"https://arxiv.org/abs/{stamp['id']}v{stamp['version']}")
    else:
        created = re.match(r"(?:D:)?((?:19|20)\d\d)", paper.created or "")
        changes["published"] = record.published or (created.group(1) if created else "")
    return replace(record, **changes)


def _key(record: Record, paper: Paper | None, year: str) -> str:
    """A citation key in the usual shape: first author's family name, year, first word of the title
    (``vaswani2017attention``); the arXiv id when there is no author."""
    authors = record.authors or (paper.authors if paper else [])
    family = _ascii(authors[0].split()[-1]) if authors and authors[0].split() else ""
    words = [w for w in re.findall(r"[a-z0-9]+", _ascii(record.title or (paper.title if paper else "")))
             if w not in _STOP_WORDS]
    key = f"{family}{year}{words[0] if words else ''}"
    return key or re.sub(r"[^\w.:-]", "_", record.versioned_id or "paper")


def _ascii(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if c.isascii() and c.isalnum() or c == " ").lower()


def _name(author: str) -> str:
    """One author for the ``and``-separated list: a name that itself holds the word "and" is braced."""
    author = re.sub(r"\s+", " ", author).strip()
    return f"{{{author}}}" if re.search(r"\band\b", author, re.I) else author


def _value(text: str) -> str:
    """A field's text between braces: whitespace folded; the characters special to BibTeX outside math
    (``& % #``) escaped, ``< >`` outside math named; braces that do not pair up dropped, since one stray brace breaks the whole file."""
    text = re.sub(r"\s+", " ", str(text)).strip()
    text = re.sub(r"(?<!\\)([&%#])", r"\\\1", text)
    # Outside math, LaTeX's default (OT1) text font prints < and > as ¡ and ¿: name them.
    parts = re.split(r"((?<!\\)\$[^$]*(?<!\\)\$)", text)
    text = "".join(part if part.startswith("$") else part.replace("<", r"\textless{}").replace(">", r"\textgreater{}")
                   for part in parts)
    out, depth = [], 0
    for i, ch in enumerate(text):
        escaped = i > 0 and text[i - 1] == "\\"
        if ch == "{" and not escaped:
            # keep an opening brace only when a closing one follows for it
            if _closes(text, i):
                depth += 1
                out.append(ch)
            continue
        if ch == "}" and not escaped:
            if depth:
                depth -= 1
                out.append(ch)
            continue
        out.append(ch)
    return "".join(out)


def _closes(text: str, start: int) -> bool:
    depth = 0
    for i in range(start, len(text)):
        if text[i] in "{}" and i and text[i - 1] == "\\":
            continue
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return True
    return False
