"""CLI progress: on a terminal a bar per model call (tokens written, tokens/s) on stderr; elsewhere plain lines.

The real pipeline on a corpus paper, the scripted backend of tests/fakes.py behind it (in-process, so the bars
see every event); stderr is a stream that says it is, or is not, a terminal.
"""
from __future__ import annotations

import io
import re

import pytest

from chatpaper import cli
from tests.fakes import ScriptedBackend, scripted_reply


class Stderr(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.fixture
def scripted(monkeypatch):
    fake = ScriptedBackend(scripted_reply, chunk=3)
    monkeypatch.setattr("chatpaper.backends.get_backend", lambda settings: fake)
    return fake


@pytest.mark.parametrize("tty", [True, False])
def test_digest_progress(scripted, corpus_dir, tmp_path, monkeypatch, capsys, tty):
    err = Stderr(tty)
    monkeypatch.setattr("sys.stderr", err)
    pdf = corpus_dir / "specter_acl2020.pdf"
    assert cli.main(["digest", str(pdf), "--lang", "en", "--out", str(tmp_path / "d.md")]) == 0
    text = err.getvalue()
    calls = [t for t in scripted.tasks()]
    # the scripted answers name none of SPECTER's key terms, so the writer asks once more for the method naming them
    assert calls == ["overview.en", "summary.en", "methods.en", "conclusion.en", "terms.en"]
    if tty:
        # one bar per call, ending at the tokens the call wrote (chunks of 3 characters), with a rate
        bars = re.findall(r"Writing the English (\w+): .*? (\d+)/(\d+) tokens \[[\d:]+, *[\d.?]+ ?tok/s\]", text)
        finals = {}
        for name, n, total in bars:
            finals[name] = (int(n), int(total))
        assert set(finals) == {"overview", "summary", "methods", "conclusion"}, text
        overview = len(scripted_reply(scripted.calls[0]))
        assert finals["overview"][0] == -(-overview // 3)
        assert "English summary done" not in text
        assert "Reading the PDF of" in text  # the other stages stay lines
    else:
        assert "tok/s" not in text and "\r" not in text
        lines = text.splitlines()
        assert "Writing the English summary…" in lines and "English summary done" in lines
