"""Watching several folders of an account on one connection with NOTIFY (RFC 5465), outside the pool.

`NOTIFY SET (mailboxes ...) (MessageNew MessageExpunge FlagChange)` with CONDSTORE enabled makes the server push an
unsolicited `* STATUS <folder> (...)` whenever a listed folder gains or loses messages or a flag changes there
(its HIGHESTMODSEQ moves), with no folder selected; the connection IDLEs so that it can push at once. Without
CONDSTORE a folder's flag changes are not reported, so NOTIFY is used only where both are offered.

What Dovecot 2.3 does differently, tried here: a second `NOTIFY SET` on a connection (even after `NOTIFY NONE`)
leaves the first in force, so the folders are set once per connection; a folder whose name is not plain ASCII
is never reported, so only such names are watched this way (`notify_safe`). Blocking, like everything in imap/;
the same methods as `FolderIdle`, answering with the folders that changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from imapclient import imap_utf7
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from mail_mcp.config.models import AccountConfig
from mail_mcp.errors import Unsupported
from mail_mcp.imap._compat import notify_set, status_name
from mail_mcp.imap.connection import Connection, mapped_errors
from mail_mcp.imap.idle import IdleSession

EVENTS = "(MessageNew MessageExpunge FlagChange)"


def offers_notify(conn: Connection) -> bool:
    """Whether one connection can watch several folders: NOTIFY, CONDSTORE (for flag changes), IDLE, ENABLE."""
    return all(conn.has(c) for c in ("NOTIFY", "CONDSTORE", "IDLE", "ENABLE"))


def notify_safe(mailbox: str) -> bool:
    """Whether a folder can be watched with NOTIFY: its name is the same in modified UTF-7 (plain ASCII, no &)."""
    return mailbox.isascii() and imap_utf7.encode(mailbox) == mailbox.encode("ascii")


def quoted(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _folder(name: object) -> str:
    """A folder name as imapclient parsed it (bytes or str); only plain-ASCII names are watched."""
    return name.decode("ascii", "replace") if isinstance(name, bytes) else str(name)


def changed_folders(responses: list[Any]) -> set[str]:
    """The folders named by unsolicited STATUS responses (keep-alives such as `* OK Still here` name none)."""
    return {
        _folder(response[1])
        for response in responses
        if isinstance(response, tuple) and len(response) >= 2 and response[0] == b"STATUS"
    }


class AccountNotify(IdleSession):
    """A fresh connection watching those of `mailboxes` that exist and are `notify_safe` (`folders`) with NOTIFY;
    Unsupported when the server cannot."""

    def __init__(self, account: AccountConfig, mailboxes: Iterable[str]) -> None:
        self.account = account
        self._action = "watching folders"
        self.conn = Connection(account)
        try:
            with mapped_errors(account, self._action):
                if not offers_notify(self.conn):
                    raise Unsupported(
                        f"the IMAP server of account {account.id} does not offer NOTIFY with CONDSTORE",
                        account=account.id,
                    )
                if not self.conn.qresync and b"CONDSTORE" not in [
                    c.upper() for c in self.conn.client.enable("CONDSTORE")
                ]:
                    raise Unsupported(
                        f"the IMAP server of account {account.id} did not enable CONDSTORE",
                        account=account.id,
                    )
                names = sorted({m for m in mailboxes if notify_safe(m)})
                self.folders = frozenset(m for m in names if self._exists(m))
                if self.folders:
                    listed = " ".join(quoted(m) for m in sorted(self.folders))
                    try:
                        notify_set(self.conn.client, f"(mailboxes ({listed}) {EVENTS})")
                    except IMAPClientError as exc:
                        if isinstance(exc, IMAPClientAbortError):
                            raise
                        raise Unsupported(
                            f"the IMAP server of account {account.id} refused NOTIFY: {str(exc)[:200]}",
                            account=account.id,
                        ) from None
        except BaseException:
            self.conn.close()
            raise

    def _exists(self, mailbox: str) -> bool:
        """NOTIFY accepts a name that is not there: LIST tells."""
        return any(name == mailbox for _, _, name in self.conn.client.list_folders("", mailbox))

    def _changes(self, responses: list[Any]) -> set[str]:
        return changed_folders(responses) & self.folders

    def _pushed(self, pushed: dict[str, list[Any]]) -> set[str]:
        statuses = pushed.get("STATUS", [])
        return {_folder(status_name(raw)) for raw in statuses if isinstance(raw, bytes)} & self.folders
