"""Typed errors whose messages say what went wrong and what to do next.

Everything the pipeline raises on purpose is a ``ChatPaperError``; the CLI prints its message as one line and the app
shows it as ``gr.Error``. Anything else is a bug.
"""
from __future__ import annotations


class ChatPaperError(Exception):
    """Base class: a failure with a message meant for the user.

    ``detail`` holds what only the operator may see (a server's address, its raw answer): the CLI prints it, the
    app writes it to the log and never to the page, where the visitor may be a stranger.
    """

    def __init__(self, message: str = "", *, detail: str = ""):
        super().__init__(message)
        self.detail = detail


class InvalidSource(ChatPaperError, ValueError):
    """The text given as a paper source is not an arXiv id, an arXiv link or a PDF path."""


class PaperNotFound(ChatPaperError):
    """arXiv has no paper with this id (or it was withdrawn)."""


class PaperWithdrawn(PaperNotFound):
    """The authors withdrew this version of the paper from arXiv."""


class NetworkError(ChatPaperError):
    """A remote service could not be reached, timed out or kept failing."""


class PdfError(ChatPaperError):
    """The file is not a PDF we can read (corrupt, encrypted, too large, not a PDF at all)."""


class BackendError(ChatPaperError):
    """The language-model backend failed, timed out or answered something unusable."""


class MissingKey(BackendError):
    """The chosen backend needs an API key and none was given."""


class Cancelled(ChatPaperError):
    """The user stopped the work."""


# Specific PDF failures (extraction, issue 3): each says what is wrong with the file and what to do.
class EmptyPdf(PdfError):
    """The file has no bytes at all."""


class NotAPdf(PdfError):
    """The bytes are not a PDF (an HTML error page, an image, ...)."""


class CorruptPdf(PdfError):
    """A PDF header, but the file cannot be parsed or has no pages (truncated, damaged)."""


class EncryptedPdf(PdfError):
    """The PDF needs a password."""


class TooManyPages(PdfError):
    """More pages than ``Settings.max_pages``."""


class OversizedPdf(PdfError):
    """A file, page or image too large to process safely (size cap, absurd page size, image bomb)."""
