"""The facts about a paper, as small typed objects passed between the pipeline's stages.

``Record`` is what a source (arXiv, or an upload) says about a paper; ``Paper`` is what the PDF extractor read from
the file itself. Facts shown to users (title, authors, links, dates) come from these, never from the model.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Section:
    """One heading of the paper and the body text under it."""

    heading: str  #: heading as printed, numbering kept ("3.1 Training")
    level: int  #: 1 = top-level section, 2 = subsection, ...
    page: int  #: 1-based page where the heading stands
    text: str = ""  #: body text in reading order, figure and table text excluded
    page_breaks: list[tuple[int, int]] = field(default_factory=list)  #: (offset in ``text``, 1-based page) where text from a later page begins


@dataclass
class Figure:
    """A numbered figure: its caption and the region of the page it occupies."""

    label: str  #: normalised label, "Figure 3"
    caption: str  #: full caption text, label included as printed
    page: int  #: 1-based page
    bbox: tuple[float, float, float, float] | None = None  #: figure region in PDF points (x0, y0, x1, y1)
    image: str | None = None  #: path of the PNG crop of the region, when written


@dataclass
class Table:
    """A numbered table: its caption, where it stands, a PNG crop and its cells."""

    label: str  #: normalised label, "Table 2" (Roman numerals kept as printed: "Table IV")
    caption: str  #: full caption text, label included as printed
    page: int  #: 1-based page
    bbox: tuple[float, float, float, float] | None = None  #: table region in PDF points (x0, y0, x1, y1)
    image: str | None = None  #: path of the PNG crop of the region, when written
    rows: list[list[str]] = field(default_factory=list)  #: the cells, row by row (the first row as printed first)
    markdown: str = ""  #: the cells as a Markdown table (the first row is the header); empty when unread


@dataclass
class Paper:
    """What the extractor read from a PDF."""

    title: str = ""  #: title, multi-line titles joined
    authors: list[str] = field(default_factory=list)  #: author names in printed order
    affiliations: list[str] = field(default_factory=list)  #: institutions of the authors, in order of appearance
    first_author_affiliations: list[str] = field(default_factory=list)  #: the first author's (among affiliations)
    abstract: str = ""  #: abstract text
    sections: list[Section] = field(default_factory=list)  #: headings in reading order with their text
    figures: list[Figure] = field(default_factory=list)  #: numbered figures
    tables: list[Table] = field(default_factory=list)  #: numbered tables
    links: list[str] = field(default_factory=list)  #: URLs printed or linked in the paper (code, project pages)
    code: str | None = None  #: the paper's own code repository or project page (None when it releases none)
    pages: int = 0  #: page count
    first_page_image: str | None = None  #: PNG of page 1, the "paper screenshot"
    warnings: list[str] = field(default_factory=list)  #: what could not be read
    seconds: float = 0.0  #: extraction time, crops included
    path: str | None = None  #: the PDF that was read
    created: str = ""  #: the PDF's creation date as its metadata gives it ("D:20200412..."), if any
    doi: str = ""  #: the paper's DOI as the PDF's metadata states it (XMP prism:doi, or "doi:" in the subject)
    arxiv_stamp: str = ""  #: arXiv's margin stamp on page 1 ("arXiv:2210.00379v2 [cs.CV] 8 Nov 2022"), if any

    def to_dict(self) -> dict:
        """A JSON-ready dict (the ``extract --json`` contract)."""
        return asdict(self)


@dataclass
class Record:
    """What the source says about a paper: arXiv metadata, or the PDF's own facts for an upload."""

    title: str  #: title as the source gives it
    authors: list[str]  #: author names in the source's order
    abstract: str = ""  #: abstract
    id: str | None = None  #: arXiv id without version ("2401.16144"); None for an upload
    version: int | None = None  #: arXiv version number
    comment: str = ""  #: arXiv comment ("CVPR 2024, 10 pages")
    journal_ref: str = ""  #: journal reference, if any
    doi: str = ""  #: DOI, if any
    categories: list[str] = field(default_factory=list)  #: arXiv categories
    primary_category: str = ""  #: primary arXiv category
    published: str = ""  #: first version's date, ISO 8601
    updated: str = ""  #: this version's date, ISO 8601
    abs_url: str = ""  #: abstract page link
    pdf_url: str = ""  #: PDF link
    pdf_path: str | None = None  #: local PDF file (in the cache, or the upload)

    @property
    def versioned_id(self) -> str | None:
        """"2401.16144v2", or None for an upload."""
        if not self.id:
            return None
        return f"{self.id}v{self.version}" if self.version else self.id

    def to_dict(self) -> dict:
        """A JSON-ready dict (the ``info --json`` contract)."""
        return asdict(self)
