"""The per-account sending limit (MAIL_SMTP_<ID>_RATE_LIMIT): messages handed to SMTP in the last hour."""

from __future__ import annotations

import time
from collections import deque

from mail_mcp.errors import WriteDisabled

HOUR = 3600.0


class SendRate:
    def __init__(self) -> None:
        self._sent_at: dict[str, deque[float]] = {}

    def record(self, account_id: str) -> None:
        """A message was handed to the SMTP server (whatever its outcome: it may have gone out)."""
        self._sent_at.setdefault(account_id, deque()).append(time.monotonic())

    def check(self, account_id: str, limit: int | None) -> None:
        """Refuse, before anything is sent, when the account reached its limit for the last hour."""
        times = self._sent_at.setdefault(account_id, deque())
        now = time.monotonic()
        while times and now - times[0] >= HOUR:
            times.popleft()
        if limit is not None and len(times) >= limit:
            wait = int(HOUR - (now - times[0])) + 1
            raise WriteDisabled(
                f"account {account_id!r} has sent {len(times)} messages in the last hour, its limit "
                f"(MAIL_SMTP_{account_id.upper()}_RATE_LIMIT); nothing was sent. Try again in about "
                f"{wait // 60 + 1} minutes, or save_draft for a person to send.",
                retry_after_seconds=wait,
                limit=limit,
            )
