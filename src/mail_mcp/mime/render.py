"""What an agent reads: previews, rendered bodies, paging, and whole messages from .eml bytes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Literal

from mail_mcp.mime.compose import message_ids
from mail_mcp.mime.decode import Address, decode_header, decode_text, parse_address_header
from mail_mcp.mime.html import html_to_text, sanitize_html
from mail_mcp.mime.message import index_message, parse_message, part_payload, raw_header
from mail_mcp.mime.structure import Part, attachments, has_attachments, pick_text_parts

BodyFormat = Literal["text", "html", "both"]
TextSource = Literal["text/plain", "text/html", "none"]

_QUOTE_LINE = re.compile(r"^\s*>")
_ATTRIBUTION = re.compile(
    r"^\s*(On\s.+\bwrote:|Am\s.+\bschrieb\s.*:|Le\s.+\ba écrit\s*:"
    r"|-{2,}\s*(Original Message|Forwarded message)\s*-{2,}|_{5,})\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class RenderedBody:
    """`text` is always filled (possibly empty); `html` is sanitised and only set for html/both."""

    text: str
    html: str | None
    text_source: TextSource


@dataclass(frozen=True)
class RenderedMessage:
    """A message parsed from full .eml bytes, headers decoded, body rendered."""

    subject: str
    from_: list[Address]
    to: list[Address]
    cc: list[Address]
    reply_to: list[Address]
    date: datetime | None
    message_id: str | None
    in_reply_to: str | None
    references: list[str]
    body: RenderedBody
    structure: Part
    attachments: list[Part] = field(default_factory=list)
    has_attachments: bool = False


def preview(text: str, limit: int = 160) -> str:
    """One line of at most `limit` characters, skipping quoted replies and attribution lines."""
    lines = [line for line in (text or "").splitlines() if line.strip()]
    own = [line for line in lines if not _QUOTE_LINE.match(line) and not _ATTRIBUTION.match(line)]
    flat = " ".join(" ".join(own or lines).split())
    if len(flat) <= limit:
        return flat
    cut = flat[: max(limit - 1, 0)]
    space = cut.rfind(" ")
    if flat[len(cut)] != " " and space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"


def render_body(plain: str | None, html: str | None, *, fmt: BodyFormat = "text") -> RenderedBody:
    """Text from text/plain if it has content, else from the HTML; sanitised HTML for html/both."""
    if plain is not None and (plain.strip() or not html):
        text, source = plain, "text/plain"
    elif html is not None:
        text, source = html_to_text(html), "text/html"
    else:
        text, source = "", "none"
    safe_html = sanitize_html(html) if html is not None and fmt in ("html", "both") else None
    return RenderedBody(text, safe_html, source)  # type: ignore[arg-type]


def slice_text(text: str, offset: int, max_chars: int) -> tuple[str, int | None]:
    """Characters [offset, offset + max_chars) and the next offset, or None once the end is reached."""
    if offset < 0:
        raise ValueError("offset must be >= 0")
    if max_chars < 1:
        raise ValueError("max_chars must be >= 1")
    end = offset + max_chars
    return text[offset:end], (end if end < len(text) else None)


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def render_message(raw: bytes, fmt: BodyFormat = "text") -> RenderedMessage:
    """Parse full message bytes and render headers, body and attachment list; tolerant of junk."""
    msg = parse_message(raw)
    root, entities = index_message(msg)
    plain_part, html_part = pick_text_parts(root)

    def text_of(part: Part | None) -> str | None:
        if part is None or part.part_id not in entities:
            return None
        return decode_text(part_payload(entities[part.part_id], part), part.charset)

    def header(name: str) -> str | None:
        return raw_header(msg, name)

    in_reply_to = message_ids([header("in-reply-to")])
    message_id = (header("message-id") or "").strip() or None
    return RenderedMessage(
        subject=decode_header(header("subject")),
        from_=parse_address_header(header("from")),
        to=parse_address_header(header("to")),
        cc=parse_address_header(header("cc")),
        reply_to=parse_address_header(header("reply-to")),
        date=_date(header("date")),
        message_id=message_id,
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=message_ids([header("references")]),
        body=render_body(text_of(plain_part), text_of(html_part), fmt=fmt),
        structure=root,
        attachments=attachments(root),
        has_attachments=has_attachments(root),
    )
