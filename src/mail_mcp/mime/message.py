"""The stdlib `email.message` side: the same `Part` tree as BODYSTRUCTURE, and part payloads."""

from __future__ import annotations

import email
from email.message import Message
from functools import cache
from typing import TYPE_CHECKING

from mail_mcp.mime.decode import decode_header, decode_transfer, unfold_header
from mail_mcp.mime.params import (
    clean_content_id,
    clean_filename,
    merge_params,
    rfc822_filename,
    split_header_params,
)
from mail_mcp.mime.structure import MESSAGE_TYPES, Part

if TYPE_CHECKING:
    from email.policy import Policy

_MAX_DEPTH = 64


@cache
def _crlf() -> Policy:
    from email.policy import compat32

    return compat32.clone(linesep="\r\n")


def parse_message(raw: bytes) -> Message:
    """Parse full message bytes with the tolerant compat32 parser (the stdlib default)."""
    return email.message_from_bytes(raw)


def raw_header(entity: Message, name: str) -> str | None:
    """The first header `name` as unfolded text (8-bit bytes decoded, RFC 2047 left alone), or None."""
    name = name.lower()
    for key, value in entity.raw_items():
        if key.lower() == name:
            return unfold_header(value) if isinstance(value, (str, bytes)) else str(value)
    return None


def _raw_payload(entity: Message) -> bytes:
    payload = getattr(entity, "_payload", None)  # get_payload() would replace 8-bit bytes with U+FFFD
    if isinstance(payload, bytes):
        return payload
    if not isinstance(payload, str):
        return b""
    try:
        return payload.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return payload.encode("utf-8", "surrogateescape")


def _message_size(entity: Message) -> int:
    payload = entity.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        try:
            return len(payload[0].as_bytes(policy=_crlf()))
        except Exception:  # size is informational only
            return 0
    return len(_raw_payload(entity))


def _build(entity: Message, part_id: str, depth: int, index: dict[str, Message]) -> Part:
    _, pairs = split_header_params(raw_header(entity, "content-type"))
    params = merge_params(pairs)
    content_type = entity.get_content_type()
    payload = entity.get_payload()
    disp_main, disp_pairs = split_header_params(raw_header(entity, "content-disposition"))
    disposition = disp_main or None
    if content_type.startswith("multipart/") and isinstance(payload, list) and depth < _MAX_DEPTH:
        index.setdefault(part_id, entity)
        prefix = f"{part_id}." if part_id else ""
        children = tuple(
            _build(child, f"{prefix}{i}", depth + 1, index)
            for i, child in enumerate(payload, 1)
            if isinstance(child, Message)
        )
        return Part(part_id, content_type, params, disposition=disposition, children=children)
    part_id = part_id or "1"
    index[part_id] = entity
    if content_type.startswith("multipart/"):
        content_type = "text/plain"
    disp_params = merge_params(disp_pairs)
    filename = clean_filename(disp_params.get("filename") or params.get("name"))
    if content_type in MESSAGE_TYPES and filename is None:
        inner = payload[0] if isinstance(payload, list) and payload else None
        subject = None  # like IMAP, which has an envelope for message/rfc822 only
        if content_type == "message/rfc822" and isinstance(inner, Message):
            subject = raw_header(inner, "subject")
        filename = rfc822_filename(_decoded(subject))
    cid = clean_content_id(raw_header(entity, "content-id"))
    encoding = (raw_header(entity, "content-transfer-encoding") or "7bit").strip().lower() or "7bit"
    return Part(part_id, content_type, params, cid, encoding, _message_size(entity), disposition, filename)


def _decoded(value: str | None) -> str | None:
    return decode_header(value) if value else None


def index_message(msg: Message) -> tuple[Part, dict[str, Message]]:
    """The `Part` tree plus a map from each part id to its `email.message.Message` entity."""
    index: dict[str, Message] = {}
    return _build(msg, "", 0, index), index


def structure_from_message(msg: Message) -> Part:
    """Build the same `Part` tree `parse_bodystructure` gives for this message on an IMAP server."""
    return index_message(msg)[0]


def part_payload(entity: Message, part: Part) -> bytes:
    """The transfer-decoded bytes of a leaf entity (a forwarded message comes back as .eml bytes)."""
    payload = entity.get_payload()
    if part.is_multipart:
        return b""
    if isinstance(payload, list):
        inner = payload[0] if payload and isinstance(payload[0], Message) else None
        try:
            return inner.as_bytes(policy=_crlf()) if inner is not None else b""
        except Exception:
            return b""
    return decode_transfer(_raw_payload(entity), part.encoding)
