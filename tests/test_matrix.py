"""The tools that matter, end to end through the MCP client, against each real server: Dovecot (the sandbox, `/`,
SPECIAL-USE), Cyrus 3.6 in INBOX. mode (`.`), Cyrus with the 3.x defaults (`/`, folders beside INBOX) and
Courier-IMAP 5 (`INBOX.`, no SPECIAL-USE, MOVE, LIST-STATUS, ESEARCH or CONDSTORE).

Every test runs once per server (`target`); a server that cannot start fails its tests with the reason. This module
holds the fixtures, reading and the server quirks; test_matrix_writes.py organizing, drafts and sending.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from imapclient.exceptions import IMAPClientError
from mcp import Client

from mail_mcp.config.sources import load_settings
from mail_mcp.ids import MessageId
from mail_mcp.imap.connection import Connection
from mail_mcp.imap.namespace import Namespace
from mail_mcp.imap.quirks import ensure_writable_selection, mailbox_missing
from mail_mcp.mailbox.service import MailService
from mail_mcp.sandbox import Sandbox
from mail_mcp.server.app import build_server

from .conftest import call, call_error
from .servers.common import ServerInfo
from .smtp_support import SmtpSink, smtp_server

pytest_plugins = ["tests.servers.fixtures"]
pytestmark = pytest.mark.anyio

KINDS = ("dovecot", "cyrus-dot", "cyrus-slash", "courier")
FIXTURES = {"cyrus-dot": "cyrus_dot", "cyrus-slash": "cyrus_slash", "courier": "courier"}
ACCOUNT = "m"
DOVECOT_FOLDERS = {"\\Sent": "Sent", "\\Drafts": "Drafts", "\\Trash": "Trash", "\\Junk": "Junk"}
BASE_TIME = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def dovecot_sandbox() -> Iterator[Sandbox]:
    """A private Dovecot with one user, so counts and folders are this module's alone."""
    with Sandbox(users=("dana",)) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def dovecot(dovecot_sandbox: Sandbox) -> ServerInfo:
    user = dovecot_sandbox.users["dana"]
    return ServerInfo(
        kind="dovecot",
        host=dovecot_sandbox.host,
        port=dovecot_sandbox.imap_port,
        user=user.name,
        password=user.password,
        delimiter="/",
        prefix="",
        folders=DOVECOT_FOLDERS,
        special_use=True,
        capabilities=(),
    )


@pytest.fixture(scope="module")
def smtp(dovecot_sandbox: Sandbox) -> Iterator[tuple[int, SmtpSink]]:
    """aiosmtpd recording what is sent (the recipients are outside, so nothing is delivered)."""
    with smtp_server(dovecot_sandbox) as running:
        yield running


@dataclass
class Target:
    kind: str
    info: ServerInfo
    client: Client
    service: MailService
    sink: SmtpSink
    single: Client  # the same account with one pooled connection: every job reuses the last selection

    def folder(self, use: str) -> str:
        return self.info.folders[use]

    def fresh(self, stem: str, count: int, *, same_second: bool = False) -> tuple[str, list[int]]:
        """A new folder (created over plain IMAP) holding `count` messages "<stem> <i>", arrived a minute
        apart (or all in the same second); their UIDs in order."""
        name = self.info.folder(f"{stem}-{secrets.token_hex(3)}")
        client = self.info.connect()
        try:
            client.create_folder(name)
            client.subscribe_folder(name)
            for i in range(count):
                when = None if same_second else BASE_TIME + timedelta(minutes=i)
                client.append(name, message(f"{stem} {i}"), (), when)
            client.select_folder(name, readonly=True)
            uids = sorted(client.search(["ALL"]))
        finally:
            client.logout()
        return name, uids


@pytest.fixture(scope="module", params=KINDS)
async def target(request: pytest.FixtureRequest, smtp: tuple[int, SmtpSink]) -> AsyncIterator[Target]:
    kind: str = request.param
    server = request.getfixturevalue(FIXTURES.get(kind, "dovecot"))
    info: ServerInfo = server if kind == "dovecot" else server.info
    upper = ACCOUNT.upper()
    env = {
        **info.env(ACCOUNT),
        "MAIL_IMAP_WRITE_ENABLED": "true",
        "MAIL_SMTP_SEND_ENABLED": "true",
        "MAIL_SMTP_CONFIRM": "never",
        f"MAIL_SMTP_{upper}_HOST": "127.0.0.1",
        f"MAIL_SMTP_{upper}_PORT": str(smtp[0]),
        f"MAIL_SMTP_{upper}_SECURITY": "plain",
        f"MAIL_SMTP_{upper}_FROM": f"{info.user}@example.test",
    }
    service = MailService(load_settings(env=env))
    single = MailService(load_settings(env={**env, f"MAIL_IMAP_{upper}_POOL_SIZE": "1"}))
    try:
        async with (
            Client(build_server(service), raise_exceptions=True) as client,
            Client(build_server(single), raise_exceptions=True) as one,
        ):
            yield Target(kind, info, client, service, smtp[1], one)
    finally:
        await service.close()
        await single.close()


def message(subject: str, body: str = "Hallo aus der Matrix.") -> bytes:
    return (
        f"From: Matrix <matrix@example.test>\r\nTo: dana@example.test\r\nSubject: {subject}\r\n"
        f"Message-ID: <{secrets.token_hex(8)}@example.test>\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{body}\r\n"
    ).encode()


