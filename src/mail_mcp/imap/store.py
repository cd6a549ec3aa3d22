"""Blocking IMAP write jobs: flags, copy, move and expunge of exact UIDs, one command per mailbox per step.

Every job SELECTs the mailbox read-write with the ids' UIDVALIDITY (StaleId before anything is sent) and
works on the UIDs the synced connection can see. `Progress.sent` records whether a write command left, so a
caller can tell "nothing happened" from "outcome unknown" when the connection breaks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from imapclient import exceptions as imap_exc
from imapclient.response_parser import parse_fetch_response

from mail_mcp.errors import NotFound, ServerError, Unsupported
from mail_mcp.imap import _compat
from mail_mcp.imap.connection import Connection
from mail_mcp.imap.flags import check_wire_flags
from mail_mcp.imap.quirks import throttle_delay
from mail_mcp.imap.uidset import parse_uid_set, uid_set


@dataclass
class Progress:
    """What a job got done before it failed, filled in as it goes: `sent` once a write command went out,
    `applied` once one completed, `copy_done` once a copy/move completed (with COPYUID in `copied`)."""

    sent: bool = False
    applied: bool = False
    copied: dict[int, int] = field(default_factory=dict)
    dest_uidvalidity: int | None = None
    copy_done: bool = False


@dataclass
class Transfer:
    """The outcome of a copy or move of one mailbox's UIDs."""

    done: list[int]
    missing: list[int]
    new_uids: dict[int, int]
    dest_uidvalidity: int | None


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def fetch_flags(conn: Connection, uids: list[int]) -> dict[int, list[str]]:
    """Current flags of those UIDs that exist (one UID FETCH); unsolicited responses for others are dropped."""
    wanted = set(uids)
    data = _compat.uid_fetch_raw(conn.client, uid_set(uids).decode("ascii"), "(FLAGS)")
    fetched = parse_fetch_response(data, conn.client.normalise_times, True)
    return {
        int(uid): [_text(f) for f in item.get(b"FLAGS", ())] for uid, item in fetched.items() if uid in wanted
    }


def present_uids(conn: Connection, uids: list[int]) -> list[int]:
    """Which of `uids` exist in the selected mailbox (one UID SEARCH)."""
    found = {int(uid) for uid in conn.client.search([b"UID", uid_set(uids)])}
    return [uid for uid in uids if uid in found]


def _missing(uids: list[int], present: list[int]) -> list[int]:
    found = set(present)
    return [uid for uid in uids if uid not in found]


def _pop_untagged(conn: Connection, *names: str) -> list[bytes]:
    responses = _compat.untagged_responses(conn.client)
    popped: list[bytes] = []
    for name in names:
        popped += [item for item in responses.pop(name, []) if isinstance(item, bytes)]
    return popped


def _copyuid(conn: Connection) -> tuple[int | None, dict[int, int]]:
    """Parse `[COPYUID <uidvalidity> <src> <dst>]` response codes (tagged or untagged) seen since the last pop."""
    validity: int | None = None
    mapping: dict[int, int] = {}
    for item in _pop_untagged(conn, "COPYUID"):
        words = item.decode("ascii", "replace").split()
        if len(words) < 3:
            continue
        try:
            validity = int(words[0])
            mapping.update(zip(parse_uid_set(words[1]), parse_uid_set(words[2]), strict=False))
        except ValueError:
            continue
    return validity, mapping


def _select_write(conn: Connection, mailbox: str, uidvalidity: int) -> None:
    """SELECT read-write (a kept selection is re-synced with NOOP, which reselects when the folder was recreated
    under it, so a stale UIDVALIDITY is still caught before anything is written)."""
    conn.select(mailbox, readonly=False, expect_uidvalidity=uidvalidity)


def store_flags(
    conn: Connection,
    mailbox: str,
    uidvalidity: int,
    uids: list[int],
    add: list[str],
    remove: list[str],
    *,
    progress: Progress | None = None,
) -> dict[int, list[str]]:
    """`UID STORE +FLAGS.SILENT` then `-FLAGS.SILENT` for the whole set, then one FETCH FLAGS.

    Returns the flags now for each UID that exists; a missing UID is absent from the result (nothing was stored
    for it: STORE on an unknown UID is a no-op)."""
    check_wire_flags(list(add) + list(remove))
    progress = progress or Progress()
    _select_write(conn, mailbox, uidvalidity)
    if not uids:
        return {}
    targets = uid_set(uids)
    if add:
        progress.sent = True
        conn.client.add_flags(targets, list(add), silent=True)
        progress.applied = True
    if remove:
        progress.sent = True
        conn.client.remove_flags(targets, list(remove), silent=True)
        progress.applied = True
    return fetch_flags(conn, uids)


def _expunge_selected(conn: Connection, targets: bytes, progress: Progress) -> None:
    progress.sent = True
    conn.client.add_flags(targets, [b"\\Deleted"], silent=True)
    progress.applied = True
    conn.client.uid_expunge(targets)
    _pop_untagged(conn, "EXPUNGE", "VANISHED")


