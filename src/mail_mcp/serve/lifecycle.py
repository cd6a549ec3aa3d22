"""Running and stopping like a good process, whatever the transport.

Every transport shares the one `MailService` (and its IMAP pools) the CLI created: nothing is opened in an SDK
lifespan (which runs per connection under SSE). SIGTERM / SIGINT / stdin EOF: stop serving, cancel the calls in flight
(their IMAP sockets are shut down, so no worker thread waits for a stalled server; a write cut this way is audited
as unknown), log out of the idle IMAP connections within `LOGOUT_BUDGET` seconds, return 0.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
import anyio.from_thread
import anyio.lowlevel

if TYPE_CHECKING:
    from mcp.server import MCPServer

    from mail_mcp.mailbox.service import MailService

from mail_mcp.mailbox.watch import stop_watchers
from mail_mcp.serve.http import LOGOUT_BUDGET, HttpOptions, HttpServer
from mail_mcp.serve.stdio import serve_stdio

log = logging.getLogger("mail_mcp.transport")


def run(server: MCPServer, service: MailService, http: HttpOptions | None = None) -> int:
    """Serve until EOF (stdio) or SIGTERM/SIGINT, then log out of IMAP; returns the exit status (0)."""
    web = None
    if http is not None:
        web = HttpServer(server, http)
        web.bind()  # a busy port fails here, before anything runs
    try:
        anyio.run(_main, server, service, web)
    finally:
        # asyncio put SIG_DFL back: a signal during the remaining clean-up (e.g. stopping the sandbox
        # Dovecot) must not kill us half-way and leave a child behind.
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, _already_stopping)
    return 0


def _already_stopping(signum: int, frame: object) -> None:
    log.info("%s received while stopping; finishing the clean-up", signal.Signals(signum).name)


async def _main(server: MCPServer, service: MailService, web: HttpServer | None) -> None:
    try:
        async with anyio.create_task_group() as tg:
            if web is None:
                scope = anyio.CancelScope()
                tg.start_soon(_on_signals, lambda signum: scope.cancel())
                with scope:
                    await serve_stdio(server)
            else:
                tg.start_soon(_on_signals, web.stop)
                await web.serve()
            tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(LOGOUT_BUDGET) as budget:
            await stop_watchers(service)
            await service.close()
        if budget.cancelled_caught:
            log.warning("IMAP logout took longer than %.1fs; closing anyway", LOGOUT_BUDGET)
        service.pools.abort()  # whatever is still open or busy: shut its socket so no worker thread lingers
        log.info("stopped")
        sys.stderr.flush()


async def _on_signals(stop: Callable[[int], None]) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            log.info("%s received: shutting down", signal.Signals(signum).name)
            stop(signum)
