"""Specific facts the extractor must read from real corpus papers (../shared/corpus)."""
from __future__ import annotations

import struct

import pymupdf
import pytest

from chatpaper.paper import Paper
from chatpaper.pdf import extract_paper
from tests.conftest import CORPUS

_cache: dict[str, Paper] = {}


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return tmp_path_factory.mktemp("extract-images")


@pytest.fixture(scope="module")
def paper(images):
    """Extract a corpus paper once per module (figure crops included)."""
    def get(name: str) -> Paper:
        if name not in _cache:
            _cache[name] = extract_paper(CORPUS / f"{name}.pdf", images_dir=images / name)
        return _cache[name]
    return get


def _top(p: Paper) -> list[str]:
    return [s.heading for s in p.sections if s.level == 1]


def _png_size(path: str) -> tuple[int, int]:
    with open(path, "rb") as fh:
        head = fh.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_ieee_roman_small_caps_headings_and_teaser(paper):
    p = paper("nerf2nerf_registration")
    assert p.title == "nerf2nerf: Pairwise Registration of Neural Radiance Fields"
    assert p.authors == ["Lily Goli", "Daniel Rebain", "Sara Sabour", "Animesh Garg", "Andrea Tagliasacchi"]
    assert _top(p) == ["I. INTRODUCTION", "II. RELATED WORK", "III. METHOD", "IV. RESULTS", "V. CONCLUSIONS", "REFERENCES"]
    assert p.abstract.startswith("We introduce a technique for pairwise registration of neural fields")
    assert "Keypoint" not in p.abstract  # the teaser's labels are not part of the front matter
    subsections = [s.heading for s in p.sections if s.level == 2]
    assert "A. Surface Field" in subsections
    assert [(f.label, f.page) for f in p.figures][-3:] == [("Figure 6", 6), ("Figure 7", 6), ("Figure 8", 6)]
    assert "https://nerf2nerf.github.io" in p.links


def test_teaser_region_stays_below_the_author_block(paper):
    p = paper("nerf2nerf_registration")
    fig1 = p.figures[0]
    assert fig1.page == 1 and fig1.caption.startswith("Fig. 1: Teaser")
    assert fig1.bbox[1] > 140  # below the affiliations line, above the caption
    assert fig1.bbox[3] < 345


def test_side_by_side_figures_stay_in_their_columns(paper):
    p = paper("nerf2nerf_registration")
    fig4, fig5 = (f for f in p.figures if f.page == 5)
    assert fig4.bbox[2] < 306 < fig5.bbox[0]  # the gutter of a 612 pt page separates them


def test_author_grid_is_read_row_by_row(paper):
    p = paper("safety_alignment_few_tokens_deep")
    assert p.authors == ["Xiangyu Qi", "Ashwinee Panda", "Kaifeng Lyu", "Xiao Ma", "Subhrajit Roy", "Ahmad Beirami",
                         "Prateek Mittal", "Peter Henderson"]
    assert "Princeton University" in p.affiliations


def test_ieee_membership_and_arxiv_stamp_are_not_names(paper):
    p = paper("nerf_survey_gao2022")
    assert p.title == "NeRF: Neural Radiance Field in 3D Vision, A Comprehensive Review"
    assert p.authors == ["Kyle (Yilin) Gao", "Yina Gao", "Hongjie He", "Dening Lu", "Linlin Xu", "Jonathan Li"]
    assert p.abstract.startswith("Neural Radiance Field (NeRF), a new novel view synthesis")
    assert "Index Terms" not in p.abstract


def test_vector_plot_beside_abstract_is_a_figure_in_the_right_column(paper):
    p = paper("group_fisher_pruning_icml2021")
    fig1 = p.figures[0]
    assert (fig1.label, fig1.page) == ("Figure 1", 1)
    assert fig1.bbox[0] > 280  # right column of a 612 pt page
    assert "Top1 Acc" not in p.abstract
    assert len(p.authors) == 10 and p.authors[0] == "Liyang Liu"
    assert _top(p)[-2:] == ["Acknowledgements", "References"]


def test_body_sentence_starting_with_fig_is_not_a_caption(paper):
    p = paper("image_denoising_convnets_nips2008")
    assert [(f.label, f.page) for f in p.figures] == [("Figure 1", 3), ("Figure 2", 4), ("Figure 3", 5), ("Figure 4", 6)]
    assert _top(p)[0] == "1 Background"


def test_tables_and_algorithms_are_not_figures(paper):
    p = paper("parallel_topic_models_vldb2010")
    assert [f.label for f in p.figures] == ["Figure 1", "Figure 2", "Figure 3", "Figure 4"]
    assert _top(p) == ["1. INTRODUCTION", "2. LATENT DIRICHLET ALLOCATION", "3. PARALLELIZATION", "4. IMPLEMENTATION",
                       "5. EXPERIMENTS", "6. SUMMARY AND DISCUSSION", "Acknowledgments", "7. REFERENCES"]


def test_two_column_reading_order_after_abstract_heading(paper):
    p = paper("phrase_generation_vectors_acl2014")
    assert p.title == "How to make words with vectors: Phrase generation in distributional semantics"
    assert p.abstract.startswith("We introduce the problem of generation in distributional semantics")
    assert "Besides these theoretical considerations" not in p.abstract
    intro = p.sections[0]
    assert intro.heading == "1 Introduction" and intro.page == 1


