"""The benchmarks runner: one module per benchmark under benchmarks/, dispatched by name, on chatpaper's public API."""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import benchmarks
from benchmarks.__main__ import main as run_benchmark

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted((ROOT / "benchmarks").glob("*.py"))


def test_help_lists_every_benchmark_module():
    """`python -m benchmarks --help` names each module of benchmarks/ (and nothing else) with its first doc line."""
    out = subprocess.run([sys.executable, "-m", "benchmarks", "--help"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    on_disk = {p.stem for p in MODULES} - {"__init__", "__main__"}
    assert set(benchmarks.NAMES) == on_disk
    listed = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
    assert listed == list(benchmarks.NAMES)
    assert "pymupdf4llm" in out  # extract's first doc line


def test_unknown_benchmark_is_refused_with_the_list(capsys):
    assert run_benchmark(["nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown benchmark 'nope'" in err and "memory" in err


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_benchmarks_use_only_public_chatpaper_names(path):
    """No `from chatpaper... import _x`, no `chatpaper_module._x`, no `import chatpaper._x`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    chatpaper_names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "chatpaper":
            assert not any(part.startswith("_") for part in node.module.split(".")), node.module
            for alias in node.names:
                assert not alias.name.startswith("_"), f"{path.name} imports {node.module}.{alias.name}"
                chatpaper_names.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "chatpaper":
                    assert not any(p.startswith("_") for p in alias.name.split(".")), alias.name
                    chatpaper_names.add((alias.asname or alias.name).split(".")[0])
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in chatpaper_names:
            assert not node.attr.startswith("_"), f"{path.name} reads {node.value.id}.{node.attr}"


def test_shared_folder_found_from_the_repository_root(monkeypatch, tmp_path):
    monkeypatch.delenv("CHATPAPER_SHARED", raising=False)
    assert benchmarks.corpus_dir() == ROOT.parent / "shared" / "corpus"
    monkeypatch.setenv("CHATPAPER_SHARED", str(tmp_path))
    assert benchmarks.corpus_dir() == tmp_path / "corpus"


def test_extract_benchmark_times_a_real_paper(corpus_dir, tmp_path, capsys):
    """`python -m benchmarks extract --corpus DIR --no-peer` on one corpus paper prints its row and the median."""
    shutil.copy(corpus_dir / "mapreduce_osdi2004.pdf", tmp_path)
    assert run_benchmark(["extract", "--corpus", str(tmp_path), "--no-peer"]) == 0
    out = capsys.readouterr().out
    assert "mapreduce_osdi2004" in out and '"papers": 1' in out and "median_s_per_page" in out


@pytest.mark.slow
def test_units_benchmark_times_each_thread_count_in_its_own_process(smollm_gguf, capsys):
    """`python -m benchmarks units` with SmolLM2: one row per setup, the threads llama.cpp really got, the ratio."""
    import os

    cores = len(os.sched_getaffinity(0))
    assert run_benchmark(["units", "--model", smollm_gguf, "--threads", "1,0", "--repeats", "1", "--rounds", "1"]) == 0
    rows = [line.split(" | ") for line in capsys.readouterr().out.splitlines() if line.startswith("| installed")]
    assert [r[1] for r in rows] == ["1 (1/1)", f"0 ({cores}/{cores})"]
    assert "AVX2" in rows[0][2] and rows[0][-2] == "1.00" and float(rows[0][3]) > 0
    assert rows[0][-1] == "yes |"  # the first setup's text is its own
