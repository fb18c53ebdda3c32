"""The launched app through gradio_client: /digest with an uploaded PDF, a real model behind it (llama.cpp's server)."""
from __future__ import annotations

import json
import logging
import zipfile
from pathlib import Path

import pytest
import requests
from gradio_client import Client, handle_file

import app
from tests.plugins.app_server import SECRET, launched_app, use_llama_server


def files_containing(root: Path, needle: str) -> list[str]:
    """Every file under ``root`` whose bytes contain ``needle``."""
    return [str(p) for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


@pytest.mark.slow
def test_digest_endpoint_with_uploaded_pdf(llama_server, monkeypatch, corpus_dir, caplog, tmp_path):
    use_llama_server(monkeypatch, llama_server)
    pdf = corpus_dir / "phrase_generation_vectors_acl2014.pdf"
    truth = json.loads(pdf.with_suffix(".json").read_text())
    with caplog.at_level(logging.DEBUG), launched_app() as url:
        client = Client(url, verbose=False, download_files=str(tmp_path / "downloads"))
        # English only (the browser test asks for both): every other parameter keeps its default.
        # A visitor's key goes with the visitor's own server (a key alone would go to api.openai.com): here the
        # same loopback server, which a local app (rule "any") may reach.
        result = client.predict(source="", pdf=handle_file(str(pdf)), languages=["en"], api_key=SECRET,
                                base_url=llama_server.base_url, api_name="/digest")
        config = client.config
    markdown, en, zh = result[0], result[1], result[2]
    assert truth["title"] in markdown  # the title comes from the PDF, not from the model
    assert truth["title"] in en and "**Summary**:" in en and "**Key Takeaways**" in en
    assert zh == "*本次没有中文摘要。*" and "## 中文" not in markdown
    md_file, zip_file = Path(result[7]), Path(result[8])
    assert md_file.suffix == ".md" and md_file.read_text(encoding="utf-8").strip() == markdown.strip()
    with zipfile.ZipFile(zip_file) as z:
        names = z.namelist()
    assert md_file.name in names and any(n.endswith(".png") for n in names)
    # The key was used for the request only: not in the outputs, the cache, the written files or the log.
    assert SECRET not in json.dumps(result)
    cache = Path(app.Settings.from_env().cache_dir)
    assert cache.is_dir() and not files_containing(cache, SECRET)
    assert not files_containing(md_file.parent, SECRET)
    assert SECRET not in caplog.text
    assert config.get("run_history") is False  # Gradio's run history would keep the inputs in the browser


@pytest.mark.slow
def test_api_errors_reach_the_client_as_messages(monkeypatch, tmp_path):
    with launched_app() as url:
        client = Client(url, verbose=False)
        with pytest.raises(Exception) as excinfo:
            client.predict(source="https://example.com/x.pdf", api_name="/digest")
        assert "example.com is not arXiv" in str(excinfo.value)
        html_pdf = tmp_path / "fake.pdf"
        html_pdf.write_text("<html><body>Please enable JavaScript</body></html>")
        with pytest.raises(Exception) as excinfo:
            client.predict(source="", pdf=handle_file(str(html_pdf)), api_name="/digest")
        assert "pdf" in str(excinfo.value).lower() and "Traceback" not in str(excinfo.value)
        # A file the caller did not upload (a path on the server) is refused by Gradio before the handler runs.
        checked, check_upload = [], app._check_upload
        monkeypatch.setattr(app, "_check_upload", lambda pdf, s: checked.append(pdf) or check_upload(pdf, s))
        server_file = {"path": str(tmp_path / "fake.pdf"), "meta": {"_type": "gradio.FileData"}}
        call = requests.post(url + "gradio_api/call/digest", timeout=30,
                             json={"data": ["", server_file, ["en"], "auto", "", "", ""]})
        events = requests.get(url + "gradio_api/call/digest/" + call.json()["event_id"], timeout=30).text
        assert events.startswith("event: error") and checked == []  # the handler never saw it
        # and the app still serves the next request
        with pytest.raises(Exception, match="arXiv link or id, or upload a PDF"):
            client.predict(source="", api_name="/digest")


@pytest.mark.slow
def test_upload_over_the_limit_is_refused_by_the_server(monkeypatch, corpus_dir):
    monkeypatch.setenv("CHATPAPER_MAX_PDF_MB", "0.1")  # read by launch_options() when the app starts
    pdf = corpus_dir / "phrase_generation_vectors_acl2014.pdf"  # 205 KB
    with launched_app() as url:
        with pytest.raises(ValueError, match="exceeds the maximum file size of 104857 bytes"):
            Client(url, verbose=False).predict(source="", pdf=handle_file(str(pdf)), api_name="/digest")
        # A client that ignores the published limit is stopped by the server itself.
        with pdf.open("rb") as f:
            refused = requests.post(url + "gradio_api/upload", files={"files": f}, timeout=30)
        assert refused.status_code == 413
        small = requests.post(url + "gradio_api/upload", files={"files": ("small.pdf", b"%PDF-1.4\n")}, timeout=30)
        assert small.status_code == 200
