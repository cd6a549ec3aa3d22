"""Watching with IDLE (RFC 2177) on a connection of its own, outside the pool: one folder selected (`FolderIdle`),
or several with NOTIFY (`imap/notify.py`); and STATUS counts.

Blocking, like everything in imap/: `mailbox/watch.py` runs a session in a thread of its own and stops it from
another thread with `abort()`.
"""

from __future__ import annotations

import time
from typing import Any

from imapclient.exceptions import IMAPClientError

from mail_mcp.config.models import AccountConfig
from mail_mcp.errors import NotFound, Unsupported
from mail_mcp.imap._compat import start_idle
from mail_mcp.imap.connection import BrokenConnection, Connection, mapped_errors
from mail_mcp.imap.quirks import mailbox_missing

# Untagged responses that mean the selected folder changed: new mail, expunges, flag changes (other clients').
CHANGE_NAMES = ("EXISTS", "EXPUNGE", "FETCH", "VANISHED")
CHANGES = frozenset(name.encode() for name in CHANGE_NAMES)
PUSHED = (*CHANGE_NAMES, "STATUS")  # what IDLE's start keeps: the same, and NOTIFY's STATUS
STATUS_ITEMS = ("MESSAGES", "UNSEEN", "UIDNEXT", "UIDVALIDITY")
EARLY = 0.05  # seconds: an IDLE check that returns empty this much before its timeout saw the socket end


def changed(responses: list[Any]) -> bool:
    """Whether untagged IDLE responses report a change (keep-alives such as `* OK Still here` do not)."""
    for response in responses:
        if not isinstance(response, tuple) or not response:
            continue
        if response[0] == b"VANISHED" or (len(response) > 1 and response[1] in CHANGES):
            return True
    return False


class IdleSession:
    """A connection of its own, outside the pool, in IDLE: the server pushes changes as they happen. Subclasses say
    which folders a batch of untagged responses reports changed (`_changes`). Every method raises a typed
    MailError; `BrokenConnection` when the connection died (the caller reconnects)."""

    account: AccountConfig
    conn: Connection
    folders: frozenset[str]
    idling = False
    _action = "watching"
    # changes pushed while IDLE was starting, reported by the next check or done
    _early: frozenset[str] = frozenset()

    def _changes(self, responses: list[Any]) -> set[str]:
        raise NotImplementedError

    def _pushed(self, pushed: dict[str, list[Any]]) -> set[str]:
        """The folders that untagged responses (imaplib's raw data, by name) pushed before IDLE's `+` name."""
        raise NotImplementedError

    def start(self) -> None:
        """Enter IDLE: from now on the server pushes the changes."""
        with mapped_errors(self.account, self._action):
            self._early = self._early | self._pushed(start_idle(self.conn.client, PUSHED))
        self.idling = True

    def _taken(self, found: set[str]) -> set[str]:
        found, self._early = found | self._early, frozenset()
        return found

    def check(self, timeout: float) -> set[str]:
        """Wait up to `timeout` seconds while idling; the folders that changed."""
        started = time.monotonic()
        with mapped_errors(self.account, self._action):
            responses = self.conn.client.idle_check(timeout=max(timeout, 0.0))
        self._check_bye(responses)
        if not responses and time.monotonic() - started < timeout - EARLY:
            # imapclient swallows EOF and returns nothing: probe with DONE, which fails on a dead socket
            return self.restart()
        return self._taken(self._changes(responses))

    def restart(self) -> set[str]:
        """DONE, then IDLE again (servers drop an IDLE left alone too long); the folders that changed meanwhile."""
        found = self.done()
        self.start()
        return found

    def done(self) -> set[str]:
        """Leave IDLE; the folders that changed since the last check."""
        self.idling = False
        with mapped_errors(self.account, self._action):
            _, responses = self.conn.client.idle_done()
        self._check_bye(responses)
        return self._taken(self._changes(responses))

    def _check_bye(self, responses: list[Any]) -> None:
        if any(isinstance(r, tuple) and r and r[0] == b"BYE" for r in responses):
            raise BrokenConnection(
                f"the IMAP server ended the connection while {self._action}", account=self.account.id
            )

    def abort(self) -> None:
        """From any thread: shut the socket down, so a blocked check ends at once."""
        self.conn.abort()

    def close(self) -> None:
        """Leave IDLE and log out politely; a dead connection is just closed."""
        if self.idling:
            try:
                self.done()
            except Exception:  # noqa: BLE001 - closing must not raise
                self.conn.abort()
        self.conn.close()


class FolderIdle(IdleSession):
    """A fresh connection that EXAMINEs `mailbox` and idles on it."""

    def __init__(self, account: AccountConfig, mailbox: str) -> None:
        self.account = account
        self.mailbox = mailbox
        self.folders = frozenset({mailbox})
        self._action = f"watching {mailbox!r}"
        self.conn = Connection(account)
        try:
            with mapped_errors(account, self._action):
                if not self.conn.has("IDLE"):
                    raise Unsupported(
                        f"the IMAP server of account {account.id} does not offer IDLE, so new mail cannot be "
                        "pushed; call list_changes with the last state instead",
                        account=account.id,
                    )
                self.conn.select(mailbox, readonly=True)
        except BaseException:
            self.conn.close()
            raise

    def _changes(self, responses: list[Any]) -> set[str]:
        return {self.mailbox} if changed(responses) else set()

    def _pushed(self, pushed: dict[str, list[Any]]) -> set[str]:
        return {self.mailbox} if any(name in pushed for name in CHANGE_NAMES) else set()


def folder_status(conn: Connection, mailbox: str) -> dict[str, int]:
    """STATUS counts of `mailbox`: messages, unseen, uidnext, uidvalidity."""
    try:
        raw = conn.client.folder_status(mailbox, STATUS_ITEMS)
    except IMAPClientError as exc:
        if mailbox_missing(conn.client, mailbox, exc):
            raise NotFound(
                f"mailbox {mailbox!r} does not exist; call list_folders for the names", mailbox=mailbox
            ) from None
        raise
    return {
        key.decode().lower() if isinstance(key, bytes) else str(key).lower(): int(v) for key, v in raw.items()
    }
