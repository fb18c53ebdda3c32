"""The Ask tab's handlers called directly (a scripted model), and the /ask endpoint through gradio_client with a
real model behind it (llama.cpp's server)."""
from __future__ import annotations

import json

import gradio as gr
import pytest
from gradio_client import Client, handle_file

import app
import chatpaper.backends
from tests.fakes import ScriptedBackend
from tests.plugins.app_server import SECRET, launched_app, use_llama_server


def progress(*args, **kwargs):  # gr.Progress outside a running app: nothing to report to
    return None


@pytest.fixture
def scripted(monkeypatch):
    """Every backend the Ask handlers build is this scripted one (it records each call's messages)."""
    backend = ScriptedBackend(["The Combiner function does partial merging of the data (p. 6).",
                               "The cluster had approximately 1800 machines (p. 8)."])
    monkeypatch.setattr(chatpaper.backends, "get_backend", lambda settings: backend)
    return backend


def run_chat(question, chat, paper, **kw):
    return list(app.ask_chat(question, chat, paper, progress=progress, **kw))


def test_ask_needs_a_loaded_paper_and_a_question(corpus_dir):
    with pytest.raises(gr.Error, match="Digest a paper first"):
        run_chat("What?", [], None)
    with pytest.raises(gr.Error, match="Type a question"):
        run_chat("   ", [], {"source": "", "pdf": str(corpus_dir / "specter_acl2020.pdf")})


def test_a_digest_opens_the_ask_tab_on_its_paper(tmp_path):
    tab, paper, chat = app.paper_loaded("https://arxiv.org/abs/2401.16144v2", None)
    assert tab["interactive"] is True and paper == {"source": "2401.16144v2", "pdf": None} and chat == []
    upload = str(tmp_path / "x.pdf")
    assert app.paper_loaded("2401.16144", upload)[1] == {"source": "", "pdf": upload}  # as digest: the upload wins
    with pytest.raises(gr.Error, match="not arXiv"):
        app.paper_loaded("https://example.com/x.pdf", None)


def test_the_chat_streams_then_shows_the_answer_and_its_passages(scripted, corpus_dir, monkeypatch):
    monkeypatch.setattr(app, "STREAM_EVERY_S", 0.0)
    paper = {"source": "", "pdf": str(corpus_dir / "mapreduce_osdi2004.pdf")}
    updates = run_chat("What does the combiner function do?", [], paper)
    assert updates[0][0][-1] == {"role": "assistant", "content": "…"} and updates[0][1] == ""  # the box clears
    partial = [u[0][1]["content"] for u in updates[1:-1]]
    assert len(partial) > 3 and all(p and "Sources" not in p for p in partial)  # streamed text, then the final
    chat = updates[-1][0]
    assert chat[0] == {"role": "user", "content": "What does the combiner function do?"}
    assert chat[1]["content"].endswith("**Sources:** p. 6 (4.3 Combiner Function)")
    passages = chat[2:]
    assert passages and passages[0]["metadata"]["title"] == "p. 6 · 4.3 Combiner Function"
    assert "partial merging" in passages[0]["content"]
    # The next question carries the conversation (the folded passages are display only, not history).
    again = run_chat("How many machines were in the cluster?", chat, paper)[-1][0]
    first_call, second_call = scripted.calls
    assert second_call[:len(first_call)] == first_call
    assert second_call[len(first_call)]["content"] == "The Combiner function does partial merging of the data (p. 6)."
    assert again[-2]["content"].endswith("(5.1 Cluster Configuration)") or again[-1]["metadata"]["title"].startswith("p. 8")


def test_question_html_is_escaped_in_the_chat(scripted, corpus_dir):
    paper = {"source": "", "pdf": str(corpus_dir / "mapreduce_osdi2004.pdf")}
    chat = run_chat("<img src=x onerror=alert(1)> combiner function?", [], paper)[-1][0]
    assert chat[0]["content"].startswith("&lt;img")


