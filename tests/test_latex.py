"""LaTeX in arXiv titles and abstracts: text mode becomes text, math stays, plain text is left alone; on the issue's
examples, on generated cases of each rule, and on real recorded abstracts fetched through the loopback arXiv."""
from __future__ import annotations

import pytest

from chatpaper.arxiv_source import ArxivClient
from chatpaper.latex import latex_to_text
from chatpaper.settings import Settings


@pytest.mark.parametrize("latex, text", [
    (r"improves accuracy by 30\% on $\mathcal{O}(n)$ inputs", r"improves accuracy by 30% on $\mathcal{O}(n)$ inputs"),
    (r"the \emph{oracle problem} and \textbf{\textit{nested}} fonts", "the oracle problem and nested fonts"),
    (r"{\em old} style, \href{https://x.org}{a link}, \url{x.org}", "old style, a link, x.org"),
    (r"Schr\"odinger, Erd\H{o}s, G\'{e}rard, \c{C}ela, \v Sim, na\"{\i}ve", "Schrödinger, Erdős, Gérard, Çela, Šim, naïve"),
    (r"the ``Holy Trinity'' of `tests'", "the \u201cHoly Trinity\u201d of \u2018tests'"),
    (r"pages 3--5, Jensen--Shannon --- and more", "pages 3–5, Jensen–Shannon — and more"),
    (r"Fig.~3, i.i.d.\ samples, A\&B, \#1, x\_y, \$5", "Fig. 3, i.i.d. samples, A&B, #1, x_y, $5"),
    (r"inline \(x^2\) and display \[\sum_i x_i\]", r"inline $x^2$ and display $$\sum_i x_i$$"),
    (r"math keeps \% and \emph{x}: $50\%$ and $\emph{a}$", r"math keeps % and x: $50\%$ and $\emph{a}$"),
])
def test_each_rule(latex, text):
    assert latex_to_text(latex) == text


@pytest.mark.parametrize("plain", [
    "a bare 30% is percent, not a comment, and the rest stays",
    "plain sub-scripts |U_{e3}|^2 and (1^{+1.39}_{-0.59}) keep their braces",
    r"an unknown \foo{command} is left as typed, and so is a lone backslash \ ",
    "C++ -- no, C++-like; well-known; x->y",
])
def test_what_is_not_latex_text_mode_is_kept(plain):
    out = latex_to_text(plain)
    for word in ("30%", "|U_{e3}|^2", "(1^{+1.39}_{-0.59})", r"\foo{command}", "C++", "well-known", "x->y"):
        if word in plain:
            assert word in out


@pytest.mark.parametrize("arxiv_id, present, absent", [
    ("2501.17461v1", ["30% for generating", "8.2%"], ["\\%"]),
    ("1904.08007v1", ["face the oracle problem."], ["\\emph"]),
    ("2106.13414v2", [r"$\{1, \dots, n\}$", r"$\varepsilon_1$-close"], []),
    ("astro-ph/0601001v1", ["3\u20135 day periods", "(1^{+1.39}_{-0.59})"], ["3--5"]),
])
def test_recorded_abstracts(arxiv_server, arxiv_id, present, absent):
    with ArxivClient(Settings.from_env()) as client:
        base, version = arxiv_id.rsplit("v", 1)
        record = client.fetch_record(base, int(version))
    for text in present:
        assert text in record.abstract
    for text in absent:
        assert text not in record.abstract
