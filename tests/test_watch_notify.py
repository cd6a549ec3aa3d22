"""One watcher per account with NOTIFY (RFC 5465) where the server offers it with CONDSTORE: every subscribed
folder of WATCH on one connection, and a connection of its own for a folder NOTIFY cannot watch (a non-ASCII name,
or one created after the NOTIFY connection was set up). Without NOTIFY or CONDSTORE, one IDLE connection per
folder. Real Dovecots; the second with capabilities withheld."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from functools import partial

import anyio
import pytest
from mcp.shared.exceptions import MCPError

from mail_mcp.config.sources import load_settings
from mail_mcp.imap.notify import AccountNotify
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
    flag_newest,
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
                if step == "flag":
                    flag_newest(wsb, "Lists")
                    return
                with wsb.connect("alice") as imap:
                    if step == "append":
                        imap.append("Lists", message("to the list"))
                        return
                    imap.select_folder("Lists")
                    imap.delete_messages(max(imap.search("ALL")))
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
    """A Dovecot without NOTIFY; without CONDSTORE (and so QRESYNC); or without QRESYNC alone."""
    dropped = {"no-notify": {"NOTIFY"}, "no-condstore": {"CONDSTORE", "QRESYNC"}, "no-qresync": {"QRESYNC"}}
    with wsb.connect("alice") as imap:
        live = [c.decode() for c in imap.capabilities() if not c.upper().startswith((b"AUTH=", b"STARTTLS"))]
    kept = " ".join(c for c in live if c.upper() not in dropped[request.param])
    with Sandbox(users=("alice",), imap_capability=kept) as box:
        box.append("alice", "Lists", message("seed"))
        yield request.param, box


async def test_notify_needs_condstore_else_each_folder_has_its_own_idle(limited: tuple[str, Sandbox]) -> None:
    """NOTIFY without CONDSTORE would miss flag changes in folders not selected: then one IDLE per folder. Without
    QRESYNC alone, NOTIFY is used with CONDSTORE enabled on its own. Either way a flag change and a delivery are
    reported."""
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
            if kind == "no-qresync"
            else ["mail-mcp watch alice/INBOX", "mail-mcp watch alice/Lists"]
        )
        assert thread_names(watchers.threads()) == expected

        await anyio.to_thread.run_sync(flag_newest, box, "Lists")
        await until(lambda: LISTS in updates.uris)
        await deliver(box)
        await until(lambda: INBOX in updates.uris)


def test_a_change_pushed_just_before_idle_is_kept(wsb: Sandbox) -> None:
    """A change the server pushes between commands arrives before IDLE's `+`: it is reported, not a failure
    (imapclient's own idle() raises "Unexpected IDLE response" on it, and the watcher would reconnect)."""
    account = load_settings(env=env_for(wsb, WATCH="INBOX, Lists")).accounts["alice"]
    notify = AccountNotify(account, account.watch)
    try:
        wsb.append("alice", "Lists", message("pushed early"))
        time.sleep(1.0)  # Dovecot tells a NOTIFY session within about half a second
        notify.start()
        assert notify.check(0.2) == {"Lists"}
    finally:
        notify.close()
    assert "Lists" in notify.folders and "INBOX" in notify.folders


async def test_subscribers_of_one_folder_share_its_watcher_while_the_server_is_slow(wsb: Sandbox) -> None:
    with FaultProxy(wsb.host, wsb.imap_port) as proxy:
        env = env_for(wsb, HOST="127.0.0.1", PORT=str(proxy.port), SECURITY="plain")
        proxy.stall(r"NOTIFY", 1.5, forward=True)
        first, second = Updates(), Updates()
        async with watched(env) as (service, watchers):
            watchers.options = replace(watchers.options, ready_timeout=0.3)
            async with legacy(service, first) as one, legacy(service, second) as two:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(one.subscribe_resource, INBOX)
                    tg.start_soon(two.subscribe_resource, INBOX)
                assert watchers.watching() == {("alice", "INBOX"): 2}
                assert thread_names(watchers.threads()) == ["mail-mcp watch alice (NOTIFY)"]
                await until(lambda: watchers.connections("alice", "INBOX") == 1)
                await deliver(wsb, "for both")
                await until(lambda: INBOX in first.uris and INBOX in second.uris)
                await one.unsubscribe_resource(INBOX)
                await two.unsubscribe_resource(INBOX)
                assert watchers.watching() == {}
                await until(lambda: watchers.threads() == [])


async def test_a_refused_login_is_tried_once_per_subscribe(wsb: Sandbox) -> None:
    with FaultProxy(wsb.host, wsb.imap_port) as proxy:
        env = env_for(wsb, HOST="127.0.0.1", PORT=str(proxy.port), SECURITY="plain", PASS="wrong")
        async with watched(env) as (service, watchers), legacy(service, Updates()) as client:
            with pytest.raises(MCPError, match="auth_failed"):
                await client.subscribe_resource(INBOX)
            assert commands(proxy, "LOGIN") == 1 and watchers.watching() == {}
