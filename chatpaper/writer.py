"""Writing digests: the paper read once, short questions after it, checks, one targeted rewrite, Chinese translated.

One paper context per digest (the abstract and the sections each part needs, fitted to ``PAPER_TOKENS``), then
each question appended after it, so every call of a digest shares the longest prefix: llama.cpp reuses it
in-process and in its server, and remote providers cache prompt prefixes too. Answers are JSON objects,
constrained to a schema where the backend supports it (``Backend.supports_schema``), read as labelled text where it
does not. The English parts are then checked — pasted from the paper, speaking as the authors, a number the paper
does not have, repeating another part, missing — and what fails gets one rewrite call, behind the same paper
prefix. The Chinese is the English translated in four short calls; a part that is not Chinese enough is translated
once more, English words left in it get one glossary call, and a title translation that lost the method's name
gets the name back. What is still wrong is repaired without the model where that is safe (the authors' "we" becomes
"the authors", a sentence with an unsupported number is dropped) and otherwise marked: missing or cut, never
silently empty.
"""
from __future__ import annotations

import functools
import json
import logging
import re
import threading
import time
from typing import Callable

from chatpaper import answer, checks, sections
from chatpaper.digest import LANGUAGES, LIST_PARTS, OPTIONAL_PARTS, PART, PARTS, QUESTIONS, Digest, DigestProgress
from chatpaper.errors import BackendError, Cancelled
from chatpaper.paper import Paper, Record
from chatpaper.prompts import load_prompt

log = logging.getLogger(__name__)

#: Part of the digest cache key: a change of the writing logic invalidates cached digests.
WRITER_VERSION = "13"
#: Paper text per digest, in tokens. The bundled 0.5B model reads about 96 tokens/s on 2 cores: 1,800 tokens are
#: 19 s, read once per digest (every later call reuses them).
PAPER_TOKENS = 1800
#: Longest answer per call, in tokens (Chinese takes about 1.3x the tokens of the same English).
ANSWER_TOKENS = {"overview": 240, "summary": 260, "methods": 200, "conclusion": 260, "repair": 260, "terms": 180,
                 "rewrite": 60,
                 "translate": 300, "glossary": 120}
#: Key terms without a definition in the paper explained by the model per digest (each is a sentence to write).
MODEL_TERMS = 3
#: The lists whose items are sentences (a takeaway, a method step), not names like keywords.
SENTENCE_LISTS = ("takeaways", "methods")
#: Shortest method step or takeaway a schema admits, in characters.
MIN_ITEM_CHARS = 20
#: Chinese prose must be at least this share of CJK characters (terms, names and code excepted).
MIN_CJK_SHARE = 0.5
#: English words a Chinese part may keep before it is translated again, and a whole Chinese digest before the
#: glossary call (names of methods are capitalised, not counted): one plain word ("embedding") reads fine, and each
#: call more is seconds on 2 cores.
MAX_ZH_ENGLISH = 1
#: Fewest words of a piece of prose: fewer is a fragment, no part. A first answer cut that short ("…") counts as
#: missing (the bundled model's conclusion answer stopped after "NeRFs,": as a part cut off it came last in a repair
#: that ran out of tokens before it, and its Chinese went missing), and a repair that short never replaces a first
#: answer.
MIN_PROSE_WORDS = 4
#: Two parts whose word trigrams overlap this much say the same thing.
REPEAT_OVERLAP = 0.4
#: Sentences pasted from the paper rewritten per digest, longest first (each call is a few seconds).
MAX_REWRITES = 6
#: A list item that opens with a prose part's label, name or English alias and a colon ("Significance:", "Past
#: methods:", "Approach:"): that part, written in the wrong place.
_PROSE_LABELS = {n.lower() for p in PARTS if not p.is_list
                 for n in (p.label[0], p.missing[0], p.name.replace("_", " "), *p.aliases) if n.isascii()}
_OTHER_LABEL = re.compile(r"\s*(?:%s)\s*:" % "|".join(map(re.escape, sorted(_PROSE_LABELS))), re.I)
_EMIT_EVERY_S = 0.15  # streamed text reaches the UI at most this often per language
_DATA_TAG = re.compile(r"</?\s*(paper|draft)\s*>", re.I)
#: JSON or the data tags inside a list item: "keywords]: ['AN', 'WR'] ]<draft>", "deep. convolutions', 'deep.".
_DEBRIS = re.compile(r"\[\s*'|'\s*\]|'\s*,\s*'|\w\]\s*:|</?\s*(?:paper|draft)\b", re.I)


def write_digests(record: Record, paper: Paper, backend, languages: list[str], *,
                  on_event: Callable[[DigestProgress], None] | None = None,
                  cancel: threading.Event | None = None) -> dict[str, Digest]:
    """Write one ``Digest`` per language (only those that succeeded).

    A language that fails (backend error, or nothing usable) is left out with a warning event, the others kept.
    Raises BackendError when no language could be written, Cancelled when ``cancel`` is set.
    """
    return DigestWriter(record, paper, backend, on_event=on_event, cancel=cancel).write(languages)


def data(text: str) -> str:
    """Text from a paper or a model, safe inside the data tags: it cannot close (or open) one."""
    return _DATA_TAG.sub("", text or "")


def schema_for(parts: list[str], lang: str = "en") -> dict:
    """The JSON schema of an answer with ``parts``: strings and lists of strings, each with its length bound."""
    props = {}
    for name in parts:
        p = PART[name]
        if name in SENTENCE_LISTS:  # a step or a takeaway is a sentence: 20 characters at least, ending in a full
            # stop, so no section heading ("Related Work") or bare phrase ("Improving the reconstruction") fits
            text = {"type": "string", "pattern": f'^[^"\\\\\\n]{{{MIN_ITEM_CHARS - 1},{p.chars - 1}}}[.]$'}
        else:
            text = {"type": "string", "minLength": 1, "maxLength": p.chars}
        props[name] = ({"type": "array", "items": text, "minItems": 2 if name != "keywords" else 3,
                        "maxItems": p.items} if p.is_list else text)
    return {"type": "object", "properties": props, "required": list(parts), "additionalProperties": False}


