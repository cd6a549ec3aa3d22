"""Pure functions from fetched IMAP data to the boundary models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from mail_mcp.ids import MessageId
from mail_mcp.imap.fetch import RawMessage, decoded_size_estimate, has_attachment
from mail_mcp.imap.folders import Role
from mail_mcp.mailbox.models import Address, AttachmentInfo, Body, MessageDetail, MessageSummary
from mail_mcp.mime import (
    Part,
    attachments,
    decode_header,
    decode_text,
    decode_transfer,
    envelope_addresses,
    pick_text_parts,
    preview,
    render_body,
    slice_text,
)
from mail_mcp.mime.compose import message_ids
from mail_mcp.mime.decode import parse_address_header
from mail_mcp.mime.display import address_warning, escape_hidden
from mail_mcp.mime.message import parse_message, raw_header

UNREADABLE = (
    "the server could not parse this address (the header is malformed) and it could not be read from the "
    "header either: the sender is unknown"
)


def flag_names(data: dict[bytes, Any]) -> list[str]:
    return [f.decode("utf-8", "replace") if isinstance(f, bytes) else str(f) for f in data.get(b"FLAGS", ())]


RECOVERED = "the mail server could not parse this header; shown as read from the raw header by mail-mcp"


def fetched_header(data: dict[bytes, Any], name: str) -> str | None:
    """Header `name` from any fetched `BODY[HEADER.FIELDS (...)]`, unfolded, or None when it was not fetched."""
    for key, value in data.items():
        if isinstance(key, bytes) and key.startswith(b"BODY[HEADER.FIELDS") and isinstance(value, bytes):
            found = raw_header(parse_message(value), name)
            if found is not None:
                return found
    return None


def _addresses(value: Any, data: dict[bytes, Any] | None = None, header: str = "from") -> list[Address]:
    """ENVELOPE addresses; where the server put in a placeholder (MISSING_DOMAIN, SYNTAX_ERROR…), the fetched
    header parsed by us instead, when it was fetched. Names are escaped and disguised senders flagged."""
    entries = envelope_addresses(value or (), strict=True)
    recovered = False
    if any(entry.get("incomplete") for entry in entries):
        raw = fetched_header(data or {}, header)
        parsed = parse_address_header(raw) if raw is not None else []
        if parsed:
            entries, recovered = parsed, True
    shown: list[Address] = []
    for entry in entries:
        name, email = entry["name"], entry["email"]
        if entry.get("incomplete") or not email:
            shown.append(Address(name=escape_hidden(name) if name else None, email="", warning=UNREADABLE))
            continue
        shown.append(
            Address(
                name=escape_hidden(name) if name else None,
                email=escape_hidden(email),
                warning=address_warning(name, email) or (RECOVERED if recovered else None),
            )
        )
    return shown


def _message_id_header(value: Any) -> str | None:
    text = decode_header(value).strip() if value else ""
    return text or None


def _date(envelope: Any, data: dict[bytes, Any]) -> datetime | None:
    value = getattr(envelope, "date", None) or data.get(b"INTERNALDATE")
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value if isinstance(value, datetime) else None


def part_text(message: RawMessage, part: Part | None) -> str | None:
    if part is None or part.part_id not in message.texts:
        return None
    raw = decode_transfer(message.texts[part.part_id], part.encoding)
    return decode_text(raw, part.params.get("charset"))


def _common(message: RawMessage, mid: MessageId) -> dict[str, Any]:
    envelope = message.data.get(b"ENVELOPE")
    flags = flag_names(message.data)
    lowered = {f.lower() for f in flags}
    senders = _addresses(getattr(envelope, "from_", None), message.data, "from")
    return {
        "message_id": str(mid),
        "header_message_id": _message_id_header(getattr(envelope, "message_id", None)),
        "mailbox": mid.mailbox,
        "subject": escape_hidden(decode_header(getattr(envelope, "subject", None))),
        "from_": senders[0] if senders else None,
        "to": _addresses(getattr(envelope, "to", None), message.data, "to"),
        "cc": _addresses(getattr(envelope, "cc", None), message.data, "cc"),
        "date": _date(envelope, message.data),
        "flags": flags,
        "is_read": "\\seen" in lowered,
        "is_flagged": "\\flagged" in lowered,
        "is_answered": "\\answered" in lowered,
        "size": int(message.data.get(b"RFC822.SIZE", 0)),
        "in_reply_to": _message_id_header(getattr(envelope, "in_reply_to", None)),
    }


def readable_text(message: RawMessage) -> str:
    """The fetched text/plain part, else the text/html part converted to text, else ""."""
    plain, html = pick_text_parts(message.structure)
    text = part_text(message, plain)
    if text is None:
        html_text = part_text(message, html)
        text = render_body(None, html_text, fmt="text").text if html_text else ""
    return text


def _preview_text(message: RawMessage) -> str:
    server_preview = message.data.get(b"PREVIEW")
    if isinstance(server_preview, bytes):
        return server_preview.decode("utf-8", "replace")
    return readable_text(message)


def summary(message: RawMessage, mid: MessageId, role: Role | None) -> MessageSummary:
    text = _preview_text(message)
    return MessageSummary(
        **_common(message, mid),
        folder_role=role,
        has_attachment=has_attachment(message.structure),
        preview=escape_hidden(preview(text)),
    )


def header_references(data: dict[bytes, Any]) -> list[str]:
    """Message-IDs of a fetched `BODY[HEADER.FIELDS (REFERENCES)]`, in order, without duplicates or unsafe ones."""
    value = fetched_header(data, "references")
    return message_ids([value]) if value else []


def attachment_infos(root: Part) -> list[AttachmentInfo]:
    return [
        AttachmentInfo(
            index=i,
            part_id=part.part_id,
            filename=escape_hidden(part.filename) if part.filename else part.filename,
            content_type=part.content_type,
            size=decoded_size_estimate(part),
            inline=part.is_inline,
            content_id=part.content_id,
        )
        for i, part in enumerate(attachments(root), start=1)
    ]


def detail(
    message: RawMessage,
    mid: MessageId,
    role: Role | None,
    *,
    fmt: Literal["text", "html", "both"],
    offset: int,
    max_chars: int,
) -> MessageDetail:
    plain, html = pick_text_parts(message.structure)
    rendered = render_body(part_text(message, plain), part_text(message, html), fmt=fmt)
    text, next_text = slice_text(rendered.text, offset, max_chars)
    html_slice, next_html = (None, None)
    if rendered.html is not None:
        html_slice, next_html = slice_text(rendered.html, offset, max_chars)
    next_offset = offset + max_chars if (next_text is not None or next_html is not None) else None
    envelope = message.data.get(b"ENVELOPE")
    senders = _addresses(getattr(envelope, "sender", None), message.data, "sender")
    return MessageDetail(
        **_common(message, mid),
        folder_role=role,
        sender=senders[0] if senders else None,
        reply_to=_addresses(getattr(envelope, "reply_to", None), message.data, "reply-to"),
        bcc=_addresses(getattr(envelope, "bcc", None), message.data, "bcc"),
        references=header_references(message.data),
        body=Body(
            format=fmt,
            text=text,
            html=html_slice,
            text_source=rendered.text_source,
            offset=offset,
            next_offset=next_offset,
            total_chars=len(rendered.text),
        ),
        attachments=attachment_infos(message.structure),
    )
