"""Server differences the jobs work around: which NO means "no such folder", and Courier's read-only selection.

No server we test sends RFC 5530's [NONEXISTENT] for every command, and each words the refusal its own way
(Dovecot "Mailbox doesn't exist", Cyrus "Mailbox does not exist", Courier "Mailbox does not exist, or must be
subscribed to."). So a NO is classified by its response code first, then by asking the server: a LIST of
exactly that name. Courier refuses an APPEND into the folder the same session has open read-only (EXAMINE).
"""

from __future__ import annotations

import imaplib
import re
from typing import Any, Protocol

from imapclient import IMAPClient
from imapclient import exceptions as imap_exc

MISSING_CODES = frozenset({"NONEXISTENT", "TRYCREATE"})
_CODE = re.compile(r"(?:^|: |b['\"])\[([A-Za-z][A-Za-z0-9-]*)")


def response_code(exc: BaseException) -> str | None:
    """The response code of a refused command, upper-case (``NONEXISTENT``), or None."""
    found = _CODE.search(str(exc))
    return found.group(1).upper() if found else None


def mailbox_missing(client: IMAPClient, mailbox: str, exc: BaseException) -> bool:
    """Whether the NO `exc` to a command naming `mailbox` means that folder does not exist."""
    if isinstance(exc, (imap_exc.IMAPClientAbortError, imaplib.IMAP4.abort)):
        return False
    if response_code(exc) in MISSING_CODES:
        return True
    try:
        listed = client.list_folders("", mailbox)
    except (imap_exc.IMAPClientError, imaplib.IMAP4.error):
        return False
    for flags, _, name in listed:
        if name == mailbox:
            return any(_upper(flag) == "\\NONEXISTENT" for flag in flags)
    return True


def _upper(flag: object) -> str:
    return (flag.decode("ascii", "replace") if isinstance(flag, bytes) else str(flag)).upper()


class _Selected(Protocol):
    @property
    def mailbox(self) -> str: ...
    @property
    def readonly(self) -> bool: ...


class _Selecting(Protocol):
    @property
    def selected(self) -> _Selected | None: ...
    def select(self, mailbox: str, *, readonly: bool = ..., expect_uidvalidity: int | None = ...) -> Any: ...


def ensure_writable_selection(conn: _Selecting, mailbox: str) -> None:
    """Before an APPEND into `mailbox`: when this connection has it open read-only, SELECT it read-write
    (Courier answers "NO Current box is selected READ-ONLY." otherwise)."""
    current = conn.selected
    if current is not None and current.mailbox == mailbox and current.readonly:
        conn.select(mailbox, readonly=False)


# Exchange Online answers a client over its IMAP budget with `<tag> BAD Request is throttled. Suggested Backoff
# Time: 201317 milliseconds` (reported by users of javax.mail and of migration tools, e.g. Microsoft Q&A
# "AV3 BADRequest is throttled", 2026-05); the command was not executed.
_THROTTLED = re.compile(
    r"is throttled\b(?:.*?backoff time:\s*(\d+)\s*milliseconds)?", re.IGNORECASE | re.DOTALL
)


def throttle_delay(text: str) -> float | None:
    """Seconds a throttling provider asks us to wait, from its refusal text; None when it is no throttling."""
    found = _THROTTLED.search(text)
    if found is None:
        return None
    return int(found[1]) / 1000 if found[1] else 60.0
