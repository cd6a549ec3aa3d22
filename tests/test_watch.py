"""New mail as it arrives: IDLE watchers, `mail://<account>/<mailbox>` subscriptions on both protocol generations
(2025 `resources/subscribe`, 2026-07-28 `subscriptions/listen`), the folder resource, the WATCH setting, and
reconnection after a dropped IDLE connection. A private Dovecot (one user, alice) so deliveries here do not
change the counts other tests rely on."""

from __future__ import annotations

import json
import os
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError
from mcp.types import ResourceUpdatedNotification

from mail_mcp.config.sources import load_settings
from mail_mcp.errors import ConfigError
from mail_mcp.mailbox.service import MailService
from mail_mcp.mailbox.watch import Watchers, WatchOptions, stop_watchers, watchers_for
from mail_mcp.sandbox import Sandbox
from mail_mcp.server.app import build_server

from .faultproxy import FaultProxy
from .test_transports import serving

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning"),
]
INBOX = "mail://alice/INBOX"
LISTS = "mail://alice/Lists"
ODD = "Reçus 100%"  # a folder name that must be percent-encoded in its URI
ODD_URI = "mail://alice/Re%C3%A7us%20100%25"
FAST = WatchOptions(
    idle_restart=30.0, backoff_first=0.05, backoff_max=0.4, stable_after=5.0, ready_timeout=10.0
)
BOTH = pytest.mark.parametrize("notify", [True, False], ids=["notify", "idle-per-folder"])
QUIET = 1.5  # seconds to wait for a notification that must not come (Dovecot reports changes after ~0.5 s)


@pytest.fixture(scope="module")
def wsb() -> Iterator[Sandbox]:
    with Sandbox(users=("alice",)) as sb:
        sb.append("alice", "Lists", message("seed"))
        sb.append("alice", ODD, message("seed"))
        yield sb


def message(subject: str) -> bytes:
    return (
        f"From: sender@example.test\r\nTo: alice@example.test\r\nSubject: {subject}\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@example.test>\r\n\r\nHello.\r\n"
    ).encode()


def env_for(sb: Sandbox, **extra: str) -> dict[str, str]:
    return {**sb.env("alice", account="alice"), **{f"MAIL_IMAP_ALICE_{k}": v for k, v in extra.items()}}


@asynccontextmanager
async def watched(env: dict[str, str], *, notify: bool = True) -> AsyncIterator[tuple[MailService, Watchers]]:
    """A service with fast watcher timings (`notify` False: one IDLE connection per folder even where NOTIFY is
    offered); on exit its watchers are stopped and no thread is left."""
    service = MailService(load_settings(env=env))
    watchers = watchers_for(service)
    watchers.options = replace(FAST, notify=notify)
    try:
        yield service, watchers
    finally:
        await stop_watchers(service)
        await service.close()
        assert watchers.threads() == []


class Updates:
    """A legacy client's message handler: the URIs of `notifications/resources/updated` received."""

    def __init__(self) -> None:
        self.uris: list[str] = []

    async def __call__(self, message: Any) -> None:
        if isinstance(message, ResourceUpdatedNotification):
            self.uris.append(str(message.params.uri))


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.02)


async def deliver(sb: Sandbox, subject: str = "new") -> None:
    await anyio.to_thread.run_sync(sb.deliver, "alice@example.test", message(subject))


def flag_newest(sb: Sandbox, folder: str) -> None:
    """Another client flags the newest message of `folder`."""
    with sb.connect("alice") as imap:
        imap.select_folder(folder)
        imap.add_flags(max(imap.search("ALL")), [b"\\Flagged"])


def legacy(service: MailService, updates: Updates) -> Client:
    return Client(build_server(service), mode="legacy", message_handler=updates, raise_exceptions=True)


# --------------------------------------------------------------------------- capabilities and the resource


async def test_both_generations_advertise_resource_subscriptions(wsb: Sandbox) -> None:
    async with watched(env_for(wsb)) as (service, _):
        async with legacy(service, Updates()) as old:
            resources = old.server_capabilities.resources
            assert old.protocol_version != "2026-07-28" and resources is not None and resources.subscribe
        async with Client(build_server(service), raise_exceptions=True) as new:
            resources = new.server_capabilities.resources
            assert new.protocol_version == "2026-07-28" and resources is not None and resources.subscribe


