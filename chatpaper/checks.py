"""Checks on what the model wrote: numbers against the paper, URLs against paper and record, Chinese really Chinese."""
from __future__ import annotations

import re

from chatpaper.sections import split_sentences

# A number as written in prose: 1,234 / 12 / 0.93 / 45.2% (the % may be full-width or spaced).
_NUMBER = re.compile(r"(?<![\w.,/-])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(\s?[%％])?(?![\w])")
_URL = re.compile(r"(?:https?://|www\.)[^\s<>()\[\]{}\"'，。；）]+", re.I)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")


def _value(integer: str, fraction: str | None) -> float:
    return float(integer.replace(",", "") + (fraction or ""))


def numbers_in(text: str) -> set[float]:
    """Every number written in ``text`` (as floats), for looking up the model's numbers."""
    return {_value(m.group(1), m.group(2)) for m in _NUMBER.finditer(text)}


def checkable_numbers(text: str) -> list[str]:
    """Numbers in prose that a reader would take as results: percentages, decimals and counts of 10 or more."""
    found = []
    for m in _NUMBER.finditer(text):
        integer, fraction, percent = m.group(1), m.group(2), m.group(3)
        if percent or fraction or _value(integer, None) >= 10:
            found.append(m.group(0).strip())
    return found


def unsupported_numbers(prose: str, paper_numbers: set[float]) -> list[str]:
    """The checkable numbers of ``prose`` that the paper's text does not contain (a percentage may appear as a
    fraction, 93.1% as 0.931, and the other way round)."""
    flagged = []
    for written in checkable_numbers(prose):
        m = _NUMBER.match(written)
        value = _value(m.group(1), m.group(2))
        candidates = {value, round(value / 100, 6), round(value * 100, 6)}
        if not any(round(v, 6) in paper_numbers for v in candidates) and written not in flagged:
            flagged.append(written)
    return flagged


def urls_in(text: str) -> list[str]:
    """URLs in ``text``, trailing punctuation removed."""
    return [u.rstrip(".,;:!?") for u in _URL.findall(text)]


def drop_unknown_urls(prose: str, known_text: str) -> tuple[str, list[str]]:
    """Remove URLs from ``prose`` that ``known_text`` (the paper and the record) does not contain."""
    known = known_text.lower()
    removed = []
    for url in urls_in(prose):
        bare = re.sub(r"^(https?://)?(www\.)?", "", url.lower()).rstrip("/")
        if bare and bare in known:
            continue
        removed.append(url)
        prose = prose.replace(url, "")
    if removed:
        prose = re.sub(r"\(\s*\)|（\s*）", "", prose)
        prose = re.sub(r"[ \t]{2,}", " ", prose).strip()
    return prose, removed


def cjk_share(text: str, exclude: tuple[str, ...] = ()) -> float:
    """Share of CJK characters in prose, 0..1: CJK characters / (CJK characters + Latin letters).

    Terms, names and code do not count against Chinese: URLs, `code`, the strings in ``exclude`` (authors, title
    words), acronyms and mixed-case words such as "NeRF" or "ResNet" are removed before counting.
    """
    text = _URL.sub(" ", re.sub(r"`[^`]*`", " ", text))
    for term in sorted(exclude, key=len, reverse=True):
        if term.strip():
            text = text.replace(term, " ")
    cjk = len(_CJK.findall(text))
    latin = 0
    for word in _LATIN_WORD.findall(text):
        if word[1:] != word[1:].lower() or (len(word) <= 3 and word[0].isupper()):
            continue  # an acronym or a mixed-case term: "NeRF", "PSNR", "GPU"
        latin += len(word)
    total = cjk + latin
    return cjk / total if total else 0.0


def has_cjk(text: str) -> bool:
    """True when ``text`` contains any CJK character (English prose must not)."""
    return bool(_CJK.search(text))


# ------------------------------------------------------------------------------------- prose quality checks
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
_FIRST_PERSON = re.compile(r"\b(we|our|ours|us|ourselves)\b", re.I)
#: A sentence sharing a run of this many words with the paper was pasted, not written.
COPY_RUN = 12


def words(text: str) -> list[str]:
    """The lower-case words of ``text``, line-break hyphens joined ("multi-\\nscale" -> "multiscale")."""
    text = re.sub(r"-\s*\n\s*", "", text)
    return [w.lower() for w in _WORD.findall(text)]


