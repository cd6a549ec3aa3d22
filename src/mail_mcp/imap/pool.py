"""The sync/async boundary: a small pool of kept-alive connections per account.

imapclient is blocking and not thread-safe, so each connection has one lock and every call on it runs in a
worker thread via anyio. A connection that timed out or broke mid-command is discarded (its socket may hold
stale bytes); a job that failed on a dead kept connection is retried once on a fresh one, a write only if none
of its mailbox-changing commands had left.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

from mail_mcp.config.models import AccountConfig
from mail_mcp.errors import MailError, Throttled, Timeout
from mail_mcp.imap.connection import BrokenConnection, Connection, mapped_errors

log = logging.getLogger(__name__)
MAX_INLINE_BACKOFF = 2.0  # seconds: a throttled job waits this long at most before it is tried once more
T = TypeVar("T")


class _Slot:
    def __init__(self) -> None:
        self.lock = anyio.Lock()
        self.conn: Connection | None = None
        self.guard = threading.Lock()  # orders a worker thread's hand-over with a cancellation


class AccountPool:
    def __init__(self, account: AccountConfig, size: int | None = None) -> None:
        self.account = account
        self._slots = [_Slot() for _ in range(size or account.pool_size)]
        self._free = anyio.Semaphore(len(self._slots))
        self.logins = 0
        self._throttled_until = 0.0

    def command_counts(self) -> Counter[str]:
        """IMAP commands sent by the open connections of this pool, by name (test and benchmark aid)."""
        total: Counter[str] = Counter()
        for slot in self._slots:
            if slot.conn is not None:
                total += slot.conn.commands
        return total

    @property
    def open_connections(self) -> int:
        return sum(slot.conn is not None for slot in self._slots)

    def _pick(self, mailbox: str | None, write: bool) -> _Slot:
        """Prefer a connection that already has the mailbox selected in the right mode (EXAMINE for reads,
        SELECT for writes), then a slot not opened yet: reselecting a 10,000-message folder costs ~20 ms each
        time reads and writes take turns on one connection, a login once."""
        idle = [slot for slot in self._slots if not slot.lock.locked()]

        def rank(slot: _Slot) -> int:
            if slot.conn is None:
                return 1
            selected = slot.conn.selected
            if mailbox is None or (
                selected is not None and selected.mailbox == mailbox and selected.readonly != write
            ):
                return 0
            return 2

        return min(idle, key=rank)

    async def run(
        self, fn: Callable[[Connection], T], *, action: str, mailbox: str | None = None, write: bool = False
    ) -> T:
        """Run `fn(connection)` in a worker thread on a pooled connection.

        A job that failed on a kept connection that turned out dead is run once more on a fresh one, a write
        only when none of its mailbox-changing commands had left (then the server cannot have executed it).
        A failed job's error says in `write_sent` whether one may have. Cancelling the caller abandons the
        thread and shuts its socket down, so the thread ends at once and the connection is never reused."""
        wait = self._throttled_until - time.monotonic()
        if wait > 0:
            raise Throttled(
                f"the provider is throttling account {self.account.id!r}; mail-mcp is holding back for another "
                f"{wait:.0f} s as it asked. Nothing was done; try again after that",
                account=self.account.id,
                retry_after_seconds=math.ceil(wait),
            )
        try:
            return await self._run(fn, action=action, mailbox=mailbox, write=write)
        except Throttled as exc:
            delay = float(exc.details.get("retry_after_seconds", 0))
            if exc.write_sent or delay > MAX_INLINE_BACKOFF:
                self._throttled_until = time.monotonic() + delay
                raise
            log.info(
                "account %s: throttled while %s; waiting %.1f s, then once more",
                self.account.id,
                action,
                delay,
            )
            await anyio.sleep(delay)
            try:
                return await self._run(fn, action=action, mailbox=mailbox, write=write)
            except Throttled as again:
                self._throttled_until = time.monotonic() + float(again.details.get("retry_after_seconds", 0))
                raise

    async def _run(
        self, fn: Callable[[Connection], T], *, action: str, mailbox: str | None = None, write: bool = False
    ) -> T:
        async with self._free:
            slot = self._pick(mailbox, write)
            async with slot.lock:
                reused = slot.conn is not None
                try:
                    return await self._in_thread(slot, fn, action)
                except BrokenConnection as exc:
                    if exc.write_sent or not reused:
                        raise
                    log.info(
                        "account %s: connection was dead before anything was changed, running %s again",
                        self.account.id,
                        action,
                    )
                    return await self._in_thread(slot, fn, action)

    async def _in_thread(self, slot: _Slot, fn: Callable[[Connection], T], action: str) -> T:
        cancelled = threading.Event()  # this call's own mark: a later call on the slot must not clear it
        try:
            return await anyio.to_thread.run_sync(
                self._call, slot, fn, action, cancelled, abandon_on_cancel=True
            )
        except anyio.get_cancelled_exc_class():
            with slot.guard:
                cancelled.set()
                conn, slot.conn = slot.conn, None
            if conn is not None:
                log.info("account %s: %s was cancelled; closing its connection", self.account.id, action)
                conn.abort()
            raise

    def _call(self, slot: _Slot, fn: Callable[[Connection], T], action: str, cancelled: threading.Event) -> T:
        conn = slot.conn
        if conn is None:
            conn = Connection(self.account)
            self.logins += 1
            with slot.guard:
                keep = not cancelled.is_set() and slot.conn is None
                if keep:
                    slot.conn = conn
            if not keep:  # the caller gave up while we logged in: never run its job, never share a connection
                conn.abort()
                raise BrokenConnection("the call was cancelled", account=self.account.id)
        before = conn.writes_sent
        try:
            with mapped_errors(self.account, action):
                return fn(conn)
        except MailError as exc:
            exc.write_sent = conn.writes_sent != before
            if isinstance(exc, (BrokenConnection, Timeout)):
                with slot.guard:
                    if slot.conn is conn:
                        slot.conn = None
                conn.abort()
                try:
                    conn.client.shutdown()
                except Exception:  # noqa: BLE001 - the socket is being thrown away anyway
                    pass
            raise

    def abort(self) -> None:
        """Shut down every connection's socket now (the last resort at exit; jobs on them fail at once)."""
        for slot in self._slots:
            if slot.conn is not None:
                slot.conn.abort()

    async def close(self) -> None:
        """Log out of the idle connections; a connection still busy (a stalled job) is shut down instead."""
        for slot in self._slots:
            if slot.lock.locked():
                if slot.conn is not None:
                    slot.conn.abort()
                continue
            async with slot.lock:
                if slot.conn is not None:
                    conn, slot.conn = slot.conn, None
                    try:
                        await anyio.to_thread.run_sync(conn.close, abandon_on_cancel=True)
                    except anyio.get_cancelled_exc_class():
                        conn.abort()
                        raise


class Pools:
    """Process-wide registry of account pools, shared by every MCP session and transport."""

    def __init__(self, accounts: dict[str, AccountConfig]) -> None:
        self._accounts = accounts
        self._pools: dict[str, AccountPool] = {}

    def get(self, account_id: str) -> AccountPool:
        pool = self._pools.get(account_id)
        if pool is None:
            pool = self._pools[account_id] = AccountPool(self._accounts[account_id])
        return pool

    async def close(self) -> None:
        for pool in self._pools.values():
            await pool.close()

    def abort(self) -> None:
        for pool in self._pools.values():
            pool.abort()
