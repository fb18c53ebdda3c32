"""The Ask tab in a real browser (Debian's Chromium driven by Playwright), llama.cpp's server (SmolLM2) behind it:
a digest opens the tab, a question's answer streams in, names its page, and the cited passage opens under it."""
from __future__ import annotations

import re

import pytest

from tests.plugins.app_server import launched_app
from tests.plugins.browser import DIGEST_TIMEOUT_MS, browser_page

pytestmark = pytest.mark.slow

SECRET = "sk-ask-browser-never-shown-5d2e"
ANSWER_TIMEOUT_MS = 240_000
QUESTION = "What does the combiner function do?"

# Every text the answer bubble showed, recorded by the page itself at each DOM change, with the time it appeared:
# a streamed answer leaves a trail of growing texts before the final one with its sources line.
RECORD_ANSWER = """() => {
    window.answerTexts = [];
    const chat = document.querySelector('#ask-chat');
    new MutationObserver(() => {
        const bot = chat.querySelector('[data-testid=bot]');
        const text = bot ? bot.innerText.trim() : '';
        const last = window.answerTexts[window.answerTexts.length - 1];
        if (text && (!last || last.text !== text)) window.answerTexts.push({text, t: performance.now()});
    }).observe(chat, {childList: true, subtree: true, characterData: true});
}"""


def test_ask_tab_streams_an_answer_with_a_page_reference_and_its_passages(llama_server, monkeypatch, corpus_dir):
    monkeypatch.setenv("CHATPAPER_BACKEND", "openai")
    monkeypatch.setenv("OPENAI_BASE_URL", llama_server.base_url)
    monkeypatch.setenv("CHATPAPER_MODEL", llama_server.model)
    monkeypatch.setenv("CHATPAPER_CONTEXT_TOKENS", "1024")  # a short digest: the Ask tab is under test here
    pdf = corpus_dir / "mapreduce_osdi2004.pdf"
    with launched_app() as url, browser_page() as page:
        page.goto(url)
        page.wait_for_selector("#ask-tab-button")
        assert page.locator("#ask-tab-button").is_disabled()  # no paper yet: nothing to ask
        page.get_by_text("Model settings").click()
        page.fill("#api-key input", SECRET)
        page.fill("#base-url textarea", llama_server.base_url)
        page.locator("#languages label", has_text="中文").click()  # English only: a faster digest
        page.set_input_files("#pdf input[type=file]", str(pdf))
        page.wait_for_selector(f"#pdf >> text={pdf.name}")
        page.click("#digest-button")
        page.wait_for_selector("#download-md a", timeout=DIGEST_TIMEOUT_MS)
        page.wait_for_function("() => !document.querySelector('#ask-tab-button').disabled")

        # Settings are read per request: the answer gets the server's whole context (n_ctx 2048).
        monkeypatch.setenv("CHATPAPER_CONTEXT_TOKENS", "2048")
        page.click("#ask-tab-button")
        page.evaluate(RECORD_ANSWER)
        page.fill("#ask-question textarea", QUESTION)
        page.click("#ask-button")
        page.wait_for_function("() => /Sources:/.test(document.querySelector('#ask-chat').innerText)",
                               timeout=ANSWER_TIMEOUT_MS)
        page.wait_for_timeout(500)
        texts = page.evaluate("window.answerTexts")
        chat = page.inner_text("#ask-chat")

        assert QUESTION in chat
        final = texts[-1]["text"]
        assert re.search(r"Sources:\s+p\. \d+", final), final
        # Streaming, seen on the page: before the final answer the bubble showed the answer's text growing (each
        # shown text longer than the one before, extending it), over some time, not one block at the end.
        partial = [t for t in texts if "Sources:" not in t["text"] and t["text"] != "…"]
        assert len(partial) >= 2, texts
        assert all(b["text"].startswith(a["text"][:-1]) and len(b["text"]) > len(a["text"])
                   for a, b in zip(partial, partial[1:])), partial
        assert final.startswith(partial[-1]["text"][:-1].rstrip()) or "does not say" in final, (partial, final)
        assert partial[-1]["t"] - partial[0]["t"] > 100, partial  # milliseconds between first and last piece

        # Each cited passage opens under the answer: its title names the page, a click unfolds the paper's text.
        pages = re.findall(r"p\. (\d+) \(", final)
        title = page.locator("#ask-chat").get_by_text(re.compile(rf"^p\. {pages[0]} · "))
        assert title.count() >= 1, chat
        title.first.click()
        page.wait_for_timeout(500)
        opened = page.inner_text("#ask-chat")
        assert len(opened) - len(chat) > 200, (chat, opened)  # a paragraph of the paper appeared
        assert SECRET not in page.content()
        assert not page.errors, page.errors
        assert not page.dialogs