async def test_folder_resource_reads_counts_and_state(wsb: Sandbox) -> None:
    async with (
        watched(env_for(wsb)) as (service, _),
        Client(build_server(service), raise_exceptions=True) as client,
    ):
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
        assert {
            "mail://{account}/{mailbox}",
            "mail://{account}/{mailbox}/{uidvalidity}/{uid}/{part}",
        } <= templates
        result = await client.read_resource(INBOX)
        (content,) = result.contents
        assert content.mime_type == "application/json"
        body = json.loads(content.text)  # type: ignore[union-attr]
        assert body["account"] == "alice" and body["mailbox"] == "INBOX"
        assert {"messages", "unseen", "uidnext", "uidvalidity"} <= set(body)
        assert body["uidnext"] > body["messages"] >= 0 and body["uidvalidity"] > 0
        assert body["state"] and "list_changes" in body["hint"]
        lists = json.loads((await client.read_resource(LISTS)).contents[0].text)  # type: ignore[union-attr]
        assert lists["mailbox"] == "Lists" and lists["messages"] >= 1
        odd = json.loads((await client.read_resource(ODD_URI)).contents[0].text)  # type: ignore[union-attr]
        assert odd["mailbox"] == ODD and odd["messages"] >= 1
        with pytest.raises(MCPError, match="not_found"):
            await client.read_resource("mail://alice/No-such-folder")


async def test_listen_to_a_folder_whose_name_is_encoded(wsb: Sandbox) -> None:
    async with (
        watched(env_for(wsb, WATCH=f"INBOX, {ODD}")) as (service, watchers),
        Client(build_server(service), raise_exceptions=True) as client,
        client.listen(resource_subscriptions=[ODD_URI]) as sub,
    ):
        assert watchers.watching() == {("alice", ODD): 1}
        await anyio.to_thread.run_sync(wsb.append, "alice", ODD, message("odd"))
        with anyio.fail_after(10):
            event = await sub.__anext__()
        assert event.uri == ODD_URI  # type: ignore[union-attr]


# --------------------------------------------------------------------------- notifications


async def test_legacy_subscribe_notifies_after_delivery(wsb: Sandbox) -> None:
    updates = Updates()
    async with watched(env_for(wsb)) as (service, watchers):
        async with legacy(service, updates) as client:
            await client.subscribe_resource(INBOX)
            assert watchers.watching() == {("alice", "INBOX"): 1}
            await deliver(wsb)
            await until(lambda: INBOX in updates.uris)
        await until(lambda: watchers.watching() == {})  # the client left: its subscription went with it


async def test_listen_notifies_after_delivery(wsb: Sandbox) -> None:
    async with (
        watched(env_for(wsb)) as (service, watchers),
        Client(build_server(service), raise_exceptions=True) as client,
    ):
        async with client.listen(resource_subscriptions=[INBOX]) as sub:
            assert watchers.watching() == {("alice", "INBOX"): 1}
            await deliver(wsb)
            with anyio.fail_after(10):
                event = await sub.__anext__()
            assert event.uri == INBOX  # type: ignore[union-attr]
        await until(lambda: watchers.watching() == {})  # the stream ended: so did its subscription


async def test_flag_change_by_another_client_notifies(wsb: Sandbox) -> None:
    await deliver(wsb, "to flag")
    updates = Updates()
    async with watched(env_for(wsb)) as (service, _), legacy(service, updates) as client:
        await client.subscribe_resource(INBOX)

        await anyio.to_thread.run_sync(flag_newest, wsb, "INBOX")
        await until(lambda: INBOX in updates.uris)


async def test_no_notification_for_a_folder_not_subscribed(wsb: Sandbox) -> None:
    updates = Updates()
    async with (
        watched(env_for(wsb, WATCH="INBOX, Lists")) as (service, watchers),
        legacy(service, updates) as client,
    ):
        await client.subscribe_resource(INBOX)
        await anyio.to_thread.run_sync(wsb.append, "alice", "Lists", message("list mail"))
        await anyio.sleep(QUIET)
        assert updates.uris == [] and watchers.watching() == {("alice", "INBOX"): 1}


async def test_unsubscribe_stops_notifications(wsb: Sandbox) -> None:
    updates = Updates()
    async with watched(env_for(wsb)) as (service, watchers), legacy(service, updates) as client:
        await client.subscribe_resource(INBOX)
        await client.unsubscribe_resource(INBOX)
        assert watchers.watching() == {}
        await deliver(wsb)
        await anyio.sleep(QUIET)
        assert updates.uris == []
        await until(lambda: watchers.threads() == [])  # it logged out on its own


