"""Markdown for a digest: per language or bilingual, figures linked relatively (for a zip) or embedded.

The numbered block follows the ChatPaper digest users know (1. Title ... 8. Conclusion). Facts come from the
``Record`` and the ``Paper``; the ``Digest`` supplies prose only. Everything from a paper or a model is escaped, so
HTML or Markdown inside a paper (a title such as ``<img src=x onerror=alert(1)>``) renders as text.
"""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

from chatpaper.bibtex import bibtex_entry
from chatpaper.digest import PART, RENDERED, Digest
from chatpaper.paper import Figure, Paper, Record

#: Fixed words of the block, per language (the parts' own labels and names are in ``digest.PARTS``).
WORDS = {
    "en": {
        "authors": "Authors", "affiliations": "Affiliations", "links": "Links", "conclusion": "Conclusion", "code": "Code", "no_code": "the paper links no code or project page of its own",
        "no_affiliations": "not found in the PDF", "published": "Published", "updated": "updated",
        "comment": "Comment", "figures": "Figures", "first_page": "First page", "section": "English",
        "flagged": "⚠ Numbers not found in the paper's text (check before citing)",
        "missing": "(missing: the model gave no {part})", "sep": ": ", "list_sep": ", ", "item": "({n}) ",
        "bold": "**{}**: ", "abstract": "Summary", "aff_sep": "; ", "paren": " ({})", "first_author": "first author", "tables": "Tables", "on_page": " (p. {n})",
    },
    "zh": {
        "authors": "作者", "affiliations": "单位", "links": "链接", "conclusion": "结论", "code": "代码",
        "no_code": "无（论文未给出自己的代码或项目主页）", "no_affiliations": "PDF 中未找到", "published": "发布",
        "updated": "更新", "comment": "备注", "figures": "论文图片", "first_page": "论文首页",
        "section": "中文",
        "flagged": "⚠ 以下数字未在论文原文中找到（引用前请核对）", "missing": "（缺失：模型未给出{part}）",
        "sep": "：", "list_sep": "、", "item": "（{n}）", "bold": "**{}**：", "abstract": "摘要", "aff_sep": "；", "paren": "（{}）",
        "first_author": "第一作者单位", "tables": "论文表格", "on_page": "（第 {n} 页）",
    },
}
_MD_SPECIAL = re.compile(r"([\\`*_\[\]#|~])")


def escape(text: str) -> str:
    """Paper- or model-derived text as inert Markdown: HTML as entities, Markdown syntax backslash-escaped."""
    text = re.sub(r"\s+", " ", text or "").strip()
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def safe_url(url: str) -> str | None:
    """An http(s) URL safe inside ``(...)`` of a Markdown link, or None for anything else (javascript:, data:)."""
    url = (url or "").strip()
    if not re.match(r"https?://[^\s]+$", url, re.I):
        return None
    return re.sub(r"[()<>\"' ]", lambda m: "%{:02X}".format(ord(m.group(0))), url)


def link(text: str, url: str) -> str:
    """A Markdown link, or the escaped text alone when the URL is not a plain http(s) one."""
    target = safe_url(url)
    return f"[{escape(text)}]({target})" if target else escape(text)


def _prose(digest: Digest, part: str) -> str:
    """A prose part escaped, its unsupported numbers marked with ⚠, or the missing marker."""
    value = getattr(digest, part)
    if not value:
        return _missing(digest.language, part)
    return _mark_numbers(escape(value), digest.flagged_numbers)


def _missing(lang: str, part: str) -> str:
    return WORDS[lang]["missing"].format(part=PART[part].missing_in(lang))


def _mark_numbers(text: str, flagged: list[str]) -> str:
    for number in flagged:
        text = re.sub(rf"(?<![\w.]){re.escape(number)}(?![\w%％])", lambda m: m.group(0) + "⚠", text)
    return text


def _items(digest: Digest, part: str) -> list[str]:
    values = getattr(digest, part)
    if not values:
        return [_missing(digest.language, part)]
    return [_mark_numbers(escape(v), digest.flagged_numbers) for v in values]


