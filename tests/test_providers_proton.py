"""Proton Bridge: folders live under Folders/ and labels under Labels/ (excavador README), and a model names them
without the prefix. Emulated by a Dovecot with those folders and PROVIDER=proton-bridge."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from mcp import Client

from mail_mcp.config.sources import load_settings
from mail_mcp.mailbox.service import MailService
from mail_mcp.sandbox import Sandbox
from mail_mcp.server.app import build_server

from .conftest import call

pytestmark = pytest.mark.anyio
RAW = b"From: a@example.test\r\nSubject: proton {n}\r\nMessage-ID: <p{n}@x>\r\n\r\nbody\r\n"


@pytest.fixture(scope="module")
def proton_sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        sb.append("alice", "Folders/Work", RAW.replace(b"{n}", b"1"))
        sb.append("alice", "Labels/Urgent", RAW.replace(b"{n}", b"2"))
        yield sb


@pytest.fixture(scope="module")
async def proton(proton_sandbox: Sandbox, client: Client) -> AsyncIterator[Client]:
    """Needs the session `client` first: async fixtures must be torn down in the reverse order of set-up."""
    env = proton_sandbox.env() | {
        "MAIL_IMAP_DEFAULT_PROVIDER": "proton-bridge",
        "MAIL_IMAP_DEFAULT_WRITE_ENABLED": "1",
    }
    service = MailService(load_settings(env=env))
    try:
        async with Client(build_server(service)) as c:
            yield c
    finally:
        await service.close()


async def test_bare_names_find_folders_and_labels(proton: Client) -> None:
    work = await call(proton, "list_messages", mailbox="Work")
    assert work["data"]["mailbox"] == "Folders/Work" and work["data"]["messages"][0]["subject"] == "proton 1"
    urgent = await call(proton, "list_messages", mailbox="Urgent")
    assert urgent["data"]["mailbox"] == "Labels/Urgent"
    same = await call(proton, "list_messages", mailbox="Labels/Urgent")
    assert same["data"]["mailbox"] == "Labels/Urgent"


async def test_new_folders_go_under_folders_and_labels_stay(proton: Client) -> None:
    assert (await call(proton, "create_folder", name="Projects"))["data"]["name"] == "Folders/Projects"
    assert (await call(proton, "create_folder", name="Labels/Later"))["data"]["name"] == "Labels/Later"
    assert (await call(proton, "list_messages", mailbox="INBOX"))["data"]["mailbox"] == "INBOX"
