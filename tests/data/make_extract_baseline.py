"""Record the extractor's per-paper scores on ../shared/corpus as the regression baseline.

Run from the repository root after an improvement: ``python tests/data/make_extract_baseline.py``.
tests/test_extract_corpus.py fails when a paper later scores below what is written here.
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.extract_scoring import BASELINE, METRICS, ROOT, load_scorer, score_pdf  # noqa: E402


def main() -> int:
    scorer = load_scorer()
    corpus = ROOT.parent / "shared" / "corpus"
    out = {}
    for pdf in sorted(corpus.glob("*.pdf")):
        if not pdf.with_suffix(".json").exists():
            continue
        with tempfile.TemporaryDirectory() as tmp:
            row = score_pdf(pdf, Path(tmp), scorer)
        out[pdf.stem] = {k: row[k] for k in METRICS + ("fig_false",)}
        print(pdf.stem, out[pdf.stem])
    BASELINE.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {BASELINE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
