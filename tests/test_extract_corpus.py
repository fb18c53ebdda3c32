"""Every corpus paper must score at least what it scored when the baseline was recorded (scorer's own rules)."""
from __future__ import annotations

import json

import pytest

from tests.conftest import CORPUS
from tests.extract_scoring import BASELINE, METRICS, load_scorer, score_pdf

PAPERS = sorted(p.stem for p in CORPUS.glob("*.pdf") if p.with_suffix(".json").exists())


@pytest.fixture(scope="module")
def scorer():
    return load_scorer()


@pytest.fixture(scope="module")
def baseline() -> dict:
    return json.loads(BASELINE.read_text(encoding="utf-8"))


def test_baseline_covers_corpus(baseline):
    assert sorted(baseline) == PAPERS, "re-run tests/data/make_extract_baseline.py after the corpus changed"


@pytest.mark.parametrize("paper", PAPERS)
def test_no_regression(paper, corpus_dir, tmp_path, scorer, baseline):
    row = score_pdf(corpus_dir / f"{paper}.pdf", tmp_path, scorer)
    want = baseline[paper]
    worse = [f"{k}: {row[k]} < {want[k]}" for k in METRICS
             if want[k] is not None and (row[k] is None or float(row[k]) < float(want[k]) - 1e-9)]
    if row["fig_false"] > want["fig_false"]:
        worse.append(f"false figures: {row['fig_false']} > {want['fig_false']}")
    assert not worse, f"{paper} regressed: " + "; ".join(worse)


def test_corpus_meets_issue_thresholds(baseline):
    """The recorded scores themselves meet issue 3's accuracy targets (so a weak baseline cannot hide)."""
    rows = list(baseline.values())
    mean = lambda key: sum(float(r[key]) for r in rows if r[key] is not None) / len([r for r in rows if r[key] is not None])  # noqa: E731
    truth = sum(len(json.loads((CORPUS / f"{p}.json").read_text())["figures"]) for p in baseline)
    hits = sum(r["fig_hits"] for r in rows)
    assert mean("title") >= 0.95 and mean("authors_f1") >= 0.90 and mean("abstract") >= 0.95
    assert mean("headings_soft_f1") >= 0.90
    assert hits / truth >= 0.90 and hits / (hits + sum(r["fig_false"] for r in rows)) >= 0.90
    assert sum(r["fig_images"] for r in rows) / truth >= 0.90
    # Issue 12: affiliations, the paper's own code, crops that hold only their figure.
    assert mean("aff_recall") >= 0.95 and mean("code") >= 0.95
    assert sum(r["crops_clean"] for r in rows) / sum(r["fig_hits"] for r in rows) >= 0.97
