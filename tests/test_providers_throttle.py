"""Microsoft 365 throttling, emulated by a line-level shim in front of Dovecot: back off and say so.

Source of the quirk: Exchange Online answers an IMAP client over its budget with
`<tag> BAD Request is throttled. Suggested Backoff Time: <n> milliseconds` and does not run the command (reported
by javax.mail users, Microsoft Q&A "AV3 BADRequest is throttled", 2026-05).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from mcp import Client

from mail_mcp.config.sources import load_settings
from mail_mcp.imap.quirks import throttle_delay
from mail_mcp.mailbox.service import MailService
from mail_mcp.sandbox import Sandbox
from mail_mcp.server.app import build_server

from .conftest import call, call_error
from .imapshim import PassThrough, ProviderShim, ShimConn

pytestmark = pytest.mark.anyio


class Throttling(PassThrough):
    """Refuses the next `times` FETCH commands the way Exchange Online does when it throttles."""

    def __init__(self, milliseconds: int, times: int) -> None:
        self.milliseconds, self.times, self.refused = milliseconds, times, 0

    def command(self, conn: ShimConn, tag: bytes, text: bytes) -> bytes | None:
        if b"FETCH" in text.upper() and self.refused < self.times:
            self.refused += 1
            return (
                tag
                + f" BAD Request is throttled. Suggested Backoff Time: {self.milliseconds} milliseconds\r\n".encode()
            )
        return None


@pytest.fixture(scope="module")
def outlook_sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        sb.seed_sample()
        yield sb


@asynccontextmanager
async def throttled(sb: Sandbox, rewrite: Throttling) -> AsyncIterator[tuple[Client, ProviderShim]]:
    with ProviderShim(sb.host, sb.imap_port, rewrite) as shim:
        env = sb.env(security="plain") | {"MAIL_IMAP_DEFAULT_PORT": str(shim.port)}
        service = MailService(load_settings(env=env))
        try:
            async with Client(build_server(service)) as client:
                yield client, shim
        finally:
            await service.close()


def fetches(shim: ProviderShim) -> int:
    return sum("FETCH" in command.upper() for command in shim.commands)


def test_the_refusal_text_gives_the_delay() -> None:
    assert (
        throttle_delay(
            "SEARCH command error: BAD [b'Request is throttled. Suggested Backoff Time: 1500 milliseconds']"
        )
        == 1.5
    )
    assert throttle_delay("BAD Request is throttled.") == 60.0
    assert throttle_delay("NO Mailbox does not exist") is None


async def test_a_short_backoff_is_waited_out_and_the_call_succeeds(outlook_sandbox: Sandbox) -> None:
    async with throttled(outlook_sandbox, Throttling(milliseconds=400, times=1)) as (client, shim):
        began = time.monotonic()
        page = await call(client, "list_messages", limit=5)
        assert len(page["data"]["messages"]) == 5
        assert time.monotonic() - began >= 0.4
        assert fetches(shim) == 2  # the refused one, then the same again after the wait


async def test_a_long_backoff_is_reported_and_honoured_without_asking_the_server(
    outlook_sandbox: Sandbox,
) -> None:
    async with throttled(outlook_sandbox, Throttling(milliseconds=200_000, times=1)) as (client, shim):
        error = (await call_error(client, "list_messages", limit=5))["error"]
        assert error["code"] == "throttled" and error["details"]["retry_after_seconds"] == 200
        assert "throttling this account" in error["message"] and "nothing was done" in error["message"]
        asked = len(shim.commands)
        again = (await call_error(client, "list_messages", limit=5))["error"]
        assert again["code"] == "throttled" and 0 < again["details"]["retry_after_seconds"] <= 200
        assert len(shim.commands) == asked  # held back: the server was not asked again
