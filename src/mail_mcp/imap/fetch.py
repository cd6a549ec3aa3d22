"""Blocking read jobs on one connection: a page of summaries, one message's text parts, one attachment.

Each job is called by the pool in a worker thread and does all its IMAP round trips there. Reads use
EXAMINE and BODY.PEEK only, so nothing here can set \\Seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from imapclient.exceptions import ProtocolError

from mail_mcp.errors import InvalidInput, NotFound
from mail_mcp.ids import MessageId
from mail_mcp.imap import order, threads
from mail_mcp.imap.connection import Connection, Selected
from mail_mcp.imap.search import Cursor, Filters
from mail_mcp.mime import Part, attachments, has_attachments, parse_bodystructure, pick_text_parts

SUMMARY_ITEMS = [
    b"FLAGS",
    b"ENVELOPE",
    b"RFC822.SIZE",
    b"BODYSTRUCTURE",
    b"INTERNALDATE",
    b"BODY.PEEK[HEADER.FIELDS (FROM)]",
]
PREVIEW_BYTES = {"text/plain": 1024, "text/html": 8192}
STRUCTURE_CHUNK = 50


@dataclass
class RawMessage:
    uid: int
    data: dict[bytes, Any]
    structure: Part
    texts: dict[str, bytes] = field(default_factory=dict)
    raw: bytes | None = None  # the message's own bytes, when its BODYSTRUCTURE could not be parsed


@dataclass
class RawPage:
    selected: Selected
    total: int | None
    messages: list[RawMessage]
    next_cursor: Cursor | None
    thread_counts: dict[int, int] | None = None  # group_by_thread: messages per conversation, by head UID


def _fetch(conn: Connection, uids: list[int], items: list[bytes]) -> dict[int, dict[bytes, Any]]:
    if not uids:
        return {}
    return {int(uid): data for uid, data in conn.client.fetch(uids, items).items()}


def _with_structure(uid: int, data: dict[bytes, Any]) -> RawMessage:
    return RawMessage(uid=uid, data=data, structure=parse_bodystructure(data[b"BODYSTRUCTURE"]))


def _summary_items(conn: Connection) -> list[bytes]:
    """With RFC 8970 PREVIEW the server computes (and caches) the preview in the same FETCH."""
    return [*SUMMARY_ITEMS, b"PREVIEW"] if conn.has("PREVIEW") else SUMMARY_ITEMS


def text_starts(conn: Connection, messages: list[RawMessage], plain_bytes: int, html_bytes: int) -> None:
    """The first bytes of each message's readable text part (text/plain, else HTML) into its `texts`: one
    partial FETCH per distinct part (usually one or two), so a huge body costs little."""
    wanted: dict[tuple[str, int], list[RawMessage]] = {}
    for message in messages:
        plain, html = pick_text_parts(message.structure)
        part = plain or html
        if part is not None:
            length = plain_bytes if part is plain else html_bytes
            wanted.setdefault((part.part_id, length), []).append(message)
    for (part_id, length), group in wanted.items():
        fetched = _fetch(conn, [m.uid for m in group], [f"BODY.PEEK[{part_id}]<0.{length}>".encode()])
        key = f"BODY[{part_id}]<0>".encode()
        for message in group:
            body = fetched.get(message.uid, {}).get(key)
            if body is not None:
                message.texts[part_id] = body


def summaries(conn: Connection, uids: list[int], *, text_bytes: int | None = None) -> list[RawMessage]:
    """The summary items and previews of these messages in the selected folder (the ones still there), in the
    order given. With `text_bytes`, the start of each one's readable text instead of a preview: that many bytes
    of text/plain, eight times as many of HTML (which converts to far less text)."""
    if text_bytes is not None:
        fetched = _fetch(conn, uids, SUMMARY_ITEMS)
        page = [_with_structure(uid, fetched[uid]) for uid in uids if uid in fetched]
        text_starts(conn, page, text_bytes, 8 * text_bytes)
        return page
    fetched = _fetch(conn, uids, _summary_items(conn))  # with PREVIEW the server computes the preview
    page = [_with_structure(uid, fetched[uid]) for uid in uids if uid in fetched]
    without = [m for m in page if b"PREVIEW" not in m.data]
    text_starts(conn, without, PREVIEW_BYTES["text/plain"], PREVIEW_BYTES["text/html"])
    return page


def read_texts(
    conn: Connection, mailbox: str, uidvalidity: int, uids: list[int], text_bytes: int
) -> list[RawMessage]:
    """The messages a conversation shows, in one folder: summary items and the start of their readable text."""
    conn.select(mailbox, readonly=True, expect_uidvalidity=uidvalidity)
    return summaries(conn, uids, text_bytes=text_bytes) if uids else []


def has_attachment(root: Part) -> bool:
    """Real attachments anywhere (multipart/mixed, signed, related…), or a whole message that is one
    non-text part, such as a bare application/pdf."""
    if not root.is_multipart and root.maintype not in ("text", "multipart"):
        return True
    return has_attachments(root)


def scan_structures(
    conn: Connection, uids: list[int], start: int, limit: int, wanted: bool
) -> tuple[list[int], int, dict[int, int]]:
    """has_attachment: walk the order from `start` in chunks, reading only BODYSTRUCTURE and INTERNALDATE,
    until `limit` messages match. Returns them, the index after the last one looked at, and the dates seen."""
    found: list[int] = []
    dates: dict[int, int] = {}
    index = start
    while len(found) < limit and index < len(uids):
        batch = uids[index : index + STRUCTURE_CHUNK]
        fetched = _fetch(conn, batch, [b"BODYSTRUCTURE", b"INTERNALDATE"])
        for uid in batch:
            index += 1
            data = fetched.get(uid)
            if data is None:
                continue
            dates[uid] = order.arrival(data.get(b"INTERNALDATE"))
            if has_attachment(parse_bodystructure(data[b"BODYSTRUCTURE"])) == wanted:
                found.append(uid)
                if len(found) == limit:
                    break
    return found, index, dates


def list_page(
    conn: Connection,
    mailbox: str,
    filters: Filters,
    cursor: Cursor | None,
    limit: int,
    account: str,
    offset: int = 0,
) -> RawPage:
    """One page newest first (arrival time, then UID); resumes after the cursor's message, or skips `offset`."""
    if filters.gmail_query is not None and not conn.profile.gmail:
        raise InvalidInput(
            f"gmail_query (Gmail search syntax) works only on Gmail accounts; {account!r} is not one: use "
            "the other filters",
            field="gmail_query",
        )
    selected = conn.select(mailbox, readonly=True, expect_uidvalidity=cursor.uidvalidity if cursor else None)
    found = order.ordered(conn, account, mailbox, selected.uidvalidity, filters)
    counts, bound = None, 0
    if (
        filters.group_by_thread
    ):  # grouped over page 1's messages, so later mail cannot move a head across pages
        bound = cursor.uid_bound if cursor and cursor.uid_bound else max(found.uids, default=-1) + 1
        heads, counts = threads.thread_heads(conn, [u for u in found.uids if u < bound])
        found = order.Ordered(heads, found.dates)
    uids = found.uids
    start = order.resume_at(conn, found, cursor.key if cursor else None) + offset
    dates = dict(found.dates)
    if filters.has_attachment is not None:
        chosen, end, seen = scan_structures(conn, uids, start, limit, filters.has_attachment)
        dates.update(seen)
    else:
        chosen, end = uids[start : start + limit], min(start + limit, len(uids))
    page = summaries(conn, chosen)
    for message in page:
        dates[message.uid] = order.arrival(message.data.get(b"INTERNALDATE"))
    next_cursor = None
    if end < len(uids):
        last = uids[end - 1] if end > 0 else None
        if last is not None and last not in dates:
            dates.update(order.fetch_dates(conn, [last]))
        if last is not None:
            next_cursor = Cursor(
                account,
                mailbox,
                selected.uidvalidity,
                filters.as_json(),
                dates.get(last, 0),
                last,
                uid_bound=bound,
            )
    total = None if filters.needs_structure_check else len(uids)
    return RawPage(
        selected=selected, total=total, messages=page, next_cursor=next_cursor, thread_counts=counts
    )


