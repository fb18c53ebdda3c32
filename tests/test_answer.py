"""Reading a model's answer: JSON and labelled text in their variations, an answer cut off, parts held to their
bounds in whole sentences."""
from __future__ import annotations

import json

import pytest

from chatpaper import answer


@pytest.mark.parametrize("reply", [
    "SUMMARY: A.\nTAKEAWAYS:\n- x\n- y\nKEYWORDS: a, b\nBACKGROUND: B.\nPAST METHODS: P.\nAPPROACH: Q.\nPERFORMANCE: R.",
    "Sure! Here it is.\n**Summary**: A.\n## Key Takeaways\n1. x\n2. y\n**Keywords**: a; b\n"
    "(1) Background: B.\n(2) Past methods: P.\n(3) Proposed method: Q.\n(4) Performance: R.",
    "- **SUMMARY**：A.\n- **TAKEAWAYS**：(1) x (2) y\n- KEYWORDS：a、b\n- 研究背景：B.\n- 过去的方法：P.\n- 本文方法：Q.\n- 性能表现：R.",
    '{"summary": "A.", "takeaways": ["x", "y"], "keywords": ["a", "b"], "background": "B.", "past_methods": "P.", '
    '"approach": "Q.", "performance": "R."}',
    '```json\n{"Summary": "A.", "Key Takeaways": ["x", "y"], "keywords": "a, b", "Background": "B.", '
    '"Past methods": "P.", "approach": ["Q."], "performance": "R."}\n```',
])
def test_parse_reads_json_and_labelled_text_in_their_variations(reply):
    parts = ["summary", "takeaways", "keywords", "background", "past_methods", "approach", "performance"]
    got = answer.parse_answer(reply, parts)
    assert got.values == {"summary": "A.", "takeaways": ["x", "y"], "keywords": ["a", "b"], "background": "B.",
                          "past_methods": "P.", "approach": "Q.", "performance": "R."}
    assert got.structured == reply.lstrip("`json\n").startswith("{") and got.cut == []


def test_a_json_answer_cut_off_keeps_what_it_completed_and_marks_the_part_it_was_writing():
    got = answer.parse_answer('{"significance": "It matters.", "innovation": "Grouping the views and', ["significance",
                                                                                                           "innovation", "workload"])
    assert got.values == {"significance": "It matters.", "innovation": "Grouping the views and…"}
    assert got.cut == ["innovation"]


def test_parts_are_held_to_their_bounds_in_whole_sentences():
    long = " ".join(f"Sentence number {w} says a thing." for w in ("one", "two", "three", "four"))
    got = answer.parse_answer(json.dumps({"summary": long, "background": long,
                                          "takeaways": [f"Point {i}." for i in range(9)]}),
                              ["summary", "background", "takeaways"])
    assert got.values["summary"] == "Sentence number one says a thing."
    assert got.values["background"] == "Sentence number one says a thing. Sentence number two says a thing."
    assert got.values["takeaways"] == [f"Point {i}." for i in range(5)]
    assert got.cut == []  # whole sentences left out: shorter, not cut
    word = answer.bound_prose("x" * 10 + " " + "y" * 400, 2, 260)
    assert word == ("x" * 10 + "…", True)


def test_an_answer_cut_between_two_parts_keeps_the_parts_it_finished():
    """The token limit fell just after a comma and the next key's quote (', "'): every finished part is kept (the
    whole answer was lost before, and the group_fisher digest lost its keywords with it)."""
    for tail in (', "', ', "perfor', ', "performance"', ', "performance": '):
        text = '{"takeaways": ["One.", "Two."], "keywords": ["pruning", "masks", "Fisher"]' + tail
        got = answer.parse_answer(text, ["takeaways", "keywords", "performance"])
        assert got.values["takeaways"] == ["One.", "Two."] and got.values["keywords"] == ["pruning", "masks", "Fisher"]
        assert "performance" not in got.values


@pytest.mark.parametrize("raw, text", [
    ("NeRFs keep colour and light together, but light varies, .", "NeRFs keep colour and light together, but light varies."),
    ("It groups the views; .", "It groups the views."),
    ("它把视图分组，。", "它把视图分组。"),
    ("Results: PSNR 31.2, SSIM 0.93.", "Results: PSNR 31.2, SSIM 0.93."),  # commas inside stay
])
def test_a_stop_right_after_a_comma_loses_the_comma(raw, text):
    assert answer.clean_text(raw) == text