def word_runs(text: str, n: int = COPY_RUN) -> set[int]:
    """Hashes of every run of ``n`` consecutive words in ``text`` (the paper), for ``copied``."""
    w = words(text)
    return {hash(tuple(w[i:i + n])) for i in range(len(w) - n + 1)}


def copied(sentence: str, runs: set[int], n: int = COPY_RUN) -> bool:
    """True when ``sentence`` holds a run of ``n`` words that the paper has (``runs`` from ``word_runs``)."""
    w = words(sentence)
    return any(hash(tuple(w[i:i + n])) in runs for i in range(len(w) - n + 1))


def first_person(text: str) -> bool:
    """True when English prose speaks as the authors ("we", "our", "us"): a sentence pasted from the paper."""
    return bool(_FIRST_PERSON.search(text))


#: Orders addressed to a language model, the shape of a prompt injection: "ignore (all) previous instructions",
#: "disregard the above prompt", a "SYSTEM:" / "assistant:" turn marker, "you are now ...". A digest reports what a
#: paper says; a sentence that passes such an order on (pasted or paraphrased) is not kept.
_ORDER_TO_MODEL = re.compile(
    r"(?:^|[,;:.!]\s*|\band\s+|\bthen\s+)(?:ignore|disregard|forget|override)\b(?:\W+\w+){0,4}?\W+"
    r"(?:instructions?|prompts?)\b"  # an imperative: at a clause's start, not "models that ignore instructions"
    r"|(?:^|[\s。！？])(?-i:SYSTEM|System|ASSISTANT|Assistant)\s*(?:prompt)?\s*[:：]"  # a chat turn marker
    r"|\byou are now\b", re.I)


def order_to_model(sentence: str) -> bool:
    """True when ``sentence`` gives orders to a language model (a prompt injection), pasted from a paper or not."""
    return bool(_ORDER_TO_MODEL.search(sentence))


_PRONOUNS = {"we": "the authors", "us": "them", "our": "their", "ours": "theirs", "ourselves": "themselves"}


def third_person(text: str) -> str:
    """``text`` with the authors' "we/our/us" turned into "the authors/their/them" (capitalised at a start)."""
    def swap(m: re.Match) -> str:
        word = _PRONOUNS[m.group(0).lower()]
        return word[0].upper() + word[1:] if m.group(0)[0].isupper() else word
    return _FIRST_PERSON.sub(swap, text)


def trigram_overlap(a: str, b: str) -> float:
    """Jaccard overlap of the word trigrams of two texts (0 when either is shorter than four trigrams)."""
    ga, gb = ({tuple(w[i:i + 3]) for i in range(len(w) - 2)} for w in (words(a), words(b)))
    if len(ga) < 4 or len(gb) < 4:
        return 0.0
    return len(ga & gb) / len(ga | gb)


def repeat_overlap(a: str, b: str) -> float:
    """How much two texts say the same thing, on the scale of ``trigram_overlap``: their word-trigram overlap; where
    one is too short for four trigrams (a sentence of under six words: "NeRF models are trained per-scene."), the
    overlap of its words with those of the other's closest sentence, endings and small words aside, times 0.8 (half
    the words shared scores as 40% of the trigrams). The bundled model wrote that sentence five times as method
    steps, each too short for trigrams to count (with "training" and "scENE" in two of them)."""
    trigrams = trigram_overlap(a, b)
    if trigrams or (len(words(a)) >= 6 and len(words(b)) >= 6):
        return trigrams
    short, long = sorted((a, b), key=lambda t: len(words(t)))
    mine = _stems(short)
    if len(mine) < 3:
        return 0.0
    return 0.8 * max((len(mine & theirs) / len(mine | theirs)
                      for theirs in map(_stems, re.split(r"(?<=[.!?])\s+", long)) if theirs), default=0.0)


def _stems(text: str) -> set[str]:
    return {_stem(w) for w in words(text) if w not in _SMALL_WORDS}


def _stem(word: str) -> str:
    """A word without its inflection, roughly: "trained", "training" and "trains" are "train"."""
    if len(word) > 3:
        word = re.sub(r"(?<!s)s$", "", word)
    return re.sub(r"e$", "", re.sub(r"(?:ing|ed)$", "", word)) if len(word) > 4 else word


_SMALL_WORDS = {"a", "an", "the", "of", "and", "or", "is", "are", "was", "were", "be", "to", "in", "on", "for", "with",
                "by", "as", "at", "it", "its", "this", "that", "these", "their", "they"}
