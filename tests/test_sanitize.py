"""The one sanitizer for every view: nothing a paper, a record or a model wrote makes the page load or run anything.

Markdown is rendered here with markdown-it (CommonMark, as Gradio's marked renders it) so the assertions read the
HTML a browser would get, not the Markdown source.
"""
from __future__ import annotations

import re

import pytest
from markdown_it import MarkdownIt

import app
from chatpaper import sanitize
from chatpaper.paper import Paper, Record

ROOT = "/tmp/chatpaper-app"
OWN = f"gradio_api/file={ROOT}/digest-x1/2401.00001v1_images/fig1.png"
HOSTILE = [
    "![t](https://evil.example/t.png)",
    '<img src="https://evil.example/i.png" onerror="alert(1)">',
    '<div style="background:url(https://evil.example/bg.png)">x</div>',
    "<script>alert(2)</script>",
    "<iframe src=https://evil.example/f></iframe>",
    "<svg onload=alert(3)></svg>",
    '<link rel="stylesheet" href="https://evil.example/s.css">',
    "![r][ref]\n\n[ref]: https://evil.example/r.png",
    "![u](gradio_api/file=https://evil.example/p.png)",  # Gradio's file route fetches URLs server-side
    f"![v](gradio_api/file={ROOT}/../../etc/passwd)",
    f"![w](gradio_api/file={ROOT}/digest-x1/&#46;&#46;/x.png)",
    "![n](//evil.example/n.png)",
    "![p](https://evil.example/a(1).png)",
    "[x](javascript:alert(4))",
    "[y](jav&#x61;script:alert(5))",
    "[z](data:text/html;base64,PHNjcmlwdD4=)",
    "```mermaid\ngraph TD; A-->B; click A href \"https://evil.example\"\n```",
]

html_of = MarkdownIt("commonmark", {"html": True}).render


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_markdown_loads_and_runs_nothing(hostile):
    rendered = html_of(sanitize.markdown(f"Intro.\n\n{hostile}\n\nMore.", ROOT))
    assert "<img" not in rendered and "<script" not in rendered and "<iframe" not in rendered
    assert "<svg" not in rendered and "<link" not in rendered and not re.search(r"<[^>]*\sstyle=", rendered)
    assert not re.search(r'href="\s*(javascript|data|vbscript):', rendered, re.I)
    assert 'class="language-mermaid"' not in rendered


def test_own_figures_stay_and_remote_images_become_links():
    rendered = html_of(sanitize.markdown(f"![Figure 1]({OWN})\n\n![chart](https://example.org/c.png)", ROOT))
    assert f'<img src="{OWN}" alt="Figure 1"' in rendered  # the app's own file: shown
    assert '<a href="https://example.org/c.png">chart</a>' in rendered  # a remote image: a link, never loaded
    assert sanitize.markdown(f"![Figure 1]({OWN})", "/elsewhere") == "Figure 1"  # outside the served folder


def test_ordinary_prose_keeps_its_markdown():
    prose = "**Summary**: a *method* with `code`, [arXiv](https://arxiv.org/abs/2401.00001) and 3 < 4."
    rendered = html_of(sanitize.markdown(prose, ROOT))
    assert "<strong>Summary</strong>:" in rendered and "<em>method</em>" in rendered
    assert '<a href="https://arxiv.org/abs/2401.00001">arXiv</a>' in rendered and "3 &lt; 4" in rendered


def test_record_fields_render_as_their_own_text():
    record = Record(title="**Bold** title ![t](https://evil.example/t.png)",
                    authors=["![a](https://evil.example/a.png)", "<b>Eve</b>"], id="2401.00001", version=1,
                    comment="[c]: https://evil.example/c.png", abstract="![abs](https://evil.example/abs.png) _x_",
                    abs_url="https://arxiv.org/abs/2401.00001v1")
    paper = Paper(abstract="![p](https://evil.example/p.png)", links=["https://github.com/a/b"])
    rendered = html_of(app.record_markdown(record, paper))
    assert "<img" not in rendered and "<b>" not in rendered
    assert "**Bold** title" in rendered and "<strong>Bold</strong>" not in rendered  # a title's asterisks show
    assert "_x_" in rendered and "<em>x</em>" not in rendered
    assert '<a href="https://arxiv.org/abs/2401.00001v1">' in rendered  # the record's links stay links


def test_page_guard_refuses_the_url_form_of_the_file_route():
    import asyncio

    sent, called = [], []

    async def inner(scope, receive, send):
        called.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": b"ok"})

    async def send(message):
        sent.append(message)

    guard = sanitize.PageGuard(inner)
    for path in ("/gradio_api/file=https://evil.example/x.png", "/gradio_api/file=HTTP%3A//evil.example/x"):
        asyncio.run(guard({"type": "http", "path": path}, None, send))
        assert sent[-2]["status"] == 403
    asyncio.run(guard({"type": "http", "path": "/"}, None, send))
    assert called == ["/"]
    headers = dict(sent[-2]["headers"])
    assert b"img-src 'self' data: blob:" in headers[b"content-security-policy"]


@pytest.mark.parametrize("hostile", HOSTILE + ["![a[b]](https://evil.example/n.png)"])
def test_the_ask_tab_uses_the_same_sanitizer(hostile):
    from chatpaper import ask

    rendered = html_of(ask.sanitize(f"Answer.\n\n{hostile}"))
    assert "<img" not in rendered and "<script" not in rendered and "<iframe" not in rendered