@BOTH
async def test_notifies_again_after_the_idle_connection_is_dropped(wsb: Sandbox, notify: bool) -> None:
    with FaultProxy(wsb.host, wsb.imap_port) as proxy:
        env = env_for(wsb, HOST="127.0.0.1", PORT=str(proxy.port), SECURITY="plain")
        updates = Updates()
        async with watched(env, notify=notify) as (service, watchers), legacy(service, updates) as client:
            await client.subscribe_resource(INBOX)
            assert watchers.connections("alice", "INBOX") == 1
            assert proxy.cut_idle_connections() >= 1
            await until(lambda: watchers.connections("alice", "INBOX") == 2)
            # what happened while away is unknown: one update
            await until(lambda: updates.uris == [INBOX])
            await deliver(wsb, "after the cut")
            await until(lambda: len(updates.uris) >= 2)  # a server may tell one delivery more than once
            assert set(updates.uris) == {INBOX}


@BOTH
async def test_idle_is_restarted_on_the_same_connection(wsb: Sandbox, notify: bool) -> None:
    with FaultProxy(wsb.host, wsb.imap_port) as proxy:
        env = env_for(wsb, HOST="127.0.0.1", PORT=str(proxy.port), SECURITY="plain")
        updates = Updates()
        async with watched(env, notify=notify) as (service, watchers), legacy(service, updates) as client:
            watchers.options = replace(watchers.options, idle_restart=0.2)
            await client.subscribe_resource(INBOX)

            def sent(command: str) -> int:
                return sum(line.split(" ")[1:2] == [command] for line in proxy.lines(">"))

            await until(lambda: sent("IDLE") >= 3)
            assert sum(line == "DONE" for line in proxy.lines(">")) >= 2
            assert watchers.connections("alice", "INBOX") == 1 and sent("LOGIN") == 1
            await deliver(wsb, "between restarts")
            await until(lambda: INBOX in updates.uris)


async def test_subscribing_to_a_folder_not_watched_is_refused(wsb: Sandbox) -> None:
    async with watched(env_for(wsb)) as (service, watchers):
        async with legacy(service, Updates()) as old:
            with pytest.raises(MCPError) as refused:
                await old.subscribe_resource(LISTS)
            assert "MAIL_IMAP_ALICE_WATCH" in refused.value.error.message
            assert refused.value.error.code == -32602
        async with Client(build_server(service), raise_exceptions=True) as new:
            with pytest.raises(MCPError) as refused:
                async with new.listen(resource_subscriptions=[INBOX, LISTS]):
                    pass
            assert "MAIL_IMAP_ALICE_WATCH" in refused.value.error.message
        assert watchers.watching() == {}
    async with watched(env_for(wsb, WATCH="none")) as (service, _), legacy(service, Updates()) as old:
        with pytest.raises(MCPError, match="watched: none"):
            await old.subscribe_resource(INBOX)


async def test_subscribing_to_a_missing_folder_says_so(wsb: Sandbox) -> None:
    async with (
        watched(env_for(wsb, WATCH="INBOX, Nope")) as (service, watchers),
        legacy(service, Updates()) as old,
    ):
        with pytest.raises(MCPError, match="not_found"):
            await old.subscribe_resource("mail://alice/Nope")
        assert watchers.watching() == {}


@BOTH
async def test_watchers_stop_at_shutdown(wsb: Sandbox, notify: bool) -> None:
    async with (
        watched(env_for(wsb, WATCH="INBOX,Lists"), notify=notify) as (service, watchers),
        Client(build_server(service), raise_exceptions=True) as new,
        legacy(service, Updates()) as old,
    ):
        await old.subscribe_resource(LISTS)
        async with new.listen(resource_subscriptions=[INBOX]):
            assert len(watchers.threads()) == (1 if notify else 2)  # NOTIFY: one connection for both
            await stop_watchers(service)
            assert watchers.threads() == [] and watchers.watching() == {}
    assert not [t for t in threading.enumerate() if t.name.startswith("mail-mcp watch")]


async def test_stdio_subprocess_notifies_a_legacy_subscriber(wsb: Sandbox) -> None:
    updates = Updates()
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mail_mcp"],
        env={**env_for(wsb), "PATH": os.environ["PATH"]},
    )
    with anyio.fail_after(30):
        async with Client(params, mode="legacy", message_handler=updates) as client:
            await client.subscribe_resource(INBOX)
            await deliver(wsb, "over stdio")
            await until(lambda: INBOX in updates.uris)


