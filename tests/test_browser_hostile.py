"""Hostile text through every tab in a real browser (Debian's Chromium, Playwright): a model that streams HTML and
remote images, an arXiv record whose fields carry them. The page must load nothing from another host, run nothing,
and need its Content-Security-Policy for nothing: the sanitizer alone stops every load, the CSP is the second wall.

The model is a loopback listener streaming a fixed hostile answer (no real model needed: the views are under test),
arXiv the loopback replay server.
"""
from __future__ import annotations

import pytest

from tests.plugins.arxiv_server import FIXTURES, PDF_ID
from tests.plugins.app_server import launched_app
from tests.plugins.browser import DIGEST_TIMEOUT_MS, browser_page, open_tab
from tests.plugins.openai_listener import Listener

pytestmark = pytest.mark.slow

EVIL = "evil.example"
HOSTILE_REPLY = (
    "SUMMARY: 本文研究网页安全 ![s](https://evil.example/s.png) <img src=https://evil.example/i.png onerror=alert(1)>\n"
    "TAKEAWAYS:\n- <div style=\"background:url(https://evil.example/bg.png)\">x</div>\n- <script>alert(2)</script>\n"
    "- ![r][ref]\n\n[ref]: https://evil.example/r.png\n\n- ![u](gradio_api/file=https://evil.example/p.png)\n"
    "<iframe src=https://evil.example/f></iframe> <svg onload=alert(3)></svg>\n"
    "<link rel=stylesheet href=https://evil.example/s.css> <video src=https://evil.example/v.mp4 autoplay></video>\n"
    "KEYWORDS: 安全, evil.example\n"
)
RECORD = {
    "title": "**Bold** claims <img src=https://evil.example/title.png onerror=alert(4)>",
    "authors": ["![a](https://evil.example/author.png)", "<b onmouseover=alert(5)>Eve</b>"],
    "comment": "![c](https://evil.example/comment.png) <style>body{background:url(https://evil.example/css.png)}</style>",
    "summary": "![abs](https://evil.example/abstract.png) [x](javascript:alert(6)) evil.example",
}
# Installed before the page's own scripts: CSP violations (a load the sanitizer let through) and which views ever
# showed the hostile text (so the test knows it streamed through them).
WATCH = """
window.__csp = []; window.__seen = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
new MutationObserver(() => {
  for (const id of ['en-view', 'zh-view', 'record-view', 'topic-post']) {
    const el = document.getElementById(id);
    if (el && el.innerText.includes('evil.example') && !window.__seen.includes(id)) window.__seen.push(id);
  }
}).observe(document, {subtree: true, childList: true, characterData: true});
"""
FOREIGN_IMAGES = """() => [...document.querySelectorAll('img, video, audio, source, iframe, object, embed, link')]
  .map(e => e.src || e.href || e.data || '')
  .filter(u => u && !u.startsWith(location.origin) && !u.startsWith('data:') && !u.startsWith('blob:'))"""


def test_hostile_text_streams_through_every_tab_and_loads_nothing(monkeypatch, arxiv_server):
    model = Listener(reply=HOSTILE_REPLY, chunk=16, delay=0.04)
    monkeypatch.setenv("CHATPAPER_BACKEND", "openai")
    monkeypatch.setenv("OPENAI_BASE_URL", model.url)
    monkeypatch.setenv("CHATPAPER_MODEL", "stub")
    vid = arxiv_server.add_entry("2401.00011v1", published="2024-01-29", categories=["cs.CR"], **RECORD)
    arxiv_server.pdfs[vid] = FIXTURES / f"{PDF_ID}.pdf"
    arxiv_server.add_feed("*", [vid])
    try:
        with launched_app() as url, browser_page() as page:
            page.add_init_script(WATCH)
            response = page.goto(url)
            assert "img-src 'self' data: blob:" in response.headers["content-security-policy"]
            page.wait_for_selector("#digest-button")
            page.fill("#source textarea", vid)
            page.click("#digest-button")
            # Watch each digest tab while it streams (a tab that is not shown is not drawn).
            for tab, view in (("English", "en-view"), ("中文", "zh-view")):
                open_tab(page, tab)
                page.wait_for_function(f"() => window.__seen.includes('{view}')", timeout=DIGEST_TIMEOUT_MS)
            page.wait_for_selector("#download-md a", timeout=DIGEST_TIMEOUT_MS)
            for tab in ("English", "中文", "Figures", "Paper", "Markdown"):
                open_tab(page, tab)
                page.wait_for_timeout(300)
            record = page.inner_text("#record-view")
            assert "**Bold** claims" in record and page.locator("#record-view strong", has_text="Bold").count() == 0
            open_tab(page, "Topic")
            page.fill("#topic-query textarea", "security")
            page.fill("#topic-date textarea", "2024-01-30")
            page.click("#topic-search")
            page.wait_for_selector("#topic-papers label")
            page.click("#topic-write")
            page.wait_for_selector("#topic-download a", timeout=DIGEST_TIMEOUT_MS)
            page.wait_for_timeout(1000)  # give any injected handler or load time to fire
            seen = page.evaluate("window.__seen")
            assert {"en-view", "zh-view", "record-view", "topic-post"} <= set(seen), seen
            assert page.evaluate("window.__csp") == [], "the sanitizer let a load through; only the CSP stopped it"
            assert page.evaluate(FOREIGN_IMAGES) == []
            assert page.evaluate("document.querySelectorAll('[onerror], [onload], [onmouseover], script[src*=evil]')"
                                 ".length") == 0
            assert page.dialogs == [] and not page.errors, (page.dialogs, page.errors)
    finally:
        model.close()
    assert model.requests, "the hostile model was never asked"
