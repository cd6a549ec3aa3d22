"""New-mail notifications (watchers) against Cyrus (dot and slash hierarchies) and Courier: neither offers NOTIFY,
so each watched folder gets an IDLE connection of its own, and both push a new message and another client's flag
change within a second.

Both push only because the private servers are set up to: Cyrus runs its `idled` daemon (without it an idling
imapd looks at the folder every `imapidlepoll` = 60 s), Courier runs with IMAP_ENHANCEDIDLE=1 (gamin watches the
maildir; without it Courier polls every IMAP_IDLE_TIMEOUT = 60 s). `PUSHED` is far below those 60 s, so a server
that fell back to polling fails here instead of passing slowly.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import anyio
import pytest

from mail_mcp.mailbox.watch import Watchers

from .servers.common import ServerInfo
from .test_watch import Updates, legacy, until, watched

pytest_plugins = ["tests.servers.fixtures"]
pytestmark = [
    pytest.mark.anyio,
    pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning"),
]

KINDS = {"cyrus-dot": "cyrus_dot", "cyrus-slash": "cyrus_slash", "courier": "courier"}
ACCOUNT = "w"
INBOX = f"mail://{ACCOUNT}/INBOX"
PUSHED = 5.0  # seconds from the other client's command to the notification (measured: under 1.1 s)
QUIET = 1.0  # seconds in which no notification may come before the other client acts


@dataclass
class Server:
    kind: str
    info: ServerInfo

    def env(self, **extra: str) -> dict[str, str]:
        prefix = f"MAIL_IMAP_{ACCOUNT.upper()}_"
        return {**self.info.env(ACCOUNT), **{prefix + k: v for k, v in extra.items()}}


@pytest.fixture(scope="module", params=list(KINDS))
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    yield Server(request.param, request.getfixturevalue(KINDS[request.param]).info)


def message(subject: str) -> bytes:
    return (
        f"From: Watch <watch@example.test>\r\nTo: alice@example.test\r\nSubject: {subject}\r\n"
        f"Message-ID: <{secrets.token_hex(8)}@example.test>\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHallo.\r\n"
    ).encode()


def uri(mailbox: str) -> str:
    return f"mail://{ACCOUNT}/{quote(mailbox, safe='')}"


def watcher_names(watchers: Watchers) -> list[str]:
    return sorted(t.name for t in watchers.threads())


async def pushed(updates: Updates, expected: str, since: float) -> float:
    """Wait for a notification of `expected`; the seconds it took from `since`."""
    await until(lambda: expected in updates.uris, timeout=PUSHED)
    assert set(updates.uris) == {expected}  # a server may report one change in more than one response
    return time.monotonic() - since


async def test_idle_without_notify_one_connection_per_folder(server: Server) -> None:
    caps = server.info.capabilities
    assert "IDLE" in caps and "NOTIFY" not in caps
    async with watched(server.env()) as (service, watchers), legacy(service, Updates()) as client:
        await client.subscribe_resource(INBOX)
        assert watchers.watching() == {(ACCOUNT, "INBOX"): 1} and watchers.connections(ACCOUNT, "INBOX") == 1
        # the NOTIFY attempt found no NOTIFY and ended: the folder's own IDLE watcher serves it
        await until(lambda: watcher_names(watchers) == [f"mail-mcp watch {ACCOUNT}/INBOX"])


async def test_new_mail_by_another_client_is_pushed(server: Server) -> None:
    updates = Updates()
    async with watched(server.env()) as (service, _), legacy(service, updates) as client:
        await client.subscribe_resource(INBOX)
        await anyio.to_thread.run_sync(server.info.append, "INBOX", message("arrived"))
        await pushed(updates, INBOX, time.monotonic())


async def test_flag_change_by_another_client_is_pushed(server: Server) -> None:
    other = await anyio.to_thread.run_sync(server.info.connect)
    try:
        await anyio.to_thread.run_sync(other.append, "INBOX", message("to flag"))
        # selecting read-write first: Courier moves the message from new/ to cur/ now, not during the watch
        await anyio.to_thread.run_sync(other.select_folder, "INBOX")
        newest = max(await anyio.to_thread.run_sync(other.search, "ALL"))
        updates = Updates()
        async with watched(server.env()) as (service, _), legacy(service, updates) as client:
            await client.subscribe_resource(INBOX)
            await anyio.sleep(QUIET)
            assert updates.uris == []  # what follows is the flag change's doing
            await anyio.to_thread.run_sync(other.add_flags, newest, [b"\\Flagged"])
            await pushed(updates, INBOX, time.monotonic())
    finally:
        await anyio.to_thread.run_sync(other.logout)


async def test_a_folder_below_or_beside_inbox_is_pushed(server: Server) -> None:
    """`INBOX.Sent` on Cyrus (dot) and Courier, `Sent` on Cyrus (slash): the hierarchy does not matter."""
    sent = server.info.folders["\\Sent"]
    assert sent == server.info.folder("Sent")
    updates = Updates()
    async with (
        watched(server.env(WATCH=f"INBOX, {sent}")) as (service, watchers),
        legacy(service, updates) as client,
    ):
        await client.subscribe_resource(uri(sent))
        assert watchers.watching() == {(ACCOUNT, sent): 1}
        await until(lambda: watcher_names(watchers) == [f"mail-mcp watch {ACCOUNT}/{sent}"])
        await anyio.to_thread.run_sync(server.info.append, "INBOX", message("not watched"))
        await anyio.to_thread.run_sync(server.info.append, sent, message("sent"))
        await pushed(updates, uri(sent), time.monotonic())