def terms_schema(terms: list[str]) -> dict:
    """The JSON schema of a key-terms answer: one string per term that starts with the term and a verb that says
    what it is ("is", "measures", ...), then plain text (no quote, backslash or line break) ending in a full stop,
    within the part's length bound."""
    props = {t: {"type": "string", "pattern": f'^{_regex_literal(t)} {_DEFINES} [^"\\\\\\n]{{8,{_term_room(t) - 1}}}[.]$'}
             for t in terms}
    return {"type": "object", "additionalProperties": False, "required": list(terms), "properties": props}


def _term_room(start: str) -> int:
    """Characters a key term's sentence has after the term (``start``) and its verb, full stop included."""
    return max(PART["key_terms"].chars - len(start) - 12, 20)


def _names_in(english: str) -> dict[str, str]:
    """The names an English text writes, by their lower case: terms with capitals inside or in capitals ("SPECTER",
    "NeRF"), and words capitalised inside a sentence ("a Transformer model")."""
    found: dict[str, str] = {}
    for sentence in sections.split_sentences(english):
        for i, m in enumerate(re.finditer(r"(?<![\w-])[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*", sentence)):
            word = m.group(0)
            if (word.isupper() and len(word) > 1) or any(c.isupper() for c in word[1:]) or (i and word[0].isupper()):
                found.setdefault(word.lower(), word)
    return found


def _with_names(chinese: str, names: dict[str, str]) -> str:
    """Chinese prose with the names it wrote in lower case written as the English does ("specter" -> "SPECTER"):
    a translation that lowered a name left what reads as a plain English word."""
    return re.sub(r"(?<![A-Za-z])[a-z][a-z0-9-]*(?![A-Za-z])", lambda m: names.get(m.group(0), m.group(0)), chinese)


#: How a key term's sentence goes on after the term: it says what the term is ("NeRF is ...", "PSNR measures ...").
_DEFINES = "(is|are|refers to|stands for|denotes|measures|means|names)"


def _regex_literal(text: str) -> str:
    """``text`` as a regex that matches it, escaping only what a regex reads as syntax (a grammar compiler need not
    know Python's escapes of "-" or " ")."""
    return re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", text)


