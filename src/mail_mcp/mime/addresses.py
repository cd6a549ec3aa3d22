"""What a plain e-mail address looks like, and which characters may never enter a header."""

from __future__ import annotations

import re

HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
ADDRESS_RE = re.compile(r"^[^\s@<>()\[\],;:\"\\]+@[^\s@<>()\[\],;:\"\\]+$")


def ascii_domain(domain: str) -> str:
    """A domain as transmitted: IDNA 2008 with the UTS-46 mapping, non-transitional, so `straße.de` stays its
    own domain (xn--strae-oqa.de) instead of becoming strasse.de. ASCII domains are only lower-cased.
    Raises ValueError for a domain IDNA 2008 does not allow."""
    if domain.isascii():
        return domain.lower()
    import idna

    try:
        return idna.encode(domain, uts46=True, transitional=False).decode("ascii")
    except UnicodeError as exc:  # idna.IDNAError is a UnicodeError
        raise ValueError(str(exc)) from None
