"""Markdown rendering: golden documents (compared with a diff), escaping, figures, missing parts, flagged numbers."""
from __future__ import annotations

import base64
import difflib
import os
import re
from pathlib import Path

import pytest

from chatpaper.digest import Digest
from chatpaper.writer import write_digests
from chatpaper.paper import Figure, Paper, Record, Section
from chatpaper.render import escape, render_markdown, render_paper_block, safe_url
from tests.sample_paper import EN, ZH_PARTS, make_paper, scripted, translate

GOLDEN = Path(__file__).parent / "golden"
# A 1x1 PNG: the renderer only needs a real file to link or embed.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def assert_golden(name: str, text: str) -> None:
    """``text`` must equal tests/golden/<name>; the failure shows a unified diff (CHATPAPER_UPDATE_GOLDEN=1
    rewrites the golden file instead)."""
    if os.environ.get("CHATPAPER_UPDATE_GOLDEN"):
        (GOLDEN / name).write_text(text, encoding="utf-8")
    expected = (GOLDEN / name).read_text(encoding="utf-8")
    if text != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True), f"golden/{name}", "rendered"))
        pytest.fail(f"rendered Markdown differs from tests/golden/{name}:\n{diff}")


@pytest.fixture
def paper_with_figures(tmp_path):
    """The scripted test paper, with affiliations, a comment, dates, two figures and a first-page image on disk."""
    record, paper = make_paper()
    record.comment = "CVPR 2024, 10 pages"
    record.published, record.updated = "2024-01-29T18:00:00+00:00", "2024-02-02T10:00:00+00:00"
    record.categories = ["cs.CV"]
    paper.affiliations = ["Queensland University of Technology,", "CSIRO Data61"]
    images = tmp_path / "2401.16144v1_images"
    images.mkdir()
    for name in ("page-001.png", "page002-figure1-1.png", "page004-figure2-1.png"):
        (images / name).write_bytes(PNG)
    paper.first_page_image = str(images / "page-001.png")
    paper.figures = [Figure("Figure 1", "Figure 1: Overview of DaC <b>bold</b>.", 2, image=str(images / "page002-figure1-1.png")),
                     Figure("Figure 2", "Figure 2: PSNR per group.", 4, image=str(images / "page004-figure2-1.png"))]
    return record, paper


@pytest.fixture
def digests(paper_with_figures):
    """Digests from the canned answers, with one unsupported number (99.9%) and one part missing (performance
    review)."""
    record, paper = paper_with_figures
    backend = scripted({"summary.en": EN["summary.en"].replace("on 12 scenes.", "on 12 scenes (99.9% of cases)."),
                        "conclusion.en": "SIGNIFICANCE: Better renderings.\nINNOVATION: Grouped training.",
                        "repair.en": "Nothing more to add.",
                        "translate.zh": lambda messages: translate(messages, {
                            **ZH_PARTS, "PSNR rises to 31.2 on 12 scenes (99.9% of cases).":
                                "在 12 个场景上 PSNR 提升到 31.2（99.9% 的情况）。"})},
                       usage=(1000, 100))  # fixed usage: golden files do not move with prompt edits
    return write_digests(record, paper, backend, ["en", "zh"])


@pytest.mark.parametrize("language", ["en", "zh", "bilingual"])
def test_golden_markdown(paper_with_figures, digests, language):
    record, paper = paper_with_figures
    meta = {"backend": "scripted", "model": "scripted-model", "prompt_version": "test"}
    text = render_markdown(record, paper, digests, language=language, images_rel_dir="2401.16144v1_images", meta=meta)
    assert_golden(f"digest_{language}.md", text)


def test_missing_and_flagged_parts_are_visible(digests):
    en, zh = digests["en"], digests["zh"]
    assert en.missing == ["performance_eval"] and en.flagged_numbers == ["99.9%"]
    record, paper = make_paper()
    block = render_paper_block(record, paper, en)
    assert "(3) Performance: (missing: the model gave no performance review)" in block
    assert "99.9%⚠" in block and "Numbers not found in the paper's text (check before citing): 99.9%" in block
    zh_block = render_paper_block(record, paper, zh)
    assert "（缺失：模型未给出性能评价）" in zh_block
    assert "Divide and Conquer（分而治之）" in zh_block


def test_first_authors_affiliation_is_marked_as_such():
    """The affiliations line marks the first author's institution (ChatPaper readers look for 第一作者单位)."""
    record, paper = make_paper()
    paper.affiliations = ["ETH Zurich", "University of Oxford"]
    paper.first_author_affiliations = ["University of Oxford"]
    en = render_paper_block(record, paper, Digest(language="en"))
    zh = render_paper_block(record, paper, Digest(language="zh"))
    assert "3. **Affiliations**: ETH Zurich; University of Oxford (first author)\n" in en
    assert "3. **单位**：ETH Zurich；University of Oxford（第一作者单位）\n" in zh