def _gone(mid: MessageId) -> NotFound:
    return NotFound(f"message {mid} is gone (deleted or moved); list the folder again", message_id=str(mid))


def _read_raw(conn: Connection, mid: MessageId, max_bytes: int) -> RawMessage:
    """The fallback when the server's BODYSTRUCTURE (or ENVELOPE) cannot be parsed: the message's own bytes
    (at most `max_bytes`), for the caller to parse itself."""
    fetched = _fetch(
        conn, [mid.uid], [b"FLAGS", b"RFC822.SIZE", b"INTERNALDATE", f"BODY.PEEK[]<0.{max_bytes}>".encode()]
    )
    data = fetched.get(mid.uid)
    if data is None:
        raise _gone(mid)
    raw = data.get(b"BODY[]<0>") or data.get(b"BODY[]") or b""
    return RawMessage(uid=mid.uid, data=data, structure=Part("1", "text/plain"), raw=bytes(raw))


def read_message(conn: Connection, mid: MessageId, max_text_bytes: int, want_html: bool) -> RawMessage:
    """Envelope, structure and the text parts; a message whose summary items cannot be parsed comes back as
    its raw bytes (`RawMessage.raw`) instead."""
    conn.select(mid.mailbox, readonly=True, expect_uidvalidity=mid.uidvalidity)
    items = [*SUMMARY_ITEMS, b"BODY.PEEK[HEADER.FIELDS (REFERENCES FROM SENDER REPLY-TO TO CC)]"]
    try:
        fetched = _fetch(conn, [mid.uid], items)
    except ProtocolError:
        return _read_raw(conn, mid, 4 * max_text_bytes)
    if mid.uid not in fetched:
        raise _gone(mid)
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


def read_attachment(
    conn: Connection, mid: MessageId, selector: int | str, cap: int, *, with_body: bool = True
) -> tuple[Part, bytes | None]:
    """The attachment's part and, when `with_body`, its encoded bytes (refused above `cap`)."""
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
    if not with_body:
        return part, None
    item = f"BODY.PEEK[{part.part_id}]".encode()
    data = _fetch(conn, [mid.uid], [item]).get(mid.uid, {})
    body = data.get(f"BODY[{part.part_id}]".encode())
    if body is None:
        raise NotFound(f"message {mid} is gone (deleted or moved)", message_id=str(mid))
    return part, body
