"""Prompts are files in ``prompts/``, one per task and language, loaded by name and rendered with declared variables.

Each file starts with a Jinja comment declaring its variables, ``{#- vars: title, text -#}``. Rendering with a
missing or an unknown variable raises ``PromptError`` (jinja2 ``StrictUndefined``, as smolagents renders its
prompts), and loading checks that the declaration matches what the template really uses. The hash of the digest's
prompt files is the prompt version, part of the digest cache key: editing one invalidates cached digests.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jinja2
import jinja2.meta

from chatpaper.errors import ChatPaperError

# In a checkout the prompts are the files in prompts/ beside the package; an installed package carries a copy of
# them as chatpaper/_prompts (pyproject.toml maps the folder).
_PACKAGED = Path(__file__).resolve().parent / "_prompts"
PROMPT_DIR = _PACKAGED if _PACKAGED.is_dir() else Path(__file__).resolve().parent.parent / "prompts"
_DECLARATION = re.compile(r"\A\{#-?\s*vars:\s*(.*?)\s*-?#\}")
_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)


class PromptError(ChatPaperError):
    """A prompt file is missing, malformed, or was rendered with the wrong variables."""


@dataclass(frozen=True)
class Prompt:
    """One prompt file: its name ("summary.en"), declared variables and template source."""

    name: str  #: file name without the extension
    variables: frozenset[str]  #: the variables it must be rendered with, no more, no fewer
    source: str  #: the template text, declaration included

    def render(self, **values) -> str:
        """The prompt text; raises PromptError on a missing or unknown variable."""
        given = set(values)
        if given != self.variables:
            missing, unknown = sorted(self.variables - given), sorted(given - self.variables)
            raise PromptError(f"prompt {self.name!r} takes {sorted(self.variables)}: missing {missing}, unknown {unknown}")
        try:
            return _ENV.from_string(self.source).render(**values).strip() + "\n"
        except jinja2.UndefinedError as exc:  # e.g. an attribute of a variable that is not there
            raise PromptError(f"prompt {self.name!r}: {exc}") from None


@lru_cache(maxsize=64)
def load_prompt(name: str) -> Prompt:
    """Load ``prompts/<name>.md`` (e.g. "summary.zh"), checking its declared variables against the template."""
    path = PROMPT_DIR / f"{name}.md"
    if not path.is_file():
        known = ", ".join(available_prompts()) or "none"
        raise PromptError(f"no prompt named {name!r} in {PROMPT_DIR} (known: {known})")
    source = path.read_text(encoding="utf-8")
    match = _DECLARATION.match(source)
    if not match:
        raise PromptError(f"{path} must start with a declaration such as '{{#- vars: title, text -#}}'")
    declared = {v.strip() for v in match.group(1).split(",") if v.strip() and v.strip() != "(none)"}
    try:
        used = jinja2.meta.find_undeclared_variables(_ENV.parse(source))
    except jinja2.TemplateSyntaxError as exc:
        raise PromptError(f"{path}:{exc.lineno}: {exc.message}") from None
    if used != declared:
        raise PromptError(f"{path} declares {sorted(declared)} but uses {sorted(used)}")
    return Prompt(name=name, variables=frozenset(declared), source=source)


def available_prompts() -> list[str]:
    """Names of every prompt file."""
    return sorted(p.stem for p in PROMPT_DIR.glob("*.md"))


#: Prompts that write no digest (the Ask tab's): editing them keeps the cached digests.
NOT_DIGEST = ("ask.", "ask_turn.", "ask_translate.")


def prompt_version() -> str:
    """A short hash of every digest prompt file's name and content (part of the digest cache key); the Ask tab's
    prompts (``NOT_DIGEST``) are left out."""
    digest = hashlib.sha256()
    for path in sorted(PROMPT_DIR.glob("*.md")):
        if path.name.startswith(NOT_DIGEST):
            continue
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]