async def test_streamable_http_notifies_both_generations(wsb: Sandbox) -> None:
    updates = Updates()
    async with (
        watched(env_for(wsb)) as (service, watchers),
        serving(service) as web,
        Client(web.url, raise_exceptions=True) as new,
        Client(web.url, mode="legacy", message_handler=updates, raise_exceptions=True) as old,
    ):
        await old.subscribe_resource("mail://alice/inbox")  # INBOX in any case: the same folder
        async with new.listen(resource_subscriptions=[INBOX]) as sub:
            assert new.protocol_version == "2026-07-28" and watchers.watching() == {("alice", "INBOX"): 2}
            await deliver(wsb, "over http")
            with anyio.fail_after(10):
                event = await sub.__anext__()
            assert event.uri == INBOX  # type: ignore[union-attr]
            await until(lambda: "mail://alice/inbox" in updates.uris)  # in the spelling it subscribed with


# --------------------------------------------------------------------------- the WATCH setting


def test_watch_setting_from_env_and_toml(wsb: Sandbox, tmp_path: Path) -> None:
    base = env_for(wsb)
    assert load_settings(env=base).accounts["alice"].watch == ("INBOX",)
    assert load_settings(env={**base, "MAIL_IMAP_ALICE_WATCH": "inbox, Lists ,Lists"}).accounts[
        "alice"
    ].watch == ("INBOX", "Lists")
    assert load_settings(env={**base, "MAIL_IMAP_ALICE_WATCH": "none"}).accounts["alice"].watch == ()
    with pytest.raises(ConfigError, match="MAIL_IMAP_ALICE_WATCH"):
        load_settings(env={**base, "MAIL_IMAP_ALICE_WATCH": "none, INBOX"})
    path = tmp_path / "mail.toml"
    path.write_text('[accounts.alice]\nwatch = ["Lists", "Archive/2026"]\n', encoding="utf-8")
    assert load_settings(env=base, config_path=path).accounts["alice"].watch == ("Lists", "Archive/2026")
    overridden = load_settings(env={**base, "MAIL_IMAP_ALICE_WATCH": "INBOX"}, config_path=path)
    assert overridden.accounts["alice"].watch == ("INBOX",)  # the environment beats the file
    path.write_text('[accounts.alice]\nwatch = "none"\n', encoding="utf-8")
    assert load_settings(env=base, config_path=path).accounts["alice"].watch == ()
    account = load_settings(env={**base, "MAIL_IMAP_ALICE_WATCH": "Lists"}).accounts["alice"]
    assert account.may_watch("Lists") and not account.may_watch("INBOX") and not account.may_watch("lists")


async def test_a_malformed_folder_uri_is_refused(wsb: Sandbox) -> None:
    async with watched(env_for(wsb)) as (service, watchers), legacy(service, Updates()) as old:
        for uri in ("mail://alice/Archive/2026", "mail://alice/INBOX/", "mail:/alice/INBOX"):
            with pytest.raises(MCPError, match="%2F") as refused:
                await old.subscribe_resource(uri)
            assert refused.value.error.code == -32602
        assert watchers.watching() == {}


async def test_the_same_subscribe_twice_at_once_counts_once(wsb: Sandbox) -> None:
    async with watched(env_for(wsb)) as (service, watchers), legacy(service, Updates()) as old:
        async with anyio.create_task_group() as tg:
            tg.start_soon(old.subscribe_resource, INBOX)
            tg.start_soon(old.subscribe_resource, INBOX)
        assert watchers.watching() == {("alice", "INBOX"): 1}
        await old.unsubscribe_resource(INBOX)
        await until(lambda: watchers.watching() == {})


@BOTH
async def test_a_subscribe_the_client_gave_up_on_leaves_no_watcher(wsb: Sandbox, notify: bool) -> None:
    with FaultProxy(wsb.host, wsb.imap_port) as proxy:
        env = env_for(wsb, HOST="127.0.0.1", PORT=str(proxy.port), SECURITY="plain")
        async with watched(env, notify=notify) as (service, watchers):
            proxy.stall(r"NOTIFY" if notify else r"EXAMINE", 3.0, forward=True)  # the server is slow
            async with legacy(service, Updates()) as client:
                with anyio.move_on_after(1.0):
                    await client.subscribe_resource(INBOX)
            await until(
                lambda: watchers.watching() == {} and not any(t.is_alive() for t in watchers.threads())
            )
