"""Per-folder jobs run side by side: the pool decides how many run at once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from mail_mcp.errors import MailError

T = TypeVar("T")


async def gather(calls: list[Callable[[], Awaitable[T]]]) -> list[T | MailError]:
    """Run the calls concurrently; a typed error is kept in its place instead of cancelling the others (any
    other exception is raised as itself once all have ended, never wrapped in an exception group)."""
    out: list[T | MailError] = [MailError("not run")] * len(calls)
    unexpected: list[Exception] = []

    async def one(index: int) -> None:
        try:
            out[index] = await calls[index]()
        except MailError as exc:
            out[index] = exc
        except Exception as exc:  # noqa: BLE001 - raised below, after the other calls have ended
            unexpected.append(exc)

    async with anyio.create_task_group() as group:
        for index in range(len(calls)):
            group.start_soon(one, index)
    if unexpected:
        raise unexpected[0]
    return out