class DigestWriter:
    """Writes the digests of one paper with one backend."""

    def __init__(self, record: Record, paper: Paper, backend, *,
                 on_event: Callable[[DigestProgress], None] | None = None, cancel: threading.Event | None = None):
        self.record, self.paper, self.backend = record, paper, backend
        self.on_event = on_event or (lambda event: None)
        self.cancel = cancel
        self.title = record.title or paper.title or "(untitled)"
        self._paper_text = _paper_text(record, paper)
        self._paper_numbers = checks.numbers_in(self._paper_text)
        self._runs = checks.word_runs(self._paper_text)
        self._names = tuple(record.authors or paper.authors)
        self._headings = [s.heading for s in paper.sections]
        self._body = _body_text(paper, record)
        self.terms = checks.technical_terms(self._body, exclude=self._names)
        self.method_name = checks.method_name(self.title, record.abstract or paper.abstract)
        defined = checks.abbreviations(self._paper_text)
        #: The key terms the paper defines, with their long forms ("NeRF": "Neural Radiance Fields").
        self.short_forms = {t: long for t in self.terms
                            if (long := defined.get(t) or defined.get(t + "s") or defined.get(t[:-1]))}
        self._context: str | None = None
        self._latin_names: tuple[str, ...] | None = None  # set by chinese(): the names its translations may write
        self._calls_done, self._calls_planned = 0, 1
        self._streamed: dict[str, str] = {}
        self._last_emit = 0.0

    # ----------------------------------------------------------------------------------------------- languages
    def write(self, languages: list[str]) -> dict[str, Digest]:
        """Digests by language, only those that succeeded; BackendError when none did."""
        want_en, want_zh = "en" in languages, "zh" in languages
        self._calls_planned = (len(QUESTIONS) + 4) * (want_en or want_zh) + (len(PARTS) + 1) * want_zh
        digests: dict[str, Digest] = {}
        errors: list[str] = []
        english: Digest | None = None
        try:
            english = self.english()
            if want_en:
                digests["en"] = english
        except BackendError as exc:  # Cancelled is not a BackendError: it stops everything
            errors.append(f"English digest failed: {exc}")
            self._warn("en", errors[-1])
        if want_zh:
            try:
                if english is None or not _has_content(english):
                    raise BackendError("there is no English digest to translate")
                zh = self.chinese(english)
                if not want_en:  # the English calls were made for Chinese: count them there
                    _add_usage(zh, english)
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

    def english(self) -> Digest:
        """The English digest: one question per group of parts behind the paper, one repair call for parts missing
        or repeating another, then a rewrite of each sentence pasted from the paper."""
        digest = Digest(language="en", method="direct")
        start = time.monotonic()
        for question, parts in QUESTIONS.items():
            fields = [(p, PART[p].ask) for p in parts]
            # What earlier answers wrote is guarded as the paper is: a later part must not say it again word for word.
            written = "\n".join(_as_text(getattr(digest, p.name)) for p in PARTS[1:] if getattr(digest, p.name))
            got = self._ask("en", load_prompt("question.en").render(fields=fields), list(parts), digest, question,
                            written=written)
            _store(digest, got)
        for p in PARTS[1:]:
            value, cut = self._cleaned(p.name, getattr(digest, p.name))
            if value and not p.is_list and value.endswith("…") and _words(value) < MIN_PROSE_WORDS:
                value = ""  # "NeRFs…" (an answer cut after one word) is no part: missing, so the repair asks it first
            setattr(digest, p.name, value)
            if cut and value and p.name not in digest.truncated:
                digest.truncated.append(p.name)
        problems = self._gaps(digest)
        # What is missing first: an answer that runs out of tokens loses its last parts, and a part cut off or
        # repeating another still has its first answer to stand on.
        problems = dict(sorted(problems.items(), key=lambda kv: not getattr(digest, kv[0])
                               or kv[1] == "give 3 to 5", reverse=True))
        if problems:  # behind the same paper prefix: only the question is new to the model
            items = [(p, PART[p].ask, reason) for p, reason in problems.items()]
            # The repair does not see the other parts; the guard keeps it from writing their sentences again.
            written = "\n".join(_as_text(getattr(digest, p.name)) for p in PARTS[1:] if p.name not in problems)
            budget = min(ANSWER_TOKENS["repair"], 20 + sum(110 if PART[p].is_list else 60 for p in problems))
            got = self._ask("en", load_prompt("repair.en").render(items=items), list(problems), digest, "repair",
                            written=written, max_tokens=budget)
            for part, value in got.values.items():
                value, shortened = self._cleaned(part, value)
                was_cut, cut = part in digest.truncated, part in got.cut or shortened
                first = getattr(digest, part)
                first_overlap = self._overlap(part, first, digest)[0] if first else 0.0
                repeated = first_overlap >= REPEAT_OVERLAP
                if (not value or (was_cut and cut and first and not repeated)
                        or (first and not PART[part].is_list and _words(value) < MIN_PROSE_WORDS)):
                    # a cut part cut again: the first answer stays, unless it says what another part says; and a
                    # repair cut down to a fragment ("NeRFs…") says less than any first answer, repeat or not
                    continue
                # A part that said the same as another takes a repair that still does, when it does less so.
                if (not first or (was_cut and not repeated)
                        or self._overlap(part, value, digest)[0] < max(REPEAT_OVERLAP, first_overlap)):
                    setattr(digest, part, value)
                    if was_cut and not cut:
                        digest.truncated.remove(part)
                    elif cut and not was_cut:
                        digest.truncated.append(part)
        self._explain_terms(digest)
        self._rewrite_pasted(digest)
        self._name_the_method(digest)
        digest.workload = self.workload("en")
        self._finish(digest)
        digest.seconds = time.monotonic() - start
        return digest

    def workload(self, lang: str) -> str:
        """The workload, from the record and not the model: how many numbered tables and figures report the
        results, and the paper's terms their captions name (datasets, metrics, baselines), in ``lang``."""
        tables, figures, named = self._workload_facts
        if lang == "zh":
            counts = "和".join(c for c in (f"{tables}张表" * bool(tables), f"{figures}幅图" * bool(figures)) if c)
            if not counts:
                return "论文没有编号的表或图。"
            return f"论文用{counts}报告结果" + (f"，图表标题中提到{'、'.join(named)}" if named else "") + "。"
        counts = " and ".join(c for c in (_count(tables, "table"), _count(figures, "figure")) if c)
        if not counts:
            return "The paper has no numbered tables or figures."
        return f"The paper reports its results in {counts}" + (f"; their captions name {_and(named)}" if named else "") + "."

    @functools.cached_property
    def _workload_facts(self) -> tuple[int, int, list[str]]:
        """The numbered tables and figures, and up to four key terms their captions name (the table captions, else
        the figure captions), not the method's own name: the same for both languages, read once."""
        tables, figures = len({t.label for t in self.paper.tables}), len({f.label for f in self.paper.figures})
        captions = "\n".join([t.caption for t in self.paper.tables] or [f.caption for f in self.paper.figures])
        method = (self.method_name or "").lower()
        named: list[str] = []
        for term in checks.technical_terms(self._body, n=40, exclude=self._names):
            if checks.names(captions, term) and not (method and method in term.lower()) and _new_term(term, named):
                named.append(term)
        return tables, figures, named[:4]

    def _cleaned(self, part: str, value) -> tuple:
        """What every English answer goes through, the questions' and the repair's alike: no citation marks, "we"
        as "the authors" (no model needed), only sentences in the step and takeaway lists (``_only_sentences``), no
        sentence that only lists names (keywords are names) and no list item that says what an earlier one says.
        Returns (value, whether an item was cut)."""
        if value:
            value = _map(_uncited(value), checks.third_person)
        value, cut = self._only_sentences(part, value)
        if value and part != "keywords":
            value = _map(value, checks.without_name_lists)
            if isinstance(value, list):  # an item that says what an earlier one says is not another item
                value = [v for k, v in enumerate(value) if v and all(
                    checks.repeat_overlap(v, u) < REPEAT_OVERLAP for u in value[:k])]
        return value, cut

    def _only_sentences(self, part: str, value) -> tuple:
        """A step or takeaway list without its items that are section headings ("Related Work"), the title or bare
        phrases (they say nothing), another part under its label (the bundled model's repair wrote "Significance: The
        method provides ..." as a method step, and the significance again), or that ran to their bound (the schema's
        pattern then closes them with a full stop mid-clause: "... trained only for geometric tasks do."), or that hold the answer's own syntax (a
        small model lost in its JSON wrote "keywords]: ['AN', 'WR'] ]<draft> ..." as a takeaway). Where fewer than
        two whole items are left, those that ran to their bound stay, cut at a word and marked "…" (the part is
        listed as truncated) rather than the part going missing. Other parts unchanged. Returns (value, whether an
        item was cut so)."""
        if part not in SENTENCE_LISTS:
            return value, False
        headings = [self.title, *self._headings]  # the title too: a small model lists it as the first step
        said = [v for v in value if not checks.heading_like(v, headings) and not _DEBRIS.search(v)
                and not _OTHER_LABEL.match(v)]
        bound = PART[part].chars - 1  # the pattern's longest item: it ran to the bound
        whole = [v for v in said if len(v) < bound]
        if len(whole) >= 2 or len(whole) == len(said):
            return whole, False
        return [v if len(v) < bound else v[:-1].rsplit(" ", 1)[0].rstrip(",;: ") + "…" for v in said], True

    def _explain_terms(self, digest: Digest) -> None:
        """The paper's key terms that the prose does not name, at most ``PART["key_terms"].items``, one sentence
        each. A term the paper defines ("batch normalization (BN)") gets the paper's definition, without the model:
        asked, the bundled model wrote "GConv (group convolution) is a residual connection". The others (at most
        ``MODEL_TERMS``) are explained in one call behind the same paper prefix, given the paper's words around
        their first use: one sentence per term that starts with it and a verb and ends in a full stop (the schema's
        pattern makes it so, and bounds it)."""
        prose = " ".join(_as_text(getattr(digest, p.name)) for p in PARTS[1:] if p.name != "keywords")
        # A term whose long form the prose writes is named too: _name_the_method puts the short form after it.
        named = ([t for t in self.terms if checks.names(prose, t)]
                 + [t for t, long in self.short_forms.items() if long.lower() in prose.lower()])
        left: list[str] = []
        for t in self.terms:
            if t != self.method_name and _new_term(t, [*left, *named]):
                left.append(t)
        left = left[:PART["key_terms"].items]
        defined = {t: _definition(t, self.short_forms[t]) for t in left if t in self.short_forms}
        asked = [t for t in left if t not in defined][:MODEL_TERMS]
        explained: dict[str, str] = {}
        if asked:
            rows = [(data(t), data(_first_use(t, self._body))) for t in asked]
            reply = self._call("en", "system.en", self.context() + "\n" + load_prompt("key_terms.en").render(rows=rows),
                               asked, digest, "terms", schema=terms_schema(asked), avoid=self.context())
            got = _json_object(reply)
            for term in asked:
                text = answer.clean_text(got.get(term, "")) if isinstance(got.get(term), str) else ""
                said = re.match(rf"\S.*? {_DEFINES} (.*)$", text)
                if said and len(said.group(2)) >= _term_room(text[:said.start(1) - 1]):
                    continue  # it ran to its bound: the pattern closed it mid-clause ("... on 4D point.")
                text = _complete_sentence(_map(_uncited(text), checks.third_person))
                if text and re.match(rf"{re.escape(term)}(?![\w-])", text) and len(checks.words(text)) >= 4:
                    explained[term] = text
        digest.key_terms = [defined.get(t) or explained[t] for t in left if t in defined or t in explained]

    def _name_the_method(self, digest: Digest) -> None:
        """Names instead of paraphrase, without the model: the method's first generic mention in each part ("the
        proposed method") becomes its name, and the first long form of a key term the paper abbreviates ("neural
        radiance fields") gets its short form after it ("(NeRF)"), once per digest."""
        named: set[str] = set()

        def name(text: str) -> str:
            text = checks.with_method_name(text, self.method_name)
            text = checks.with_short_forms(text, {t: f for t, f in self.short_forms.items() if t not in named})
            named.update(t for t in self.short_forms if checks.names(text, t))
            return text

        for p in PARTS[1:]:
            if p.name != "keywords" and getattr(digest, p.name):
                setattr(digest, p.name, _map(getattr(digest, p.name), name))

    def _rewrite_pasted(self, digest: Digest) -> None:
        """Each sentence that holds a run of the paper's words gets one rewrite call (longest first, at most
        ``MAX_REWRITES``); the rewrite is kept when it is no longer pasted and adds no unsupported number."""
        pasted = [(p.name, i, s) for p in PARTS[1:] if p.name != "keywords"
                  for i, item in enumerate(_items(getattr(digest, p.name)))
                  for s in sections.split_sentences(item) if checks.copied(s, self._runs)]
        pasted.sort(key=lambda t: -len(t[2]))
        # The rewrite must not come out as another part's sentence either (a small model's one paraphrase of it).
        prose = [_as_text(getattr(digest, p.name)) for p in PARTS[1:] if p.name != "keywords" and getattr(digest, p.name)]
        for part, i, sentence in pasted[:MAX_REWRITES]:
            reply = self._call("en", "system.en", load_prompt("rewrite.en").render(draft=data(sentence)), [], digest,
                               "rewrite", schema={}, avoid="\n".join([self.context(), sentence, *prose]))
            new = answer.clean_text(reply.split("\n")[0] if reply.strip() else "")
            new = checks.third_person(_uncited(new))
            lost = [t for t in self.terms if checks.names(sentence, t) and not checks.names(new, t)]
            if (not new or checks.copied(new, self._runs) or checks.has_cjk(new) or lost
                    or len(checks.unsupported_numbers(new, self._paper_numbers)) > len(checks.unsupported_numbers(sentence, self._paper_numbers))):
                # still pasted, or it lost a key term the sentence named ("MLP" as "mlps"): the sentence goes,
                # when its part has another one to stand on
                new = ""
                if len(sections.split_sentences(_items(getattr(digest, part))[i])) < 2:
                    continue
            value = getattr(digest, part)
            if isinstance(value, list):
                value[i] = value[i].replace(sentence, new).strip()
            else:
                setattr(digest, part, value.replace(sentence, new).strip())

    def chinese(self, english: Digest) -> Digest:
        """The Chinese digest: each English part translated in its own short call (the instruction first, so every
        call shares it); a part that is not Chinese enough is translated once more; English words left get one
        glossary call."""
        digest = Digest(language="zh", method="translated")
        start = time.monotonic()
        source = {"title_translation": self.title,
                  **{p.name: getattr(english, p.name) for p in PARTS[1:] if not p.from_record}}
        # A keyword that is a name ("NeRF", "Mip-NeRF", "BERT") stays as it is: only plain words are translated, in
        # capitals too ("Rendering" is not a name).
        names = [k for k in english.keywords if not checks.english_words(k) and (
            checks.terms_in(k) or (self.method_name or "").lower() == k.lower())]
        source["keywords"] = [k for k in english.keywords if k not in names]
        # The Latin names a translation may write: the paper's key terms, the method's name and the terms the English
        # writes ("NeRF", "iNGP"); a capitalised plain word ("Rendering", "Neural Radiance Fields") is translated.
        english_text = " ".join([self.title, *(_as_text(v) for v in source.values()), *english.keywords])
        self._latin_names = tuple(sorted({*self.terms, *checks.terms_in(english_text),
                                          *([self.method_name] if self.method_name else [])}))
        found: dict = {}
        for part in [p for p in source if source[p]]:
            found[part] = self._translate(part, source[part], digest)
        for part in [p for p in found if not self._good_chinese(found[p], p)]:
            again = self._translate_sentences(part, source[part], digest)
            if _zh_faults(again, self._names) < _zh_faults(found[part], self._names):
                found[part] = again
        names_of = _names_in(" ".join([self.title, *(_as_text(v) for v in source.values()), *english.keywords]))
        for part in [p for p in found if p != "title_translation"]:
            found[part] = _map(found[part], lambda text: _with_names(text, names_of))
        self._glossary(found, digest)
        found["keywords"] = _merge_keywords(english.keywords, names, found.get("keywords") or [])
        found["workload"] = self.workload("zh")
        _store(digest, answer.Answer(values={p: v for p, v in found.items() if v}))
        digest.title_translation = self._keep_method_name(digest.title_translation)
        self._finish(digest)
        digest.seconds = time.monotonic() - start
        return digest

    # ------------------------------------------------------------------------------------------------ checks
    def _gaps(self, digest: Digest) -> dict[str, str]:
        """English parts to ask for again: missing, too few items, only the title or a heading (the bundled model gave
        the survey's title as its summary), cut off, or saying the same as another part."""
        problems: dict[str, str] = {}
        for p in PARTS[1:]:
            value = getattr(digest, p.name)
            if p.name in OPTIONAL_PARTS or p.from_record:  # the record's parts are written after this
                continue
            if not value:
                problems[p.name] = "it was missing"
            elif p.name == "keywords" and len(value) < 3:
                problems[p.name] = "give 3 to 5"
            elif p.is_list and len(value) < 2:
                problems[p.name] = "give 3 to 5"
            elif not p.is_list and checks.is_heading(value, [self.title, *self._headings]):  # says nothing
                problems[p.name] = "it only gave a title: say what the paper does and finds"
            elif not p.is_list and not re.search(r"[.!?)\"”]$", value):  # "…": cut at a word, not a whole sentence
                problems[p.name] = "it was cut off: one short whole sentence"
            else:
                other = self._repeats(p.name, value, digest)
                if other and PARTS.index(PART[other]) < PARTS.index(p):
                    problems[p.name] = f"it said the same as the {PART[other].missing[0]}: say something else"
        return problems

    def _repeats(self, part: str, value, digest: Digest) -> str | None:
        """The part (or takeaway) that ``value`` says the same as, if any."""
        overlap, other = self._overlap(part, value, digest)
        return other if overlap >= REPEAT_OVERLAP else None

    def _overlap(self, part: str, value, digest: Digest) -> tuple[float, str | None]:
        """How much ``value`` says what another part says: the largest word-trigram overlap of one of its items
        with one of another part's, and that part."""
        best: tuple[float, str | None] = (0.0, None)
        for p in PARTS[1:]:
            if p.name in (part, "keywords", "title_translation") or not getattr(digest, p.name):
                continue
            for a in _items(value):
                for b in _items(getattr(digest, p.name)):
                    best = max(best, (checks.repeat_overlap(a, b), p.name), key=lambda t: t[0])
        return best

    def _good_chinese(self, value, part: str = "") -> bool:
        if part == "keywords":
            return bool(value) and not checks.english_words(_as_text(value))
        return bool(value) and len(checks.english_words(_as_text(value))) <= MAX_ZH_ENGLISH and self._is_chinese(value)

    def _keep_method_name(self, translation: str) -> str:
        """A title translation keeps the method's name: the title's capitalised term, or its part before a colon."""
        if not translation:
            return translation
        head = self.title.split(":")[0].strip() if ":" in self.title else ""
        names = [self.method_name] if self.method_name and checks.names(self.title, self.method_name) else []
        names += [head] if head and len(head.split()) <= 3 else []
        # A name: capitals inside a word ("NeRF", "MapReduce"; not "Pipeline-Aware") or in capitals ("SPECTER"),
        # unless the whole title is set in capitals ("A LANGUAGE-AGENT APPROACH": no word of it is a name by that).
        capitals = sum(w.isupper() for w in self.title.split()) > 0.6 * len(self.title.split())
        names += [t for t in re.findall(r"[A-Za-z][A-Za-z0-9]*", self.title)
                  if (t[1:] != t[1:].lower() and not t.isupper()) or (t.isupper() and len(t) >= 2 and not capitals)]
        for name in names[:1]:
            if name.lower() not in translation.lower():
                return f"{name}：{translation}"
        return translation

    def _finish(self, digest: Digest) -> None:
        """Checks on every part, repaired without the model where that is safe; what fails is marked, never kept."""
        zh = digest.language == "zh"
        for p in PARTS:
            value = getattr(digest, p.name)
            if value and not zh and p.name != "title_translation":
                value = _map(value, checks.third_person)
            items = value if isinstance(value, list) else ([value] if value else [])
            kept, fallback = [], []
            for item in items:
                item, removed = checks.drop_unknown_urls(item, self._paper_text)
                digest.removed_urls += [u for u in removed if u not in digest.removed_urls]
                item = self._without_unsupported_numbers(item, digest)
                item = _without_orders(item)
                if zh:  # a list of numbers takes the enumeration comma: "640×480、1296×968", not one "480,1296"
                    item = re.sub(r"(?<=\d)\s*，\s*(?=\d)", "、", item)
                if zh and p.name == "keywords" and not checks.english_words(item):
                    pass  # a keyword may be a name ("NeRF", "BERT"): kept when no plain English word is left in it
                elif zh and p.name != "title_translation" and not self._is_chinese(item):
                    if _mostly_chinese(item, self._names):
                        fallback.append(item)
                    continue
                if not zh and checks.has_cjk(item):
                    continue
                if item:
                    kept.append(item)
            kept = kept or fallback[:1]  # a part half in names is better than a part missing
            setattr(digest, p.name, kept if p.is_list else (kept[0] if kept else ""))
            if (not kept and (p.name != "title_translation" or zh) and p.name not in digest.missing
                    and p.name not in OPTIONAL_PARTS):
                digest.missing.append(p.name)
        if not zh:
            _drop_repeats(digest)
        order = [p.name for p in PARTS]
        digest.missing.sort(key=order.index)
        digest.truncated = sorted(set(digest.truncated), key=order.index)

    def _without_unsupported_numbers(self, item: str, digest: Digest) -> str:
        """Sentences with a number the paper lacks are dropped; a part of one such sentence keeps it, flagged ⚠."""
        bad = checks.unsupported_numbers(item, self._paper_numbers)
        if not bad:
            return item
        sentences = sections.split_sentences(item)
        good = [s for s in sentences if not checks.unsupported_numbers(s, self._paper_numbers)]
        if good:
            return " ".join(good) if not re.search(r"[\u4e00-\u9fff]", item) else "".join(good)
        digest.flagged_numbers += [n for n in bad if n not in digest.flagged_numbers]
        return item

    def _is_chinese(self, value) -> bool:
        return checks.cjk_share(_as_text(value), exclude=self._names) >= MIN_CJK_SHARE

    # ------------------------------------------------------------------------------------------------- calls
    def context(self) -> str:
        """The paper as every English call reads it: title, key terms, abstract and sections, fitted to the budget."""
        if self._context is None:
            overhead = self._count(load_prompt("system.en").render()) + 200  # the question and the chat template
            budget = min(PAPER_TOKENS, self.backend.context_tokens - max(ANSWER_TOKENS.values()) - overhead)
            pieces = sections.digest_pieces(self.paper, self.record.abstract or self.paper.abstract)
            text = sections.format_pieces(sections.fit_pieces(pieces, max(budget, 256), self._count))
            terms = ", ".join(f"{t} ({self.short_forms[t]})" if t in self.short_forms else t for t in self.terms)
            self._context = load_prompt("paper").render(title=data(self.title), terms=data(terms),
                                                        text=data(text))
        return self._context

    def _ask(self, lang: str, question: str, parts: list[str], digest: Digest, step: str,
             written: str = "", max_tokens: int | None = None) -> answer.Answer:
        """One English call: the paper, then ``question``; the answer parsed into ``parts``. ``written``: prose the
        answer must not say again (the parts a repair must not repeat)."""
        # The guard keeps the answer from pasting the paper, and the question's own wording ("1-2 sentences (it
        # said the same as ...)") too.
        reply = self._call(lang, "system.en", self.context() + "\n" + question, parts, digest, step,
                           max_tokens=max_tokens, avoid="\n".join(t for t in (self.context(), question, written) if t))
        reply = _QUESTION_ECHO.sub("", reply)
        got = answer.parse_answer(reply, parts)
        digest.truncated += [p for p in got.cut if p not in digest.truncated]
        return got

    def _translate(self, part: str, value, digest: Digest, strict: bool = False):
        """One part translated in one plain-text call (small models drop parts of a long structured translation)."""
        if part == "keywords":
            text = ", ".join(value)
        elif isinstance(value, list):
            text = "\n".join(f"- {item}" for item in value)
        else:
            text = value
        user = load_prompt("translate.zh").render(text=data(text), is_list=PART[part].is_list and part != "keywords")
        budget = min(max(48, 2 * self._count(text)), ANSWER_TOKENS["translate"])
        reply = self._call("zh", "system.zh", user, [], digest, "translate", max_tokens=budget, schema={},
                           temperature=0.5 if strict else 0.2, chinese=True, names=self._latin_names)
        got = answer.clean_value(_unlabelled(reply), part)
        got, cut = answer.bound(part, got)
        if cut and part not in digest.truncated:
            digest.truncated.append(part)
        return got

    def _translate_sentences(self, part: str, value, digest: Digest):
        """A part translated again one sentence (or item) per call: a small model keeps short sentences Chinese."""
        if part == "keywords" or part == "title_translation":
            return self._translate(part, value, digest, strict=True)
        items = value if isinstance(value, list) else [value]
        out = []
        for item in items:
            pieces = [self._translate("summary", s, digest) for s in sections.split_sentences(item)]
            out.append("".join(p for p in pieces if p))
        return [o for o in out if o] if isinstance(value, list) else (out[0] if out else "")

    def _glossary(self, found: dict, digest: Digest) -> None:
        """English words left in the Chinese: one call for their Chinese names, put in place."""
        left = {p: checks.english_words(_as_text(v)) for p, v in found.items() if p != "title_translation"}
        words = sorted({w for ws in left.values() for w in ws})[:24]
        if len(words) <= MAX_ZH_ENGLISH:
            return
        context = "\n".join(_as_text(found[p]) for p, ws in left.items() if ws)
        user = load_prompt("glossary.zh").render(words=", ".join(words), context=data(context))
        schema = {"type": "object", "properties": {w: {"type": "string", "maxLength": 16} for w in words},
                  "required": words, "additionalProperties": False}
        reply = self._call("zh", "system.zh", user, words, digest, "glossary", schema=schema)
        names = _json_object(reply)
        table = {w: str(names[w]).strip() for w in words if isinstance(names.get(w), str)
                 and checks.has_cjk(names[w]) and not checks.english_words(names[w])}
        if not table:
            return
        pattern = re.compile(r"(?<![A-Za-z])(" + "|".join(map(re.escape, sorted(table, key=len, reverse=True))) + r")(?![A-Za-z])")
        for part, ws in left.items():
            if ws:
                found[part] = _map(found[part], lambda s: re.sub(r"\s*" + pattern.pattern + r"\s*",
                                                                 lambda m: table[m.group(1)], s))

    def _call(self, lang: str, system: str, user: str, parts: list[str], digest: Digest, step: str, *,
              max_tokens: int | None = None, schema: dict | None = None, temperature: float = 0.2,
              avoid: str | None = None, chinese: bool = False, names: tuple[str, ...] | None = None) -> str:
        """One streamed model call; its text is reported as it arrives, its tokens added to the digest.

        ``avoid``: the paper text the answer must not paste, for a backend with a copy guard (the others never see
        it: their pasted sentences go to the rewrite step). ``chinese``: the answer is Chinese prose, and such a
        backend keeps it from starting a plain English word, or with ``names`` a capitalised word that begins none
        of them (the others leave those words to the glossary call)."""
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled("Stopped: the digest was cancelled.")
        stage = "summarising" if lang == "en" else "translating"
        name = f"{LANGUAGES.get(lang, lang)} {_STEP_NAMES.get(step, step)}"
        doing = "Translating the digest into Chinese…" if step == "translate" else f"Writing the {name}…"
        max_tokens = max_tokens or ANSWER_TOKENS[step]
        self._emit(stage, lang, doing, max_tokens=max_tokens)
        messages = [{"role": "system", "content": load_prompt(system).render()}, {"role": "user", "content": user}]
        if schema is None:
            schema = schema_for(parts, lang)
        guarded = getattr(self.backend, "supports_copy_guard", False)
        guard = {k: v for k, v in (("avoid", avoid), ("chinese", chinese), ("names", names)) if v} if guarded else {}
        stream = self.backend.chat(messages, max_tokens=max_tokens, temperature=temperature, cancel=self.cancel,
                                   schema=schema or None, **guard)
        before = self._streamed.get(lang, "")
        written = 0
        for _ in stream:
            written += 1  # a streamed chunk is one token for llama.cpp and the OpenAI-compatible servers
            if time.monotonic() - self._last_emit >= _EMIT_EVERY_S:
                self._streamed[lang] = _preview(before, stream.text, parts, lang)
                self._emit(stage, lang, doing, text=self._streamed[lang], tokens=written, max_tokens=max_tokens)
        self._streamed[lang] = _preview(before, stream.text, parts, lang)
        self._account(digest, messages, stream)
        self._calls_done += 1
        self._emit(stage, lang, f"{name} done", text=self._streamed[lang], tokens=written)
        log.debug("%s %s answer:\n%s", lang, step, stream.text)
        return stream.text

    def _account(self, digest: Digest, messages: list[dict], stream) -> None:
        """Tokens of one call: the backend's own count, else the model's tokenizer (exact) or an estimate."""
        usage = stream.usage
        if usage.prompt_tokens is not None:
            digest.prompt_tokens += usage.prompt_tokens
        else:
            digest.prompt_tokens += sum(self._count(m["content"]) for m in messages)
            digest.tokens_exact = digest.tokens_exact and getattr(self.backend, "exact_tokens", False)
        digest.cached_tokens += usage.cached_tokens or 0
        digest.completion_tokens += usage.completion_tokens if usage.completion_tokens is not None else \
            self._count(stream.text)
        digest.calls += 1

    def _count(self, text: str) -> int:
        return self.backend.count_tokens(text) if text else 0

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


