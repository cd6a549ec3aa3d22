"""SEARCH for non-ASCII strings on servers that refuse UTF-8 in SEARCH.

Outlook answers ``NO [BADCHARSET (US-ASCII)]`` to ``SEARCH CHARSET UTF-8`` (Wh1isper PR #178/#189, MailKit#808);
Yahoo answers ``BAD [CLIENTBUG]`` to any CHARSET (aioimaplib#126). There the server searches the ASCII-safe form
of each sender, recipient and subject string (its longest ASCII run, or nothing), and the candidates' headers
are then checked here against the whole string, so the answer stays exact. Body text cannot be checked that
way without downloading every candidate, so a non-ASCII `text` is refused, saying so.
"""

from __future__ import annotations

import imaplib
import re
import unicodedata
from collections.abc import Callable
from dataclasses import replace
from email.header import decode_header, make_header
from typing import Any

from imapclient import exceptions as imap_exc

from mail_mcp.errors import Unsupported
from mail_mcp.imap.connection import Connection
from mail_mcp.imap.quirks import response_code
from mail_mcp.imap.search import Filters

REFUSALS = frozenset({"BADCHARSET", "CLIENTBUG"})
MAX_CHECKED = 5000
CHUNK = 500
HEADERS = {"from_": "FROM", "to": "TO", "subject": "SUBJECT"}
Search = Callable[[list[Any], str | None], list[int]]


def refuses_charset(exc: BaseException) -> bool:
    """The server's refusal of SEARCH CHARSET UTF-8: BADCHARSET, Yahoo's CLIENTBUG, or a BAD naming CHARSET."""
    text = str(exc).upper()
    return response_code(exc) in REFUSALS or "BADCHARSET" in text or ("BAD" in text and "CHARSET" in text)


def search_uids(conn: Connection, filters: Filters, search: Search) -> list[int]:
    """`search(criteria, charset)` as the filters ask; where the server refuses UTF-8 (known from the provider,
    or learnt from its refusal on this connection), the ASCII-safe search plus a check of the headers here."""
    criteria, charset = filters.criteria()
    if charset is None or conn.search_utf8:
        try:
            return search(criteria, charset)
        except (imap_exc.IMAPClientError, imaplib.IMAP4.error) as exc:
            if charset is None or not refuses_charset(exc):
                raise
            conn.search_utf8 = False
    return _ascii_search(conn, filters, search)


def _ascii_part(value: str) -> str | None:
    runs = [run.strip() for run in re.split(r"[^\x20-\x7e]+", value)]
    best = max(runs, key=len, default="")
    return best if len(best) >= 3 else None


def _fold(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def _ascii_search(conn: Connection, filters: Filters, search: Search) -> list[int]:
    where = f"{conn.account.host}"
    if filters.text is not None and not filters.text.isascii():
        raise Unsupported(
            f"the IMAP server {where} cannot search for non-ASCII text (it refuses UTF-8 in SEARCH), and "
            "message bodies are not checked here; search for an ASCII word of it instead, or by "
            "subject/from_address/to_address, which work with any characters",
            field="text",
        )
    wanted = {
        name: getattr(filters, name)
        for name in HEADERS
        if getattr(filters, name) is not None and not getattr(filters, name).isascii()
    }
    safe_values: dict[str, Any] = {name: _ascii_part(value) for name, value in wanted.items()}
    safe = replace(filters, **safe_values)
    criteria, _ = safe.criteria()
    candidates = search(criteria, None)
    if len(candidates) > MAX_CHECKED:
        raise Unsupported(
            f"the IMAP server {where} refuses UTF-8 in SEARCH, so non-ASCII strings are checked here, but "
            f"{len(candidates)} messages match the ASCII part (at most {MAX_CHECKED} are checked); narrow "
            "the search with dates or other filters",
        )
    matched = _matching(conn, candidates, wanted)  # one pass over the candidates' headers
    return [uid for uid in candidates if uid in matched]


def _matching(conn: Connection, uids: list[int], wanted: dict[str, str]) -> set[int]:
    names = " ".join(HEADERS[name] for name in wanted)
    key = f"BODY[HEADER.FIELDS ({names})]".encode()
    found: set[int] = set()
    for start in range(0, len(uids), CHUNK):
        batch = uids[start : start + CHUNK]
        fetched = conn.client.fetch(batch, [f"BODY.PEEK[HEADER.FIELDS ({names})]".encode()])
        for uid, data in fetched.items():
            headers = _headers(data.get(key) or b"")
            if all(_fold(value) in _fold(headers.get(HEADERS[name], "")) for name, value in wanted.items()):
                found.add(int(uid))
    return found


def _headers(raw: bytes) -> dict[str, str]:
    """Header name (upper-case) to its decoded value (RFC 2047 words and raw UTF-8 both read)."""
    out: dict[str, str] = {}
    for line in re.split(rb"\r?\n(?![ \t])", raw):
        name, colon, value = line.partition(b":")
        if not colon:
            continue
        text = value.decode("utf-8", "replace")
        try:
            text = str(make_header(decode_header(" ".join(text.split()))))
        except (UnicodeError, LookupError, ValueError):
            pass
        key = name.decode("ascii", "replace").strip().upper()
        out[key] = f"{out[key]} {text}" if key in out else text
    return out