_LOWER_WORD = re.compile(r"(?<![A-Za-z])[a-z]{4,}(?![A-Za-z])")


def english_words(text: str) -> list[str]:
    """Plain lower-case English words (4+ letters) in Chinese prose: words left untranslated. Terms such as
    "NeRF" or "GPU" are not plain words; URLs and `code` are skipped."""
    text = _URL.sub(" ", re.sub(r"`[^`]*`", " ", text))
    found: list[str] = []
    for word in _LOWER_WORD.findall(text):
        if word not in found:
            found.append(word)
    return found


# A term may start with a digit when capitals follow ("3DiM", "4DVLM"); hyphenated parts stay one term ("Dex-Net").
_TERM = re.compile(r"(?<![\w-])[A-Za-z0-9][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*(?![\w-])")
#: Capitalised words that are not a paper's own terms: units, venues and publishing boilerplate.
_NOT_TERMS = {"KB", "MB", "GB", "TB", "PB", "Hz", "kHz", "MHz", "GHz", "ms", "dB", "FLOPs", "TFLOPs", "IEEE", "ACM",
              "PDF", "URL", "DOI", "ISBN", "ISSN", "LaTeX", "PhD", "USA", "UK", "AI", "arXiv", "CVPR", "ICCV", "ECCV",
              "NeurIPS", "NIPS", "ICML", "ICLR", "ACL", "EMNLP", "NAACL", "AAAI", "IJCAI", "SIGGRAPH", "TPAMI", "OSDI",
              "VLDB", "SIGMOD"}


def terms_in(text: str, unique: bool = True) -> list[str]:
    """The words of ``text`` written as a technical term is ("NeRF", "PSNR", "Dex-Net", "iNGP"; "CNN-based" as
    "CNN"), however often: not roman numerals, single letters, numbers with a unit ("3.5GB") or section labels. In
    order, once each unless ``unique`` is false."""
    found = []
    for term in _TERM.findall(text):
        term = _ADJECTIVE_SUFFIX.sub("", term)
        caps = sum(c.isupper() for c in term)
        if (len(term) < 2 or re.fullmatch(r"[IVXLC]+(?:-[A-Z]\d*)?", term)
                or not any(c.isalpha() for c in term) or re.fullmatch(r"[\d.]+[A-Za-z]{1,3}", term)
                or not (term.isupper() or any(c.isupper() for c in term[1:]))
                or (not term[0].isupper() and caps < 2) or (any(c.isdigit() for c in term) and caps < 2)):
            continue
        found.append(term)
    return list(dict.fromkeys(found)) if unique else found


def technical_terms(text: str, n: int = 8, exclude: tuple[str, ...] = ()) -> list[str]:
    """The ``n`` most frequent technical terms of a paper's text: names written with a capital after the first
    letter or in capitals ("NeRF", "PSNR", "Dex-Net"), not roman numerals, single letters, section labels ("III-D"),
    people cited by name ("Sanchez-Stern et al.") or ``exclude``. A term with a suffix that makes it an adjective
    ("CNN-based") counts as the term."""
    counts: dict[str, int] = {}
    for term in terms_in(text, unique=False):
        if term not in exclude and term not in _NOT_TERMS:
            counts[term] = counts.get(term, 0) + 1
    terms: list[str] = []
    for term in sorted(counts, key=lambda t: -counts[t]):
        if len(terms) == n or counts[term] < 2:
            break
        if not _cited_person(term, text, counts[term]):  # a scan of the whole text: only as far as needed
            terms.append(term)
    return terms


def _cited_person(term: str, text: str, count: int) -> bool:
    """True when at least half of the uses of ``term`` cite it as an author: "Sanchez-Stern et al.", "Sanchez-Stern
    and Brown (2020)", "Sanchez-Stern, 2020"."""
    cited = len(re.findall(rf"(?<![\w-]){re.escape(term)}(?:\s+et\s+al\b|\s+and\s+[A-Z][\w-]+\s*[,(]\s*(?:19|20)\d\d"
                           rf"|\s*[,(]\s*(?:19|20)\d\d\b)", text))
    return cited * 2 >= count


#: A suffix that turns a term into an adjective: "CNN-based" is about CNNs.
_ADJECTIVE_SUFFIX = re.compile(r"-(?:based|like|style|level|wise|aware|free|only|specific|driven|guided)$")


