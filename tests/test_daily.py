"""The daily topic digest: recorded arXiv answers from the loopback server, real PDFs from ../shared/corpus, real
extraction, a scripted backend for the model's prose (and, marked slow, the bundled local model end to end)."""
from __future__ import annotations

import difflib
import json
import os
import re
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from chatpaper import daily
from chatpaper.errors import BackendError, ChatPaperError
from tests.conftest import CORPUS
from tests.fakes import scripted_reply
from tests.plugins.daily_job import FEED, IN_WINDOW, PDFS, QUERY, run, settings

GOLDEN = Path(__file__).parent / "golden"
NOW = datetime(2025, 1, 31, 19, 23, 52, tzinfo=timezone.utc)


def front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n", 2)[1])


def papers_in(text: str) -> list[str]:
    return re.findall(r"^\[PDF\]\(https://arxiv\.org/abs/([^)]+)\)", text, re.M)


# ------------------------------------------------------------------------------------------------ pure helpers


def test_topic_from_query():
    assert daily.topic_from_query(QUERY) == "NeRF"
    assert daily.topic_from_query('abs:"gaussian splatting" AND cat:cs.CV') == "gaussian splatting"
    assert daily.topic_from_query("(ti:3DGS OR abs:3DGS)") == "3DGS"
    assert daily.topic_file_name("gaussian splatting") == "gaussian-splatting"
    assert daily.topic_file_name("a/b:c") == "a-b-c"
    with pytest.raises(ChatPaperError):
        daily.topic_file_name("///")


def test_bad_date_is_one_clear_error(tmp_path):
    with pytest.raises(ChatPaperError, match="YYYY-MM-DD"):
        daily.parse_date("30/01/2024")
    with pytest.raises(ChatPaperError, match="--days"):
        daily.search_topic(QUERY, settings(), date="2024-01-30", days=0)


# ---------------------------------------------------------------------------------------------- search window


def test_search_keeps_the_window_newest_first(arxiv):
    records = daily.search_topic(QUERY, settings(), date="2025-01-31", days=21)
    assert [r.versioned_id for r in records] == IN_WINDOW
    assert records[0].title == "AugmenTest: Enhancing Tests with LLM-Driven Oracles"
    sent = [r.params["search_query"] for r in arxiv.requests if r.kind == "api"]
    assert sent and "submittedDate:[202501110000 TO 202501312359]" in sent[-1]
    # arXiv applies the window and the date order itself (the loopback server does neither): --max 2 keeps two.
    arxiv.add_feed("*", IN_WINDOW)
    assert [r.versioned_id for r in daily.search_topic(QUERY, settings(), date="2025-01-31", days=21,
                                                       max_results=2)] == IN_WINDOW[:2]
    arxiv.add_feed("*", FEED)
    # One day: only the paper of 2025-01-20.
    one_day = daily.search_topic(QUERY, settings(), date="2025-01-20", days=1)
    assert [r.versioned_id for r in one_day] == ["2501.11550v1"]


def test_search_filters_categories(arxiv):
    records = daily.search_topic(QUERY, settings(), categories=["cs.SE"], date="2025-01-31", days=21)
    assert records and all("cs.SE" in r.categories for r in records)
    assert daily.search_topic(QUERY, settings(), categories=["astro-ph.EP"], date="2025-01-31", days=21) == []


# ------------------------------------------------------------------------------------------------------ post


def test_post_matches_golden(arxiv, backend, tmp_path, monkeypatch):
    import chatpaper.pdf

    monkeypatch.setattr(daily, "_now", lambda: NOW)
    real_extract = chatpaper.pdf.extract_paper

    def extract(*args, **kwargs):
        # The golden pins the post's shape; what the extractor finds in the front matter of the PDFs is pinned
        # by its own tests, so affiliations and links are fixed here and do not churn this file.
        paper = real_extract(*args, **kwargs)
        paper.affiliations, paper.links = ["Example University"], ["https://github.com/example/code"]
        paper.code = "https://github.com/example/code"
        return paper

    monkeypatch.setattr(chatpaper.pdf, "extract_paper", extract)
    messages: list[str] = []
    path = run(tmp_path / "blog", messages=messages)
    assert path == tmp_path / "blog" / "2025-01-31" / "NeRF.md"
    # PDF links point at the loopback server, whose port changes from run to run.
    text = path.read_text(encoding="utf-8").replace(arxiv.base, "http://arxiv.loopback")
    golden = GOLDEN / "daily_nerf_2025-01-31.md"
    if os.environ.get("CHATPAPER_UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    diff = "".join(difflib.unified_diff(golden.read_text(encoding="utf-8").splitlines(True), text.splitlines(True),
                                        "golden", "written"))
    assert not diff, f"the post differs from {golden} (CHATPAPER_UPDATE_GOLDEN=1 rewrites it):\n{diff}"
    assert [m for m in messages if m.startswith("[")] == [line for n, vid in enumerate(IN_WINDOW, 1)
                                                          for line in (f"[{n}/3] digesting {vid} ...",
                                                                       f"[{n}/3] {vid} done")]


