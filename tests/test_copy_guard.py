"""The copy guard: its table and prefix rules on a toy vocabulary, and a real model kept from pasting a passage."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chatpaper import checks
from chatpaper.backends import get_backend
from chatpaper.backends.copy_guard import BANNED, AnswerGuard, CopyGuard, PlainWordGuard, Vocabulary
from chatpaper.settings import Settings

# A toy vocabulary: the guard sees only token ids and their text.
PIECES = ["<s>", " the", " Ne", " NeRF", " NeRFs", "RFs", " render", " scenes", " 20", "%", ".", " N", " un",
          " unbounded", " ", "bounded"]
ID = {p: i for i, p in enumerate(PIECES)}


def ids(*pieces):
    return [ID[p] for p in pieces]


def test_a_run_of_n_tokens_from_the_text_is_banned_at_its_last_token():
    text = ids(" the", " NeRFs", " render", " unbounded", " scenes", ".")
    guard = CopyGuard(text, Vocabulary(PIECES), n=4)
    # After " the NeRFs render" the text goes on with " unbounded": banned, with its prefix " un".
    assert guard.banned(ids("<s>", " the", " NeRFs", " render")) == set(ids(" unbounded", " un"))
    # One token different and nothing is banned: only runs the text really has.
    assert guard.banned(ids(" the", " NeRF", " render")) == set()
    assert guard.banned(ids(" render")) == set()  # shorter than a run


def test_an_answer_may_not_write_its_own_run_twice_and_each_answer_starts_afresh():
    guard = CopyGuard(ids(" scenes", "."), Vocabulary(PIECES), n=4)
    prompt = ids("<s>", " the")
    answer = AnswerGuard(guard, n=3)
    assert answer.banned(prompt) == set()  # the prompt is not the answer: its runs are free
    written = prompt + ids(" NeRFs", " render", " unbounded", ".")
    for k in range(len(prompt) + 1, len(written) + 1):  # the processor sees the history once per token
        answer.banned(written[:k])
    # After " NeRFs render" a second time, " unbounded" (and its prefix " un") would repeat the answer's own run.
    assert answer.banned(written + ids(" NeRFs", " render")) == set(ids(" unbounded", " un"))
    assert answer.banned(written + ids(" NeRFs", ".")) == set()  # punctuation is never banned
    fresh = AnswerGuard(guard, n=3)  # the next answer (another part, another call) may write it
    assert fresh.banned(prompt + ids(" NeRFs", " render")) == set()


def test_prefixes_of_a_banned_token_are_banned_but_not_blank_ones_or_longer_tokens():
    vocabulary = Vocabulary(PIECES)
    assert set(vocabulary.with_prefixes(ID[" NeRFs"])) == set(ids(" NeRFs", " NeRF", " Ne", " N"))
    assert ID[" "] not in vocabulary.with_prefixes(ID[" unbounded"])  # a space is a prefix of every word
    assert vocabulary.with_prefixes(ID[" Ne"]) == tuple(ids(" Ne", " N"))  # a prefix bans no longer token


def test_a_banned_word_is_banned_glued_to_the_word_before_too():
    # The bundled model dodged " coefficients" by writing "significancecoefficients": the same word, no space.
    pieces = ["<s>", " significance", " coefficients", "coefficients", "co", " co", " coeff", "efficients", " of"]
    vocabulary = Vocabulary(pieces)
    at = {p: i for i, p in enumerate(pieces)}
    guard = CopyGuard([at[" of"], at[" significance"], at[" coefficients"]], vocabulary, n=3)
    banned = guard.banned([at["<s>"], at[" of"], at[" significance"]])
    assert banned == {at[p] for p in (" coefficients", " co", " coeff", "coefficients", "co")}
    assert at["efficients"] not in banned  # not a prefix of the word: a word going on from "co" is not the paste
    # An answer's own run is kept from coming back glued as well.
    answer = AnswerGuard(CopyGuard([], vocabulary, n=3), n=3)
    written = [at["<s>"], at[" of"], at[" significance"], at[" coefficients"]]
    for k in range(1, len(written) + 1):  # the prompt is "<s>": the answer starts after it
        answer.banned(written[:k])
    assert at["coefficients"] in answer.banned(written + [at[" of"], at[" significance"]])


def test_numbers_and_punctuation_are_never_banned():
    text = ids(" the", " NeRFs", " 20", "%", ".")
    guard = CopyGuard(text, Vocabulary(PIECES), n=2)
    assert guard.banned(ids(" NeRFs")) == set()  # " 20": a number stays as the paper gives it
    assert guard.banned(ids("%")) == set()  # "." has no letter
    assert guard.banned(ids(" the")) == set(ids(" NeRFs", " NeRF", " Ne", " N"))


def test_the_processor_sets_banned_scores_far_below_the_others_but_finite():
    guard = CopyGuard(ids(" the", " NeRFs", " render"), Vocabulary(PIECES), n=3)
    scores = np.zeros(len(PIECES), dtype=np.float32)
    out = guard(np.array(ids("<s>", " the", " NeRFs")), scores)
    assert out[ID[" render"]] == BANNED and BANNED < -1e6
    assert (np.delete(out, ID[" render"]) == 0).all() and np.isfinite(out).all()


def test_a_guard_needs_runs_of_two_tokens():
    with pytest.raises(ValueError):
        CopyGuard([1, 2, 3], Vocabulary(PIECES), n=1)


PASSAGE = ("Neural radiance fields render novel views of a scene by integrating the colour and density that a "
           "small network predicts at points sampled along every camera ray, and the sampling of those points "
           "decides both the quality of the image and the time it takes to render it on a single graphics card.")


def _longest_copied_run(answer: str, passage: str) -> int:
    """Words in the longest run of ``answer`` that ``passage`` holds verbatim."""
    a, p = checks.words(answer), " " + " ".join(checks.words(passage)) + " "
    best = 0
    for i in range(len(a)):
        for j in range(i + best + 1, len(a) + 1):
            if " " + " ".join(a[i:j]) + " " not in p:
                break
            best = j - i
    return best


# Chinese prose: a toy vocabulary with names, plain words, word pieces and the end-of-turn token.
ZH_PIECES = ["<|im_end|>", "嵌入", "。", " embedding", "emb", "edding", "Emb", " NeRF", "Ne", "RF", " Map", "Reduce",
             "-view", " 3", "d", " (", "ms", "<|im_start|>"]


def _plain_word_bans(*history: str) -> set[str]:
    guard = PlainWordGuard(Vocabulary(ZH_PIECES))
    scores = guard(np.array([ZH_PIECES.index(h) for h in history], dtype=np.intc), np.zeros(len(ZH_PIECES)))
    return {ZH_PIECES[t] for t in np.flatnonzero(scores == BANNED)}


def test_chinese_prose_may_not_start_a_plain_english_word_but_names_and_begun_words_go_on():
    # After Chinese or punctuation: every token that starts a lower-case word is banned, nothing else.
    assert _plain_word_bans("嵌入") == {" embedding", "emb", "edding", "-view", "d", "ms"}
    assert _plain_word_bans("。", " (") == {" embedding", "emb", "edding", "-view", "d", "ms"}
    # After a letter or a digit a word goes on ("Emb" + "edding", "Map" + "Reduce", "3" + "d"), but a new one may
    # not start (" embedding", "-view"): the scorer would count "view".
    assert _plain_word_bans("Emb") == {" embedding", "-view"}
    assert _plain_word_bans(" 3") == {" embedding", "-view"}
    assert "<|im_end|>" not in _plain_word_bans("嵌入")  # the answer can always end


def test_given_the_names_a_capitalised_word_may_only_begin_one_of_them():
    # The bundled model kept "Rendering" and "Neural Radiance Fields" in Chinese by their capitals.
    pieces = ["<|im_end|>", "渲染", " Rendering", "Rendering", " Ne", "Ne", " NeRF", "RF", " Neural", "i", "NG", "P",
              " iNGP", " Map", "Reduce", " rendering"]
    guard = PlainWordGuard(Vocabulary(pieces), names=("NeRF", "iNGP"))

    def bans(*history):
        scores = guard(np.array([pieces.index(h) for h in history], dtype=np.intc), np.zeros(len(pieces)))
        return {pieces[t] for t in np.flatnonzero(scores == BANNED)}

    # After Chinese: a capitalised word that begins no name is banned (" Map" too: MapReduce is not a name here),
    # the starts of "NeRF" and of the lower-case "iNGP" are free, a plain word stays banned.
    assert bans("渲染") == {" Rendering", "Rendering", " Neural", " Map", "Reduce", " rendering", "RF", "NG", "P"}
    # After a letter a word goes on ("Ne" + "RF", "i" + "NG"); a new capitalised word after a space may not start.
    assert bans("Ne") == {" Rendering", " Neural", " Map", " rendering"}
    # Without names, capitals are free (the old rule): only lower-case word starts are banned.
    assert _plain_word_bans("嵌入") == {" embedding", "emb", "edding", "-view", "d", "ms"}


@pytest.mark.slow
def test_the_local_backend_writes_no_plain_english_word_in_chinese_mode(smollm_gguf):
    """SmolLM2 (English only) asked to repeat an English sentence: free, it writes the plain words; in Chinese mode
    not one lower-case word starts, and it still answers."""
    backend = get_backend(Settings(backend="local", model_path=smollm_gguf))
    messages = [{"role": "user", "content": "Repeat exactly: the embedding of each scene is learned by NeRF."}]
    free, chinese = (backend.chat(messages, max_tokens=40, temperature=0.0, chinese=c) for c in (False, True))
    list(free), list(chinese)
    plain = re.compile(r"(?<![A-Za-z0-9])[a-z]")
    assert len(plain.findall(free.text)) >= 4, free.text
    assert not plain.search(chinese.text), chinese.text
    assert chinese.text.strip()


@pytest.mark.slow
def test_the_local_backend_cannot_paste_a_passage_it_is_told_to_repeat(smollm_gguf):
    """SmolLM2 repeats a passage verbatim when asked; with the paper as ``avoid`` no 12-word run gets through."""
    backend = get_backend(Settings(backend="local", model_path=smollm_gguf))
    assert backend.supports_copy_guard
    messages = [{"role": "user", "content": f"Repeat this text exactly, word for word:\n\n{PASSAGE}"}]
    free = backend.chat(messages, max_tokens=90, temperature=0.0)
    list(free)
    guarded = backend.chat(messages, max_tokens=90, temperature=0.0, avoid=PASSAGE)
    list(guarded)
    assert _longest_copied_run(free.text, PASSAGE) >= 12, free.text  # the model does paste when it may
    assert _longest_copied_run(guarded.text, PASSAGE) < 12, guarded.text
    assert len(checks.words(guarded.text)) >= 5  # it still wrote something, not an empty answer
    assert not re.search(r"\b(Ne|un) (RFs|bounded)\b", guarded.text)


_FORCED = "the cat sat on the mat with the red hat and the dog"


@pytest.mark.slow
def test_a_grammar_that_admits_only_a_banned_token_still_gets_its_answer(smollm_gguf, tmp_path):
    """A schema forcing one answer to write its own 10-token run twice: every token the grammar admits is banned.
    At -inf llama.cpp sampled a token the grammar refuses and aborted the process; it must answer instead. Run in a
    child process, so a regression fails this test and not the whole session."""
    script = tmp_path / "forced.py"
    script.write_text(f"""
import json, sys
sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})
from chatpaper.backends import get_backend
from chatpaper.settings import Settings
backend = get_backend(Settings(backend="local", model_path={smollm_gguf!r}))
forced = {{"type": "string", "pattern": "^{_FORCED}$"}}
schema = {{"type": "object", "properties": {{"a": forced, "b": forced}}, "required": ["a", "b"],
          "additionalProperties": False}}
stream = backend.chat([{{"role": "user", "content": "Answer in JSON."}}], max_tokens=80, temperature=0.0,
                      schema=schema, avoid="nothing to avoid here")
print(json.dumps(json.loads("".join(stream))))
""")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"a": _FORCED, "b": _FORCED}
