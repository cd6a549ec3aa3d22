"""list_changes against Cyrus (CONDSTORE and QRESYNC, dot and slash hierarchies) and Courier (neither): new mail,
a flag change and an expunge made by another client, a quiet folder, and a recreated folder."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from mail_mcp.config.sources import load_settings
from mail_mcp.errors import StaleId
from mail_mcp.ids import MessageId
from mail_mcp.mailbox.changes import ChangeTracker
from mail_mcp.mailbox.service import MailService

from .servers.common import ServerInfo

pytest_plugins = ["tests.servers.fixtures"]
pytestmark = pytest.mark.anyio

KINDS = {"cyrus-dot": "cyrus_dot", "cyrus-slash": "cyrus_slash", "courier": "courier"}
ACCOUNT = "m"


@dataclass
class Server:
    kind: str
    info: ServerInfo
    tracker: ChangeTracker


@pytest.fixture(scope="module", params=list(KINDS))
async def server(request: pytest.FixtureRequest) -> AsyncIterator[Server]:
    info: ServerInfo = request.getfixturevalue(KINDS[request.param]).info
    service = MailService(load_settings(env=info.env(ACCOUNT)))
    try:
        yield Server(request.param, info, ChangeTracker(service))
    finally:
        await service.close()


def message(subject: str) -> bytes:
    return (
        f"From: Matrix <matrix@example.test>\r\nTo: dana@example.test\r\nSubject: {subject}\r\n"
        f"Message-ID: <{secrets.token_hex(8)}@example.test>\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHallo.\r\n"
    ).encode()


def fresh(info: ServerInfo, count: int) -> tuple[str, list[int]]:
    name = info.folder(f"Changes-{secrets.token_hex(3)}")
    client = info.connect()
    try:
        client.create_folder(name)
        client.subscribe_folder(name)
        for i in range(count):
            client.append(name, message(f"old {i}"))
        client.select_folder(name, readonly=True)
        return name, sorted(client.search(["ALL"]))
    finally:
        client.logout()


async def test_new_flagged_and_expunged_by_another_client(server: Server) -> None:
    folder, uids = fresh(server.info, 4)
    state = await server.tracker.state(ACCOUNT, [folder])
    client = server.info.connect()
    try:
        client.append(folder, message("arrived"))
        client.select_folder(folder)
        client.add_flags([uids[0]], [b"\\Flagged"])
        client.add_flags([uids[2]], [b"\\Deleted"])
        client.expunge()
    finally:
        client.logout()
    result = await server.tracker.list_changes(state)
    assert result.complete and [m.subject for m in result.new_messages] == ["arrived"]
    assert [(MessageId.parse(c.message_id).uid, c.is_flagged) for c in result.flag_changes] == [
        (uids[0], True)
    ]
    assert [MessageId.parse(i).uid for i in result.vanished] == [uids[2]]
    again = await server.tracker.list_changes(result.state)
    assert not again.changed and again.complete


async def test_quiet_folder_reports_nothing(server: Server) -> None:
    folder, _ = fresh(server.info, 2)
    result = await server.tracker.list_changes(await server.tracker.state(ACCOUNT, [folder]))
    assert not result.changed and result.complete


async def test_recreated_folder_is_stale(server: Server) -> None:
    folder, _ = fresh(server.info, 1)
    state = await server.tracker.state(ACCOUNT, [folder])
    client = server.info.connect()
    try:
        client.delete_folder(folder)
        client.create_folder(folder)
        client.append(folder, message("impostor"))
    finally:
        client.logout()
    with pytest.raises(StaleId):
        await server.tracker.list_changes(state)


async def test_the_path_each_server_takes(server: Server) -> None:
    """Cyrus offers QRESYNC (the token alone suffices); Courier has no CONDSTORE (flags are compared)."""
    pool = server.tracker.service.pools.get(ACCOUNT)
    qresync, condstore = await pool.run(lambda c: (c.qresync, c.has("CONDSTORE")), action="test")
    assert (qresync, condstore) == ((False, False) if server.kind == "courier" else (True, True))
