"""Blocking read jobs on one connection: a page of summaries, one message's text parts, one attachment.

Each job is called by the pool in a worker thread and does all its IMAP round trips there. Reads use
EXAMINE and BODY.PEEK only, so nothing here can set \\Seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mail_mcp.errors import InvalidInput, NotFound
from mail_mcp.ids import MessageId
from mail_mcp.imap import _compat
from mail_mcp.imap.connection import Connection, Selected
from mail_mcp.imap.search import Cursor, Filters, page_start
from mail_mcp.imap.uidset import parse_uid_set
from mail_mcp.mime import Part, attachments, has_attachments, parse_bodystructure, pick_text_parts

SUMMARY_ITEMS = [b"FLAGS", b"ENVELOPE", b"RFC822.SIZE", b"BODYSTRUCTURE", b"INTERNALDATE"]
PREVIEW_BYTES = {"text/plain": 1024, "text/html": 8192}
STRUCTURE_CHUNK = 50


@dataclass
class RawMessage:
    uid: int
    data: dict[bytes, Any]
    structure: Part
    texts: dict[str, bytes] = field(default_factory=dict)


@dataclass
class RawPage:
    selected: Selected
    total: int | None
    messages: list[RawMessage]
    next_cursor: Cursor | None


def _ordered_uids(conn: Connection, filters: Filters) -> list[int]:
    """Matching UIDs newest first. UIDs ascend in arrival order, so UID order is arrival order with no ties;
    SORT (REVERSE ARRIVAL) would order same-second arrivals oldest first (RFC 5256 breaks ties ascending).
    With ESEARCH the answer is a compact set (`1:10000`) instead of ten thousand numbers to parse."""
    criteria, charset = filters.criteria()
    if not conn.has("ESEARCH"):
        return sorted((int(u) for u in conn.client.search(criteria, charset)), reverse=True)
    args = [b"RETURN", b"(ALL)"] + ([b"CHARSET", charset.encode()] if charset else [])
    args += _compat.normalise_search_criteria(criteria, charset)
    data = _compat.raw_untagged(conn.client, b"SEARCH", args, response_name="ESEARCH")
    text = b" ".join(d for d in data if isinstance(d, bytes)).decode("ascii", "replace")
    words = text.split()
    found = words[words.index("ALL") + 1] if "ALL" in words else ""
    return sorted(parse_uid_set(found), reverse=True) if found else []


def _fetch(conn: Connection, uids: list[int], items: list[bytes]) -> dict[int, dict[bytes, Any]]:
    if not uids:
        return {}
    return {int(uid): data for uid, data in conn.client.fetch(uids, items).items()}


def _with_structure(uid: int, data: dict[bytes, Any]) -> RawMessage:
    return RawMessage(uid=uid, data=data, structure=parse_bodystructure(data[b"BODYSTRUCTURE"]))


def _summary_items(conn: Connection) -> list[bytes]:
    """With RFC 8970 PREVIEW the server computes (and caches) the preview in the same FETCH."""
    return [*SUMMARY_ITEMS, b"PREVIEW"] if conn.has("PREVIEW") else SUMMARY_ITEMS


def _fetch_previews(conn: Connection, messages: list[RawMessage]) -> None:
    """Without PREVIEW: one FETCH per distinct text section (usually one or two), partial so a huge body
    costs little."""
    messages = [m for m in messages if b"PREVIEW" not in m.data]
    wanted: dict[tuple[str, int], list[RawMessage]] = {}
    for message in messages:
        plain, html = pick_text_parts(message.structure)
        part = plain or html
        if part is not None:
            wanted.setdefault((part.part_id, PREVIEW_BYTES[part.content_type]), []).append(message)
    for (part_id, length), group in wanted.items():
        fetched = _fetch(conn, [m.uid for m in group], [f"BODY.PEEK[{part_id}]<0.{length}>".encode()])
        key = f"BODY[{part_id}]<0>".encode()
        for message in group:
            body = fetched.get(message.uid, {}).get(key)
            if body is not None:
                message.texts[part_id] = body


def list_page(
    conn: Connection, mailbox: str, filters: Filters, cursor: Cursor | None, limit: int, account: str
) -> RawPage:
    selected = conn.select(mailbox, readonly=True, expect_uidvalidity=cursor.uidvalidity if cursor else None)
    uids = _ordered_uids(conn, filters)
    start = page_start(uids, cursor)
    page: list[RawMessage] = []
    index = start
    chunk = limit if not filters.needs_structure_check else max(limit, STRUCTURE_CHUNK)
    while len(page) < limit and index < len(uids):
        batch = uids[index : index + chunk]
        fetched = _fetch(conn, batch, _summary_items(conn))
        for uid in batch:
            index += 1
            if uid not in fetched:
                continue
            message = _with_structure(uid, fetched[uid])
            if (
                filters.has_attachment is not None
                and has_attachments(message.structure) != filters.has_attachment
            ):
                continue
            page.append(message)
            if len(page) == limit:
                break
    _fetch_previews(conn, page)
    more = index < len(uids)
    next_cursor = (
        Cursor(
            account,
            mailbox,
            selected.uidvalidity,
            filters.as_json(),
            page[-1].uid if page else uids[index - 1],
        )
        if more
        else None
    )
    total = None if filters.needs_structure_check else len(uids)
    return RawPage(selected=selected, total=total, messages=page, next_cursor=next_cursor)


def read_message(conn: Connection, mid: MessageId, max_text_bytes: int, want_html: bool) -> RawMessage:
    conn.select(mid.mailbox, readonly=True, expect_uidvalidity=mid.uidvalidity)
    items = [*SUMMARY_ITEMS, b"BODY.PEEK[HEADER.FIELDS (REFERENCES)]"]
    fetched = _fetch(conn, [mid.uid], items)
    if mid.uid not in fetched:
        raise NotFound(
            f"message {mid} is gone (deleted or moved); list the folder again", message_id=str(mid)
        )
    message = _with_structure(mid.uid, fetched[mid.uid])
    plain, html = pick_text_parts(message.structure)
    parts = [p for p in (plain, html if (want_html or plain is None) else None) if p is not None]
    if parts:
        wanted = [
            f"BODY.PEEK[{p.part_id}]".encode()
            + (f"<0.{max_text_bytes}>".encode() if p.size > max_text_bytes else b"")
            for p in parts
        ]
        data = _fetch(conn, [mid.uid], wanted).get(mid.uid, {})
        for part in parts:
            prefix = f"BODY[{part.part_id}]".encode()
            for key, value in data.items():
                if (
                    isinstance(key, bytes)
                    and (key == prefix or key.startswith(prefix + b"<"))
                    and value is not None
                ):
                    message.texts[part.part_id] = value
    return message


def find_attachment(root: Part, selector: int | str) -> Part:
    """A number is the 1-based index in get_message's list; a string is the IMAP part id."""
    listed = attachments(root)
    if isinstance(selector, int):
        if 1 <= selector <= len(listed):
            return listed[selector - 1]
    else:
        for part in listed:
            if part.part_id == selector:
                return part
    raise NotFound(
        f"no attachment {selector!r} in this message; get_message lists attachments with index and part_id",
        attachment=selector,
        available=[p.part_id for p in listed],
    )


