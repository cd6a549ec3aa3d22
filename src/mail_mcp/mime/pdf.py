"""Text of a PDF attachment, with pypdf: bounded in pages and characters, and None when there is none."""

from __future__ import annotations

import io
import logging

MAX_PAGES = 300
MAX_CHARS = 2_000_000


def pdf_text(data: bytes) -> str | None:
    """The text layer of the PDF's pages, a blank line between pages; None for a broken or image-only PDF."""
    try:
        from pypdf import PdfReader
    except ImportError:  # an optional extra: without it PDFs are links only
        return None
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        pages: list[str] = []
        total = 0
        for page in reader.pages[:MAX_PAGES]:
            text = (page.extract_text() or "").strip()
            pages.append(text)
            total += len(text)
            if total > MAX_CHARS:
                break
    except Exception:
        return None
    joined = "\n\n".join(p for p in pages if p)
    return joined[:MAX_CHARS] or None
