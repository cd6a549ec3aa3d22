"""Two writes on the same message at once, through one server: each outcome must be true. A FaultProxy `stall`
holds the first call's command so the second runs meanwhile (in-memory MCP client -> server -> proxy -> Dovecot).
Reads are not held up by a write in flight."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import anyio
import anyio.to_thread
import pytest
from mcp import Client

from mail_mcp.config.sources import load_settings
from mail_mcp.ids import MessageId
from mail_mcp.mailbox.service import MailService
from mail_mcp.sandbox import Sandbox
from mail_mcp.server.app import build_server

from .conftest import call
from .faultproxy import FaultProxy, Rule

pytestmark = pytest.mark.anyio
HOLD = 1.0


@pytest.fixture
def proxy(sandbox: Sandbox) -> Iterator[FaultProxy]:
    with FaultProxy(sandbox.host, sandbox.imap_port) as running:
        yield running


@asynccontextmanager
async def bob_via(sandbox: Sandbox, proxy: FaultProxy) -> AsyncIterator[Client]:
    env = {
        **sandbox.env("bob"),
        "MAIL_IMAP_DEFAULT_HOST": "127.0.0.1",
        "MAIL_IMAP_DEFAULT_PORT": str(proxy.port),
        "MAIL_IMAP_DEFAULT_SECURITY": "plain",
        "MAIL_IMAP_DEFAULT_POOL_SIZE": "3",
        "MAIL_IMAP_WRITE_ENABLED": "true",
    }
    service = MailService(load_settings(env=env))
    try:
        async with Client(build_server(service), raise_exceptions=True) as client:
            await call(client, "list_folders")
            yield client
    finally:
        await service.close()


def fresh_message(sandbox: Sandbox) -> tuple[str, str]:
    name = f"C-{uuid.uuid4().hex[:8]}"
    with sandbox.connect("bob") as imap:
        imap.create_folder(name)
        imap.append(name, f"Subject: race {name}\r\nMessage-ID: <{name}@t>\r\n\r\nbody\r\n".encode())
        validity = int(imap.select_folder(name, readonly=True)[b"UIDVALIDITY"])
        uid = int(imap.search("ALL")[0])
    return name, str(MessageId("default", name, validity, uid))


def where_is(sandbox: Sandbox, name: str) -> list[str]:
    found = []
    with sandbox.connect("bob") as imap:
        for folder in (name, "Archive", "Junk"):
            imap.select_folder(folder, readonly=True)
            if imap.search(["HEADER", "Message-ID", f"<{name}@t>"]):
                found.append(folder)
    return found


async def both(
    client: Client, rule: Rule, first: tuple[str, dict[str, Any]], second: tuple[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Start `first`, wait until its command is held by `rule`, then run `second` alongside."""
    results: list[dict[str, Any]] = [{}, {}]

    async def run(index: int, tool: str, arguments: dict[str, Any]) -> None:
        results[index] = (await call(client, tool, **arguments))["data"]

    async with anyio.create_task_group() as tg:
        tg.start_soon(run, 0, *first)
        assert await anyio.to_thread.run_sync(rule.fired.wait, 5)
        tg.start_soon(run, 1, *second)
    return results


async def test_two_moves_of_one_message_one_wins_and_the_other_says_gone(
    sandbox: Sandbox, proxy: FaultProxy
) -> None:
    name, message_id = fresh_message(sandbox)
    async with bob_via(sandbox, proxy) as client:
        rule = proxy.stall(r"UID MOVE", HOLD)  # held before the server sees it
        archive, junk = await both(
            client,
            rule,
            ("move_message", {"message_ids": [message_id], "destination": "Archive"}),
            ("move_message", {"message_ids": [message_id], "destination": "Junk"}),
        )
    first, second = archive["messages"][0], junk["messages"][0]
    assert where_is(sandbox, name) == ["Archive"]
    assert first["status"] == "ok" and first["folder"] == "Archive", first
    assert second["status"] == "failed" and second["code"] == "not_found", second


async def test_adding_and_removing_seen_at_once_both_report_the_truth(
    sandbox: Sandbox, proxy: FaultProxy
) -> None:
    name, message_id = fresh_message(sandbox)
    async with bob_via(sandbox, proxy) as client:
        rule = proxy.stall(r"UID STORE", HOLD, forward=True)  # executed at once, its answer held
        added, removed = await both(
            client,
            rule,
            ("modify_flags", {"message_ids": [message_id], "add_flags": ["\\Seen"]}),
            ("modify_flags", {"message_ids": [message_id], "remove_flags": ["\\Seen"]}),
        )
    assert added["messages"][0]["status"] == "ok", added
    assert removed["messages"][0]["status"] == "ok", removed
    assert "\\Seen" in added["messages"][0]["flags"] and "\\Seen" not in removed["messages"][0]["flags"]
    with sandbox.connect("bob") as imap:
        imap.select_folder(name, readonly=True)
        uid = int(message_id.rsplit(":", 1)[1])
        assert b"\\Seen" not in imap.fetch([uid], ["FLAGS"])[uid][b"FLAGS"]  # the later one stands


async def test_reads_are_not_held_up_by_a_write_in_flight(sandbox: Sandbox, proxy: FaultProxy) -> None:
    name, message_id = fresh_message(sandbox)
    async with bob_via(sandbox, proxy) as client:
        rule = proxy.stall(r"UID STORE", HOLD, forward=True)
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                partial(call, client, "modify_flags", message_ids=[message_id], add_flags=["\\Flagged"])
            )
            assert await anyio.to_thread.run_sync(rule.fired.wait, 5)
            started = time.monotonic()
            listing = (await call(client, "list_messages", mailbox=name))["data"]
            took = time.monotonic() - started
    assert len(listing["messages"]) == 1 and took < HOLD / 2
