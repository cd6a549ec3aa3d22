"""Blocking jobs for "what changed since": a mailbox's state (STATUS) and the changes since an earlier one.

With CONDSTORE a state is (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, MESSAGES) and `UID FETCH 1:<uidnext-1> (UID
FLAGS) (CHANGEDSINCE m)` returns exactly the messages changed since: the new ones (UID >= the old UIDNEXT) and
those whose flags changed. With QRESYNC enabled the same FETCH gets `VANISHED` and the server names the UIDs
expunged since m, so nothing costs in proportion to the mailbox; when the server no longer holds that history it
may name every missing UID (RFC 7162 allows it), so the named UIDs are trusted only when the counts agree (else
only how many went is told). Without QRESYNC an expunge is proven absent by
the counts, else found by comparing UID sets with a `Snapshot` taken with the old state; without CONDSTORE
the snapshot also holds every message's flags (one `UID FETCH (FLAGS)`), and without a snapshot only new mail
and how many messages vanished can be told. Reads use EXAMINE and `BODY.PEEK`, so nothing here sets \\Seen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from imapclient import exceptions as imap_exc
from imapclient.response_parser import parse_fetch_response

from mail_mcp.errors import NotFound, StaleId
from mail_mcp.imap import _compat, fetch
from mail_mcp.imap.connection import Connection
from mail_mcp.imap.fetch import RawMessage
from mail_mcp.imap.quirks import mailbox_missing
from mail_mcp.imap.uidset import parse_uid_set

MAX_SNAPSHOT = 20_000  # messages per mailbox whose flags a state without CONDSTORE keeps in memory
SESSION_FLAGS = frozenset({"\\recent"})  # differs per session, never a change


@dataclass(frozen=True)
class MailboxState:
    name: str
    uidvalidity: int
    uidnext: int
    modseq: int | None  # HIGHESTMODSEQ; None without CONDSTORE
    count: int  # messages with a UID below uidnext


@dataclass(frozen=True)
class Snapshot:
    """What a state without QRESYNC needs to name vanished UIDs (and, without CONDSTORE, changed flags)."""

    uids: frozenset[int]
    flags: dict[int, tuple[str, ...]] | None = None  # None with CONDSTORE: the server reports flag changes


@dataclass
class RawChanges:
    state: MailboxState  # the state now, covering everything below
    snapshot: Snapshot | None
    new_uids: list[int]  # every new UID, highest first
    new_messages: list[RawMessage]  # the first `limit` of them
    flags: dict[int, tuple[str, ...]] = field(default_factory=dict)  # UID -> flags now, where they changed
    vanished: list[int] = field(default_factory=list)
    vanished_unknown: int = 0  # this many messages went, but which ones cannot be told
    flags_known: bool = True


def needs_snapshot(conn: Connection) -> bool:
    return not conn.qresync


def _flag_tuple(values: Any) -> tuple[str, ...]:
    names = (v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values or ())
    return tuple(sorted(n for n in names if n.lower() not in SESSION_FLAGS))


def status(conn: Connection, mailbox: str, *, examine: bool = False) -> MailboxState:
    """One STATUS; NotFound when the folder is gone. STATUS on the mailbox this connection has selected answers
    for the session's view (Dovecot), so that view is synced with NOOP first. With `examine` the mailbox is
    EXAMINEd first when it is not selected: a listing that follows reuses the selection, and STATUS on a
    selected mailbox is cheap (Dovecot opens an unselected 10,000-message maildir in ~3 ms, ~0.3 ms when selected)."""
    current = conn.selected
    if current is not None and current.mailbox == mailbox:
        conn.select(mailbox, readonly=current.readonly)
    elif examine:
        conn.select(mailbox, readonly=True)
    items = [b"UIDVALIDITY", b"UIDNEXT", b"MESSAGES"] + ([b"HIGHESTMODSEQ"] if conn.has("CONDSTORE") else [])
    try:
        found = conn.client.folder_status(mailbox, items)
    except imap_exc.IMAPClientError as exc:
        if mailbox_missing(conn.client, mailbox, exc):
            raise NotFound(
                f"mailbox {mailbox!r} no longer exists; call list_folders, then list a folder for a new state",
                mailbox=mailbox,
            ) from None
        raise
    modseq = found.get(b"HIGHESTMODSEQ")
    return MailboxState(
        name=mailbox,
        uidvalidity=int(found[b"UIDVALIDITY"]),
        uidnext=int(found[b"UIDNEXT"]),
        modseq=int(modseq) if modseq is not None else None,
        count=int(found[b"MESSAGES"]),
    )


def _present(conn: Connection, below: int) -> frozenset[int]:
    """The UIDs below `below` that exist (ESEARCH answers with a compact set)."""
    if below <= 1:
        return frozenset()
    if conn.has("ESEARCH"):
        data = _compat.raw_untagged(
            conn.client, b"SEARCH", [b"RETURN", b"(ALL)", b"UID", f"1:{below - 1}".encode()], "ESEARCH"
        )
        words = b" ".join(d for d in data if isinstance(d, bytes)).decode("ascii", "replace").split()
        return frozenset(parse_uid_set(words[words.index("ALL") + 1])) if "ALL" in words else frozenset()
    return frozenset(int(u) for u in conn.client.search([b"UID", f"1:{below - 1}".encode()]))


_UID = re.compile(rb"\bUID (\d+)")
_FLAGS = re.compile(rb"\bFLAGS \(([^)]*)\)")
_MODSEQ = re.compile(rb"\bMODSEQ \((\d+)\)")
Fetched = dict[int, tuple[tuple[str, ...], int | None]]  # UID -> (flags, MODSEQ)


def _parse(raw: list[Any]) -> Fetched:
    """FETCH answers of UID, FLAGS and MODSEQ only: a regular expression per line (imapclient's general parser
    takes ~120 ms for 10,000 lines, this ~10 ms); anything else goes through imapclient's parser. An answer
    without a UID (an unsolicited FETCH, keyed by sequence number) is left out."""
    found: Fetched = {}
    other: list[Any] = []
    for item in raw:
        flags = _FLAGS.search(item) if isinstance(item, bytes) else None
        rest = item[: flags.start()] + item[flags.end() :] if flags is not None else b""
        uid = _UID.search(rest)
        if uid is None or flags is None:
            other.append(item)
            continue
        modseq = _MODSEQ.search(rest)
        found[int(uid.group(1))] = (
            _flag_tuple(flags.group(1).split()),
            int(modseq.group(1)) if modseq else None,
        )
    for data in parse_fetch_response(other, False, False).values() if other else ():
        if b"FLAGS" in data and isinstance(data.get(b"UID"), int):
            found[int(data[b"UID"])] = (_flag_tuple(data[b"FLAGS"]), _modseq(data))
    return found


def _fetch_flags(conn: Connection, below: int, modifiers: str = "") -> tuple[Fetched, list[int]]:
    """`UID FETCH 1:<below-1> (UID FLAGS)` with optional modifiers: flags and MODSEQ by UID below `below`, and
    the UIDs a `VANISHED (EARLIER)` answer named."""
    if below <= 1:
        return {}, []
    fetched, vanished = _compat.uid_fetch_changed(conn.client, f"1:{below - 1}", "(UID FLAGS)", modifiers)
    gone: list[int] = []
    for item in vanished:
        text = item.decode("ascii", "replace") if isinstance(item, bytes) else str(item)
        if text.upper().startswith("(EARLIER)"):
            gone += parse_uid_set(text.split()[1])
    return {uid: value for uid, value in _parse(fetched).items() if uid < below}, gone


def take_state(
    conn: Connection, mailbox: str, *, examine: bool = False
) -> tuple[MailboxState, Snapshot | None]:
    """The state now, with a snapshot where this connection lacks QRESYNC (UIDs; and flags without CONDSTORE).
    A snapshot's state counts exactly the messages in it, read in one EXAMINEd view."""
    state = status(conn, mailbox, examine=examine)
    if not needs_snapshot(conn) or state.count > MAX_SNAPSHOT:
        return state, None
    conn.select(mailbox, readonly=True, expect_uidvalidity=state.uidvalidity)
    if state.modseq is not None:
        uids = _present(conn, state.uidnext)
        return MailboxState(mailbox, state.uidvalidity, state.uidnext, state.modseq, len(uids)), Snapshot(
            uids
        )
    fetched, _ = _fetch_flags(conn, state.uidnext)
    flags = {uid: value[0] for uid, value in fetched.items()}
    return MailboxState(mailbox, state.uidvalidity, state.uidnext, None, len(flags)), Snapshot(
        frozenset(flags), flags
    )


