"""A copy guard at decoding time: the model cannot write a run of ``GUARD_TOKENS`` tokens that a text has.

A small model asked to summarise a paper pastes its sentences. Rewriting them afterwards costs a call each and
often pastes again; forbidding the paste while decoding costs nothing: the text is tokenized once, every run of
N-1 tokens maps to the tokens that follow it there, and at each step the tokens that would complete a run of N
are set far below every other score (``BANNED``). It is the idea of transformers' ``encoder_no_repeat_ngram_size``
(https://huggingface.co/docs/transformers/main_classes/text_generation), with two refinements measured on the
bundled model:

- a banned token's strict prefixes are banned too: otherwise the model splits " NeRFs" into " Ne" + "RFs" and
  writes the same words with a space inside ("Ne RFs", "un bounded");
- a banned word is banned without its space too: otherwise the model glues it to the word before ("significance"
  + "coefficients" where the paper has " coefficients") and pastes on, in a word no reader can parse;
- tokens with a digit, or without a letter, are never banned: numbers must stay as the paper gives them (banned,
  the model changed "20–90%" into "10–90%"), and punctuation carries no wording.

``AnswerGuard`` adds the answer itself, as transformers' ``no_repeat_ngram_size`` does: one answer writes several
parts (background, past methods, approach), and the bundled model wrote the same sentence into two of them.

``PlainWordGuard`` keeps Chinese prose Chinese: no token may start a lower-case Latin word ("embedding",
"pruning"), so a translation writes the Chinese word instead of leaving the English one; names keep their capitals
("NeRF", "MapReduce", "SPECTER" start with one) and a word already begun may go on ("Emb" + "edding"). Given the
names the source writes, a capitalised word may only start one of them (the bundled model kept "Rendering" and
"Neural Radiance Fields" in Chinese prose by their capitals), and a name may start in lower case ("iNGP").
"""
from __future__ import annotations

import re
from typing import Callable, Sequence

import numpy as np

#: Tokens in a run the answer may not share with the text (about 9-10 English words: the digest's checks count
#: a sentence as pasted at 12 words).
GUARD_TOKENS = 12
#: The score of a banned token: far below any other, but finite. Where a schema's grammar admits only banned tokens
#: (a JSON key, a pattern's fixed start), llama.cpp must still sample one of them; at -inf it sampled a token the
#: grammar refuses and aborted the process ("Unexpected empty grammar stack after accepting piece").
BANNED = -1e9
#: Tokens in a run an answer may not write twice (about 7-8 words: a repeated clause, not a repeated name).
SELF_TOKENS = 10


class Vocabulary:
    """The text of each token of one model, with the lookups the guard needs (built once per loaded model)."""

    def __init__(self, pieces: Sequence[str]):
        self.pieces = list(pieces)
        self.ids: dict[str, int] = {}
        for token, piece in enumerate(self.pieces):
            self.ids.setdefault(piece, token)
        self._prefixes: dict[int, tuple[int, ...]] = {}
        self._variants: dict[int, tuple[int, ...]] = {}
        self._starts: tuple[np.ndarray, np.ndarray] | None = None
        self._capitals: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def of(cls, detokenize: Callable[[int], bytes], size: int) -> "Vocabulary":
        """The vocabulary of a model from its one-token detokenizer (bytes that are not whole UTF-8 are dropped)."""
        return cls([detokenize(t).decode("utf-8", errors="ignore") for t in range(size)])

    def exempt(self, token: int) -> bool:
        """True for a token the guard never bans: one holding a digit, or no letter at all."""
        piece = self.pieces[token] if 0 <= token < len(self.pieces) else ""
        return any(c.isdigit() for c in piece) or not any(c.isalpha() for c in piece)

    def word_starts(self) -> tuple[np.ndarray, np.ndarray]:
        """The tokens that start a lower-case Latin word: after a letter or digit (a word going on: "Emb" +
        "edding" is not one, " pruning" is), and after anything else (then a token's first letter counts too).
        Special tokens ("<|im_end|>") are never one: the answer must be able to end."""
        if self._starts is None:
            self._starts = self._starting(_INNER_WORD_START.search, lambda piece: piece[:1].islower())
        return self._starts

    def capital_starts(self) -> tuple[np.ndarray, np.ndarray]:
        """The tokens that start a capitalised Latin word: after a letter or digit only those with a space before
        the capital (" Calibration"; "RF" after "Ne" is a word going on), after anything else also a capital first
        (like ``word_starts``)."""
        if self._capitals is None:
            self._capitals = self._starting(re.compile(r"\s+[A-Z]").match, lambda piece: piece[:1].isupper())
        return self._capitals

    def _starting(self, inside, first) -> tuple[np.ndarray, np.ndarray]:
        """The ASCII, not special, tokens that start a word after a letter or digit (``inside`` finds the start in
        the piece), and after anything else (``inside``, or ``first``: the piece's first letter starts one)."""
        after_word, after_other = [], []
        for token, piece in enumerate(self.pieces):
            if piece.startswith("<|") or not piece.isascii():
                continue
            if inside(piece):
                after_word.append(token)
                after_other.append(token)
            elif first(piece):
                after_other.append(token)
        return np.array(after_word, dtype=np.intp), np.array(after_other, dtype=np.intp)

    def name_starts(self, names) -> np.ndarray:
        """The tokens that begin one of ``names``: each name's prefixes, with a space before them or not."""
        found = {self.ids.get(lead + name[:k]) for name in names for k in range(1, len(name) + 1) for lead in ("", " ")}
        return np.array(sorted(t for t in found if t is not None), dtype=np.intp)

    def with_prefixes(self, token: int) -> tuple[int, ...]:
        """``token`` and every token whose text is a strict, not blank, prefix of its text."""
        if token not in self._prefixes:
            piece = self.pieces[token] if 0 <= token < len(self.pieces) else ""
            found = [token]
            for k in range(1, len(piece)):
                other = self.ids.get(piece[:k])
                if other is not None and piece[:k].strip() and other not in found:
                    found.append(other)
            self._prefixes[token] = tuple(found)
        return self._prefixes[token]

    def variants(self, token: int) -> tuple[int, ...]:
        """What a guard bans for ``token``: it and its prefixes, and where its text starts with a space, the same
        word without the space and that word's prefixes (the word glued to the one before it)."""
        if token not in self._variants:
            piece = self.pieces[token] if 0 <= token < len(self.pieces) else ""
            bare = self.ids.get(piece[1:]) if piece[:1] == " " and piece[1:].strip() else None
            found = self.with_prefixes(token) + (self.with_prefixes(bare) if bare is not None else ())
            self._variants[token] = tuple(dict.fromkeys(found))
        return self._variants[token]


