"""Blocking per-folder jobs of a search over several folders, and its cursor.

Each folder costs one job for the candidates (EXAMINE, the matching UIDs newest first as `order.ordered` gives
them, the arrival times of the next few only) and, when some of them make the page, one more for their summaries.
The merge itself is done by the caller (mailbox/everywhere.py); nothing here reads a whole folder's messages.
"""

from __future__ import annotations

import json
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from mail_mcp.errors import InvalidInput, MailError
from mail_mcp.imap import fetch, order
from mail_mcp.imap.connection import Connection
from mail_mcp.imap.gmail import fetch_msgids
from mail_mcp.imap.search import Filters

BEYOND_ANY_UID = 2**32  # UIDs are 32-bit: (date, BEYOND_ANY_UID) sorts before every message of that second
VERSION = "*1"
CURSOR_PREFIX = "~"
KEPT_CURSORS = 4096
EXPIRED_CURSOR = (
    "the cursor is not one this server has (it issued it before a restart, or it is too old): start the search "
    "again without it"
)
_kept: OrderedDict[str, bytes] = OrderedDict()


@dataclass(frozen=True)
class Resume:
    """Where one folder's part of the merged order resumes: after `after` = (arrival, UID) in the folder's own
    newest-first order; `last_uid` (the last message of the folder already shown) and `head_uid` (the first
    one not shown, when none had been) are shortcuts that save a binary search while they are still there."""

    after: tuple[int, int] | None = None
    last_uid: int = 0
    head_uid: int = 0


@dataclass
class Candidates:
    uidvalidity: int
    total: int  # matching the criteria (has_attachment aside)
    keys: list[tuple[int, int]]  # (arrival, UID) of the next messages, newest first
    more: bool  # messages beyond `keys` remain in this folder
    msgids: dict[int, int] = field(default_factory=dict)  # Gmail X-GM-MSGID by UID, when asked for


def _start(conn: Connection, found: order.Ordered, resume: Resume) -> int:
    uids = found.uids
    if resume.last_uid:
        try:
            return uids.index(resume.last_uid) + 1
        except ValueError:
            pass
    if resume.head_uid and uids and uids[0] == resume.head_uid:
        return 0
    return order.resume_at(conn, found, resume.after)


def candidates(
    conn: Connection,
    account: str,
    mailbox: str,
    filters: Filters,
    resume: Resume,
    want: int,
    *,
    uidvalidity: int | None,
    msgids: bool,
) -> Candidates:
    """The folder's next `want` matching messages after `resume`, with their arrival times (and X-GM-MSGID)."""
    selected = conn.select(mailbox, readonly=True, expect_uidvalidity=uidvalidity)
    found = order.ordered(conn, account, mailbox, selected.uidvalidity, filters)
    start = _start(conn, found, resume)
    if filters.has_attachment is not None:
        chosen, end, dates = fetch.scan_structures(conn, found.uids, start, want, filters.has_attachment)
    else:
        chosen = found.uids[start : start + want]
        end = start + len(chosen)
        dates = {uid: found.dates[uid] for uid in chosen if uid in found.dates}
        dates.update(order.fetch_dates(conn, [uid for uid in chosen if uid not in dates]))
    return Candidates(
        uidvalidity=selected.uidvalidity,
        total=len(found.uids),
        keys=[(dates.get(uid, 0), uid) for uid in chosen],
        more=end < len(found.uids),
        msgids=fetch_msgids(conn, chosen) if msgids else {},
    )


def summaries(conn: Connection, mailbox: str, uidvalidity: int, uids: list[int]) -> list[fetch.RawMessage]:
    """Summary items (and previews) of the chosen messages of one folder; a message gone since is left out."""
    conn.select(mailbox, readonly=True, expect_uidvalidity=uidvalidity)
    return fetch.summaries(conn, uids)


@dataclass
class FolderMark:
    name: str
    uidvalidity: int
    last_uid: int = 0
    head_uid: int = 0


