"""get_message's fallback for a message the server cannot describe (its BODYSTRUCTURE did not parse): the
message is read from its own bytes with mime.render's `render_message`, the one parser of whole messages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from mail_mcp.ids import MessageId
from mail_mcp.imap.fetch import RawMessage
from mail_mcp.imap.folders import Role
from mail_mcp.mailbox.models import Address, Body, MessageDetail
from mail_mcp.mailbox.presenting import attachment_infos, flag_names
from mail_mcp.mime import Address as MimeAddress
from mail_mcp.mime import render_message, slice_text


def detail_from_bytes(
    message: RawMessage,
    mid: MessageId,
    role: Role | None,
    *,
    fmt: Literal["text", "html", "both"],
    offset: int,
    max_chars: int,
) -> MessageDetail:
    assert message.raw is not None
    rendered = render_message(message.raw, fmt)
    text, next_text = slice_text(rendered.body.text, offset, max_chars)
    html, next_html = (None, None)
    if rendered.body.html is not None:
        html, next_html = slice_text(rendered.body.html, offset, max_chars)
    flags = flag_names(message.data)
    lowered = {f.lower() for f in flags}
    date = rendered.date or message.data.get(b"INTERNALDATE")
    return MessageDetail(
        message_id=str(mid),
        header_message_id=rendered.message_id,
        mailbox=mid.mailbox,
        folder_role=role,
        subject=rendered.subject,
        from_=_address(rendered.from_[0]) if rendered.from_ else None,
        reply_to=[_address(a) for a in rendered.reply_to],
        to=[_address(a) for a in rendered.to],
        cc=[_address(a) for a in rendered.cc],
        date=date.replace(tzinfo=date.tzinfo or UTC) if isinstance(date, datetime) else None,
        flags=flags,
        is_read="\\seen" in lowered,
        is_flagged="\\flagged" in lowered,
        is_answered="\\answered" in lowered,
        size=int(message.data.get(b"RFC822.SIZE", 0)),
        in_reply_to=rendered.in_reply_to,
        references=rendered.references,
        body=Body(
            format=fmt,
            text=text,
            html=html,
            text_source=rendered.body.text_source,
            offset=offset,
            next_offset=offset + max_chars if (next_text is not None or next_html is not None) else None,
            total_chars=len(rendered.body.text),
        ),
        attachments=attachment_infos(rendered.structure),
    )


def _address(address: MimeAddress) -> Address:
    return Address(name=address["name"], email=address["email"])