def test_post_facts_come_from_the_record(arxiv, backend, tmp_path):
    text = run(tmp_path).read_text(encoding="utf-8")
    assert papers_in(text) == IN_WINDOW
    first = text.index("## AugmenTest: Enhancing Tests with LLM-Driven Oracles")
    assert "**Authors:Shaker Mahmud Khandaker, Fitsum Kifetew, Davide Prandi, Angelo Susi**" in text[first:]
    assert text.index("# 2025-01-31 更新") < first
    # Every relative image link points at a file beside the post; nothing is hot-linked.
    links = re.findall(r'<img src="([^"]+)"', text) + re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert links
    for link in links:
        assert not link.startswith(("http:", "https:", "/")), link
        assert (tmp_path / "2025-01-31" / link).is_file(), link
    assert "images/2501.17461v1/page-001.png" in links
    assert "scripted backend" in text and "scripted-model" in text and "Gemini" not in text


def test_front_matter_fields(arxiv, backend, tmp_path):
    meta = front_matter(run(tmp_path).read_text(encoding="utf-8"))
    assert meta["title"] == "NeRF" and meta["tags"] == ["NeRF"] and meta["keywords"] == "NeRF"
    assert meta["categories"] == "Paper" and meta["author"] == "chatpaper" and meta["mathjax"] is True
    assert str(meta["date"]).startswith("2025-01-31")
    assert meta["cover"] == "images/2501.17461v1/page-001.png"
    assert meta["description"] == ("NeRF 方向最新论文已更新，请持续关注 Update in 2025-01-31 "
                                   "AugmenTest: Enhancing Tests with LLM-Driven Oracles")


def test_author_is_a_setting(arxiv, backend, tmp_path, monkeypatch):
    monkeypatch.setenv("CHATPAPER_BLOG_AUTHOR", "Kedreamix")
    assert front_matter(run(tmp_path, date="2025-01-20", days=1).read_text(encoding="utf-8"))["author"] == "Kedreamix"


def test_already_posted_papers_are_skipped(arxiv, backend, tmp_path):
    first = run(tmp_path, date="2025-01-20", days=10)  # 2025-01-11..2025-01-20: two papers
    assert papers_in(first.read_text(encoding="utf-8")) == ["2501.11550v1", "2501.09657v1"]
    state = json.loads((tmp_path / daily.STATE_FILE).read_text(encoding="utf-8"))
    assert state["papers"]["2501.11550"]["post"] == "2025-01-20/NeRF.md"
    calls = len(backend.calls)
    messages: list[str] = []
    second = run(tmp_path, messages=messages)  # the window now holds those two and a new one
    assert papers_in(second.read_text(encoding="utf-8")) == ["2501.17461v1"]
    # The new paper only: every call that reads a paper reads that one, and it costs about what each of the first
    # two did (papers differ by a call or two: key terms to translate, a repair).
    title = re.search(r"^1\. \*\*Title\*\*: (.+)$", second.read_text(encoding="utf-8"), re.M).group(1)
    reading = [m[-1]["content"] for m in backend.calls[calls:] if "<paper>" in m[-1]["content"]]
    assert reading and all(f"Title: {title}" in text for text in reading)
    assert abs((len(backend.calls) - calls) - calls / 2) <= 3
    assert "skipping 2 paper(s) already posted" in "\n".join(messages)
    assert papers_in(first.read_text(encoding="utf-8")) == ["2501.11550v1", "2501.09657v1"]  # untouched


def test_rerun_of_the_same_post_resumes_from_the_cache(arxiv, backend, tmp_path):
    text = run(tmp_path).read_text(encoding="utf-8")
    calls = len(backend.calls)
    messages: list[str] = []
    again = run(tmp_path, messages=messages).read_text(encoding="utf-8")
    assert len(backend.calls) == calls  # every digest served from the cache
    assert f"[1/3] {IN_WINDOW[0]} done (from the cache)" in messages
    assert papers_in(again) == IN_WINDOW
    assert again.split("\n---\n", 1)[1] == text.split("\n---\n", 1)[1]  # same body (front matter holds the time)


