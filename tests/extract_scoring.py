"""Helpers shared by the extraction tests: the scorer's own functions, and the corpus papers scored in-process."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from chatpaper.pdf import extract_paper

ROOT = Path(__file__).resolve().parent.parent
SCORER = ROOT.parent / "shared" / "tools" / "score_extraction.py"
BASELINE = Path(__file__).resolve().parent / "data" / "extract_baseline.json"
# The per-paper numbers a regression test compares; higher is better for each.
METRICS = ("title", "title_soft", "authors_f1", "abstract", "headings_f1", "headings_soft_f1", "fig_hits", "fig_images",
           "aff_recall", "aff_precision", "code", "crops_clean")


def load_scorer():
    """The shared scorer as a module, so tests judge with exactly its rules."""
    spec = importlib.util.spec_from_file_location("score_extraction", SCORER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def score_pdf(pdf: Path, images_dir: Path, scorer=None) -> dict:
    """Extract one corpus paper and score it against its ground truth; adds 'fig_false' (predicted, not matched)."""
    scorer = scorer or load_scorer()
    truth = json.loads(pdf.with_suffix(".json").read_text(encoding="utf-8"))
    pred = extract_paper(pdf, images_dir=images_dir).to_dict()
    row = scorer.score_paper(pred, truth, pdf)  # with the PDF: the crops are checked too
    row["fig_false"] = row["fig_pred"] - row["fig_hits"]
    row["seconds_per_page"] = pred["seconds"] / max(1, pred["pages"])
    return row
