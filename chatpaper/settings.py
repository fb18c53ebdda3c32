"""One settings object, read from the environment in exactly one place.

Every field has a default and a one-line description (``help``); the README's settings table is generated from
these. API keys are never printed: their fields are excluded from ``repr``.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from chatpaper.errors import ChatPaperError


def _default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "chatpaper")


def _setting(env: str, default, help: str, secret: bool = False):
    return field(default=default, repr=not secret, metadata={"env": env, "help": help, "secret": secret})


def _runtime(default, help: str):
    """A field set by code for one request (never read from the environment, not in the README table)."""
    return field(default=default, metadata={"env": None, "help": help, "secret": False})


VISITOR_BASE_URL_RULES = ("off", "public", "any")
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class Settings:
    """Configuration of the pipeline, the CLI and the app."""

    backend: str = _setting("CHATPAPER_BACKEND", "", "LLM backend: openai, hf, local or transformers; empty picks hf if HF_TOKEN is set, else openai if OPENAI_API_KEY is set, else local")
    model: str = _setting("CHATPAPER_MODEL", "", "model name for the backend (e.g. gpt-4o-mini, Qwen/Qwen2.5-7B-Instruct; local: qwen2.5-coder-0.5b, or qwen2.5-coder-1.5b once requirements-1.5b.txt is installed); empty uses the backend's default")
    model_path: str = _setting("CHATPAPER_MODEL_PATH", "", "GGUF file for the local backend; empty uses the bundled Qwen2.5-Coder-0.5B-Instruct")
    cache_dir: str = _setting("CHATPAPER_CACHE_DIR", _default_cache_dir(), "folder for cached arXiv records, PDFs, digests and the joined local model")
    arxiv_api_url: str = _setting("CHATPAPER_ARXIV_API_URL", "https://export.arxiv.org/api/query", "arXiv API endpoint (point it at a mirror or a test server)")
    arxiv_delay: float = _setting("CHATPAPER_ARXIV_DELAY", 3.0, "seconds between two requests to arXiv from one process (arXiv's terms ask for 3)")
    languages: str = _setting("CHATPAPER_LANGUAGES", "en,zh", "digest languages, comma-separated: en, zh")
    openai_api_key: str = _setting("OPENAI_API_KEY", "", "key for the openai backend (any OpenAI-compatible server)", secret=True)
    openai_base_url: str = _setting("OPENAI_BASE_URL", "", "base URL of an OpenAI-compatible server; empty means api.openai.com")
    hf_token: str = _setting("HF_TOKEN", "", "Hugging Face token for the hf backend (Inference Providers)", secret=True)
    hf_provider: str = _setting("CHATPAPER_HF_PROVIDER", "auto", "Inference Provider for the hf backend")
    hf_base_url: str = _setting("CHATPAPER_HF_BASE_URL", "", "URL of one Inference Endpoint or TGI server for the hf backend; empty uses Inference Providers")
    max_pdf_mb: float = _setting("CHATPAPER_MAX_PDF_MB", 50.0, "largest PDF accepted, download or upload, in MB")
    max_pages: int = _setting("CHATPAPER_MAX_PAGES", 300, "PDFs with more pages are refused")
    timeout: float = _setting("CHATPAPER_TIMEOUT", 30.0, "seconds before a network request (arXiv, PDF download) gives up")
    llm_timeout: float = _setting("CHATPAPER_LLM_TIMEOUT", 120.0, "seconds without a token before an LLM request gives up")
    local_threads: int = _setting("CHATPAPER_THREADS", 0, "CPU threads of the local model, for reading the prompt and for generating; 0 uses every core this process may run on (its CPU affinity); set 1 on a busy shared CPU")
    context_tokens: int = _setting("CHATPAPER_CONTEXT_TOKENS", 0, "context window of the model in tokens; 0 uses the backend's default (4096 local, 32768 remote)")
    max_concurrency: int = _setting("CHATPAPER_CONCURRENCY", 2, "papers digested at once by the daily job and the Topic tab (remote backends)")
    blog_author: str = _setting("CHATPAPER_BLOG_AUTHOR", "chatpaper", "author named in the front matter of daily blog posts")
    visitor_base_url: str = _setting("CHATPAPER_VISITOR_BASE_URL", "", "base URLs a web visitor may type in Model settings: off (none), public (https to a host with only public addresses, connection pinned to the checked address) or any; empty: public on a Space (SPACE_ID) or when the app listens beyond loopback (GRADIO_SERVER_NAME), else any")
    space_id: str = _setting("SPACE_ID", "", "set by Hugging Face on a Space; the app then treats visitors as strangers (see CHATPAPER_VISITOR_BASE_URL)")
    server_name: str = _setting("GRADIO_SERVER_NAME", "127.0.0.1", "address the app listens on (Gradio's own variable); beyond loopback, visitors are strangers")
    guard_base_url: bool = _runtime(False, "the openai base URL came from a visitor under the public rule: connect only to a checked public address")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> "Settings":
        """Settings from environment variables (``os.environ`` by default), then explicit overrides."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in dataclasses.fields(cls):
            if f.metadata["env"] is None:
                continue
            raw = environ.get(f.metadata["env"])
            if raw is None or raw == "":
                continue
            kind = type(f.default)
            try:
                values[f.name] = kind(raw)
            except ValueError:
                raise ChatPaperError(f"{f.metadata['env']}={raw!r} is not a valid {kind.__name__}: {f.metadata['help']}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def replace(self, **changes) -> "Settings":
        """A copy with some fields changed (None leaves a field as it is)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def language_list(self) -> list[str]:
        """Languages as a list, e.g. ``["en", "zh"]``."""
        return [lang.strip() for lang in self.languages.split(",") if lang.strip()]

    @property
    def visitor_rule(self) -> str:
        """What a web visitor's base URL may be: "off", "public" or "any" (``visitor_base_url``, or its default).

        Raises ChatPaperError for a value that is none of these.
        """
        rule = self.visitor_base_url.strip().lower()
        if not rule:
            local = self.server_name.strip().lower() in _LOOPBACK_NAMES and not self.space_id
            return "any" if local else "public"
        if rule not in VISITOR_BASE_URL_RULES:
            raise ChatPaperError(f"CHATPAPER_VISITOR_BASE_URL={self.visitor_base_url!r} is not one of "
                                 f"{', '.join(VISITOR_BASE_URL_RULES)}")
        return rule

    @property
    def cache_path(self) -> Path:
        """The cache folder as a Path (not created here)."""
        return Path(self.cache_dir).expanduser()

    @property
    def max_pdf_bytes(self) -> int:
        """The PDF size cap in bytes."""
        return int(self.max_pdf_mb * 1024 * 1024)


def settings_table() -> str:
    """The README's Markdown table of every setting."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for f in dataclasses.fields(Settings):
        if f.metadata["env"] is None:
            continue
        default = "(user cache)/chatpaper" if f.name == "cache_dir" else f.default
        default = f"`{default}`" if default not in ("", None) else "(empty)"
        rows.append(f"| `{f.metadata['env']}` | {default} | {f.metadata['help']} |")
    return "\n".join(rows)
