"""Blocking IMAP jobs for sending: the original of a reply or forward, APPEND to Sent or Drafts, finding a message
by its Message-ID header, reading and replacing drafts.

Like every job these run in a worker thread on one pooled connection. Originals are read with EXAMINE and
BODY.PEEK only: the envelope and structure first, then exactly the parts needed (text, attachments), never the
whole message.
"""

from __future__ import annotations

import re
from typing import Any

from mail_mcp.mime.compose import Attachment, Original, first_id, third_party
from mail_mcp.errors import InvalidInput, NotFound
from mail_mcp.ids import MessageId
from mail_mcp.mime import Part, attachments, decode_header, decode_transfer, envelope_addresses, parse_bodystructure
from mail_mcp.mailbox.models import Role
from mail_mcp.mailbox.presenting import header_references, readable_text
from mail_mcp.imap import folders as imap_folders
from mail_mcp.imap.connection import Connection
from mail_mcp.imap.fetch import RawMessage, decoded_size_estimate, read_message
from mail_mcp.imap.store import expunge_uids, store_flags

HEADER_ITEMS = [b"ENVELOPE", b"BODYSTRUCTURE", b"BODY.PEEK[HEADER.FIELDS (REFERENCES)]"]
MAX_QUOTED_BYTES = 1024 * 1024
_APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]", re.IGNORECASE)


def folder_roles(conn: Connection) -> dict[Role, str]:
    """The first folder of each role (SPECIAL-USE attribute, else a well-known name)."""
    roles: dict[Role, str] = {}
    for folder in imap_folders.list_folders(conn, counts=False):
        if folder.role and folder.selectable:
            roles.setdefault(folder.role, folder.name)
    return roles


def _missing(mid: MessageId) -> NotFound:
    return NotFound(f"message {mid} is gone (deleted or moved); list the folder again", message_id=str(mid))


def _fetch_one(conn: Connection, mid: MessageId, items: list[bytes]) -> dict[bytes, Any]:
    conn.select(mid.mailbox, readonly=True, expect_uidvalidity=mid.uidvalidity)
    data = conn.client.fetch([mid.uid], items).get(mid.uid)
    if data is None:
        raise _missing(mid)
    return data


def to_original(data: dict[bytes, Any], text: str = "", files: tuple[Attachment, ...] = ()) -> Original:
    envelope = data.get(b"ENVELOPE")

    def boxes(name: str) -> tuple[Any, ...]:
        return tuple(third_party(envelope_addresses(getattr(envelope, name, None) or ())))

    raw_id = getattr(envelope, "message_id", None)
    date = getattr(envelope, "date", None)
    return Original(
        message_id=first_id(decode_header(raw_id)) if raw_id else None,
        references=tuple(header_references(data)),
        subject=decode_header(getattr(envelope, "subject", None)) if envelope else "",
        from_=boxes("from_"), reply_to=boxes("reply_to"), to=boxes("to"), cc=boxes("cc"),
        date=date if date is not None and getattr(date, "tzinfo", None) is not None else None,
        text=text, attachments=files,
    )


def read_headers(conn: Connection, mid: MessageId) -> tuple[Original, list[Part]]:
    """One FETCH: what a reply needs, plus the attachment list a forward would carry."""
    data = _fetch_one(conn, mid, HEADER_ITEMS)
    return to_original(data), attachments(parse_bodystructure(data[b"BODYSTRUCTURE"]))


def read_for_forward(conn: Connection, mid: MessageId, budget: int) -> Original:
    """Headers and text (reusing read_message), then every attachment in one FETCH of just those parts."""
    message: RawMessage = read_message(conn, mid, MAX_QUOTED_BYTES, want_html=False)
    parts = attachments(message.structure)
    total = sum(decoded_size_estimate(p) for p in parts)
    if total > budget:
        raise InvalidInput(f"the original's attachments are about {total:,} bytes, above what is left of the "
                           f"{budget:,}-byte limit (MAIL_SMTP_MAX_ATTACHMENT_BYTES); nothing was sent",
                           size=total, cap=budget)
    files: list[Attachment] = []
    if parts:
        fetched = conn.client.fetch([mid.uid], [f"BODY.PEEK[{p.part_id}]".encode() for p in parts]).get(mid.uid)
        if fetched is None:
            raise _missing(mid)
        for part in parts:
            body = fetched.get(f"BODY[{part.part_id}]".encode()) or b""
            name = part.filename or f"part-{part.part_id}"
            files.append(Attachment(name, part.content_type, decode_transfer(body, part.encoding)))
    return to_original(message.data, readable_text(message), tuple(files))


def read_for_reply(conn: Connection, mid: MessageId) -> Original:
    """Headers and text (to quote), without the attachments."""
    message: RawMessage = read_message(conn, mid, MAX_QUOTED_BYTES, want_html=False)
    return to_original(message.data, readable_text(message))


def append(conn: Connection, mailbox: str, raw: bytes, flags: list[bytes], message_id: str) -> tuple[int, int | None]:
    """APPEND; the new UID from APPENDUID (UIDPLUS), else found by Message-ID. Returns (uidvalidity, uid)."""
    response = conn.client.append(mailbox, raw, flags=flags)
    found = _APPENDUID.search(response if isinstance(response, bytes) else str(response).encode())
    if found:
        return int(found.group(1)), int(found.group(2))
    validity, uids = find_by_message_id(conn, mailbox, message_id)
    return validity, (max(uids) if uids else None)


def find_by_message_id(conn: Connection, mailbox: str, message_id: str) -> tuple[int, list[int]]:
    selected = conn.select(mailbox, readonly=True)
    uids = conn.client.search([b"HEADER", b"Message-ID", message_id.encode("utf-8")])
    return selected.uidvalidity, sorted(int(u) for u in uids)


def read_raw(conn: Connection, mid: MessageId) -> bytes:
    """A whole draft (it is ours, and small): BODY.PEEK[] so \\Seen is not touched."""
    data = _fetch_one(conn, mid, [b"BODY.PEEK[]"])
    return bytes(data.get(b"BODY[]") or b"")


def replace(conn: Connection, old: MessageId, raw: bytes, message_id: str) -> tuple[int, int | None]:
    """APPEND the new draft, then delete the old one by UID (UIDPLUS-scoped expunge)."""
    _fetch_one(conn, old, [b"UID"])
    validity, uid = append(conn, old.mailbox, raw, [b"\\Draft", b"\\Seen"], message_id)
    expunge_uids(conn, old.mailbox, old.uidvalidity, [old.uid])
    return validity, uid


def remove(conn: Connection, mid: MessageId) -> None:
    expunge_uids(conn, mid.mailbox, mid.uidvalidity, [mid.uid])


def mark_answered(conn: Connection, mid: MessageId) -> bool:
    flags = store_flags(conn, mid.mailbox, mid.uidvalidity, [mid.uid], ["\\Answered"], [])
    return "\\answered" in {f.lower() for f in flags.get(mid.uid, [])}