def render_paper_block(record: Record, paper: Paper, digest: Digest, images_rel_dir: str | None = None, *,
                       embed_images: bool = False, heading_level: int = 2, facts: bool = True) -> str:
    """One paper's block in one language: heading, Summary, Key Takeaways and the numbered list 1-8 (and figures
    linked under ``images_rel_dir`` when given). The daily post reuses it per paper.

    ``heading_level`` 0 leaves out the title heading (the bilingual document has its own); ``facts=False`` leaves
    out the authors/date/comment lines above the Summary (for a post that shows them already).
    """
    lang = digest.language if digest.language in WORDS else "en"
    w = WORDS[lang]
    sep = w["sep"]
    b = w["bold"].format
    title = escape(record.title or paper.title or "(untitled)")
    authors = escape(w["list_sep"].join(record.authors or paper.authors)) or "—"
    lines: list[str] = []
    if heading_level:
        lines += [f"{'#' * heading_level} {title}", ""]
    if facts:
        lines += [f"{b(w['authors'])}{authors}", ""]
        dates = _facts_line(record, w)
        lines += [dates, ""] if dates else []
    label = {name: p.label_in(lang) for name, p in PART.items()}
    lines += [f"{b(label['summary'])}{_prose(digest, 'summary')}", "", f"**{label['takeaways']}**", ""]
    lines += [f"- {item}" for item in _items(digest, "takeaways")] + [""]
    title_line = title
    if lang != "en":
        translation = _prose(digest, "title_translation") if digest.title_translation else _missing(lang, "title_translation")
        title_line = f"{title}（{translation}）"
    first_mark = w["paren"].format(w["first_author"])
    affiliations = w["aff_sep"].join(escape(a.strip().rstrip(",;")) + (first_mark if a in paper.first_author_affiliations else "")
                                     for a in paper.affiliations) or w["no_affiliations"]
    keywords = w["list_sep"].join(_items(digest, "keywords")) if digest.keywords else _missing(lang, "keywords")
    lines += [
        f"1. {b(label['title_translation'])}{title_line}",
        f"2. {b(w['authors'])}{authors}",
        f"3. {b(w['affiliations'])}{affiliations}",
        f"4. {b(label['keywords'])}{keywords}",
        *(f"   - {item}" for item in (_items(digest, "key_terms") if digest.key_terms else [])),
        f"5. {b(w['links'])}{_links(record, paper, w)}",
        f"6. {b(w['abstract']).rstrip()}",
    ]
    for n, part in enumerate(RENDERED["summary"], 1):
        lines.append(f"   - {w['item'].format(n=n)}{PART[part].label_in(lang)}{sep}{_prose(digest, part)}")
    lines.append(f"7. {b(label['methods']).rstrip()}")
    lines += [f"   - {w['item'].format(n=n)}{step}" for n, step in enumerate(_items(digest, "methods"), 1)]
    lines.append(f"8. {b(w['conclusion']).rstrip()}")
    for n, part in enumerate(RENDERED["conclusion"], 1):
        lines.append(f"   - {w['item'].format(n=n)}{PART[part].label_in(lang)}{sep}{_prose(digest, part)}")
    if digest.flagged_numbers:
        lines += ["", f"> {w['flagged']}{sep}{w['list_sep'].join(escape(n) for n in digest.flagged_numbers)}"]
    if images_rel_dir is not None or embed_images:
        figures = render_figures(paper, lang, images_rel_dir, embed_images=embed_images, heading_level=0)
        if figures:
            lines += ["", figures.rstrip("\n")]
    return "\n".join(lines) + "\n"


def _facts_line(record: Record, w: dict) -> str:
    bits = []
    if record.published:
        date = record.published[:10]
        if record.updated and record.updated[:10] != date:
            date += w["paren"].format(f"{w['updated']} {record.updated[:10]}")
        bits.append(f"{w['bold'].format(w['published'])}{escape(date)}")
    if record.comment:
        bits.append(f"{w['bold'].format(w['comment'])}{escape(record.comment)}")
    return " · ".join(bits)


