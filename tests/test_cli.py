"""The command line: help for every command, one-line errors without a traceback, a closed pipe ended quietly."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

COMMANDS = ["extract", "info", "digest", "daily", "model-path", "cache"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chatpaper", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_help_lists_every_command():
    proc = run_cli("--help")
    assert proc.returncode == 0
    for command in COMMANDS:
        assert command in proc.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_help(command):
    proc = run_cli(command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: python -m chatpaper " + command)


@pytest.mark.parametrize("args", [["bogus"], ["extract"], ["daily", "--out", "x"], ["digest", "x", "--backend", "gpt"]])
def test_bad_argument_gives_one_line_error(args):
    proc = run_cli(*args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_pipeline_error_is_one_line_without_traceback(tmp_path):
    missing = tmp_path / "nope.pdf"
    proc = run_cli("extract", str(missing), "--json")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert proc.stdout == ""


def test_output_into_a_closed_pipe_is_quiet(corpus_dir):
    pdf = corpus_dir / "specter_acl2020.pdf"
    proc = subprocess.run(f"{sys.executable} -m chatpaper extract {pdf} | head -1", shell=True, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.stdout.startswith("SPECTER")
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