#: What each step is called in progress lines: "Writing the English overview…", then "English overview done".
_STEP_NAMES = {"repair": "repair of missing or repeated parts", "rewrite": "rewrite of a pasted sentence",
               "terms": "explanation of the paper's key terms",
               "translate": "translation", "glossary": "glossary of English words left"}


def _preview(before: str, reply: str, parts: list[str], lang: str) -> str:
    """What the UI shows while an answer streams: the parts read so far as "Label: text" lines."""
    if not parts:
        return (before + "\n" if before and reply.strip() else before) + reply.strip()
    got = answer.parse_answer(reply, parts)
    lines = []
    for part, value in got.values.items():
        label = PART[part].label_in(lang) if part in PART else part
        lines.append(f"{label}: " + ("; ".join(value) if isinstance(value, list) else value))
    text = "\n".join(lines)
    return (before + "\n" if before and text else before) + text


def _count(n: int, noun: str) -> str:
    """"1 table", "4 tables"; empty for none."""
    return f"{n} {noun}{'s' * (n != 1)}" if n else ""


def _and(names: list[str]) -> str:
    """"A", "A and B", "A, B and C"."""
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def _new_term(term: str, seen: list[str]) -> bool:
    """True when ``term`` is not in ``seen``, as it is or as its plural or singular ("NeRF" and "NeRFs" are one)."""
    return not any(term.rstrip("s") == t.rstrip("s") for t in seen)