def record_markdown(record: Record, paper: Paper) -> str:
    """The paper's facts as Markdown (the app's Paper tab), every field escaped as HTML and as Markdown (titles come
    from strangers' PDFs)."""
    e = escape
    lines = [f"### {e(record.title or paper.title or '(untitled)')}", ""]
    authors = record.authors or paper.authors
    if authors:
        lines.append(f"**Authors:** {e(', '.join(authors))}  ")
    if paper.affiliations:
        marked = [a + (" (first author)" if a in paper.first_author_affiliations else "") for a in paper.affiliations]
        lines.append(f"**Affiliations:** {e('; '.join(marked))}  ")
    facts = [("arXiv", record.versioned_id), ("Published", record.published[:10]), ("Updated", record.updated[:10]),
             ("Categories", ", ".join(record.categories)), ("Comment", record.comment),
             ("Journal", record.journal_ref), ("DOI", record.doi), ("Pages", str(paper.pages or ""))]
    lines += [f"**{name}:** {e(value)}  " for name, value in facts if value]
    links = [u for u in (record.abs_url, record.pdf_url) if u] + [u for u in paper.links if u.startswith("http")]
    if links:
        lines += ["", "**Links:** " + " · ".join(link(u, u) for u in dict.fromkeys(links))]
    if record.abstract or paper.abstract:
        lines += ["", "**Abstract.** " + e(record.abstract or paper.abstract)]
    tables = render_tables(paper, "en", None, heading_level=4)  # captions and cells, every cell escaped
    if tables:
        lines += ["", tables]
    return "\n".join(lines)


def post_facts(record: Record) -> str:
    """A paper's facts in a daily post, in the seed post's shape: title, authors, abstract, then link and comment."""
    return "\n\n".join([
        f"## {escape(record.title)}",
        f"**Authors:{escape(', '.join(record.authors))}**",
        escape(record.abstract),
        f"{link('PDF', record.abs_url or record.pdf_url)} {escape(record.comment)}".rstrip(),
    ])


def _links(record: Record, paper: Paper, w: dict) -> str:
    parts = []
    if record.abs_url:
        parts.append(link(f"arXiv {record.versioned_id or ''}".strip(), record.abs_url))
    if record.pdf_url:
        parts.append(link("PDF", record.pdf_url))
    if not parts and record.pdf_path:
        parts.append(escape(Path(record.pdf_path).name))
    # The paper's own release as the extractor chose it (its wording and place), never another repository it cites.
    code_text = link(re.sub(r"^https?://(www\.)?", "", paper.code), paper.code) if paper.code else w["no_code"]
    parts.append(f"{w['code']}{w['sep']}{code_text}")
    return " · ".join(parts)


def render_figures(paper: Paper, lang: str, images_rel_dir: str | None, *, embed_images: bool = False,
                   heading_level: int = 2) -> str:
    """The figures with their captions (images relative to the Markdown file, or embedded as data URIs)."""
    w = WORDS.get(lang, WORDS["en"])
    blocks = []
    for figure in paper.figures:
        src = _image_src(figure.image, images_rel_dir, embed_images)
        label = escape(figure.label)
        caption = escape(figure.caption) or label
        blocks.append((f"![{label}]({src})\n\n" if src else "") + f"*{caption}*")
    if not blocks:
        return ""
    head = f"{'#' * heading_level} {w['figures']}\n\n" if heading_level else f"**{w['figures']}**\n\n"
    return head + "\n\n".join(blocks) + "\n"