class CopyGuard:
    """A logits processor (llama-cpp-python's ``fn(input_ids, scores) -> scores``) that forbids the next token
    when it would complete a run of ``n`` tokens found in the guarded text."""

    def __init__(self, tokens: Sequence[int], vocabulary: Vocabulary, n: int = GUARD_TOKENS):
        if n < 2:
            raise ValueError("a copy guard needs runs of at least 2 tokens")
        self.n, self.vocabulary = n, vocabulary
        self.table: dict[tuple[int, ...], set[int]] = {}
        tokens = [int(t) for t in tokens]
        for i in range(len(tokens) - n + 1):
            self.table.setdefault(tuple(tokens[i:i + n - 1]), set()).add(tokens[i + n - 1])

    def banned(self, history: Sequence[int]) -> set[int]:
        """The tokens that may not follow ``history`` (the prompt and what was generated so far)."""
        if len(history) < self.n - 1:
            return set()
        following = self.table.get(tuple(int(t) for t in history[-(self.n - 1):]))
        if not following:
            return set()
        return {u for t in following if not self.vocabulary.exempt(t) for u in self.vocabulary.variants(t)}

    def __call__(self, input_ids, scores):
        for token in self.banned(input_ids):
            scores[token] = BANNED
        return scores


class AnswerGuard:
    """One answer's logits processor: the ``CopyGuard`` of the guarded text, and the answer's own runs of
    ``n`` tokens (what it wrote once it may not write again). Made per call; the text's guard is shared."""

    def __init__(self, guard: CopyGuard, n: int = SELF_TOKENS):
        self.guard, self.n = guard, n
        self.start: int | None = None  # where the answer begins in ``input_ids`` (the prompt's length)
        self.own: dict[tuple[int, ...], set[int]] = {}

    def banned(self, history: Sequence[int]) -> set[int]:
        """The tokens that may not follow ``history``: the text's runs, and the runs of the answer so far."""
        if self.start is None:
            self.start = len(history)
        answer = [int(t) for t in history[self.start:]]  # the answer only: the prompt before it is thousands of tokens
        if len(answer) >= self.n:  # the run that ends in the token written last
            self.own.setdefault(tuple(answer[-self.n:-1]), set()).add(answer[-1])
        banned = self.guard.banned(history)
        following = self.own.get(tuple(answer[-(self.n - 1):])) if len(answer) >= self.n - 1 else None
        vocabulary = self.guard.vocabulary
        return banned | {u for t in following or () if not vocabulary.exempt(t) for u in vocabulary.variants(t)}

    def __call__(self, input_ids, scores):
        for token in self.banned(input_ids):
            scores[token] = BANNED
        return scores


class PlainWordGuard:
    """A logits processor for Chinese prose: no token may start a lower-case Latin word, nor, when ``names`` are
    given, a capitalised one that does not begin one of them (see the module's text)."""

    def __init__(self, vocabulary: Vocabulary, names=None):
        self.vocabulary = vocabulary
        self.after_word, self.after_other = vocabulary.word_starts()
        if names is not None:  # the names' own starts are free, even lower-case ones ("iNGP", "nerf2nerf")
            allowed = vocabulary.name_starts(names)
            self.after_word, self.after_other = (
                np.setdiff1d(np.union1d(plain, capitals), allowed)
                for plain, capitals in zip((self.after_word, self.after_other), vocabulary.capital_starts()))

    def __call__(self, input_ids, scores):
        pieces = self.vocabulary.pieces
        last = pieces[int(input_ids[-1])][-1:] if len(input_ids) and 0 <= int(input_ids[-1]) < len(pieces) else ""
        scores[self.after_word if last.isascii() and last.isalnum() else self.after_other] = BANNED
        return scores


#: A lower-case letter after something that is not a letter or digit, inside a token (" pruning", "-view").
_INNER_WORD_START = re.compile(r"(?<=[^A-Za-z0-9])[a-z]")
