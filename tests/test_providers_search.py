"""SEARCH the way Microsoft 365, Yahoo and iCloud answer it, emulated by a line-level shim in front of Dovecot.

Each rewrite names its source (see /README "Providers"). The answers are compared with the plain sandbox's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from mcp import Client

from mail_mcp.config.sources import load_settings
from mail_mcp.mailbox.service import MailService
from mail_mcp.sandbox import Sandbox
from mail_mcp.server.app import build_server

from .conftest import call, call_error
from .imapshim import PassThrough, ProviderShim, ShimConn

pytestmark = pytest.mark.anyio
# MULTIAPPEND is advertised only so that the sandbox can be seeded; mail-mcp does not use it.
# Outlook after login (MailKit#2016, warmbly#346): no CONDSTORE, QRESYNC, SPECIAL-USE, SORT, THREAD or ESEARCH.
OUTLOOK_LIKE = (
    "IMAP4rev1 MULTIAPPEND LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UNSELECT CHILDREN UIDPLUS MOVE"
)
# Yahoo (aioimaplib#126): MOVE UIDPLUS LIST-STATUS SPECIAL-USE ..., no CONDSTORE, no SORT.
YAHOO_LIKE = (
    "IMAP4rev1 MULTIAPPEND LITERAL+ ID NAMESPACE UIDPLUS MOVE LIST-EXTENDED LIST-STATUS"
    " SPECIAL-USE ENABLE IDLE"
)
# iCloud advertises ESEARCH (broken: ignores RETURN) and CONDSTORE (horde Imap_Client PR #17, Mailspring PR #91).
ICLOUD_LIKE = "IMAP4rev1 MULTIAPPEND LITERAL+ ID NAMESPACE UIDPLUS MOVE ESEARCH CONDSTORE QRESYNC ENABLE IDLE"


class Outlook(PassThrough):
    """`SEARCH CHARSET UTF-8` gets NO [BADCHARSET (US-ASCII)] (Wh1isper PR #178/#189, MailKit#808)."""

    def command(self, conn: ShimConn, tag: bytes, text: bytes) -> bytes | None:
        if b"SEARCH" in text.upper() and b"CHARSET UTF-8" in text.upper():
            return tag + b" NO [BADCHARSET (US-ASCII)] The specified charset is not supported.\r\n"
        return None


class Yahoo(PassThrough):
    """Any CHARSET in SEARCH gets BAD [CLIENTBUG] (aioimaplib#126, paperless-ngx#12096)."""

    def command(self, conn: ShimConn, tag: bytes, text: bytes) -> bytes | None:
        if b"SEARCH" in text.upper() and b"CHARSET" in text.upper():
            return tag + b" BAD [CLIENTBUG] SEARCH Command arguments invalid\r\n"
        return None


class ICloud(PassThrough):
    """An empty SEARCH has no untagged `* SEARCH` line (Wh1isper PR #237, HA core#132042), and the first CAPABILITY
    answers (here: the one in the LOGIN reply) are rewritten by Apple's proxy (Mailspring-Sync PR #91)."""

    def response(self, conn: ShimConn, line: bytes) -> bytes | None:
        if line.rstrip(b"\r\n") == b"* SEARCH":
            return None
        if b" OK [CAPABILITY " in line and b"Logged in" in line:
            tag = line.split(b" ", 1)[0]
            return tag + b" OK [CAPABILITY IMAP4rev1 XAPPLEPUSHSERVICE] Logged in\r\n"
        return line


def _sandbox(capability: str) -> Iterator[Sandbox]:
    with Sandbox(imap_capability=capability) as sb:
        sb.seed_sample()
        yield sb


@pytest.fixture(scope="module")
def outlook_sandbox() -> Iterator[Sandbox]:
    yield from _sandbox(OUTLOOK_LIKE)


@pytest.fixture(scope="module")
def yahoo_sandbox() -> Iterator[Sandbox]:
    yield from _sandbox(YAHOO_LIKE)


@pytest.fixture(scope="module")
def icloud_sandbox() -> Iterator[Sandbox]:
    yield from _sandbox(ICLOUD_LIKE)


@asynccontextmanager
async def shimmed(
    sb: Sandbox, rewrite: Any, provider: str | None
) -> AsyncIterator[tuple[Client, ProviderShim]]:
    with ProviderShim(sb.host, sb.imap_port, rewrite) as shim:
        env = sb.env(security="plain") | {"MAIL_IMAP_DEFAULT_PORT": str(shim.port)}
        if provider:
            env["MAIL_IMAP_DEFAULT_PROVIDER"] = provider
        service = MailService(load_settings(env=env))
        try:
            async with Client(build_server(service)) as client:
                yield client, shim
        finally:
            await service.close()


def subjects(envelope: dict[str, Any]) -> list[str]:
    return [m["subject"] for m in envelope["data"]["messages"]]


def charset_searches(shim: ProviderShim) -> list[str]:
    return [c for c in shim.commands if "SEARCH" in c.upper() and "CHARSET" in c.upper()]


@pytest.mark.parametrize("provider", [None, "microsoft"])
async def test_microsoft_badcharset_falls_back_to_ascii_search_checked_here(
    outlook_sandbox: Sandbox, sandbox: Sandbox, client: Client, provider: str | None
) -> None:
    expected = subjects(await call(client, "list_messages", subject="Grüße", limit=50))
    assert expected and all("Grüße" in s for s in expected)
    async with shimmed(outlook_sandbox, Outlook(), provider) as (outlook, shim):
        got = await call(outlook, "list_messages", subject="Grüße", limit=50)
        assert subjects(got) == expected
        assert subjects(await call(outlook, "list_messages", from_address="Jürgen")) == subjects(
            await call(client, "list_messages", from_address="Jürgen")
        )
        # Detected from the refusal (one refused try per connection), or known from PROVIDER (none at all).
        assert len(charset_searches(shim)) == (0 if provider else 1), shim.commands
        ascii_only = await call(outlook, "list_messages", subject="agenda")
        assert subjects(ascii_only) == subjects(await call(client, "list_messages", subject="agenda"))


async def test_microsoft_says_plainly_that_non_ascii_body_text_cannot_be_searched(
    outlook_sandbox: Sandbox,
) -> None:
    async with shimmed(outlook_sandbox, Outlook(), "microsoft") as (outlook, _):
        error = await call_error(outlook, "list_messages", text="München")
        assert error["error"]["code"] == "unsupported" and "non-ASCII" in error["error"]["message"]
        assert (await call(outlook, "list_messages", text="Munich"))["data"] is not None


async def test_yahoo_never_gets_a_charset(yahoo_sandbox: Sandbox, client: Client) -> None:
    expected = subjects(await call(client, "list_messages", subject="Grüße", limit=50))
    async with shimmed(yahoo_sandbox, Yahoo(), "yahoo") as (yahoo, shim):
        assert subjects(await call(yahoo, "list_messages", subject="Grüße", limit=50)) == expected
        assert subjects(await call(yahoo, "list_messages", unread=True, limit=50)) == subjects(
            await call(client, "list_messages", unread=True, limit=50)
        )
        assert charset_searches(shim) == []


async def test_the_exact_check_reads_the_candidates_headers_once(yahoo_sandbox: Sandbox) -> None:
    async with shimmed(yahoo_sandbox, Yahoo(), "yahoo") as (yahoo, shim):
        before = len(shim.commands)
        await call(yahoo, "list_messages", subject="Grüße", limit=50)
        header_fetches = [c for c in shim.commands[before:] if "HEADER.FIELDS (SUBJECT)" in c.upper()]
        assert len(header_fetches) == 1, header_fetches  # one pass over all candidates, not one per candidate


async def test_yahoo_clientbug_is_learnt_without_the_provider_setting(
    yahoo_sandbox: Sandbox, client: Client
) -> None:
    expected = subjects(await call(client, "list_messages", subject="Grüße", limit=50))
    async with shimmed(yahoo_sandbox, Yahoo(), None) as (yahoo, _):
        assert subjects(await call(yahoo, "list_messages", subject="Grüße", limit=50)) == expected


async def test_icloud_empty_search_and_capabilities_read_again(icloud_sandbox: Sandbox) -> None:
    async with shimmed(icloud_sandbox, ICloud(), "icloud") as (icloud, shim):
        empty = await call(icloud, "list_messages", subject="no such subject anywhere")
        assert empty["data"]["messages"] == [] and empty["data"]["total"] in (0, None)
        assert len((await call(icloud, "list_messages", limit=5))["data"]["messages"]) == 5
        account = (await call(icloud, "list_accounts"))["data"]["accounts"][0]
        # MOVE and UIDPLUS come from the CAPABILITY asked again; ESEARCH and CONDSTORE are ignored as broken.
        assert {"MOVE", "UIDPLUS"} <= set(account["capabilities"])
        assert not {"ESEARCH", "CONDSTORE", "QRESYNC"} & set(account["capabilities"])
        assert "CAPABILITY" in shim.commands
        assert not any("RETURN" in c for c in shim.commands)


async def test_icloud_empty_search_without_the_profile(icloud_sandbox: Sandbox) -> None:
    """Even unnamed, a missing untagged SEARCH reads as "nothing matched" (ESEARCH withheld here)."""
    with Sandbox(imap_capability="IMAP4rev1 MULTIAPPEND LITERAL+ ID NAMESPACE UIDPLUS MOVE") as sb:
        sb.seed_sample()
        async with shimmed(sb, ICloud(), None) as (plain, _):
            empty = await call(plain, "list_messages", subject="no such subject anywhere")
            assert empty["data"]["messages"] == []