def _definition(term: str, long: str) -> str:
    """The paper's own definition of a term as a sentence: "BN stands for batch normalization." ("LLMs stand for")."""
    plural = term.endswith("s") and term[:-1].isupper()
    return f"{term} stand{'' if plural else 's'} for {long}."


def _first_use(term: str, text: str, words: int = 12) -> str:
    """The paper's words around its first use of ``term`` (``words`` each side): what the paper says it is."""
    m = checks.term_pattern(term).search(text)
    if not m:
        return ""
    starts = [w.start() for w in re.finditer(r"\S+", text[:m.start()])]
    ends = [w.end() for w in re.finditer(r"\S+", text[m.end():])]
    start = starts[-words] if len(starts) >= words else 0
    end = m.end() + (ends[words - 1] if len(ends) >= words else len(text) - m.end())
    return re.sub(r"\s+", " ", text[start:end]).strip()


def _complete_sentence(text: str) -> str:
    """One sentence ending in a full stop: a first sentence kept whole, a text that stopped short left out."""
    sentences = sections.split_sentences(text)
    if not sentences:
        return ""
    first = sentences[0]
    return first if re.search(r"[.!?]$", first) else (first + "." if len(sentences) == 1 and not answer._DANGLING.search(first) else "")


def _paper_text(record: Record, paper: Paper) -> str:
    """Everything the paper and the record say, for checking numbers and URLs the model wrote."""
    parts = [record.title, record.abstract, record.comment, record.journal_ref, record.doi, record.abs_url,
             record.pdf_url, paper.title, paper.abstract, *paper.links, *(s.heading + "\n" + s.text for s in paper.sections),
             *(f.caption for f in paper.figures),
             *(t.caption + "\n" + t.markdown for t in paper.tables)]
    return "\n".join(p for p in parts if p)


