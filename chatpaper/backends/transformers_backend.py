"""The ``transformers`` backend: a Hub model id or a local folder run by transformers, for GPU Spaces.

PyTorch is optional (not in requirements.txt: it is large, and the other backends do not need it); choosing this
backend without it gives an install hint instead of a traceback.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from chatpaper.backends import Backend, Usage
from chatpaper.errors import BackendError
from chatpaper.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_MODEL = "Qwen/Qwen2.5-1.5B-Instruct"
TORCH_HINT = ("The transformers backend needs PyTorch, which is not installed (it is optional): "
              "pip install torch==2.13.0 (CPU only: add --index-url https://download.pytorch.org/whl/cpu), "
              "or choose CHATPAPER_BACKEND=local, openai or hf.")


def resolve_model(name: str) -> str:
    """A local model folder (with config.json) or a valid Hub repo id; a clear error for anything else."""
    path = Path(name).expanduser()
    if path.exists() or name.startswith((".", "/", "~")):
        if not (path / "config.json").is_file():
            raise BackendError(f"{name} is not a transformers model folder (no config.json): point CHATPAPER_MODEL "
                               "at a folder saved with save_pretrained, or at a Hub id such as "
                               f"{DEFAULT_MODEL}.")
        return str(path)
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        raise BackendError(f"{name!r} is neither a folder nor a Hugging Face model id (like {DEFAULT_MODEL}): "
                           "set CHATPAPER_MODEL.") from None
    return name


def _import_torch():
    try:
        import torch
    except ImportError:
        raise BackendError(TORCH_HINT) from None
    return torch


@dataclass
class _Loaded:
    """A model, its tokenizer and the lock that serialises generation on it."""

    model: object
    tokenizer: object
    lock: threading.Lock


# Loaded models keyed by model id or folder: shared by every request, holds no user data.
_MODELS: dict[str, _Loaded] = {}
_MODELS_LOCK = threading.Lock()


class TransformersBackend(Backend):
    """transformers' AutoModelForCausalLM in this process, streamed with TextIteratorStreamer."""

    id = "transformers"
    label = "transformers (in-process)"
    key_env_var = None
    max_parallel = 1

    def __init__(self, settings: Settings):
        self.model = resolve_model(settings.model or DEFAULT_MODEL)
        self.context_tokens = settings.context_tokens or 32768
        self.idle_timeout = None  # in-process: waiting for the model's lock is queueing, not a stall
        self._token = settings.hf_token or None  # only for downloading gated models; never stored in _MODELS
        self._torch = _import_torch()

    def load(self) -> _Loaded:
        """Load (once per process) and return the model and tokenizer."""
        with _MODELS_LOCK:
            if self.model not in _MODELS:
                _MODELS[self.model] = self._load()
            return _MODELS[self.model]

    def _load(self) -> _Loaded:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = "cuda" if self._torch.cuda.is_available() else "cpu"
        log.info("loading %s on %s", self.model, device)
        try:
            tokenizer = AutoTokenizer.from_pretrained(self.model, token=self._token)
            model = AutoModelForCausalLM.from_pretrained(self.model, token=self._token, dtype="auto").to(device)
        except (OSError, ValueError) as exc:
            raise BackendError(f"transformers could not load {self.model}: {exc}") from exc
        return _Loaded(model, tokenizer, threading.Lock())

    def count_tokens(self, text: str) -> int:
        """Exact: the model's own tokenizer."""
        return len(self.load().tokenizer(text, add_special_tokens=False)["input_ids"])

    def _produce(self, messages, *, max_tokens, temperature, stop, stop_event: threading.Event, schema=None):
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        loaded = self.load()
        tokenizer, model = loaded.tokenizer, loaded.model
        inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                               return_dict=True).to(model.device)
        prompt_tokens = int(inputs["input_ids"].shape[1])
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)

        abandoned = threading.Event()  # set when this generator is closed early, so generate() stops too

        class _Cancel(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return stop_event.is_set() or abandoned.is_set()

        result: dict = {}
        kwargs = dict(**inputs, max_new_tokens=max_tokens, streamer=streamer, do_sample=temperature > 0,
                      stopping_criteria=StoppingCriteriaList([_Cancel()]))
        if temperature > 0:
            kwargs["temperature"] = temperature
        if stop:
            kwargs.update(stop_strings=stop, tokenizer=tokenizer)

        def generate():
            try:
                result["output"] = model.generate(**kwargs)
            except Exception as exc:  # surfaced on the reading side below
                result["error"] = exc
                streamer.end()

        with loaded.lock:
            thread = threading.Thread(target=generate, name="transformers-generate", daemon=True)
            thread.start()
            try:
                for text in streamer:
                    if text:
                        yield text
            finally:
                abandoned.set()
                thread.join()
        if "error" in result:
            raise BackendError(f"{self.describe()} failed while generating: {result['error']}")
        completion = int(result["output"].shape[1]) - prompt_tokens
        return Usage(prompt_tokens, completion), ("length" if completion >= max_tokens else "stop")
