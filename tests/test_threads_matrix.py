"""Conversations on the other servers of the compatibility matrix, through the MCP client: get_thread across
INBOX, Sent and another folder, and group_by_thread in INBOX (Courier: THREAD without ESORT; Cyrus in INBOX. mode)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from email.message import EmailMessage

import pytest
from mcp import Client

from mail_mcp.config.sources import load_settings
from mail_mcp.mailbox.service import MailService
from mail_mcp.server.app import build_server

from .conftest import call
from .servers.common import ServerInfo

pytest_plugins = ["tests.servers.fixtures"]
pytestmark = pytest.mark.anyio
BASE = datetime(2026, 9, 1, 8, 0)


def message(n: int, token: str, refs: list[str], *, mine: bool) -> bytes:
    msg = EmailMessage()
    msg["From"] = "me@example.test" if mine else "Bob <bob@example.test>"
    msg["To"] = "bob@example.test" if mine else "me@example.test"
    msg["Subject"] = f"{'Re: ' if refs else ''}{token}"
    msg["Message-ID"] = f"<{token}-{n}@example.test>"
    if refs:
        msg["In-Reply-To"], msg["References"] = refs[-1], " ".join(refs)
    msg.set_content(f"Words of message {n}.\n\nOn Monday, Bob wrote:\n> quoted {n}\n")
    return msg.as_bytes()


@pytest.mark.parametrize("kind", ["courier", "cyrus_dot"])
async def test_thread_across_folders_and_grouping(kind: str, request: pytest.FixtureRequest) -> None:
    info: ServerInfo = request.getfixturevalue(kind).info
    token, own = f"thr{uuid.uuid4().hex[:6]}", info.folder(f"Keep-{uuid.uuid4().hex[:6]}")
    sent = info.folders["\\Sent"]
    places = ["INBOX", sent, "INBOX", own]
    client = info.connect()
    try:
        client.create_folder(own)
        refs: list[str] = []
        for n, folder in enumerate(places):
            client.append(folder, message(n, token, refs, mine=folder == sent), (), BASE + timedelta(hours=n))
            refs.append(f"<{token}-{n}@example.test>")
        client.append("INBOX", message(9, f"other{token}", [], mine=False), (), BASE + timedelta(hours=9))
    finally:
        client.logout()
    service = MailService(load_settings(env=info.env(f"thr{kind.replace('_', '')}")))
    try:
        async with Client(build_server(service), raise_exceptions=True) as mc:
            listed = await call(mc, "list_messages", mailbox=own)
            seed = listed["data"]["messages"][0]["message_id"]
            thread = (await call(mc, "get_thread", message_id=seed))["data"]
            assert [m["header_message_id"] for m in thread["messages"]] == [
                f"<{token}-{n}@example.test>" for n in range(4)
            ]
            assert [m["mailbox"] for m in thread["messages"]] == places
            assert all("quoted" not in m["text"] for m in thread["messages"])
            grouped = await call(mc, "list_messages", group_by_thread=True, subject=token)
            rows = [(m["subject"], m.get("thread_count")) for m in grouped["data"]["messages"]]
            assert rows == [(f"other{token}", 1), (f"Re: {token}", 2)]
    finally:
        await service.close()
