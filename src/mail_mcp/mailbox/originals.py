"""The original of a reply or forward, read for composing: its headers, its text to quote, and for a forward
its attachments. Blocking jobs for the pool: EXAMINE and BODY.PEEK only, and only the parts needed."""

from __future__ import annotations

from typing import Any

from mail_mcp.errors import InvalidInput
from mail_mcp.ids import MessageId
from mail_mcp.imap.append import fetch_one, missing
from mail_mcp.imap.connection import Connection
from mail_mcp.imap.fetch import RawMessage, decoded_size_estimate, read_message
from mail_mcp.mailbox.presenting import header_references, readable_text
from mail_mcp.mime import (
    Part,
    attachments,
    decode_header,
    decode_transfer,
    envelope_addresses,
    parse_bodystructure,
)
from mail_mcp.mime.compose import Attachment, Original, first_id, third_party

HEADER_ITEMS = [
    b"ENVELOPE",
    b"BODYSTRUCTURE",
    b"BODY.PEEK[HEADER.FIELDS (REFERENCES FROM SENDER REPLY-TO TO CC)]",
]
MAX_QUOTED_BYTES = 1024 * 1024


def to_original(data: dict[bytes, Any], text: str = "", files: tuple[Attachment, ...] = ()) -> Original:
    envelope = data.get(b"ENVELOPE")

    def boxes(name: str) -> tuple[Any, ...]:
        return tuple(third_party(envelope_addresses(getattr(envelope, name, None) or ())))

    raw_id = getattr(envelope, "message_id", None)
    date = getattr(envelope, "date", None)
    return Original(
        header_message_id=first_id(decode_header(raw_id)) if raw_id else None,
        references=tuple(header_references(data)),
        subject=decode_header(getattr(envelope, "subject", None)) if envelope else "",
        from_=boxes("from_"),
        reply_to=boxes("reply_to"),
        to=boxes("to"),
        cc=boxes("cc"),
        date=date if date is not None and getattr(date, "tzinfo", None) is not None else None,
        text=text,
        attachments=files,
    )


def read_headers(conn: Connection, mid: MessageId) -> tuple[Original, list[Part]]:
    """One FETCH: what a reply needs, plus the attachment list a forward would carry."""
    data = fetch_one(conn, mid, HEADER_ITEMS)
    return to_original(data), attachments(parse_bodystructure(data[b"BODYSTRUCTURE"]))


def read_for_forward(conn: Connection, mid: MessageId, budget: int) -> Original:
    """Headers and text (reusing read_message), then every attachment in one FETCH of just those parts."""
    message: RawMessage = read_message(conn, mid, MAX_QUOTED_BYTES, want_html=False)
    parts = attachments(message.structure)
    total = sum(decoded_size_estimate(p) for p in parts)
    if total > budget:
        raise InvalidInput(
            f"the original's attachments are about {total:,} bytes, above what is left of the "
            f"{budget:,}-byte limit (MAIL_SMTP_MAX_ATTACHMENT_BYTES); nothing was sent",
            size=total,
            cap=budget,
        )
    files: list[Attachment] = []
    if parts:
        fetched = conn.client.fetch([mid.uid], [f"BODY.PEEK[{p.part_id}]".encode() for p in parts]).get(
            mid.uid
        )
        if fetched is None:
            raise missing(mid)
        for part in parts:
            body = fetched.get(f"BODY[{part.part_id}]".encode()) or b""
            name = part.filename or f"part-{part.part_id}"
            files.append(Attachment(name, part.content_type, decode_transfer(body, part.encoding)))
    return to_original(message.data, readable_text(message), tuple(files))


def read_for_reply(conn: Connection, mid: MessageId) -> Original:
    """Headers and text (to quote), without the attachments."""
    message: RawMessage = read_message(conn, mid, MAX_QUOTED_BYTES, want_html=False)
    return to_original(message.data, readable_text(message))