def test_one_failure_leaves_the_others_and_is_noted(arxiv, backend, tmp_path):
    del arxiv.pdfs["2501.11550v1"]  # arXiv answers 404 for this paper's PDF
    messages: list[str] = []
    text = run(tmp_path, messages=messages).read_text(encoding="utf-8")
    assert papers_in(text) == IN_WINDOW  # facts of the failed paper are still listed
    block = text[text.index("## Practical Pipeline-Aware"):text.index("## On the Energy Consumption")]
    assert "the digest of this paper failed" in block and "**Summary**:" not in block
    assert "1 paper(s) could not be digested" in text and "2501.11550v1" in text.split("# 2025-01-31 更新")[1][:400]
    assert text.count("**Key Takeaways**") == 2
    assert any("2501.11550v1 failed" in m for m in messages)
    posted = json.loads((tmp_path / daily.STATE_FILE).read_text(encoding="utf-8"))["papers"]
    assert set(posted) == {"2501.17461", "2501.09657"}  # the failed one is tried again next run
    arxiv.pdfs["2501.11550v1"] = CORPUS / PDFS["2501.11550v1"]
    text = run(tmp_path).read_text(encoding="utf-8")
    assert "the digest of this paper failed" not in text and text.count("**Key Takeaways**") == 3


@pytest.mark.parametrize("failure, noted", [
    (BackendError("the server answered HTTP 500; try again later"), "HTTP 500"),  # a failure the pipeline expects
    (RuntimeError("a bug"), "unexpected RuntimeError"),  # a bug on one paper: still only that paper
])
def test_a_model_failure_on_one_paper_leaves_the_others(arxiv, backend, tmp_path, failure, noted):
    def reply(messages):
        if "Energy Consumption" in messages[-1]["content"]:
            raise failure
        return scripted_reply(messages)

    backend.script = reply
    text = run(tmp_path).read_text(encoding="utf-8")
    block = text[text.index("## On the Energy Consumption"):]
    assert "the digest of this paper failed" in block and noted in block
    assert text.count("**Key Takeaways**") == 2 and "1 paper(s) could not be digested" in text


@pytest.fixture
def in_flight(monkeypatch):
    """Counts the papers being digested at once (the pipeline's digest stage, wrapped); ``barrier`` optional."""
    from chatpaper import pipeline

    state = {"running": 0, "peak": 0, "barrier": None}
    lock = threading.Lock()
    real = pipeline.digest

    def counted(*args, **kwargs):
        with lock:
            state["running"] += 1
            state["peak"] = max(state["peak"], state["running"])
        try:
            if state["barrier"] is not None:
                state["barrier"].wait()  # the papers must be in flight together, or this times out
            else:
                threading.Event().wait(0.2)  # long enough for a second paper to start, if it were allowed to
            return real(*args, **kwargs)
        finally:
            with lock:
                state["running"] -= 1

    monkeypatch.setattr(pipeline, "digest", counted)
    return state


def test_concurrency_is_bounded_by_the_setting(arxiv, backend, tmp_path, in_flight):
    backend.max_parallel = 8  # a remote-like backend: the setting is the limit
    in_flight["barrier"] = threading.Barrier(2, timeout=30)
    text = run(tmp_path, max_concurrency=2, date="2025-01-20", days=10).read_text(encoding="utf-8")
    assert text.count("**Key Takeaways**") == 2 and in_flight["peak"] == 2


def test_concurrency_never_exceeds_the_setting(arxiv, backend, tmp_path, in_flight):
    backend.max_parallel = 8
    text = run(tmp_path, max_concurrency=2).read_text(encoding="utf-8")
    assert text.count("**Key Takeaways**") == 3 and in_flight["peak"] == 2


def test_a_one_at_a_time_backend_gets_one_paper_at_a_time(arxiv, backend, tmp_path, in_flight):
    # ScriptedBackend.max_parallel is 1, like the in-process local model: the setting does not matter then.
    run(tmp_path, max_concurrency=4, date="2025-01-20", days=10)
    assert in_flight["peak"] == 1


def test_empty_window_writes_a_post_that_says_so(arxiv, backend, tmp_path):
    text = run(tmp_path, date="2023-01-31", days=7).read_text(encoding="utf-8")
    assert "no new papers" in text and not papers_in(text) and backend.calls == []


def test_cancel_writes_nothing(arxiv, backend, tmp_path):
    cancel = threading.Event()
    cancel.set()
    records = daily.search_topic(QUERY, settings(), date="2025-01-31", days=21)
    with pytest.raises(ChatPaperError, match="cancelled"):
        daily.write_post(records, settings(), out_dir=tmp_path, topic="NeRF", date="2025-01-31", cancel=cancel)
    assert not (tmp_path / "2025-01-31" / "NeRF.md").exists() and not (tmp_path / daily.STATE_FILE).exists()