def _body_text(paper: Paper, record: Record) -> str:
    """The paper's own text without its back matter (references name other papers' methods)."""
    roles = sections.classify_sections(paper.sections)
    body = [s.heading + "\n" + s.text for s, role in zip(paper.sections, roles) if role != sections.BACK]
    return "\n".join([record.title or paper.title, record.abstract or paper.abstract, *body])


# Citation marks ("[6, 9]") and pointers into the paper ("(Section 4.2)", "(see Fig. 3") mean nothing in a digest.
_CITATION = re.compile(r"\s*\[\d+(?:\s*[,–-]\s*\d+)*\]|\s*\((?:see\s+)?(?:Sec(?:tion)?s?|Fig(?:ure)?s?|Tab(?:le)?s?|Eqs?|Appendix)"
                       r"\.?\s*[\dA-Z][\w.]*(?:\s*(?:,|and|–|-)\s*[\dA-Z][\w.]*)*\)?", re.I)
# The question's instructions written back into an answer: "(it said the same as the summary: say something else)".
_QUESTION_ECHO = re.compile(r",?\s*\d-\d sentences|\s*\((?:it was missing|give 3 to 5|it said the same as [^()]*)\)", re.I)
# Author-year citations: "(Devlin et al., 2019; Liu et al., 2019)", "(e.g., Klavans and Boyack, 2006)".
_AUTHOR_YEAR = re.compile(r"\s*\((?=[^()]*[A-Z])[^()]{0,150}?\b(?:19|20)\d{2}[a-z]?\)"
                          r"|\s*\((?=[^()]*(?:\bet al\b|\b(?:19|20)\d{2}\b))[^()]*$")  # or one left open at the end
