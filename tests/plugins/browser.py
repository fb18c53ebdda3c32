"""A real browser for the page: Debian's Chromium driven by Playwright, and the steps every page test takes.

- ``browser_page()``: a context manager yielding a fresh Chromium page that records dialogs (``page.dialogs``), page
  errors (``page.errors``) and refuses every request that leaves 127.0.0.1 (``page.external``, asserted empty);
- ``start_digest(page, url, pdf)``: open the app, type ``SECRET`` as the key, upload a PDF and press Digest;
- ``wait_done(page)``, ``open_tab(page, name)``; ``DIGEST_TIMEOUT_MS``, how long a digest by SmolLM2 may take.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.plugins.app_server import SECRET

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]
DIGEST_TIMEOUT_MS = 480_000  # SmolLM2 writes English, then tries Chinese; about 1-2 min on an idle 2-core machine


@contextlib.contextmanager
def browser_page():
    """A fresh Chromium page that records every dialog (alert), page error and non-loopback request (refused)."""
    from playwright.sync_api import sync_playwright  # here: every test run loads this plugin, few need a browser

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
            page.dialogs, page.errors, page.external = [], [], []
            page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
            page.on("pageerror", lambda e: page.errors.append(str(e)))
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("http://127.0.0.1:")
                       else (page.external.append(route.request.url), route.abort()))
            yield page
            assert not page.external, f"the page tried to reach outside 127.0.0.1: {page.external}"
        finally:
            browser.close()


def start_digest(page: Page, url: str, pdf: Path, *, english_only: bool = False) -> None:
    """Open the page, type an API key, upload ``pdf`` and press Digest."""
    page.goto(url)
    page.wait_for_selector("#digest-button")
    page.get_by_text("Model settings").click()
    page.fill("#api-key input", SECRET)
    # A visitor's key goes with the visitor's own server (a key alone would go to api.openai.com): here the server's
    # loopback model, which a local app (rule "any") may reach.
    page.fill("#base-url textarea", os.environ["OPENAI_BASE_URL"])
    if english_only:
        page.locator("#languages label", has_text="中文").click()
    page.set_input_files("#pdf input[type=file]", str(pdf))
    page.wait_for_selector(f"#pdf >> text={pdf.name}")
    page.click("#digest-button")


def wait_done(page: Page) -> None:
    """Wait until the run has finished: the .md download link appears with the final outputs."""
    page.wait_for_selector("#download-md a", timeout=DIGEST_TIMEOUT_MS)


TAB_IDS = {"English": "en-tab", "中文": "zh-tab", "Figures": "figures-tab", "Paper": "paper-tab",
           "Markdown": "markdown-tab", "Topic": "topic-tab"}


def open_tab(page: Page, name: str) -> None:
    """Show the tab called ``name`` (a key of TAB_IDS)."""
    page.click(f"#{TAB_IDS[name]}-button")
