"""The package people install: pyproject.toml agrees with requirements*.txt, and a built wheel works on its own."""
from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def requirements_file(name: str) -> set[str]:
    """The requirements a pip requirements file names, normalised; its pip options (``--config-settings``) and
    ``-r`` includes left out, since pyproject.toml cannot carry them."""
    out = set()
    for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        out.add(_normal(line.split(" --", 1)[0]))
    return out


def _normal(spec: str) -> str:
    req = Requirement(spec)
    name = req.name.lower().replace("_", "-")
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    return f"{name}{extras}{req.specifier}"


def test_dependencies_match_requirements_txt():
    declared = {_normal(d) for d in PYPROJECT["project"]["dependencies"]}
    assert declared == requirements_file("requirements.txt")


def test_dev_extra_matches_requirements_dev_txt():
    declared = {_normal(d) for d in PYPROJECT["project"]["optional-dependencies"]["dev"]}
    assert declared == requirements_file("requirements-dev.txt")


def test_model_extra_matches_requirements_1_5b_txt():
    declared = {_normal(d) for d in PYPROJECT["project"]["optional-dependencies"]["model-1.5b"]}
    assert declared == requirements_file("requirements-1.5b.txt") and len(declared) == 22


def test_extras_pin_the_same_llama_cpp_and_torch_as_the_docs():
    extras = PYPROJECT["project"]["optional-dependencies"]
    llama = next(Requirement(d) for d in PYPROJECT["project"]["dependencies"] if d.startswith("llama-cpp-python"))
    server = Requirement(extras["server"][0])
    assert (server.name, server.specifier, server.extras) == (llama.name, llama.specifier, {"server"})
    assert "pip install torch==2.13.0" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "torch==2.13.0" in extras["gpu"]


def test_every_package_folder_is_listed():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = {".".join(p.relative_to(ROOT).parts) for p in (ROOT / "chatpaper").rglob("__init__.py")
             for p in [p.parent]}
    assert found <= listed, f"pyproject.toml [tool.setuptools] packages misses {sorted(found - listed)}"
    assert PYPROJECT["tool"]["setuptools"]["package-dir"]["chatpaper._prompts"] == "prompts"


@pytest.mark.slow
def test_installed_wheel_has_the_command_and_the_prompts(tmp_path):
    """Build the wheel and install it (no dependencies: they are this interpreter's) into a fresh venv; from a
    folder outside the checkout, the ``chatpaper`` command answers and the prompts load from the package."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=True)
    py = env_dir / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", str(ROOT)],
                   check=True, cwd=tmp_path, env=env, timeout=600)
    proc = subprocess.run([env_dir / "bin" / "chatpaper", "--help"], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "digest" in proc.stdout and "daily" in proc.stdout
    code = ("import chatpaper.prompts as p; print(p.PROMPT_DIR); "
            "print(len(p.available_prompts())); print(p.load_prompt('system.en').name)")
    out = subprocess.run([py, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env,
                         timeout=120, check=True).stdout.split()
    assert str(env_dir) in out[0] and out[0].endswith("_prompts"), out
    assert int(out[1]) == len(list((ROOT / "prompts").glob("*.md")))
    assert out[2] == "system.en"
