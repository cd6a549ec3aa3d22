"""Gmail's IMAP extensions (X-GM-EXT-1, developers.google.com/gmail/imap/imap-extensions): labels through
X-GM-LABELS, and X-GM-MSGID, which is the same for one message in every label folder it appears in."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from mail_mcp.errors import InvalidInput
from mail_mcp.imap.connection import Connection
from mail_mcp.imap.store import Progress, store_flags

T = TypeVar("T")
MAX_LABELS = 20


def check_labels(labels: list[str] | None, field: str) -> list[str]:
    """Label names as Gmail shows them ("Projects/2024", "\\\\Important"); no control characters."""
    out: list[str] = []
    for label in labels or []:
        if not label.strip() or len(label) > 255 or any(ord(ch) < 0x20 or ch == "\x7f" for ch in label):
            raise InvalidInput(
                f"{field}: label {label[:40]!r} is empty, too long or contains control characters; nothing "
                "was changed",
                field=field,
            )
        out.append(label)
    if len(out) > MAX_LABELS:
        raise InvalidInput(f"{field}: at most {MAX_LABELS} labels per call", field=field)
    return out


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def store_labels(
    conn: Connection,
    uids: list[int],
    add: list[str],
    remove: list[str],
    *,
    progress: Progress,
) -> dict[int, list[str]]:
    """`UID STORE +X-GM-LABELS.SILENT` / `-X-GM-LABELS.SILENT` on the selected (read-write) mailbox, then the
    labels now, read back with one FETCH X-GM-LABELS."""
    if not uids:
        return {}
    if add:
        progress.sent = True
        conn.client.add_gmail_labels(uids, add, silent=True)
        progress.applied = True
    if remove:
        progress.sent = True
        conn.client.remove_gmail_labels(uids, remove, silent=True)
        progress.applied = True
    wanted = set(uids)
    now = conn.client.get_gmail_labels(uids)
    return {int(uid): [_text(label) for label in labels] for uid, labels in now.items() if uid in wanted}


def unique_by_msgid(rows: Iterable[T], msgid: Callable[[T], int | None]) -> list[T]:
    """Rows from several Gmail folders with each message once (the first row seen), by its X-GM-MSGID; rows
    without one are all kept."""
    seen: set[int] = set()
    out: list[T] = []
    for row in rows:
        key = msgid(row)
        if key is not None:
            if key in seen:
                continue
            seen.add(key)
        out.append(row)
    return out


def fetch_msgids(conn: Connection, uids: list[int]) -> dict[int, int]:
    """X-GM-MSGID of each UID in the selected mailbox."""
    if not uids:
        return {}
    fetched = conn.client.fetch(uids, [b"X-GM-MSGID"])
    return {int(uid): int(data[b"X-GM-MSGID"]) for uid, data in fetched.items() if b"X-GM-MSGID" in data}


def store_flags_and_labels(
    conn: Connection,
    mailbox: str,
    uidvalidity: int,
    uids: list[int],
    add: list[str],
    remove: list[str],
    add_labels: list[str],
    remove_labels: list[str],
    *,
    progress: Progress,
) -> tuple[dict[int, list[str]], dict[int, list[str]] | None]:
    """Flags as `store.store_flags` (which also tells which UIDs exist), then labels; their state now."""
    flags = store_flags(conn, mailbox, uidvalidity, uids, add, remove, progress=progress)
    if not (add_labels or remove_labels):
        return flags, None
    present = [uid for uid in uids if uid in flags]
    return flags, store_labels(conn, present, add_labels, remove_labels, progress=progress)