def require_uidplus(conn: Connection, mailbox: str) -> None:
    if not conn.has("UIDPLUS"):
        raise Unsupported(
            "the server lacks UIDPLUS, so messages cannot be expunged one by one without also "
            "expunging every other message marked \\Deleted in the folder; nothing was changed",
            mailbox=mailbox,
        )


def expunge_uids(
    conn: Connection, mailbox: str, uidvalidity: int, uids: list[int], *, progress: Progress | None = None
) -> None:
    """`+FLAGS.SILENT (\\Deleted)` then `UID EXPUNGE` of exactly `uids` (needs UIDPLUS: a plain EXPUNGE would
    also remove messages someone else marked \\Deleted)."""
    require_uidplus(conn, mailbox)
    _select_write(conn, mailbox, uidvalidity)
    if uids:
        _expunge_selected(conn, uid_set(uids), progress or Progress())


def expunge_present(
    conn: Connection, mailbox: str, uidvalidity: int, uids: list[int], *, progress: Progress | None = None
) -> Transfer:
    """Like expunge_uids, but first finds which UIDs exist, and reports those that do not as missing."""
    require_uidplus(conn, mailbox)
    _select_write(conn, mailbox, uidvalidity)
    present = present_uids(conn, uids) if uids else []
    if present:
        _expunge_selected(conn, uid_set(present), progress or Progress())
    return Transfer(present, _missing(uids, present), {}, None)


def _destination_error(exc: Exception, destination: str) -> Exception:
    text = str(exc).upper()
    if "TRYCREATE" in text or "NONEXISTENT" in text or "DOESN'T EXIST" in text or "NOT FOUND" in text:
        return NotFound(
            f"destination folder {destination!r} does not exist; call list_folders, or create it "
            "with create_folder",
            folder=destination,
        )
    return ServerError(
        f"the IMAP server refused to copy or move into {destination!r}: {str(exc)[:300]}", folder=destination
    )


def _transfer(
    conn: Connection,
    mailbox: str,
    uidvalidity: int,
    uids: list[int],
    destination: str,
    *,
    move: bool,
    progress: Progress,
) -> Transfer:
    use_move = move and conn.has("MOVE")
    if move and not use_move and not conn.has("UIDPLUS"):
        raise Unsupported(
            "the server has neither MOVE nor UIDPLUS: moving would need a plain EXPUNGE, which "
            "could also remove other messages marked \\Deleted; nothing was changed. Use "
            "copy_message instead",
            mailbox=mailbox,
        )
    _select_write(conn, mailbox, uidvalidity)
    present = present_uids(conn, uids)
    missing = _missing(uids, present)
    if not present:
        return Transfer([], missing, {}, None)
    targets = uid_set(present)
    _pop_untagged(conn, "COPYUID")
    progress.sent = True
    try:
        if use_move:
            conn.client.move(targets, destination)
        else:
            conn.client.copy(targets, destination)
    except imap_exc.IMAPClientError as exc:
        if isinstance(exc, imap_exc.IMAPClientAbortError) or throttle_delay(str(exc)) is not None:
            raise  # a broken connection, or a throttling provider: the pool maps and handles those
        raise _destination_error(exc, destination) from None
    dest_validity, mapping = _copyuid(conn)
    progress.copied, progress.dest_uidvalidity, progress.copy_done = mapping, dest_validity, True
    if move and not use_move:
        _expunge_selected(conn, targets, progress)
    elif use_move:
        _pop_untagged(conn, "EXPUNGE", "VANISHED")
    return Transfer(present, missing, mapping, dest_validity)


def copy_uids(
    conn: Connection,
    mailbox: str,
    uidvalidity: int,
    uids: list[int],
    destination: str,
    *,
    progress: Progress | None = None,
) -> Transfer:
    """`UID COPY` of the UIDs that exist; new UIDs from COPYUID when the server has UIDPLUS."""
    return _transfer(
        conn, mailbox, uidvalidity, uids, destination, move=False, progress=progress or Progress()
    )


def move_uids(
    conn: Connection,
    mailbox: str,
    uidvalidity: int,
    uids: list[int],
    destination: str,
    *,
    progress: Progress | None = None,
) -> Transfer:
    """`UID MOVE` (RFC 6851); without MOVE, `UID COPY` + `\\Deleted` + `UID EXPUNGE` of exactly those UIDs
    (needs UIDPLUS, else Unsupported before anything is sent)."""
    return _transfer(
        conn, mailbox, uidvalidity, uids, destination, move=True, progress=progress or Progress()
    )


def create_folder(conn: Connection, name: str) -> bool:
    """CREATE `name`; False when it already exists."""
    if conn.client.folder_exists(name):
        return False
    conn.client.create_folder(name)
    return True