def _stale(old: MailboxState, now: MailboxState) -> StaleId:
    return StaleId(
        f"mailbox {old.name!r} was deleted and recreated (UIDVALIDITY {old.uidvalidity} is now {now.uidvalidity}); "
        "the state and the message ids from before no longer apply: list the folder again for a new state",
        mailbox=old.name,
        uidvalidity=now.uidvalidity,
    )


def changes(conn: Connection, old: MailboxState, snapshot: Snapshot | None, limit: int) -> RawChanges:
    """What changed in `old.name` since `old`; `snapshot` is the one taken with `old`, when still kept."""
    now = status(conn, old.name)
    if now.uidvalidity != old.uidvalidity:
        raise _stale(old, now)
    if old.modseq is not None and now.modseq is not None and conn.has("CONDSTORE"):
        if (now.modseq, now.uidnext, now.count) == (old.modseq, old.uidnext, old.count):
            return RawChanges(state=old, snapshot=snapshot, new_uids=[], new_messages=[])
        conn.select(old.name, readonly=True, expect_uidvalidity=old.uidvalidity)
        result = _with_modseq(conn, old, now, snapshot)
    else:
        conn.select(old.name, readonly=True, expect_uidvalidity=old.uidvalidity)
        result = _by_comparison(conn, old, now, snapshot)
    result.new_messages = fetch.summaries(conn, result.new_uids[:limit])
    return result


