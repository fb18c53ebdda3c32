"""BibTeX of a digest: parsed back with bibtexparser, for a recorded arXiv paper and for uploads."""
from __future__ import annotations

import json
import subprocess
import sys

import bibtexparser
import pymupdf
import pytest

from chatpaper.bibtex import bibtex_entry
from chatpaper.paper import Paper, Record
from chatpaper.pipeline import extract
from chatpaper.render import render_markdown
from chatpaper.settings import Settings
from tests.conftest import ROOT


def parse_one(text: str):
    """The single entry of ``text``; bibtexparser must report no block it failed to read."""
    library = bibtexparser.parse_string(text)
    assert not library.failed_blocks, [b.error for b in library.failed_blocks]
    assert len(library.entries) == 1, text
    return library.entries[0]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chatpaper", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_arxiv_record_gives_misc_with_eprint_journal_and_doi(arxiv_server):
    # 1111.2011v2 (recorded answer) has a journal reference and a DOI.
    proc = cli("info", "1111.2011v2", "--bibtex")
    assert proc.returncode == 0, proc.stderr
    entry = parse_one(proc.stdout)
    fields = entry.fields_dict
    assert entry.entry_type == "misc"
    assert fields["eprint"].value == "1111.2011"
    assert fields["archivePrefix"].value == "arXiv"
    assert fields["primaryClass"].value == "cond-mat.str-el"
    assert fields["journal"].value == "Phys. Rev. B 85, 115117 (2012)"
    assert fields["doi"].value == "10.1103/PhysRevB.85.115117"
    assert fields["year"].value == "2011"
    assert fields["url"].value == "https://arxiv.org/abs/1111.2011v2"
    record = json.loads(cli("info", "1111.2011v2", "--json").stdout)
    assert fields["title"].value == record["title"]
    assert fields["author"].value.split(" and ") == record["authors"]
    assert entry.key.startswith(record["authors"][0].split()[-1].lower() + "2011")


def test_corpus_upload_gives_what_the_pdf_says(corpus_dir):
    pdf = corpus_dir / "specter_acl2020.pdf"
    truth = json.loads(pdf.with_suffix(".json").read_text())
    proc = cli("info", str(pdf), "--bibtex")
    assert proc.returncode == 0, proc.stderr
    entry = parse_one(proc.stdout)
    fields = entry.fields_dict
    assert entry.entry_type == "misc"
    assert fields["title"].value == truth["title"]
    assert fields["author"].value.split(" and ")[:2] == truth["authors"][:2]
    assert "eprint" not in fields and "archivePrefix" not in fields
    assert fields["year"].value == "2020"  # the PDF's creation date (D:20200519...)


def test_upload_of_an_arxiv_pdf_reads_its_margin_stamp(corpus_dir):
    # arXiv stamps "arXiv:2210.00379v2 [cs.CV] 8 Nov 2022" down the left margin of page 1.
    record, paper = extract(None, corpus_dir / "nerf_survey_gao2022.pdf", Settings.from_env())
    fields = parse_one(bibtex_entry(record, paper)).fields_dict
    assert (fields["eprint"].value, fields["primaryClass"].value, fields["year"].value) == ("2210.00379", "cs.CV", "2022")
    assert fields["url"].value == "https://arxiv.org/abs/2210.00379v2"


def test_upload_with_a_doi_in_its_metadata(tmp_path):
    path = tmp_path / "doi.pdf"
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 90), "Braces {and} 100% Ampersands & Co", fontsize=20, fontname="hebo")
    page.insert_text((72, 120), "Ada Lovelace and Alan Turing", fontsize=11)
    body = "We write a paper whose record is only its PDF. " * 6
    y = 180
    for heading in ("Abstract", "1 Introduction", "2 Method"):
        page.insert_text((72, y), heading, fontsize=12, fontname="hebo")
        page.insert_textbox(pymupdf.Rect(72, y + 8, 520, y + 90), body, fontsize=10)
        y += 110
    doc.set_metadata({"creationDate": "D:20200412101500Z", "title": "x"})
    doc.set_xml_metadata('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
                         '<rdf:Description xmlns:prism="http://prismstandard.org/namespaces/basic/2.0/">'
                         '<prism:doi>10.1145/3366423.3380159</prism:doi></rdf:Description></rdf:RDF></x:xmpmeta>')
    doc.save(path)
    record, paper = extract(None, path, Settings.from_env())
    text = bibtex_entry(record, paper)
    fields = parse_one(text).fields_dict
    assert fields["doi"].value == "10.1145/3366423.3380159"
    assert fields["year"].value == "2020"
    # BibTeX's special characters are escaped, so the entry still parses to one title.
    assert fields["title"].value == r"Braces {and} 100\% Ampersands \& Co"


@pytest.mark.parametrize("title", ["Unbalanced } brace {", "Math $O(n^2)$ and \\emph{words} # 1"])
def test_odd_titles_still_parse(title):
    record = Record(title=title, authors=["Jane Q. Doe", "Barnes and Noble Team"], id="2401.00001", version=1,
                    published="2024-01-02", primary_category="cs.LG")
    entry = parse_one(bibtex_entry(record))
    assert entry.fields_dict["author"].value == "Jane Q. Doe and {Barnes and Noble Team}"
    assert entry.key == "doe2024unbalanced" or entry.key == "doe2024math"


def test_markdown_digest_carries_the_entry():
    record = Record(title="A Paper", authors=["Ann Lee"], id="2401.00002", version=2, published="2024-01-03",
                    primary_category="cs.CL", abs_url="https://arxiv.org/abs/2401.00002v2")
    markdown = render_markdown(record, Paper(), {})
    block = markdown.split("## BibTeX\n\n```bibtex\n", 1)[1].split("```", 1)[0]
    assert parse_one(block).fields_dict["eprint"].value == "2401.00002"
