"""One watcher per account with NOTIFY (RFC 5465) where the server offers it with CONDSTORE: every subscribed
folder of WATCH on one connection, and a connection of its own for a folder NOTIFY cannot watch (a non-ASCII name,
or one created after the NOTIFY connection was set up). Without NOTIFY or CONDSTORE, one IDLE connection per
folder. Real Dovecots; the second with capabilities withheld."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterator
from functools import partial

import anyio
import pytest

from mail_mcp.sandbox import Sandbox

from .faultproxy import FaultProxy
from .test_watch import (
    INBOX,
    LISTS,
    ODD,
    ODD_URI,
    Updates,
    deliver,
    env_for,
    legacy,
    message,
    until,
    watched,
    wsb,
)

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning"),
]
__all__ = ["wsb"]  # the module's Dovecot, shared with test_watch


def commands(proxy: FaultProxy, name: str) -> int:
    """How many `name` commands went to the server (`a3 NAME ...`)."""
    return sum(line.split(" ")[1:2] == [name] for line in proxy.lines(">"))


def thread_names(threads: list[object]) -> list[str]:
    return sorted(getattr(t, "name", "") for t in threads)


async def test_one_connection_reports_new_mail_flags_and_expunges_in_two_folders(wsb: Sandbox) -> None:
    with FaultProxy(wsb.host, wsb.imap_port) as proxy:
        env = env_for(wsb, HOST="127.0.0.1", PORT=str(proxy.port), SECURITY="plain", WATCH="INBOX, Lists")
        updates = Updates()
        async with watched(env) as (service, watchers), legacy(service, updates) as client:
            await client.subscribe_resource(INBOX)
            await client.subscribe_resource(LISTS)
            assert watchers.watching() == {("alice", "INBOX"): 1, ("alice", "Lists"): 1}
            assert thread_names(watchers.threads()) == ["mail-mcp watch alice (NOTIFY)"]
            assert commands(proxy, "NOTIFY") == 1 and commands(proxy, "LOGIN") == 1
            assert commands(proxy, "EXAMINE") == commands(proxy, "SELECT") == 0

            async def reported(uri: str, change: Callable[[], Awaitable[object]]) -> None:
                """`change` is followed by a notification for `uri` (a server may send more than one)."""
                before = updates.uris.count(uri)
                await change()
                await until(lambda: updates.uris.count(uri) > before)

            def in_lists(step: str) -> None:
                with wsb.connect("alice") as imap:
                    if step == "append":
                        imap.append("Lists", message("to the list"))
                        return
                    imap.select_folder("Lists")
                    newest = max(imap.search("ALL"))
                    if step == "flag":
                        imap.add_flags(newest, [b"\\Flagged"])
                    else:
                        imap.delete_messages(newest)
                        imap.expunge()

            await reported(INBOX, lambda: deliver(wsb, "to the inbox"))
            for step in ("append", "flag", "expunge"):
                await reported(LISTS, partial(anyio.to_thread.run_sync, in_lists, step))
            assert commands(proxy, "LOGIN") == 1

            await client.unsubscribe_resource(LISTS)
            assert watchers.watching() == {("alice", "INBOX"): 1} and len(watchers.threads()) == 1
            listed = updates.uris.count(LISTS)
            await anyio.to_thread.run_sync(in_lists, "append")
            await reported(INBOX, lambda: deliver(wsb, "reported"))
            await anyio.sleep(0.3)
            assert updates.uris.count(LISTS) == listed


async def test_a_folder_notify_cannot_watch_gets_a_connection_of_its_own(wsb: Sandbox) -> None:
    updates = Updates()
    async with (
        watched(env_for(wsb, WATCH=f"INBOX, {ODD}")) as (service, watchers),
        legacy(service, updates) as client,
    ):
        await client.subscribe_resource(INBOX)
        await client.subscribe_resource(ODD_URI)
        assert thread_names(watchers.threads()) == [
            "mail-mcp watch alice (NOTIFY)",
            f"mail-mcp watch alice/{ODD}",
        ]
        await anyio.to_thread.run_sync(wsb.append, "alice", ODD, message("odd"))
        await until(lambda: ODD_URI in updates.uris)
        await deliver(wsb)
        await until(lambda: INBOX in updates.uris)


async def test_a_folder_created_after_the_notify_connection_is_watched_on_its_own(wsb: Sandbox) -> None:
    later = f"Later-{uuid.uuid4().hex[:8]}"
    updates = Updates()
    async with (
        watched(env_for(wsb, WATCH=f"INBOX, {later}")) as (service, watchers),
        legacy(service, updates) as client,
    ):
        await client.subscribe_resource(INBOX)
        await anyio.to_thread.run_sync(wsb.append, "alice", later, message("first"))  # creates it
        await client.subscribe_resource(f"mail://alice/{later}")
        assert f"mail-mcp watch alice/{later}" in thread_names(watchers.threads())
        await anyio.to_thread.run_sync(wsb.append, "alice", later, message("second"))
        await until(lambda: f"mail://alice/{later}" in updates.uris)


@pytest.fixture(scope="module", params=["no-notify", "no-condstore", "no-qresync"])
def limited(request: pytest.FixtureRequest, wsb: Sandbox) -> Iterator[tuple[str, Sandbox]]:
    dropped = {"no-notify": {"NOTIFY"}, "no-condstore": {"CONDSTORE", "QRESYNC"}, "no-qresync": {"QRESYNC"}}
    with wsb.connect("alice") as imap:
        live = [c.decode() for c in imap.capabilities() if not c.upper().startswith((b"AUTH=", b"STARTTLS"))]
    kept = " ".join(c for c in live if c.upper() not in dropped[request.param])
    with Sandbox(users=("alice",), imap_capability=kept) as box:
        box.append("alice", "Lists", message("seed"))
        yield request.param, box


async def test_without_notify_and_condstore_each_folder_has_its_own_idle(
    limited: tuple[str, Sandbox],
) -> None:
    """NOTIFY without CONDSTORE would miss flag changes in folders not selected: then one IDLE per folder."""
    kind, box = limited
    updates = Updates()
    async with (
        watched(env_for(box, WATCH="INBOX, Lists")) as (service, watchers),
        legacy(service, updates) as client,
    ):
        await client.subscribe_resource(INBOX)
        await client.subscribe_resource(LISTS)
        expected = (
            ["mail-mcp watch alice (NOTIFY)"]
            if kind == "no-qresync"  # NOTIFY with CONDSTORE enabled by hand
            else ["mail-mcp watch alice/INBOX", "mail-mcp watch alice/Lists"]
        )
        assert thread_names(watchers.threads()) == expected

        def flag_in_lists() -> None:
            with box.connect("alice") as imap:
                imap.select_folder("Lists")
                imap.add_flags(max(imap.search("ALL")), [b"\\Flagged"])

        await anyio.to_thread.run_sync(flag_in_lists)
        await until(lambda: LISTS in updates.uris)
        await deliver(box)
        await until(lambda: INBOX in updates.uris)
