"""A job cancelled while its connection is still logging in never runs, and never shares a connection with a later
job on the same slot (imapclient is not thread-safe: two jobs on one connection could interleave a STORE into
the other's selected folder)."""

from __future__ import annotations

import time

import anyio
import pytest

from mail_mcp.config.sources import load_settings
from mail_mcp.imap.connection import Connection
from mail_mcp.mailbox.service import MailService
from mail_mcp.sandbox import Sandbox

from .faultproxy import FaultProxy

pytestmark = pytest.mark.anyio


async def test_a_job_cancelled_during_login_never_runs(sandbox: Sandbox) -> None:
    with FaultProxy(sandbox.host, sandbox.imap_port) as proxy:
        env = sandbox.env(security="plain") | {
            "MAIL_IMAP_DEFAULT_PORT": str(proxy.port),
            "MAIL_IMAP_DEFAULT_POOL_SIZE": "1",
        }
        service = MailService(load_settings(env=env))
        ran: list[tuple[str, int]] = []

        def job(name: str) -> object:
            def run(conn: Connection) -> None:
                ran.append((name, id(conn)))
                time.sleep(0.3)  # still busy when the next job would start

            return run

        try:
            pool = service.pools.get("default")
            stall = proxy.stall(r"LOGIN", duration=1.0)
            with anyio.move_on_after(0.3):
                await pool.run(job("cancelled"), action="a write", write=True)  # type: ignore[arg-type]
            assert stall.fired.is_set()
            await pool.run(job("next"), action="the next write", write=True)  # type: ignore[arg-type]
            await anyio.sleep(1.2)  # the cancelled job's login has finished by now
            assert [name for name, _ in ran] == ["next"]
            assert pool.open_connections == 1
        finally:
            await service.close()