async def listing(t: Target, mailbox: str, **filters: Any) -> dict[str, Any]:
    return (await call(t.client, "list_messages", mailbox=mailbox, **filters))["data"]


async def subjects(t: Target, mailbox: str) -> list[str]:
    return sorted(m["subject"] for m in (await listing(t, mailbox, limit=50))["messages"])


async def folders(t: Target) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in (await call(t.client, "list_folders"))["data"]["folders"]}


# ---------------------------------------------------------------------------------------------- reading


async def test_list_folders_roles_and_counts(target: Target) -> None:
    t = target
    name, _ = t.fresh("Counted", 2)
    found = await folders(t)
    roles = {f["role"]: n for n, f in found.items() if f["role"]}
    assert roles["inbox"] == "INBOX"
    for use, role in (("\\Sent", "sent"), ("\\Drafts", "drafts"), ("\\Trash", "trash"), ("\\Junk", "junk")):
        assert roles[role] == t.folder(use), (role, roles)
    assert {f["delimiter"] for f in found.values()} == {t.info.delimiter}
    assert (found[name]["messages"], found[name]["unseen"]) == (2, 2)
    assert found[name]["role"] is None


async def test_list_messages_pages_newest_first(target: Target) -> None:
    t = target
    name, uids = t.fresh("Paged", 7)
    assert len(uids) == 7
    seen: list[str] = []
    envelope = await call(t.client, "list_messages", mailbox=name, limit=3)
    pages = 1
    seen += [m["subject"] for m in envelope["data"]["messages"]]
    assert envelope["data"]["total"] == 7
    while envelope["meta"].get("next_cursor"):
        envelope = await call(t.client, "list_messages", cursor=envelope["meta"]["next_cursor"], limit=3)
        seen += [m["subject"] for m in envelope["data"]["messages"]]
        pages += 1
    assert pages == 3
    assert seen == [f"Paged {i}" for i in reversed(range(7))]
    second = (await call(t.client, "list_messages", mailbox=name, limit=2, offset=2))["data"]["messages"]
    assert [m["subject"] for m in second] == ["Paged 4", "Paged 3"]


async def test_same_second_arrivals_page_by_uid(target: Target) -> None:
    """Ties in arrival time are ordered by UID, newest first, and paging neither skips nor repeats one. Courier's
    SORT (ARRIVAL) breaks ties by descending sequence number instead of ascending (RFC 5256 section 3)."""
    t = target
    name, uids = t.fresh("Tied", 5, same_second=True)
    envelope = await call(t.client, "list_messages", mailbox=name, limit=2)
    seen = [m["message_id"] for m in envelope["data"]["messages"]]
    while envelope["meta"].get("next_cursor"):
        envelope = await call(t.client, "list_messages", cursor=envelope["meta"]["next_cursor"], limit=2)
        seen += [m["message_id"] for m in envelope["data"]["messages"]]
    assert [MessageId.parse(mid).uid for mid in seen] == sorted(uids, reverse=True)


async def test_get_message(target: Target) -> None:
    t = target
    name, uids = t.fresh("Read", 1)
    (listed,) = (await listing(t, name))["messages"]
    assert MessageId.parse(listed["message_id"]).uid == uids[0]
    data = (await call(t.client, "get_message", message_id=listed["message_id"]))["data"]
    assert data["subject"] == "Read 0" and data["from"]["email"] == "matrix@example.test"
    assert "Hallo aus der Matrix." in data["body"]["text"]
    assert data["is_read"] is False  # BODY.PEEK: reading does not set \Seen


async def test_missing_folder_is_not_found(target: Target) -> None:
    t = target
    missing = t.info.folder(f"Missing-{secrets.token_hex(3)}")
    error = (await call_error(t.client, "list_messages", mailbox=missing))["error"]
    assert error["code"] == "not_found", error
    assert "list_folders" in error["message"]


async def test_namespace_is_read(target: Target) -> None:
    t = target
    found = await t.service.folders.namespace(ACCOUNT)
    assert found == Namespace(t.info.prefix, t.info.delimiter)
    assert await t.service.folders.server_name(ACCOUNT, "Sent") == t.folder("\\Sent")
    assert await t.service.folders.server_name(ACCOUNT, "a/b") == t.info.folder(f"a{t.info.delimiter}b")


def test_missing_folder_classified_by_code_then_list(target: Target) -> None:
    t = target
    missing = t.info.folder(f"Missing-{secrets.token_hex(3)}")
    client = t.info.connect()
    try:
        with pytest.raises(IMAPClientError) as refused:
            client.select_folder(missing)
        assert mailbox_missing(client, missing, refused.value)
        assert not mailbox_missing(client, "INBOX", IMAPClientError("select failed: Permission denied"))
        assert mailbox_missing(client, "INBOX", IMAPClientError("select failed: [NONEXISTENT] gone"))
    finally:
        client.logout()


def test_append_into_a_folder_the_connection_examined(target: Target) -> None:
    t = target
    sent = t.folder("\\Sent")
    account = load_settings(env=t.info.env(ACCOUNT)).accounts[ACCOUNT]
    conn = Connection(account)
    try:
        conn.select(sent, readonly=True)
        ensure_writable_selection(conn, sent)
        assert conn.selected is not None and not conn.selected.readonly
        conn.client.append(sent, message("after EXAMINE"), (), None)
        conn.select("INBOX", readonly=True)
        ensure_writable_selection(conn, sent)  # another folder is open: nothing to do
        assert conn.selected is not None and conn.selected.mailbox == "INBOX" and conn.selected.readonly
    finally:
        conn.close()
