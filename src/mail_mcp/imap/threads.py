"""Blocking conversation jobs on one connection: a message's threading headers, the messages of a folder that
link to a set of Message-IDs (found with HEADER searches, never by reading the folder), Gmail's X-GM-THRID,
and for listings the newest message of each conversation among the matching ones.

Reads use EXAMINE and BODY.PEEK only, so nothing here can set \\Seen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from mail_mcp.errors import NotFound
from mail_mcp.ids import MessageId
from mail_mcp.imap.connection import Connection
from mail_mcp.imap.uidset import uid_set
from mail_mcp.mime import parse_message
from mail_mcp.mime.compose import message_ids
from mail_mcp.mime.message import raw_header

LINK_HEADERS = "MESSAGE-ID IN-REPLY-TO REFERENCES"
LINK_ITEMS = [f"BODY.PEEK[HEADER.FIELDS ({LINK_HEADERS} DATE SUBJECT)]".encode(), b"INTERNALDATE"]
IDS_PER_SEARCH = 20  # three HEADER keys each: a command of a few kB
HEADER_CHUNK = 500
MAX_FOUND_PER_FOLDER = 500
THREAD_ALGORITHMS = ("REFS", "REFERENCES")
MAX_SET_CHARS = 8000  # servers cap command lines (Dovecot at 64 kB); longer UID sets thread the whole folder
_SEARCHABLE = re.compile(r'^<[^\x00-\x20\x7f-\U0010ffff(){%*"\\\]]+>$')  # an IMAP atom: sent as is


@dataclass
class Linked:
    """One message's threading headers, as read from the server."""

    mailbox: str
    uidvalidity: int
    uid: int
    header_message_id: str | None
    in_reply_to: str | None
    references: list[str]
    subject: str
    date: datetime | None  # the Date header, else the arrival time
    thrid: int | None = None

    @property
    def ids(self) -> list[str]:
        """Every Message-ID this message names: its own, its parent and its ancestors."""
        own = [self.header_message_id] if self.header_message_id else []
        parent = [self.in_reply_to] if self.in_reply_to else []
        return list(dict.fromkeys(own + self.references + parent))


@dataclass
class FolderHits:
    mailbox: str
    uidvalidity: int
    found: list[Linked] = field(default_factory=list)
    capped: bool = False


def _header_block(data: dict[bytes, Any]) -> bytes:
    for key, value in data.items():
        if isinstance(key, bytes) and key.startswith(b"BODY[HEADER.FIELDS") and isinstance(value, bytes):
            return value
    return b""


def _date(header: str | None, internal: Any) -> datetime | None:
    value: datetime | None = None
    if header:
        try:
            value = parsedate_to_datetime(header)
        except (TypeError, ValueError, IndexError, OverflowError):
            value = None
    if value is None and isinstance(internal, datetime):
        value = internal
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def linked(mailbox: str, uidvalidity: int, uid: int, data: dict[bytes, Any]) -> Linked:
    message = parse_message(_header_block(data))
    own = message_ids([raw_header(message, "message-id")])
    parent = message_ids([raw_header(message, "in-reply-to")])
    thrid = data.get(b"X-GM-THRID")
    return Linked(
        mailbox=mailbox,
        uidvalidity=uidvalidity,
        uid=uid,
        header_message_id=own[0] if own else None,
        in_reply_to=parent[0] if parent else None,
        references=message_ids([raw_header(message, "references")]),
        subject=raw_header(message, "subject") or "",
        date=_date(raw_header(message, "date"), data.get(b"INTERNALDATE")),
        thrid=int(thrid) if thrid is not None else None,
    )


def _fetch_linked(conn: Connection, mailbox: str, uidvalidity: int, uids: list[int]) -> list[Linked]:
    items = [*LINK_ITEMS, b"X-GM-THRID"] if conn.profile.gmail and conn.has("X-GM-EXT-1") else LINK_ITEMS
    out: list[Linked] = []
    for start in range(0, len(uids), HEADER_CHUNK):
        batch = uids[start : start + HEADER_CHUNK]
        fetched = conn.client.fetch(batch, items)
        out += [linked(mailbox, uidvalidity, int(uid), fetched[uid]) for uid in batch if uid in fetched]
    return out


def read_seed(conn: Connection, mid: MessageId) -> Linked:
    """The threading headers (and on Gmail the X-GM-THRID) of the message `mid`."""
    selected = conn.select(mid.mailbox, readonly=True, expect_uidvalidity=mid.uidvalidity)
    found = _fetch_linked(conn, mid.mailbox, selected.uidvalidity, [mid.uid])
    if not found:
        raise NotFound(
            f"message {mid} is gone (deleted or moved); list the folder again", message_id=str(mid)
        )
    return found[0]


def searchable(ids: list[str]) -> list[str]:
    """The ids a SEARCH can carry as atoms (the rare id with IMAP specials in it is left out)."""
    return [i for i in ids if _SEARCHABLE.match(i)]


def header_criteria(ids: list[str]) -> list[Any]:
    """SEARCH criteria for messages whose Message-ID is one of `ids` or that reply to or reference one."""
    terms: list[Any] = []
    for mid in searchable(ids):
        for header in ("Message-ID", "In-Reply-To", "References"):
            terms.append(["HEADER", header, mid])
    flat: list[Any] = ["OR"] * (len(terms) - 1)
    for term in terms:
        flat += term
    return flat


