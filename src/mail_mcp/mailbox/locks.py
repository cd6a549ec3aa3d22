"""Writes on one account's folder take turns inside this process; reads never wait.

Two calls changing the same message at once (a move to Archive and a move to Junk, or adding and removing
\\Seen) would otherwise both run their checks before either changes anything, and both answer ok. With one lock
per (account, folder) the second sees what the first did, so each outcome is true. Another process or mail
client can still race; their changes show up in the read-back of flags and in `not_found` outcomes.

A write cancelled while in flight (the process stops, or the client cancels) is recorded in the audit log as
`unknown`: its command may have reached the server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from typing import Any, Protocol

import anyio

from mail_mcp.audit import audit


class WriteLocks:
    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], anyio.Lock] = {}

    @asynccontextmanager
    async def hold(self, account: str, folders: Iterable[str]) -> AsyncIterator[None]:
        """Hold the write locks of `folders` (always taken in name order, so two calls never deadlock)."""
        async with AsyncExitStack() as stack:
            for name in sorted(set(folders)):
                lock = self._locks.setdefault((account, name), anyio.Lock())
                await stack.enter_async_context(lock)
            yield


class HoldsWriteLocks(Protocol):
    """The MailService every transport and session shares owns the one WriteLocks."""

    write_locks: WriteLocks


@contextmanager
def audit_if_cancelled(action: str, account: str, **fields: Any) -> Iterator[None]:
    """Audit `action` as unknown when the call is cancelled inside this block (its write may have gone out)."""
    try:
        yield
    except anyio.get_cancelled_exc_class():
        audit(
            action,
            account,
            status="unknown",
            code="cancelled",
            reason="the call was cancelled (shutdown or the client) while the write was in flight",
            **fields,
        )
        raise


@asynccontextmanager
async def write_guard(
    owner: HoldsWriteLocks, account: str, folders: Iterable[str], action: str, **audit_fields: Any
) -> AsyncIterator[None]:
    """Hold the folders' write locks; if the call is cancelled meanwhile, audit `action` as unknown."""
    with audit_if_cancelled(action, account, **audit_fields):
        async with owner.write_locks.hold(account, folders):
            yield