def test_cli_writes_the_post(arxiv, backend, tmp_path, capsys):
    from chatpaper.cli import main

    arxiv.add_feed("*", ["2501.11550v1", "2501.09657v1"])  # as arXiv answers: window applied, newest first
    status = main(["daily", "--query", QUERY, "--date", "2025-01-20", "--days", "10", "--max", "1",
                   "--lang", "en", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert status == 0
    assert out.strip() == str(tmp_path / "2025-01-20" / "NeRF.md")
    assert "[1/1] digesting 2501.11550v1 ..." in err
    text = Path(out.strip()).read_text(encoding="utf-8")
    assert papers_in(text) == ["2501.11550v1"] and "**Summary**:" in text and "**总结**" not in text


# ------------------------------------------------------------------------------------------- end to end, slow


@pytest.mark.slow
def test_two_papers_with_the_bundled_local_model(arxiv_server, qwen_gguf, tmp_path, monkeypatch):
    """The whole job offline: loopback arXiv, two real PDFs, the bundled Qwen2.5-0.5B through llama.cpp."""
    from chatpaper import writer

    # Kept short for CI's 2 cores: English only, a small context and short answers (the digest's quality at full
    # length is the digest tests' and the digest benchmark's business; this one checks the job around it).
    for task, tokens in {"overview": 160, "summary": 160, "methods": 100, "conclusion": 140, "repair": 100}.items():
        monkeypatch.setitem(writer.ANSWER_TOKENS, task, tokens)
    truth = json.loads((CORPUS / "nerf2nerf_registration.json").read_text(encoding="utf-8"))
    # 1111.2011v2 is the one real arXiv paper of the fixtures (record and PDF). The second is nerf2nerf, a corpus
    # PDF, served under its own arXiv id with its title and authors from the corpus ground truth (a synthetic entry).
    arxiv_server.add_entry("2211.01600v1", title=truth["title"], authors=truth["authors"],
                           summary=truth["abstract_first_sentence"], comment="synthetic test entry",
                           published="2022-11-03", categories=["cs.CV"])
    arxiv_server.pdfs["2211.01600v1"] = CORPUS / "nerf2nerf_registration.pdf"
    arxiv_server.add_feed("*", ["2211.01600v1", "1111.2011v2"])
    days = (datetime(2022, 11, 30) - datetime(2011, 11, 8)).days + 1
    local = settings(backend="local", model_path=qwen_gguf, languages="en", context_tokens=1024)
    messages: list[str] = []
    path = daily.run_daily(QUERY, None, "2022-11-30", days, 2, tmp_path, None, local, messages.append)
    text = path.read_text(encoding="utf-8")
    assert path == tmp_path / "2022-11-30" / "NeRF.md"
    assert papers_in(text) == ["2211.01600v1", "1111.2011v2"]
    assert f"## {truth['title']}" in text and "Quantum Criticality for Extended Nodes on a Bethe Lattice" in text
    assert "the digest of this paper failed" not in text, text
    assert text.count("**Key Takeaways**") == 2 and text.count("\n6. **Summary**:") == 2
    assert "local backend, model qwen2.5-coder-0.5b-instruct-q4_k_m.gguf" in text
    links = re.findall(r'<img src="([^"]+)"', text)
    assert "images/1111.2011v2/page-001.png" in links and "images/2211.01600v1/page-001.png" in links
    assert all((path.parent / link).is_file() for link in links)
    assert [m for m in messages if "digesting" in m] == ["[1/2] digesting 2211.01600v1 ...",
                                                         "[2/2] digesting 1111.2011v2 ..."]
    # A rerun of the same post resumes from the digest cache for every complete digest (no model call, the same
    # digest); a digest the small model left incomplete (a part missing or cut) was not cached, the post says so
    # under the paper, and the rerun asks again.
    blocks = text.split("\n## ")[1:]
    complete = {vid: "it was not cached" not in next(b for b in blocks if f"/abs/{vid})" in b)
                for vid in ("2211.01600v1", "1111.2011v2")}
    for block in blocks:
        if "(missing:" in block:
            assert "it was not cached" in block, block
    messages.clear()
    again = daily.run_daily(QUERY, None, "2022-11-30", days, 2, tmp_path, None, local, messages.append)
    expected = [f"[{n}/2] {vid} done (from the cache)" for n, vid in enumerate(complete, 1) if complete[vid]]
    assert [m for m in messages if m.endswith("done (from the cache)")] == expected
    assert [m for m in messages if m.endswith(" done")] == [f"[{n}/2] {vid} done"
                                                            for n, vid in enumerate(complete, 1) if not complete[vid]]
    if all(complete.values()):
        assert again.read_text(encoding="utf-8").split("\n---\n", 1)[1] == text.split("\n---\n", 1)[1]