_LABEL_PREFIX = re.compile(r"^\s*(?:[#*]+\s*)?(?:译文|翻译结果|翻译|中文|Translation|Chinese)\s*(?:\*\*)?\s*[:：]\s*")
# A label inside a line ("… 翻译结果： …"): the model wrote a draft, then its translation again after the label.
_INLINE_LABEL = re.compile(r"^.*?\s*(?:译文|翻译结果)\s*[:：]\s*")


def _without_orders(item: str) -> str:
    """``item`` without its sentences that give a language model orders (a paper's prompt injection passed on);
    an order spanning a sentence break takes the whole item."""
    kept = checks.without_sentences(item, checks.order_to_model)
    return "" if checks.order_to_model(kept) else kept


def _uncited(value):
    """Prose without the paper's citation marks ("[6, 9]"): a digest names methods, not reference numbers."""
    return _map(value, lambda s: _AUTHOR_YEAR.sub("", _CITATION.sub("", s)).strip())


def _unlabelled(reply: str) -> str:
    """A translation without the code fence, label or draft tags a model may wrap it in."""
    text = re.sub(r"^```\w*\s*|\s*```$", "", data(reply).strip())
    lines = [_LABEL_PREFIX.sub("", line) for line in text.split("\n") if line.strip()]
    return "\n".join(_INLINE_LABEL.sub("- " if line.startswith("- ") else "", line) for line in lines)


