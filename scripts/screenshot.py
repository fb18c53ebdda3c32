"""Take the README's screenshot: the page after a real digest of a corpus paper with the configured backend.

    python scripts/screenshot.py ../shared/corpus/phrase_generation_vectors_acl2014.pdf docs/screenshot.png

Uses Debian's Chromium through Playwright. With the default (local) backend a digest takes minutes on a CPU; run the
same digest once with `python -m chatpaper digest PDF` beforehand and the page is served from the digest cache.
"""
from __future__ import annotations

import socket
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import app  # noqa: E402  (the repo root is put on the path first)

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(pdf: str, out: str, timeout_ms: int = 1_500_000) -> None:
    demo, port = app.build_demo(), free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **app.launch_options())
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/")
            page.set_input_files("#pdf input[type=file]", pdf)
            page.wait_for_selector(f"#pdf >> text={Path(pdf).name}")
            page.click("#digest-button")
            page.wait_for_selector("#download-md a", timeout=timeout_ms)
            for close in page.locator(".toast-close").all():
                close.click()
            page.wait_for_timeout(800)
            page.screenshot(path=out, clip={"x": 0, "y": 0, "width": 1280, "height": 1800}, full_page=True)
            browser.close()
    finally:
        demo.close()
    print(out)


if __name__ == "__main__":
    main(*sys.argv[1:3])