@dataclass
class SpanCursor:
    """Where a search over several folders stopped: the merged order is (arrival, folder index, UID) with the
    newest first and, on a tie, the earlier folder first and the higher UID first; `last` is the key of the
    last message consumed. `seen` holds the Gmail message ids consumed at `last`'s arrival time (copies of one
    Gmail message share it, so a copy across the page boundary is recognised)."""

    account: str
    scope: list[str] | None  # as the caller named them; None = every folder but Trash and Junk
    filters: dict[str, Any]
    folders: list[FolderMark]
    last: tuple[int, int, int]
    seen: list[int] = field(default_factory=list)
    listing_state: str = ""  # the state token of the listing's first page

    def resume(self, index: int) -> Resume:
        """The resume point of folder `index` in its own (arrival, UID) order."""
        date, at, uid = self.last
        after = (date, uid) if index == at else (date, 0) if index < at else (date, BEYOND_ANY_UID)
        mark = self.folders[index]
        return Resume(after=after, last_uid=mark.last_uid, head_uid=mark.head_uid)

    def encode(self) -> str:
        """A short handle ("~" and 16 characters) to the cursor kept in this process: the folder list it carries
        would cost the model hundreds of tokens per page as text. Like every cursor it does not outlive a
        restart; the oldest are dropped after KEPT_CURSORS."""
        payload = json.dumps(
            {
                "v": VERSION,
                "a": self.account,
                "s": self.scope,
                "f": self.filters,
                "m": [[m.name, m.uidvalidity, m.last_uid, m.head_uid] for m in self.folders],
                "k": list(self.last),
                "g": self.seen,
                "t": self.listing_state,
            },
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        handle = CURSOR_PREFIX + secrets.token_urlsafe(12)
        _kept[handle] = payload
        while len(_kept) > KEPT_CURSORS:
            _kept.popitem(last=False)
        return handle

    @staticmethod
    def _payload(text: str) -> Any:
        payload = _kept.get(text)
        if payload is None:
            raise ValueError("unknown")
        _kept.move_to_end(text)
        return json.loads(payload)

    @classmethod
    def owns(cls, text: str) -> bool:
        """Whether `text` is a cursor of a search over several folders (not of a single folder's listing, whose
        base64 never has a "~")."""
        return text.startswith(CURSOR_PREFIX)

    @classmethod
    def decode(cls, text: str) -> SpanCursor:
        try:
            data = cls._payload(text)
            if not isinstance(data, dict) or set(data) != {"v", "a", "s", "f", "m", "k", "g", "t"}:
                raise ValueError("shape")
            if data["v"] != VERSION or not isinstance(data["a"], str) or not isinstance(data["f"], dict):
                raise ValueError("fields")
            scope = data["s"]
            if scope is not None and not (isinstance(scope, list) and all(isinstance(s, str) for s in scope)):
                raise ValueError("scope")
            folders = [FolderMark(name, *numbers) for name, *numbers in data["m"]]
            if not folders or not all(
                isinstance(m.name, str) and all(_natural(n) for n in (m.uidvalidity, m.last_uid, m.head_uid))
                for m in folders
            ):
                raise ValueError("folders")
            last = tuple(data["k"])
            if len(last) != 3 or not all(_natural(n) for n in last) or last[1] >= len(folders):
                raise ValueError("key")
            if not isinstance(data["g"], list) or not all(_natural(n) for n in data["g"]):
                raise ValueError("seen")
            Filters.from_json(data["f"])
            if not isinstance(data["t"], str):
                raise ValueError("state")
            last_key = (last[0], last[1], last[2])
            return cls(data["a"], scope, data["f"], folders, last_key, data["g"], data["t"])
        except (ValueError, KeyError, TypeError, AttributeError, MailError):
            raise InvalidInput(EXPIRED_CURSOR, field="cursor") from None


def _natural(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