def render_tables(paper: Paper, lang: str, images_rel_dir: str | None, *, embed_images: bool = False,
                  heading_level: int = 2) -> str:
    """The numbered tables: caption, crop (when written) and cells as a Markdown table, every cell escaped."""
    w = WORDS.get(lang, WORDS["en"])
    blocks = []
    for table in paper.tables:
        src = _image_src(table.image, images_rel_dir, embed_images)
        block = [f"*{escape(table.caption) or escape(table.label)}*{w['on_page'].format(n=table.page)}"]
        if src:
            block.append(f"![{escape(table.label)}]({src})")
        if table.rows:
            rows = [[escape(c) for c in r] for r in table.rows]
            block.append("\n".join(["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])] +
                                   ["| " + " | ".join(r) + " |" for r in rows[1:]]))
        blocks.append("\n\n".join(block))
    if not blocks:
        return ""
    head = f"{'#' * heading_level} {w['tables']}\n\n" if heading_level else f"**{w['tables']}**\n\n"
    return head + "\n\n".join(blocks) + "\n"


def _image_src(image: str | None, images_rel_dir: str | None, embed: bool) -> str | None:
    if not image or not Path(image).is_file():
        return None
    if embed:
        data = base64.b64encode(Path(image).read_bytes()).decode("ascii")
        return f"data:image/png;base64,{data}"
    if images_rel_dir is None:
        return None
    name = re.sub(r"[^\w.\-]", "_", Path(image).name)
    return f"{images_rel_dir.rstrip('/')}/{name}" if images_rel_dir else name


def yaml_value(value) -> str:
    """A front-matter value: JSON (valid YAML, so ': ' and quotes in a title are safe), with < and > escaped so a
    front-matter renderer never sees HTML. The one YAML writer of the package (digests and daily posts)."""
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")


def metadata_header(record: Record, digests: dict[str, Digest], meta: dict | None = None) -> str:
    """YAML front matter: the record's facts and how the digest was made (backend, model, prompt version)."""
    fields = {
        "title": record.title, "authors": record.authors, "arxiv": record.versioned_id, "doi": record.doi or None,
        "published": record.published[:10] or None, "updated": record.updated[:10] or None,
        "categories": record.categories or None, "comment": record.comment or None,
        "languages": list(digests), **(meta or {}),
        "tokens": {lang: {"sent": d.prompt_tokens, "reused": d.cached_tokens, "received": d.completion_tokens,
                          **({} if d.tokens_exact else {"estimated": True})} for lang, d in digests.items()},
        "flagged_numbers": sum(len(d.flagged_numbers) for d in digests.values()),
    }
    lines = ["---"]
    for key, value in fields.items():
        if value is not None:
            lines.append(f"{key}: {yaml_value(value)}")
    return "\n".join(lines + ["---"]) + "\n"


def render_markdown(record: Record, paper: Paper, digests: dict[str, Digest], *, language: str = "bilingual",
                    images_rel_dir: str | None = None, embed_images: bool = False, meta: dict | None = None,
                    front_matter: bool = True) -> str:
    """A whole digest document: metadata header, the block per language ("en", "zh" or "bilingual"), figures.

    ``front_matter=False`` leaves the YAML header out (it is for files and blog engines, not for a page).
    """
    langs = [lang for lang in ("en", "zh") if lang in digests] if language == "bilingual" else [language]
    langs = [lang for lang in langs if lang in digests]
    shown = {lang: digests[lang] for lang in langs}
    first = langs[0] if langs else "en"
    out = [metadata_header(record, shown, meta)] if front_matter else []
    out += [f"# {escape(record.title or paper.title or '(untitled)')}", ""]
    page = _image_src(paper.first_page_image, images_rel_dir, embed_images)
    if page:
        out += [f"![{WORDS[first]['first_page']}]({page})", ""]
    for lang in langs:
        if len(langs) > 1:
            out += [f"## {WORDS[lang]['section']}", ""]
        out.append(render_paper_block(record, paper, digests[lang], heading_level=0))
    figures = render_figures(paper, first, images_rel_dir, embed_images=embed_images)
    if figures:
        out.append(figures)
    tables = render_tables(paper, first, images_rel_dir, embed_images=embed_images)
    if tables:
        out.append(tables)
    out.append(render_bibtex(record, paper))
    return "\n".join(out).rstrip("\n") + "\n"


def render_bibtex(record: Record, paper: Paper) -> str:
    """The paper's BibTeX entry as a fenced code block (rendered as text, never as Markdown or HTML)."""
    entry = bibtex_entry(record, paper)
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", entry)), default=0))
    return f"## BibTeX\n\n{fence}bibtex\n{entry}{fence}\n"