def test_supplement_restarting_figure_numbers_keeps_repeated_labels(paper):
    p = paper("segnext_segmentation")
    assert [(f.label, f.page) for f in p.figures] == [("Figure 1", 2), ("Figure 2", 4), ("Figure 3", 5), ("Figure 4", 8),
                                                      ("Figure 1", 17), ("Figure 2", 18)]
    assert "Appendix for ”SegNeXt: Rethinking Convolutional Attention Design for Semantic Segmentation”" in _top(p)


def test_anonymous_review_copy_has_no_authors_and_no_title_repeat_heading(paper):
    p = paper("novel_view_synthesis_diffusion_3dim")
    assert p.title.lower() == "novel view synthesis with diffusion models"
    assert p.authors == []
    assert _top(p)[-3:] == ["REFERENCES", "6 ARCHITECTURE DETAILS", "7 HYPERPARAMETERS"]


def test_section_text_is_in_reading_order_without_figure_text(paper):
    p = paper("mapreduce_osdi2004")
    intro = p.sections[0]
    assert intro.heading == "1 Introduction"
    assert intro.text.startswith("Over the past five years, the authors and many others at Google")
    refs = next(s for s in p.sections if s.heading == "References")
    assert refs.text.startswith("[1]")
    assert "References" not in intro.text


def test_crops_and_first_page_are_pngs_of_the_region(paper):
    p = paper("contextualising_implicit_representations")
    assert p.pages == 11 and p.seconds > 0
    w, h = _png_size(p.first_page_image)
    assert 600 < w < 1000 and h > w  # page 1 at about 100 dpi, portrait
    for fig in p.figures:
        w, h = _png_size(fig.image)
        x0, y0, x1, y1 = fig.bbox
        assert abs(w - (x1 - x0) * 150 / 72) <= 2 and abs(h - (y1 - y0) * 150 / 72) <= 2


def test_code_listing_figures_without_graphics_get_a_region(paper):
    p = paper("copra_theorem_proving")
    assert [f.label for f in p.figures] == [f"Figure {n}" for n in range(1, 13)]
    assert all(f.bbox and f.image for f in p.figures)
    assert p.title == "A LANGUAGE-AGENT APPROACH TO FORMAL THEOREM-PROVING"


def test_render_size_is_capped_for_a_huge_region(tmp_path):
    from chatpaper.pdf.figures import render_crop

    doc = pymupdf.open()
    page = doc.new_page(width=14000, height=14000)
    page.draw_rect(pymupdf.Rect(10, 10, 13990, 13990), color=(1, 0, 0), width=20)
    out = render_crop(page, (0, 0, 14000, 14000), tmp_path / "big.png")
    assert max(_png_size(out)) <= 4000


def test_300_page_pdf_stays_under_500_mb(corpus_dir):
    """A 300-page PDF joined from the corpus, extracted with crops in a child process, peaks below ~500 MB RSS."""
    from benchmarks.memory import bench_memory

    result = bench_memory(corpus_dir, pages=300)
    assert result["pages"] == 300 and result["figures"] > 50
    assert result["peak_rss_mb"] < 500


def _story_pdf(path, html: str, columns: int = 1) -> None:
    """Lay out HTML into a letter-size PDF (one or two columns) with PyMuPDF's Story."""
    story = pymupdf.Story(html)
    writer = pymupdf.DocumentWriter(str(path))
    more = 1
    while more:
        dev = writer.begin_page(pymupdf.paper_rect("letter"))
        boxes = [pymupdf.Rect(72, 72, 540, 720)] if columns == 1 else [pymupdf.Rect(54, 72, 300, 720), pymupdf.Rect(312, 72, 558, 720)]
        for box in boxes:
            if more:
                more, _ = story.place(box)
                story.draw(dev)
        writer.end_page()
    writer.close()


def test_generated_paper_with_unnumbered_headings(tmp_path):
    """Rules come from typography: a paper nobody tuned for (unnumbered bold headings, marks on names)."""
    para = "<p style='font-size:10pt'>" + "We study how structure helps, and we measure it carefully on many tasks. " * 12 + "</p>"
    heads = ["Introduction", "Related Work", "Method", "Experiments", "Conclusion", "References"]
    html = ("<h1 style='font-size:20pt;text-align:center'>Learning Structured Representations from Raw Data</h1>"
            "<p style='text-align:center;font-size:12pt'>Alice Martin<sup>1</sup>, Bob Chen<sup>2</sup> and Carla Díaz<sup>1</sup></p>"
            "<p style='text-align:center;font-size:10pt'><sup>1</sup>University of Somewhere <sup>2</sup>Example Research Lab</p>"
            "<p style='text-align:center;font-size:12pt'><b>Abstract</b></p>"
            "<p style='font-size:10pt'>Structured representations matter for generalisation. " + "More text follows here. " * 10 + "</p>"
            + "".join(f"<p style='font-size:12pt'><b>{h}</b></p>{para}{para}" for h in heads))
    path = tmp_path / "generated.pdf"
    _story_pdf(path, html, columns=2)
    p = extract_paper(path)
    assert p.title == "Learning Structured Representations from Raw Data"
    assert p.authors == ["Alice Martin", "Bob Chen", "Carla Díaz"]
    assert p.abstract.startswith("Structured representations matter for generalisation.")
    assert _top(p) == heads
    assert not p.figures
