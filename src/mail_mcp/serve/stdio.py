"""Serving over stdio: the SDK's `stdio_server` with our own stdin reader, a daemon thread, so that a signal can
stop the server at once (the SDK reads stdin in a worker thread that cancellation has to wait for, which would
keep a SIGTERM'd server alive until the host writes another line). fd 0 points at /dev/null while serving, and
the SDK points fd 1 at stderr, so children and stray prints never touch the protocol.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import anyio
import anyio.from_thread
import anyio.lowlevel

if TYPE_CHECKING:
    from mcp.server import MCPServer


log = logging.getLogger("mail_mcp.transport")
EOF_GRACE = 0.5  # seconds calls still running at stdin EOF may take to answer before they are cancelled


class _Lines:
    """Async iterator of stdin lines fed by the reader thread (what `stdio_server(stdin=...)` iterates)."""

    def __init__(self, receive: Any) -> None:
        self._receive = receive

    def __aiter__(self) -> _Lines:
        return self

    async def __anext__(self) -> str:
        try:
            line: str = await self._receive.receive()
            return line
        except anyio.EndOfStream:
            raise StopAsyncIteration from None


@contextlib.contextmanager
def _claim_stdin() -> Iterator[int]:
    """Move the protocol's stdin to a private fd and point fd 0 at /dev/null while serving."""
    try:
        private = os.dup(0)
        os.set_inheritable(private, False)
        null = os.open(os.devnull, os.O_RDONLY)
    except OSError:  # no usable stdin: read it in place
        yield 0
        return
    try:
        os.dup2(null, 0)
        os.close(null)
        yield private
    finally:
        with contextlib.suppress(OSError):
            os.dup2(private, 0)
        # `private` stays open: the daemon reader thread may still be blocked on it until the process exits


async def serve_stdio(server: MCPServer) -> None:
    """Serve one MCP session on stdin/stdout until stdin ends or the caller cancels."""
    from mcp.server.stdio import stdio_server

    send, receive = anyio.create_memory_object_stream[str](16)
    token = anyio.lowlevel.current_token()
    stdin_closed = anyio.Event()

    with _claim_stdin() as fd:

        def pump() -> None:
            reader = os.fdopen(fd, "rb", closefd=False)
            try:
                for raw in reader:
                    anyio.from_thread.run(send.send, raw.decode("utf-8", "replace"), token=token)
            except Exception as exc:  # noqa: BLE001 - the loop is gone or the server stopped reading: just end
                log.debug("stdin reader ends: %s", exc.__class__.__name__)
            finally:
                with contextlib.suppress(Exception):
                    anyio.from_thread.run_sync(send.close, token=token)
                with contextlib.suppress(Exception):
                    anyio.from_thread.run_sync(stdin_closed.set, token=token)

        threading.Thread(target=pump, name="mail-mcp stdin", daemon=True).start()
        async with receive, stdio_server(stdin=_Lines(receive)) as (read_stream, write_stream):  # type: ignore[arg-type]
            lowlevel = server._lowlevel_server  # what MCPServer.run_stdio_async drives; it takes no stdin
            async with anyio.create_task_group() as tg:

                async def cut_off() -> None:
                    """At EOF the SDK waits for every running call: give them a moment, then cancel them."""
                    await stdin_closed.wait()
                    await anyio.sleep(EOF_GRACE)
                    log.info("stdin closed with calls still running: cancelling them")
                    tg.cancel_scope.cancel()

                tg.start_soon(cut_off)
                await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())
                tg.cancel_scope.cancel()
    log.info("stdin closed: shutting down")


# --------------------------------------------------------------------------- process lifecycle