def find_linked(conn: Connection, mailbox: str, ids: list[str], known: set[int]) -> FolderHits:
    """The messages of `mailbox` that are, reply to or reference one of `ids` (HEADER searches, batched), less
    the UIDs already `known`; each checked against its own headers (a server's HEADER search is a substring
    match, and some match words)."""
    selected = conn.select(mailbox, readonly=True)
    hits = FolderHits(mailbox, selected.uidvalidity)
    ids = searchable(ids)
    if not ids or selected.exists == 0:
        return hits
    uids: set[int] = set()
    for start in range(0, len(ids), IDS_PER_SEARCH):
        uids.update(int(u) for u in conn.client.search(header_criteria(ids[start : start + IDS_PER_SEARCH])))
    fresh = sorted(uids - known)
    if len(fresh) > MAX_FOUND_PER_FOLDER:
        fresh, hits.capped = fresh[-MAX_FOUND_PER_FOLDER:], True
    wanted = set(ids)
    hits.found = [m for m in _fetch_linked(conn, mailbox, selected.uidvalidity, fresh) if wanted & set(m.ids)]
    return hits


def find_by_thrid(conn: Connection, mailbox: str, thrid: int) -> FolderHits:
    """Gmail: every message of the conversation X-GM-THRID `thrid` in `mailbox` (All Mail)."""
    selected = conn.select(mailbox, readonly=True)
    uids = sorted(int(u) for u in conn.client.search(["X-GM-THRID", thrid]))
    hits = FolderHits(mailbox, selected.uidvalidity)
    if len(uids) > MAX_FOUND_PER_FOLDER:
        uids, hits.capped = uids[-MAX_FOUND_PER_FOLDER:], True
    hits.found = _fetch_linked(conn, mailbox, selected.uidvalidity, uids)
    return hits


# ---------------------------------------------------------------- group_by_thread in one folder


def _flatten(node: Any) -> list[int]:
    if isinstance(node, int):
        return [node]
    out: list[int] = []
    for child in node:
        out += _flatten(child)
    return out


def _groups_by_thread_command(conn: Connection, uids: list[int], algorithm: str) -> dict[int, int]:
    """UID -> conversation number, from `UID THREAD <algorithm> UTF-8 UID <the matching UIDs>`; when that set
    would make a long command (scattered UIDs), the whole folder is threaded and the matching UIDs picked out."""
    wanted = uid_set(uids)
    criteria: list[Any] = ["UID", wanted] if len(wanted) <= MAX_SET_CHARS else ["ALL"]
    threads = conn.client.thread(algorithm, criteria, "UTF-8")
    return {uid: n for n, thread in enumerate(threads) for uid in _flatten(thread)}


def _groups_by_thrid(conn: Connection, uids: list[int]) -> dict[int, int]:
    groups: dict[int, int] = {}
    for start in range(0, len(uids), HEADER_CHUNK):
        batch = uids[start : start + HEADER_CHUNK]
        for uid, data in conn.client.fetch(batch, [b"X-GM-THRID"]).items():
            if b"X-GM-THRID" in data:
                groups[int(uid)] = int(data[b"X-GM-THRID"])
    return groups


def group_by_headers(messages: list[Linked]) -> dict[int, int]:
    """UID -> conversation number by JWZ links: messages sharing any Message-ID (own, parent or ancestor) are
    one conversation."""
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for message in messages:
        keys = message.ids or [f"uid:{message.uid}"]
        first = root(keys[0])
        for key in keys[1:]:
            other = root(key)
            if other != first:
                parent[other] = first
    numbers: dict[str, int] = {}
    out: dict[int, int] = {}
    for message in messages:
        keys = message.ids or [f"uid:{message.uid}"]
        out[message.uid] = numbers.setdefault(root(keys[0]), len(numbers))
    return out


def thread_heads(conn: Connection, criteria_uids: list[int]) -> tuple[list[int], dict[int, int]]:
    """For group_by_thread in the SELECTED folder: given the matching UIDs newest first (order.ordered's order),
    the newest matching message of each conversation in the same order, and per head UID how many matching
    messages its conversation has. The server's THREAD command where offered (limited to the matching UIDs):
    REFS (Dovecot: links by references only, as the header fallback does) before REFERENCES (RFC 5256, which
    also merges conversations whose first messages share a subject); else Gmail's X-GM-THRID; else the
    Message-ID, In-Reply-To and References headers of the matching messages, fetched (about 1 s for 10,000)."""
    if not criteria_uids:
        return [], {}
    algorithm = next((a for a in THREAD_ALGORITHMS if conn.has(f"THREAD={a}")), None)
    if algorithm is not None:
        groups = _groups_by_thread_command(conn, criteria_uids, algorithm)
    elif conn.profile.gmail and conn.has("X-GM-EXT-1"):
        groups = _groups_by_thrid(conn, criteria_uids)
    else:
        selected = conn.selected
        assert selected is not None, "thread_heads needs a selected folder"
        found = _fetch_linked(conn, selected.mailbox, selected.uidvalidity, criteria_uids)
        groups = group_by_headers(found)
    heads: list[int] = []
    counts: dict[int, int] = {}
    head_of: dict[object, int] = {}
    for uid in criteria_uids:
        key: object = groups.get(uid, ("uid", uid))
        head = head_of.get(key)
        if head is None:
            head_of[key] = uid
            heads.append(uid)
            counts[uid] = 1
        else:
            counts[head] += 1
    return heads, counts