def test_ask_api_refuses_bad_input_before_any_work(monkeypatch):
    monkeypatch.setattr(chatpaper.ask, "ask_events", lambda *a, **k: pytest.fail("must not run"))
    with pytest.raises(gr.Error, match="arXiv link or id, or upload a PDF"):
        list(app.ask_api("", None, "What?"))
    with pytest.raises(gr.Error, match="not arXiv"):
        list(app.ask_api("https://example.com/x.pdf", None, "What?"))


def test_ask_api_answers_with_pages_and_details(scripted, corpus_dir):
    outputs = list(app.ask_api("", str(corpus_dir / "mapreduce_osdi2004.pdf"), "What does the combiner do?",
                               [["Earlier question?", "Earlier answer."]]))
    markdown, details = outputs[-1]
    assert markdown.endswith("**Sources:** p. 6 (4.3 Combiner Function)")
    assert details["cited_pages"] == [6] and details["history_used"] == 1
    assert scripted.calls[0][2] == {"role": "assistant", "content": "Earlier answer."}


@pytest.mark.slow
def test_ask_endpoint_with_a_real_model(llama_server, monkeypatch, corpus_dir, caplog, tmp_path):
    use_llama_server(monkeypatch, llama_server)
    monkeypatch.setenv("CHATPAPER_CONTEXT_TOKENS", "2048")
    pdf = corpus_dir / "specter_acl2020.pdf"
    with launched_app() as url:
        client = Client(url, verbose=False, download_files=str(tmp_path / "downloads"))
        markdown, details = client.predict(source="", pdf=handle_file(str(pdf)), question="On what GPU was SPECTER "
                                           "trained?", api_key=SECRET, base_url=llama_server.base_url,
                                           api_name="/ask")
        # a refused turn is left out of a follow-up's prompt (by design): the history check needs an answered one
        answered = markdown if not details["refused"] else "A Titan V GPU (p. 5)."
        again, details2 = client.predict(source="", pdf=handle_file(str(pdf)), question="How many epochs?",
                                         history=[[details["question"], answered]], api_name="/ask")
    assert details["question"] == "On what GPU was SPECTER trained?" and details["passages"]
    assert any("Titan V" in p["text"] and p["page"] == 5 for p in details["passages"])  # the passage that answers
    if not details["refused"]:
        assert details["cited_pages"] and f"p. {details['cited_pages'][0]}" in markdown
    assert details2["history_used"] == 1 and again
    assert SECRET not in json.dumps([markdown, details, again, details2]) and SECRET not in caplog.text


def test_ask_endpoint_through_gradio_client(scripted, corpus_dir, monkeypatch):
    """The launched app's /ask with a scripted model: parameters by name, history as pairs, page refs first."""
    from gradio_client import Client, handle_file

    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    pdf = handle_file(str(corpus_dir / "mapreduce_osdi2004.pdf"))
    with launched_app() as url:
        client = Client(url, verbose=False)
        parameters = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/ask"]["parameters"]
        markdown, details = client.predict(pdf=pdf, question="What does the combiner function do?", api_name="/ask")
        # a refused turn is left out of a follow-up's prompt (by design): the history check needs an answered one
        answered = markdown if not details["refused"] else "A Titan V GPU (p. 5)."
        again, details2 = client.predict(pdf=pdf, question="How many machines?", api_name="/ask",
                                         history=[["What does the combiner function do?", markdown]])
    assert [p["parameter_name"] for p in parameters[:4]] == ["source", "pdf", "question", "history"]
    assert {p["parameter_name"]: p["parameter_default"] for p in parameters[:4]}["history"] == []
    assert markdown.endswith("**Sources:** p. 6 (4.3 Combiner Function)") and details["cited_pages"] == [6]
    assert details2["history_used"] == 1 and "1800 machines" in again
    # the follow-up starts with the first request, then the first answer as the model wrote it
    assert scripted.calls[1][:2] == scripted.calls[0][:2]
    assert scripted.calls[1][2]["content"] == "The Combiner function does partial merging of the data (p. 6)."
