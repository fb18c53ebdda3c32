"""Which sections a digest question reads: headings classified by meaning and position (real papers), the pieces of
each task, condensing to a budget in whole sentences, sentence splitting."""
from __future__ import annotations

from chatpaper import sections
from chatpaper.paper import Paper
from chatpaper.pdf import extract_paper
from tests.fakes import ScriptedBackend
from tests.sample_paper import make_paper

FIXTURE_PDF = "1111.2011v2.pdf"


def role_of(paper: Paper, prefix: str) -> str:
    """The role of the first section whose heading starts with ``prefix`` (robust to heading-text fixes)."""
    roles = sections.classify_sections(paper.sections)
    return next(r for s, r in zip(paper.sections, roles) if s.heading.lower().startswith(prefix.lower()))


def test_headings_are_classified_by_meaning_and_position(pynerf, arxiv_fixtures):
    assert role_of(pynerf, "1 Introduction") == "intro" and role_of(pynerf, "2 Related Work") == "related"
    assert role_of(pynerf, "3.2 Multiscale") == "method"  # no method word: the parent "3 Approach" decides
    assert role_of(pynerf, "4.2 Synthetic") == "experiments" and role_of(pynerf, "7 Conclusion") == "conclusion"
    assert role_of(pynerf, "References") == "back" and role_of(pynerf, "B Additional") == "back"
    physics = extract_paper(arxiv_fixtures / FIXTURE_PDF)
    assert role_of(physics, "I. Introduction") == "intro" and role_of(physics, "V. Discussion") == "conclusion"
    assert role_of(physics, "III. Critical point") == "method"  # no method word: between introduction and end


def test_task_pieces_follow_the_roles():
    record, paper = make_paper()
    labels = {task: [p.label for p in sections.task_pieces(paper, record.abstract, task)] for task in sections.TASK_ROLES}
    assert labels == {"summary": ["Abstract", "1 Introduction", "2 Related Work"],
                      "methods": ["3 Divide and Conquer"], "conclusion": ["4 Experiments", "5 Conclusion"]}


def test_condensing_keeps_whole_sentences(pynerf):
    text = next(s.text for s in pynerf.sections if s.heading == "3.2 Multiscale sampling")
    sentences = set(sections.split_sentences(text))
    short = sections.condense(text, 300, ScriptedBackend([]).count_tokens)
    kept = [s for s in short.split(" … ")]
    assert ScriptedBackend([]).count_tokens(short) <= 300 + len(kept)
    for chunk in kept:
        assert all(s in sentences for s in sections.split_sentences(chunk)), chunk
    assert short.startswith(sections.split_sentences(text)[0])


def test_sentence_split_respects_abbreviations():
    text = "We follow Mildenhall et al. and use Fig. 3 as e.g. shown. Results improve. 中文句子。下一句。"
    assert sections.split_sentences(text) == [
        "We follow Mildenhall et al. and use Fig. 3 as e.g. shown.", "Results improve.", "中文句子。", "下一句。"]
