"""Newest first by arrival: matching UIDs ordered by (INTERNALDATE, UID) descending, and where a keyset cursor
(the arrival time and UID of the last message shown) resumes in that order.

With SORT the server orders: `UID SORT (ARRIVAL)` ascending breaks ties by UID ascending (RFC 5256), so the
reversed answer is exactly (date, UID) descending; with ESORT it comes back as a compact set. Without SORT the
arrival times are fetched once per mailbox and kept (an INTERNALDATE never changes for a UID), so later pages
fetch only the dates of new mail.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mail_mcp.imap import _compat
from mail_mcp.imap.connection import Connection
from mail_mcp.imap.search import Filters, page_start
from mail_mcp.imap.search_charset import search_uids

DATE_CACHE_MAILBOXES = 32
_dates: OrderedDict[tuple[str, str, int], dict[int, int]] = OrderedDict()


@dataclass
class Ordered:
    uids: list[int]  # newest first
    dates: dict[int, int] = field(default_factory=dict)  # INTERNALDATE (epoch seconds) where known


def arrival(value: Any) -> int:
    return int(value.timestamp()) if isinstance(value, datetime) else 0


def fetch_dates(conn: Connection, uids: list[int]) -> dict[int, int]:
    if not uids:
        return {}
    fetched = conn.client.fetch(uids, [b"INTERNALDATE"])
    return {int(uid): arrival(data.get(b"INTERNALDATE")) for uid, data in fetched.items()}


def _ordered_set(text: str) -> list[int]:
    """An ESORT `ALL` set in sort order; a range runs in the direction written (5:3 is 5, 4, 3)."""
    out: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition(":")
        a, b = int(low), int(high or low)
        out.extend(range(a, b + 1) if a <= b else range(a, b - 1, -1))
    return out


def _esearch_all(conn: Connection, command: bytes, args: list[bytes]) -> list[int]:
    data = _compat.raw_untagged(conn.client, command, args, response_name="ESEARCH")
    words = b" ".join(d for d in data if isinstance(d, bytes)).decode("ascii", "replace").split()
    return _ordered_set(words[words.index("ALL") + 1]) if "ALL" in words else []


def _search(conn: Connection, filters: Filters) -> list[int]:
    def run(criteria: list[Any], charset: str | None) -> list[int]:
        if not conn.has("ESEARCH"):
            return [int(u) for u in conn.client.search(criteria, charset)]
        args = [b"RETURN", b"(ALL)"] + ([b"CHARSET", charset.encode()] if charset else [])
        return _esearch_all(conn, b"SEARCH", args + _compat.normalise_search_criteria(criteria, charset))

    return search_uids(conn, filters, run)


def _sorted_by_server(conn: Connection, filters: Filters) -> list[int]:
    criteria, charset = filters.criteria()
    charset = charset or "US-ASCII"
    if conn.has("ESORT"):
        args = [b"RETURN", b"(ALL)", b"(ARRIVAL)", charset.encode()]
        ascending = _esearch_all(conn, b"SORT", args + _compat.normalise_search_criteria(criteria, charset))
    else:
        ascending = [int(u) for u in conn.client.sort(["ARRIVAL"], criteria, charset)]
    return ascending[::-1]


def ordered(conn: Connection, account: str, mailbox: str, uidvalidity: int, filters: Filters) -> Ordered:
    # Courier's SORT (its only SORT without ESORT) orders arrival ties in no fixed order, not by UID.
    if conn.has("SORT") and conn.has("ESORT") and (conn.search_utf8 or filters.criteria()[1] is None):
        return Ordered(_sorted_by_server(conn, filters))
    key = (account, mailbox, uidvalidity)
    known = _dates.pop(key, {})
    _dates[key] = known
    while len(_dates) > DATE_CACHE_MAILBOXES:
        _dates.popitem(last=False)
    uids = _search(conn, filters)
    known.update(fetch_dates(conn, [u for u in uids if u not in known]))
    uids.sort(key=lambda u: (known.get(u, 0), u), reverse=True)
    return Ordered(uids, known)


def resume_at(conn: Connection, order: Ordered, after: tuple[int, int] | None) -> int:
    """Index of the first message older than `after` = (arrival, UID): the cursor's message itself when it is
    still there, else a binary search that fetches the arrival time of one probe per step."""
    if after is None:
        return 0
    uids = order.uids
    if order.dates:
        return page_start([(order.dates.get(u, 0), u) for u in uids], after)
    try:
        return uids.index(after[1]) + 1
    except ValueError:
        pass
    low, high = 0, len(uids)
    while low < high:
        middle = (low + high) // 2
        uid = uids[middle]
        date = fetch_dates(conn, [uid]).get(uid, 0)
        if (date, uid) < after:
            high = middle
        else:
            low = middle + 1
    return low
