"""Servers without ESEARCH, PREVIEW or LIST-STATUS get the same answers through the plain IMAP4rev1 paths."""

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
DROPPED = {"ESEARCH", "PREVIEW", "PREVIEW=FUZZY", "SNIPPET=FUZZY", "LIST-STATUS", "ESORT", "CONTEXT=SEARCH"}


@pytest.fixture(scope="module")
def plain_sandbox(sandbox: Sandbox) -> Iterator[Sandbox]:
    with sandbox.connect("alice") as imap:
        live = [c.decode() for c in imap.capabilities() if not c.upper().startswith((b"AUTH=", b"STARTTLS"))]
    with Sandbox(imap_capability=" ".join(c for c in live if c.upper() not in DROPPED)) as sb:
        sb.seed_sample()
        yield sb


@pytest.fixture(scope="module")
async def both(sandbox: Sandbox, plain_sandbox: Sandbox) -> AsyncIterator[tuple[Client, Client]]:
    rich, plain = (
        MailService(load_settings(env=sandbox.env())),
        MailService(load_settings(env=plain_sandbox.env())),
    )
    try:
        async with Client(build_server(rich)) as a, Client(build_server(plain)) as b:
            yield a, b
    finally:
        await rich.close()
        await plain.close()


async def test_capabilities_really_dropped(both: tuple[Client, Client]) -> None:
    account = (await call(both[1], "list_accounts"))["data"]["accounts"][0]
    assert account["status"] == "ok" and "ESEARCH" not in account["capabilities"]


async def test_folders_same_counts(both: tuple[Client, Client]) -> None:
    def view(envelope: dict) -> dict:
        return {
            f["name"]: (f["role"], f["messages"], f["unseen"])
            for f in envelope["data"]["folders"]
            if not f["name"].startswith("Test-")
        }

    rich, plain = [view(await call(c, "list_folders")) for c in both]
    assert plain == {name: rich[name] for name in plain} and {"INBOX", "Reçus", "Sent"} <= set(plain)


@pytest.mark.parametrize("filters", [{}, {"subject": "Grüße"}, {"unread": True}, {"has_attachment": True}])
async def test_same_listing_and_previews(both: tuple[Client, Client], filters: dict) -> None:
    def view(envelope: dict) -> list[tuple[str, str, bool]]:
        return [(m["subject"], m["preview"][:40], m["has_attachment"]) for m in envelope["data"]["messages"]]

    rich, plain = [
        await call(c, "list_messages", limit=50, mailbox="Reçus" if not filters else "INBOX", **filters)
        for c in both
    ]
    assert view(plain) and [s for s, _, _ in view(plain)] == [s for s, _, _ in view(rich)]
    for (_, rich_preview, _), (_, plain_preview, _) in zip(view(rich), view(plain), strict=True):
        assert rich_preview.split()[:3] == plain_preview.split()[:3]