def decoded_size_estimate(part: Part) -> int:
    """Base64 lines are 76 characters plus CRLF: 78 octets on the wire carry 57 bytes."""
    return part.size * 57 // 78 if part.encoding == "base64" else part.size


def read_attachment(conn: Connection, mid: MessageId, selector: int | str, cap: int) -> tuple[Part, bytes]:
    conn.select(mid.mailbox, readonly=True, expect_uidvalidity=mid.uidvalidity)
    fetched = _fetch(conn, [mid.uid], [b"BODYSTRUCTURE"])
    if mid.uid not in fetched:
        raise NotFound(
            f"message {mid} is gone (deleted or moved); list the folder again", message_id=str(mid)
        )
    part = find_attachment(parse_bodystructure(fetched[mid.uid][b"BODYSTRUCTURE"]), selector)
    if decoded_size_estimate(part) > cap:
        raise InvalidInput(
            f"attachment {part.filename or part.part_id} is about {decoded_size_estimate(part):,} bytes, above the "
            f"{cap:,}-byte cap (MAIL_MCP_MAX_ATTACHMENT_BYTES); it cannot be returned through this tool",
            size=decoded_size_estimate(part),
            cap=cap,
        )
    item = f"BODY.PEEK[{part.part_id}]".encode()
    data = _fetch(conn, [mid.uid], [item]).get(mid.uid, {})
    body = data.get(f"BODY[{part.part_id}]".encode())
    if body is None:
        raise NotFound(f"message {mid} is gone (deleted or moved)", message_id=str(mid))
    return part, body