def name_list(sentence: str) -> bool:
    """True for a "sentence" that only lists names or bare phrases: a small model pastes the context's "Key terms:"
    line so, or strings terms together when it has nothing to say; it says nothing. Such a sentence starts with an
    item, and most of its comma- or "and"-separated chunks are items: a name ("NeRFs, PyNeRF, Mip-NeRF, and MLP,
    K-Planes, and SUDS.") or a phrase of up to three words without a pronoun or verb of a clause ("NeRFs, surface
    fields, deep features, ICP, iNeRF…"); or, anywhere in it, six items in a row ("… using X-UNet, SSIM,
    Concat-UNet, PSNR, FID, ShapeNet, …"). A sentence with a shorter list inside ("The method beats NeRF, Mip-NeRF,
    iNGP and K-Planes on every scene.") is prose."""
    if sentence.count(",") < 3:
        return False
    bare = re.sub(r"\s*\([^()]*\)", "", sentence)  # "UDFs (unsigned distance function)" is one name
    chunks = [c.strip(" .;:…") for c in re.split(r",|\band\b|\bor\b", bare) if c.strip(" .;:…")]
    items = [_list_item(c) for c in chunks]
    if items and items[0] and sum(items) >= 0.7 * len(items):
        return True
    run = longest = 0
    for item in items:
        run = run + 1 if item else 0
        longest = max(longest, run)
    return longest >= LIST_RUN


#: Items in a row that make a sentence a list of names, wherever they stand in it.
LIST_RUN = 6
#: Words that make a short chunk a clause, not a listed item ("it is fast", "they use").
_CLAUSE_WORDS = {"it", "its", "they", "their", "this", "these", "those", "we", "our", "he", "she", "is", "are", "was",
                 "were", "be", "been", "has", "have", "had", "can", "could", "will", "would", "may", "might", "does",
                 "do", "did", "which", "that", "who", "whose", "where", "when", "than", "so"}


def _list_item(chunk: str) -> bool:
    """True for a chunk of a list: at most three words, none of them a clause's pronoun or verb."""
    found = chunk.split()
    return 0 < len(found) <= 3 and not any(w.lower().strip("'\"") in _CLAUSE_WORDS for w in found)


def heading_like(step: str, headings: list[str]) -> bool:
    """True for a method step that is no step: one of the paper's section headings ("Related Work", "3 Method") or
    a phrase of fewer than four words without a full stop ("Evaluation of CL4D"; "Distil the experts." is a step);
    a small model lists the headings it read."""
    sentence = bool(re.search(r"[.!?。]\s*$", step))
    bare = _HEADING_NUMBER.sub("", step).strip(" .:;").lower()
    return (len(bare.split()) < 4 and not sentence) or is_heading(step, headings)


def is_heading(text: str, headings: list[str]) -> bool:
    """True when ``text`` is one of ``headings`` (the title, a section heading), whatever its case, punctuation and
    section number: "NeRF: neural radiance field in 3D vision, a comprehensive review." is the title."""
    def bare(t: str) -> str:
        return " ".join(re.findall(r"\w+", _HEADING_NUMBER.sub("", t).lower()))
    return bare(text) in {bare(h) for h in headings}


_HEADING_NUMBER = re.compile(r"^\s*(?:\(?\d+(?:\.\d+)*[.)]?|[IVX]+\.|[A-Z]\.)\s+")


def without_sentences(text: str, unwanted) -> str:
    """``text`` without its sentences for which ``unwanted`` is true (empty when nothing else is left)."""
    sentences = split_sentences(text)
    kept = [s for s in sentences if not unwanted(s)]
    return text if len(kept) == len(sentences) else ("" if has_cjk(text) else " ").join(kept)


def without_name_lists(text: str) -> str:
    """``text`` without its sentences that only list names (empty when nothing else is left)."""
    return without_sentences(text, name_list)


# "Neural Radiance Fields (NeRF)", "mean Intersection over Union (mIoU)": up to eight words, then the short form.
_DEFINITION = re.compile(r"((?:[A-Za-z][\w-]*\s+){1,8})\(\s*([A-Za-z][A-Za-z0-9-]{1,14})\s*\)")
_LOWER_SMALL = {"of", "the", "a", "an", "and", "for", "in", "on", "over", "to", "with", "by"}


