"""Blocking IMAP jobs for drafts and sent copies: APPEND (the new UID from APPENDUID, else found by the
Message-ID we chose), finding a message by its header Message-ID, reading a draft back, replacing and removing it.

Like every job these run in a worker thread on one pooled connection. Reads use EXAMINE and BODY.PEEK only.
"""

from __future__ import annotations

import re
from typing import Any

from mail_mcp.errors import NotFound
from mail_mcp.ids import MessageId
from mail_mcp.imap.connection import Connection
from mail_mcp.imap.quirks import ensure_writable_selection
from mail_mcp.imap.store import expunge_uids, require_uidplus, store_flags

_APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]", re.IGNORECASE)


def missing(mid: MessageId) -> NotFound:
    return NotFound(f"message {mid} is gone (deleted or moved); list the folder again", message_id=str(mid))


def fetch_one(conn: Connection, mid: MessageId, items: list[bytes]) -> dict[bytes, Any]:
    conn.select(mid.mailbox, readonly=True, expect_uidvalidity=mid.uidvalidity)
    data: dict[bytes, Any] | None = conn.client.fetch([mid.uid], items).get(mid.uid)
    if data is None:
        raise missing(mid)
    return data


def append(
    conn: Connection, mailbox: str, raw: bytes, flags: list[bytes], header_message_id: str
) -> tuple[int, int | None]:
    """APPEND; the new UID from APPENDUID (UIDPLUS), else found by Message-ID. Returns (uidvalidity, uid)."""
    ensure_writable_selection(conn, mailbox)
    response = conn.client.append(mailbox, raw, flags=flags)
    found = _APPENDUID.search(response if isinstance(response, bytes) else str(response).encode())
    if found:
        return int(found.group(1)), int(found.group(2))
    validity, uids = find_by_header_message_id(conn, mailbox, header_message_id)
    return validity, (max(uids) if uids else None)


def find_by_header_message_id(
    conn: Connection, mailbox: str, header_message_id: str
) -> tuple[int, list[int]]:
    selected = conn.select(mailbox, readonly=True)
    uids = conn.client.search([b"HEADER", b"Message-ID", header_message_id.encode("utf-8")])
    return selected.uidvalidity, sorted(int(u) for u in uids)


def read_raw(conn: Connection, mid: MessageId) -> bytes:
    """A whole draft (it is ours, and small): BODY.PEEK[] so \\Seen is not touched."""
    data = fetch_one(conn, mid, [b"BODY.PEEK[]"])
    return bytes(data.get(b"BODY[]") or b"")


def replace(conn: Connection, old: MessageId, raw: bytes, header_message_id: str) -> tuple[int, int | None]:
    """APPEND the new draft, then delete the old one by UID (UIDPLUS-scoped expunge). Without UIDPLUS it
    refuses before anything is changed."""
    require_uidplus(conn, old.mailbox)
    fetch_one(conn, old, [b"UID"])
    validity, uid = append(conn, old.mailbox, raw, [b"\\Draft", b"\\Seen"], header_message_id)
    expunge_uids(conn, old.mailbox, old.uidvalidity, [old.uid])
    return validity, uid


def settle_replace(conn: Connection, old: MessageId, header_message_id: str) -> tuple[int, int] | None:
    """Finish a replace whose connection broke after its APPEND went out: if the new draft is there (found by
    its Message-ID), remove the old one (a no-op when that was done) and return the new one's (uidvalidity,
    uid); None when the new draft is not there, so nothing was changed."""
    validity, uids = find_by_header_message_id(conn, old.mailbox, header_message_id)
    if not uids:
        return None
    if validity == old.uidvalidity:
        expunge_uids(conn, old.mailbox, old.uidvalidity, [old.uid])
    return validity, max(uids)


def remove(conn: Connection, mid: MessageId) -> None:
    expunge_uids(conn, mid.mailbox, mid.uidvalidity, [mid.uid])


def mark_answered(conn: Connection, mid: MessageId) -> bool:
    flags = store_flags(conn, mid.mailbox, mid.uidvalidity, [mid.uid], ["\\Answered"], [])
    return "\\answered" in {f.lower() for f in flags.get(mid.uid, [])}
