"""chatpaper: bilingual digests of research papers, facts from the record, prose from a pluggable LLM."""

__version__ = "0.1.0"
