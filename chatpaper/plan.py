"""What a digest run will do, said before it does it: which backend and model answer, and about how long it takes.

``model_choice`` names the backend and model the settings pick, without loading or calling anything (the page
shows it under the Digest button). ``estimate_seconds`` turns the paper's size into a time range from the tokens
the digest sends and writes and the backend's speed: measured rates of the bundled model on a 2-core CPU to start
with (see ``LOCAL_RATES``), then the speed this process really saw on its last digest with the same model.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

from chatpaper.backends import default_backend_name, estimate_tokens, hf, is_in_process, local, transformers_backend
from chatpaper.backends import openai as openai_backend
from chatpaper.digest import PARTS, QUESTIONS
from chatpaper.paper import Paper, Record
from chatpaper.settings import Settings
from chatpaper.writer import ANSWER_TOKENS, PAPER_TOKENS

#: The bundled 0.5B model in llama.cpp on 2 CPU cores: prompt tokens read per second, tokens written per second.
#: Measured with ``python -m benchmarks backend --only local --runs 2`` (2,823 prompt tokens: first token after
#: 23.1 s; 25.5 tokens/s written), on this project's shared 2-core machine; the learned speed corrects for others.
LOCAL_RATES = (122.0, 25.5)
#: The other bundled models' rates, by file: the 0.5B's scaled by their raw units against the 0.5B's on the same quiet
#: 2-core machine (``python -m benchmarks units``, 2 threads: the 1.5B read 72 prompt tokens/s against 132 and wrote
#: 26.5 tokens/s against 37.7, 19.1 s per unit against 11.3).
LOCAL_RATES_BY_MODEL = {local.BUNDLED["qwen2.5-coder-1.5b"].file: (66.0, 18.0)}
#: A hosted model (OpenAI-compatible, Hugging Face): reading is fast, writing about this fast, plus latency per call.
REMOTE_RATES = (2000.0, 50.0)
REMOTE_LATENCY_S = 1.0
#: Share of each call's answer cap a model really writes (v1 writer, specter_acl2020.pdf with the bundled model:
#: 882 of 1,120 tokens, repairs included), and the Chinese tokens written per English token (same run: 463 of 882).
ANSWER_SHARE, ZH_TOKEN_RATIO = 0.8, 0.55
#: Prompt tokens of a call besides the paper: system message, question, schema (the writer's prompt files).
CALL_OVERHEAD = 250

# (backend, model) -> seconds really taken / seconds estimated, from the last digest of this process. Holds no
# user data (backend and model names only), so it may be shared by every visitor.
_LEARNED: dict[tuple[str, str], float] = {}
_LEARNED_LOCK = threading.Lock()


@dataclass(frozen=True)
class ModelChoice:
    """The backend and model a run will use, named for people."""

    backend: str  #: backend id: local, openai, hf, transformers
    model: str  #: model name or file name ("" when the server picks: its first listed model)
    where: str  #: where it runs: "this machine's CPU", a server's host, a provider

    @property
    def in_process(self) -> bool:
        """True when the model runs inside this process (one digest at a time, CPU-bound)."""
        return is_in_process(self.backend)

    def describe(self) -> str:
        """One line: "local backend · qwen2.5-coder-0.5b-instruct-q4_k_m.gguf · this machine's CPU (llama.cpp)"."""
        return " · ".join(p for p in (f"{self.backend} backend", self.model or "the server's first model",
                                      self.where) if p)


def model_choice(settings: Settings) -> ModelChoice:
    """The backend and model ``settings`` pick, named without loading a model or calling a server."""
    name = default_backend_name(settings).strip().lower()
    if name == "local":
        model = local.model_file_name(settings)
        return ModelChoice("local", model, "this machine's CPU (llama.cpp)")
    if name == "transformers":
        return ModelChoice("transformers", settings.model or transformers_backend.DEFAULT_MODEL, "in this process (transformers)")
    if name == "hf":
        where = _host(settings.hf_base_url) or f"Hugging Face Inference Providers ({settings.hf_provider or 'auto'})"
        return ModelChoice("hf", settings.model or hf.DEFAULT_MODEL, where)
    if name == "openai":
        host = _host(settings.openai_base_url) or "api.openai.com"
        official = host == "api.openai.com"
        return ModelChoice("openai", settings.model or (openai_backend.DEFAULT_MODEL if official else ""), host)
    return ModelChoice(name, settings.model, "")


def _host(url: str) -> str:
    """The host (and port) of a URL: never its path or query, which may carry a token."""
    try:
        parts = urlsplit((url or "").strip())
        return parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else ""
    except ValueError:
        return ""


def digest_tokens(record: Record, paper: Paper, settings: Settings, languages: list[str]) -> tuple[int, int]:
    """Prompt tokens a digest makes the model read, and tokens it writes, about.

    The writer reads the paper once, up to ``PAPER_TOKENS``, and asks each question behind it (an in-process model
    reuses that prefix, a server reads it again but fast); Chinese is translated part by part from the English.
    """
    text = sum(estimate_tokens(s.text) + estimate_tokens(s.heading) for s in paper.sections)
    text += estimate_tokens(record.abstract or paper.abstract)
    choice = model_choice(settings)
    context = settings.context_tokens or (4096 if choice.backend == "local" else 32768)
    read_paper = min(text, PAPER_TOKENS, max(context - max(ANSWER_TOKENS.values()) - CALL_OVERHEAD, 256))
    questions = len(QUESTIONS) + 1  # and one repair call, which most digests need
    sent = read_paper * (1 if choice.in_process else questions) + questions * CALL_OVERHEAD
    english = int(ANSWER_SHARE * (sum(ANSWER_TOKENS[q] for q in QUESTIONS) + ANSWER_TOKENS["repair"]))
    wrote = english
    if "zh" in languages:  # Chinese alone is still translated from an English draft: the English is counted anyway
        sent += english + len(PARTS) * CALL_OVERHEAD
        wrote += int(english * ZH_TOKEN_RATIO)
    return sent, wrote


def estimate_seconds(record: Record, paper: Paper, settings: Settings, languages: list[str]) -> tuple[float, float]:
    """A (low, high) range of seconds the digest of this paper takes with these settings."""
    choice = model_choice(settings)
    sent, wrote = digest_tokens(record, paper, settings, languages)
    base = _model_seconds(choice, sent, wrote)
    with _LEARNED_LOCK:
        base *= _LEARNED.get((choice.backend, choice.model), 1.0)
    return base * 0.7, base * 1.5


def _model_seconds(choice: ModelChoice, sent: int, wrote: int) -> float:
    read, write = LOCAL_RATES_BY_MODEL.get(choice.model, LOCAL_RATES) if choice.in_process else REMOTE_RATES
    calls = len(QUESTIONS) + 1 + len(PARTS)
    return sent / read + wrote / write + (0 if choice.in_process else calls * REMOTE_LATENCY_S)


def learn(settings: Settings, sent: int, wrote: int, seconds: float) -> None:
    """Remember how fast the last digest really was with this backend and model (tokens sent, written, wall time)."""
    choice = model_choice(settings)
    expected = _model_seconds(choice, sent, wrote)
    if expected > 0 and seconds > 0:
        with _LEARNED_LOCK:
            _LEARNED[(choice.backend, choice.model)] = min(max(seconds / expected, 0.05), 20.0)


def digests_at_once(max_parallel: int, wanted: int) -> int:
    """How many digests run at once: one for a backend that serves one request at a time (an in-process model),
    else ``wanted``, up to what the backend serves. The app's queue and the daily job both ask here."""
    return 1 if max_parallel <= 1 else max(1, min(max_parallel, wanted))


def describe_estimate(low: float, high: float) -> str:
    """"about 2-4 min" or "about 20-45 s"."""
    if high < 90:
        return f"about {max(int(low), 1)}–{int(high) + 1} s"
    return f"about {max(round(low / 60), 1)}–{round(high / 60) + (0 if round(high / 60) > round(low / 60) else 1)} min"