def _with_modseq(
    conn: Connection, old: MailboxState, now: MailboxState, snapshot: Snapshot | None
) -> RawChanges:
    modifiers = f"CHANGEDSINCE {old.modseq}" + (" VANISHED" if conn.qresync else "")
    assert old.modseq is not None
    fetched, gone = _fetch_flags(conn, now.uidnext, modifiers)
    changed = {
        uid: flags for uid, (flags, modseq) in fetched.items() if modseq is None or modseq > old.modseq
    }
    new = sorted((uid for uid in changed if uid >= old.uidnext), reverse=True)
    flags = {uid: value for uid, value in changed.items() if uid < old.uidnext}
    result = RawChanges(state=now, snapshot=None, new_uids=new, new_messages=[], flags=flags)
    if conn.qresync:
        _vanished_named(result, sorted(uid for uid in set(gone) if uid < old.uidnext), old, now, len(new))
        return result
    if old.count + len(new) == now.count and snapshot is not None:
        result.snapshot = Snapshot(snapshot.uids | frozenset(new))
        return result
    present = _present(conn, now.uidnext)
    result.state = MailboxState(now.name, now.uidvalidity, now.uidnext, now.modseq, len(present))
    result.snapshot = Snapshot(present) if len(present) <= MAX_SNAPSHOT else None
    before = {uid for uid in present if uid < old.uidnext}
    if snapshot is not None:
        result.vanished = sorted(uid for uid in snapshot.uids if uid not in before)
    else:
        result.vanished_unknown = max(0, old.count - len(before))
    return result


def _vanished_named(
    result: RawChanges, named: list[int], old: MailboxState, now: MailboxState, new: int
) -> None:
    """The UIDs `VANISHED (EARLIER)` named, checked against the counts: a server that lost the expunge history
    since the old modseq names every missing UID, also those gone before the state. Then, if any went at all,
    which ones cannot be told."""
    expected = max(0, old.count + new - now.count)
    if len(named) <= expected:
        result.vanished, result.vanished_unknown = named, expected - len(named)
    else:
        result.vanished_unknown = expected


def _modseq(data: dict[bytes, Any]) -> int | None:
    """The MODSEQ of a parsed FETCH answer."""
    value: Any = data.get(b"MODSEQ")
    if isinstance(value, (tuple, list)) and value:
        value = value[0]
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return int(value) if isinstance(value, int) or (isinstance(value, str) and value.isdigit()) else None


def _by_comparison(
    conn: Connection, old: MailboxState, now: MailboxState, snapshot: Snapshot | None
) -> RawChanges:
    """Without CONDSTORE: every message's flags below the current UIDNEXT (one FETCH), compared with the
    snapshot's; without a snapshot, new mail and the number of vanished messages only."""
    fetched, _ = _fetch_flags(conn, now.uidnext)
    current = {uid: value[0] for uid, value in fetched.items()}
    new = sorted((uid for uid in current if uid >= old.uidnext), reverse=True)
    kept = Snapshot(frozenset(current), current) if len(current) <= MAX_SNAPSHOT else None
    state = MailboxState(now.name, now.uidvalidity, now.uidnext, None, len(current))
    result = RawChanges(state=state, snapshot=kept, new_uids=new, new_messages=[])
    before = {uid for uid in current if uid < old.uidnext}
    if snapshot is not None and snapshot.flags is not None:
        result.vanished = sorted(uid for uid in snapshot.uids if uid not in before)
        result.flags = {
            uid: current[uid] for uid in sorted(before) if snapshot.flags.get(uid) != current[uid]
        }
    else:
        result.flags_known = False
        if snapshot is not None:
            result.vanished = sorted(uid for uid in snapshot.uids if uid not in before)
        else:
            result.vanished_unknown = max(0, old.count - len(before))
    return result