def test_facts_come_from_the_record_and_the_extraction_not_the_model():
    record, paper = make_paper()
    # A model that invents a title, authors and a link gets none of them into the facts.
    liar = Digest(language="en", summary="Written by Alan Turing at https://fake.example.com.", title_translation="Fake")
    block = render_paper_block(record, paper, liar)
    assert block.startswith("## Divide and Conquer\n\n**Authors**: Rongkai Ma, Leo Lebrat\n")
    assert "[arXiv 2401.16144v1](https://arxiv.org/abs/2401.16144v1) · [PDF](https://arxiv.org/pdf/2401.16144v1)" in block
    assert "Code: [github.com/example/dac](https://github.com/example/dac)" in block
    paper.code = None  # the repositories it cites (paper.links) are not its code
    assert "Code: the paper links no code or project page of its own" in render_paper_block(record, paper, liar)
    assert "代码：无（论文未给出自己的代码或项目主页）" in render_paper_block(record, paper, Digest(language="zh"))


def test_html_and_markdown_from_a_paper_render_as_text(tmp_path):
    evil = "<img src=x onerror=alert(1)>"
    record = Record(title=f"Title {evil}", authors=["<script>alert(2)</script>", "[click](javascript:alert(3))"],
                    abs_url="javascript:alert(4)", comment="**bold** <iframe>")
    paper = Paper(affiliations=["<b>Uni</b>"], links=["https://github.com/a/b)<script>"], code="https://github.com/a/b)<script>",
                  figures=[Figure("Figure 1", f"Figure 1: {evil} ![x](http://track.example/p.png)", 1)],
                  sections=[Section("1 Intro", 1, 1, "x")])
    digest = Digest(language="en", summary=f"The model echoes {evil} and [a link](javascript:alert(5)).",
                    takeaways=["<svg onload=alert(6)>"], keywords=["`code`", "*star*"])
    text = render_markdown(record, paper, {"en": digest})
    header, body = text.split("---\n", 2)[1:]
    # The BibTeX entry ends the document inside a code fence (shown verbatim, never rendered): the paper's text
    # stands there as BibTeX text, with < and > named for LaTeX.
    body, bibtex = body.split("## BibTeX\n\n```bibtex\n")
    assert bibtex.endswith("}\n```\n") and bibtex.count("```") == 1
    assert r"\textless{}img src=x onerror=alert(1)\textgreater{}" in bibtex and "<" not in bibtex
    for raw in ("<img", "<script", "<iframe", "<svg", "<b>"):
        assert raw not in body, raw
    # A Markdown link or image needs an unescaped "](": every one left must be ours (arXiv, code), none the paper's.
    assert not re.search(r"(?<!\\)\]\((javascript|http://track)", body)
    assert "&lt;img src=x onerror=alert(1)&gt;" in text
    assert "\\[click\\](javascript:alert(3))" in text
    assert "alert(4)" not in body  # a non-http record link is not linked (nor shown)
    assert "(https://github.com/a/b%29%3Cscript%3E)" in text
    assert "<" not in header and "\\u003cimg" in header  # YAML front matter: JSON strings, no raw HTML


def test_escape_and_safe_url():
    assert escape("a_b *c* [d](e) <f> & #g |h|") == "a\\_b \\*c\\* \\[d\\](e) &lt;f&gt; &amp; \\#g \\|h\\|"
    assert safe_url("javascript:alert(1)") is None and safe_url("data:text/html,x") is None
    assert safe_url("https://a.org/x (1)") is None or "%" in safe_url("https://a.org/x(1)")


def test_embedded_images_make_one_self_contained_file(paper_with_figures, digests):
    record, paper = paper_with_figures
    text = render_markdown(record, paper, digests, embed_images=True)
    assert text.count("](data:image/png;base64,") == 3  # first page + two figures
    assert "_images/" not in text


def test_block_without_facts_starts_at_the_summary():
    record, paper = make_paper()
    block = render_paper_block(record, paper, Digest(language="zh", summary="总结。"), heading_level=0, facts=False)
    assert block.startswith("**总结**：总结。\n") and "2. **作者**：Rongkai Ma、Leo Lebrat" in block


def test_tables_in_the_markdown_download_escaped():
    """Numbered tables go into the download after the figures: caption, page, cells as a Markdown table; a cell
    from the paper cannot break the table or inject HTML."""
    from chatpaper.paper import Table

    record, paper = make_paper()
    paper.tables = [Table("Table 1", "Table 1: PSNR per scene.", 5, rows=[["Scene", "PSNR"], ["a|b <i>", "31.2"]])]
    md = render_markdown(record, paper, {"en": Digest(language="en")})
    assert "## Tables\n\n*Table 1: PSNR per scene.* (p. 5)\n\n| Scene | PSNR |\n|---|---|\n| a\\|b &lt;i&gt; | 31.2 |" in md
    assert "**论文表格**" not in md and "（第 5 页）" in render_markdown(record, paper, {"zh": Digest(language="zh")},
                                                                      language="zh")