def abbreviations(text: str) -> dict[str, str]:
    """The short forms a paper defines, with their long forms: ``{"NeRF": "Neural Radiance Fields"}``.

    A definition is a long form followed by its short form in parentheses, where the long form is the fewest words
    before the parenthesis that start with the short form's first letter and hold its letters in order ("peak
    signal-to-noise ratio (PSNR)"); a plural "s" of the short form is not a letter of it. The first definition of
    a short form wins."""
    text = re.sub(r"\s+", " ", re.sub(r"-\s*\n\s*", "", text))
    found: dict[str, str] = {}
    for m in _DEFINITION.finditer(text):
        before, short = m.group(1).split(), m.group(2)
        if short in found or not any(c.isupper() for c in short):
            continue
        letters = [c.lower() for c in re.sub(r"s$", "", short) if c.isalpha()]
        for k in range(2, min(len(before), len(letters) + 3) + 1):
            words_ = before[-k:]
            if words_[0][0].lower() != letters[0] or words_[0].lower() in _LOWER_SMALL:
                continue
            if _letters_in_order(letters, " ".join(words_).lower()):
                found[short] = " ".join(words_).rstrip(",;:")
                break
    return found


def _letters_in_order(letters: list[str], text: str) -> bool:
    at = 0
    for c in letters:
        at = text.find(c, at)
        if at < 0:
            return False
        at += 1
    return True


def term_pattern(term: str) -> re.Pattern:
    """``term`` as a whole word of prose: not inside a longer word or a hyphenated name ("NeRF" is not in
    "Mip-NeRF" or "NeRFs")."""
    return re.compile(rf"(?<![\w-]){re.escape(term)}(?![\w-])")


def names(text: str, term: str) -> bool:
    """True when ``text`` names ``term`` as a whole word (``term_pattern``)."""
    return term_pattern(term).search(text) is not None


def with_short_forms(text: str, short_forms: dict[str, str]) -> str:
    """``text`` with the paper's short form after the first long form it writes ("neural radiance fields" ->
    "neural radiance fields (NeRF)"), for each short form that ``text`` does not name already."""
    for short, long in short_forms.items():
        if names(text, short):
            continue
        text = re.sub(rf"(?<![\w-])({re.escape(long)})(?![\w-])(?!\s*\()", rf"\1 ({short})", text, count=1, flags=re.I)
    return text


# What a small model writes where the paper's method has a name: "the proposed method", "the authors' framework".
_GENERIC_METHOD = re.compile(r"\b(?:the|this|their|a) (?:(?:proposed|new|novel|authors'|presented|introduced) )+"
                             r"(?:method|approach|framework|model|system|technique|algorithm)\b"
                             r"|\bthe authors' (?:method|approach|framework|model|system|technique|algorithm)\b", re.I)


def with_method_name(text: str, name: str) -> str:
    """``text`` naming the paper's method: its first generic reference ("the proposed method") becomes ``name``,
    unless ``text`` names it already."""
    if not name or names(text, name):
        return text
    return _GENERIC_METHOD.sub(name, text, count=1)


def method_name(title: str, abstract: str = "") -> str:
    """The name of the paper's method: the head of a "Name: what it does" title when it is one name (capitals
    inside or all capitals: "PyNeRF", "SPECTER", "MapReduce"), else the first name the abstract gives its own work
    within six words of "we propose/present/introduce" or "our method", or after "called/dubbed/named/termed"
    ("Our method, COPRA, ..."; "which we call 3DiM"); "" when neither (a term elsewhere in a title may be the method improved on)."""
    head = title.split(":")[0].strip() if ":" in title else ""
    if head and len(head.split()) == 1 and _is_name(head):
        return head
    for m in _NAMING.finditer(abstract or ""):
        for word in m.group(1).split()[:6]:
            word = word.strip(",.;:()\"'")
            if _is_name(word) and len(word) >= 3:
                return word
    return ""


def _is_name(word: str) -> bool:
    """A name: one piece of a hyphenated word in capitals or with a capital inside ("SPECTER", "Mip-NeRF",
    "GPT-4"), not only capitalised words ("Multi-Instance")."""
    pieces = word.split("-")
    return bool(re.fullmatch(r"[A-Za-z0-9][\w-]*", word)) and any(
        (p.isupper() and len(p) >= 2) or any(c.isupper() for c in p[1:]) for p in pieces)


_NAMING = re.compile(r"\b(?:we (?:propose|present|introduce|develop|call)|our (?:method|approach|framework|model|"
                     r"system|agent|algorithm),?|called|dubbed|named|termed)\s+((?:\S+\s+){0,5}\S+)", re.I)
