"""The views a page shows carry no front matter because the renderer leaves it out (not because the app cuts it)."""
from __future__ import annotations

import datetime as dt

from chatpaper import daily, pipeline
from chatpaper.digest import Digest
from chatpaper.paper import Paper, Record
from chatpaper.render import render_markdown
from chatpaper.settings import Settings

RECORD = Record(title="A: <b>title</b>", authors=["A. Author"], id="2401.16144", version=2)
PAPER = Paper(title="A: title", pages=3)
DIGESTS = {"en": Digest("en", summary="It works."), "zh": Digest("zh", summary="有效。")}


def test_render_leaves_the_front_matter_out_when_asked():
    full = render_markdown(RECORD, PAPER, DIGESTS, language="en", meta={"backend": "local"})
    view = render_markdown(RECORD, PAPER, DIGESTS, language="en", meta={"backend": "local"}, front_matter=False)
    assert full.startswith("---\ntitle: \"A: \\u003cb\\u003etitle\\u003c/b\\u003e\"\n")
    assert view.startswith("# A: &lt;b&gt;title&lt;/b&gt;\n") and "backend:" not in view
    assert full.endswith(view)  # the same document below its header


def test_write_files_gives_the_page_views_without_front_matter(tmp_path):
    digested = pipeline.Digested(DIGESTS)
    result = pipeline.write_files(RECORD, PAPER, digested, Settings(backend="local"), tmp_path, tmp_path / "img")
    assert set(result.views) == {"en", "zh"}
    for lang, view in result.views.items():
        assert result.markdown[lang].startswith("---\n") and not view.startswith("---")
        assert result.markdown[lang].endswith(view)
    assert (tmp_path / "2401.16144v2.en.md").read_text(encoding="utf-8") == result.markdown["en"]


def test_post_body_is_the_post_below_its_hexo_front_matter():
    entry = daily.PostEntry(RECORD, PAPER, {"en": DIGESTS["en"]})
    post = daily.render_post([entry], topic="NeRF", day=dt.date(2025, 1, 31),
                             now=dt.datetime(2025, 1, 31, 12, tzinfo=dt.timezone.utc), author="me",
                             model_note="local backend", languages=["en"])
    body = daily.post_body(post)
    assert post.startswith("---\ntitle: \"NeRF\"\n") and post.endswith(body)
    assert "title:" not in body and body.lstrip().startswith(">⚠️") and "## A: &lt;b&gt;title&lt;/b&gt;" in body
    assert daily.post_body("# no front matter\n") == "# no front matter\n"