def _items(value) -> list[str]:
    return value if isinstance(value, list) else ([value] if value else [])


def _json_object(text: str) -> dict:
    got = answer._loads_prefix(text[text.find("{"):])[0] if "{" in text else None
    return got if isinstance(got, dict) else {}


def _store(digest: Digest, got) -> None:
    for part, value in got.values.items():
        setattr(digest, part, value)


def _as_text(value) -> str:
    return " ".join(value) if isinstance(value, list) else (value or "")


def _sentences(value) -> list[str]:
    return [s for v in (value if isinstance(value, list) else [value]) for s in sections.split_sentences(v)]


def _map(value, fn):
    return [fn(v) for v in value] if isinstance(value, list) else fn(value)


def _zh_faults(value, names: tuple) -> int:
    """How far a Chinese part is from Chinese: English words left in it, plus one when it is mostly not CJK."""
    if not value:
        return 9
    text = _as_text(value)
    return len(checks.english_words(text)) + (checks.cjk_share(text, exclude=names) < MIN_CJK_SHARE)


def _drop_repeats(digest: Digest) -> None:
    """No two pieces of English prose say the same thing: every pair (the summary, each takeaway, each part, each
    method step) is compared, and of a pair that overlaps the list item goes (its list keeps one item at least);
    of two whole parts, the later one loses the sentences that repeat the earlier, when it has others."""
    units = [(p.name, i, text) for p in PARTS[1:] if p.name != "keywords"
             for i, text in enumerate(_items(getattr(digest, p.name)))]
    gone: set[int] = set()
    for j in range(len(units)):
        for i in range(j):
            if i in gone or j in gone or checks.repeat_overlap(units[i][2], units[j][2]) < REPEAT_OVERLAP:
                continue
            for victim in (j, i):
                part = units[victim][0]
                left = sum(1 for k, u in enumerate(units) if u[0] == part and k not in gone)
                if PART[part].is_list and left > 1:
                    gone.add(victim)
                    break
            else:  # two whole parts (or a last item): the later part, else the earlier, loses the repeated sentences
                for mine, theirs in ((j, i), (i, j)):
                    part = units[mine][0]
                    keep = [s for s in sections.split_sentences(units[mine][2])
                            if checks.repeat_overlap(s, units[theirs][2]) < REPEAT_OVERLAP]
                    if keep and not PART[part].is_list and keep != sections.split_sentences(units[mine][2]):
                        units[mine] = (part, None, " ".join(keep))
                        setattr(digest, part, units[mine][2])
                        break
    for p in PARTS[1:]:
        if p.is_list and p.name != "keywords":
            setattr(digest, p.name, [u[2] for k, u in enumerate(units) if u[0] == p.name and k not in gone])


def _merge_keywords(english: list[str], names: list[str], translated: list[str]) -> list[str]:
    """The Chinese keywords in the English order: names as they are, each plain keyword by its translation (the
    translations in order when there is one per keyword, else after the names)."""
    plain = [k for k in english if k not in names]
    if len(translated) != len(plain):
        return (names + [t for t in translated if t not in names])[:PART["keywords"].items]
    it = iter(translated)
    return [k if k in names else next(it) for k in english][:PART["keywords"].items]


def _words(value) -> int:
    return len(checks.words(_as_text(value)))


def _mostly_chinese(text: str, names: tuple) -> bool:
    """Chinese prose that names many methods: a third CJK at least, at most two plain English words left."""
    return checks.cjk_share(text, exclude=names) >= 0.33 and len(checks.english_words(text)) <= 2


def _add_usage(target: Digest, source: Digest) -> None:
    target.prompt_tokens += source.prompt_tokens
    target.cached_tokens += source.cached_tokens
    target.completion_tokens += source.completion_tokens
    target.calls += source.calls
    target.tokens_exact = target.tokens_exact and source.tokens_exact


def _has_content(digest: Digest) -> bool:
    """True when the model wrote some part (the record's parts are no content of its own)."""
    return any(getattr(digest, p.name) for p in PARTS if p.name != "title_translation" and not p.from_record)
