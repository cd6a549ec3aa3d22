"""Pure pieces of list_messages: filters to IMAP SEARCH criteria, opaque cursors, and page slicing."""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from mail_mcp.errors import InvalidInput, MailError

MAX_TEXT = 256


def check_text(name: str, value: str) -> str:
    """Search strings go to the server quoted or as literals; control characters could break out."""
    if not value:
        raise InvalidInput(f"{name} must not be empty; leave it out instead", field=name)
    if len(value) > MAX_TEXT:
        raise InvalidInput(f"{name} is longer than {MAX_TEXT} characters", field=name)
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise InvalidInput(
            f"{name} contains control characters (line breaks, tabs…); remove them", field=name
        )
    return value


DATE_FILTERS = ("arrived_since", "arrived_before", "sent_since", "sent_before")


@dataclass(frozen=True)
class Filters:
    unread: bool | None = None
    flagged: bool | None = None
    from_: str | None = None
    to: str | None = None
    subject: str | None = None
    text: str | None = None
    arrived_since: date | None = None
    arrived_before: date | None = None
    sent_since: date | None = None
    sent_before: date | None = None
    larger_than: int | None = None
    has_attachment: bool | None = None
    gmail_query: str | None = None  # X-GM-RAW: Gmail's own search syntax (Gmail accounts only)
    group_by_thread: bool | None = None  # not a criterion: one row per conversation (kept in the cursor)

    def __post_init__(self) -> None:
        for name in ("from_", "to", "subject", "text", "gmail_query"):
            value = getattr(self, name)
            if value is not None:
                check_text(name.rstrip("_"), value)
        for low, high in (("arrived_since", "arrived_before"), ("sent_since", "sent_before")):
            since, before = getattr(self, low), getattr(self, high)
            if since and before and since >= before:
                raise InvalidInput(
                    f"{low} must be earlier than {high}", **{low: str(since), high: str(before)}
                )
        if self.larger_than is not None and self.larger_than < 0:
            raise InvalidInput("larger_than must be a positive number of bytes", field="larger_than")

    def criteria(self) -> tuple[list[Any], str | None]:
        """IMAP SEARCH criteria and the charset to declare (UTF-8 only when a string needs it). has_attachment
        is not among them: IMAP cannot search for it, so it is checked message by message."""
        out: list[Any] = []
        if self.unread is not None:
            out.append("UNSEEN" if self.unread else "SEEN")
        if self.flagged is not None:
            out.append("FLAGGED" if self.flagged else "UNFLAGGED")
        for key, value in (
            ("FROM", self.from_),
            ("TO", self.to),
            ("SUBJECT", self.subject),
            ("TEXT", self.text),
            ("SINCE", self.arrived_since),
            ("BEFORE", self.arrived_before),
            ("SENTSINCE", self.sent_since),
            ("SENTBEFORE", self.sent_before),
            ("LARGER", self.larger_than),
            ("X-GM-RAW", self.gmail_query),
        ):
            if value is not None:
                out += [key, value]
        strings = [v for v in (self.from_, self.to, self.subject, self.text, self.gmail_query) if v]
        charset = "UTF-8" if any(not s.isascii() for s in strings) else None
        return (out or ["ALL"]), charset

    @property
    def needs_structure_check(self) -> bool:
        """has_attachment is decided per message from BODYSTRUCTURE: IMAP cannot search for it exactly."""
        return self.has_attachment is not None

    def as_json(self) -> dict[str, Any]:
        return {
            k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(self).items() if v is not None
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Filters:
        """Strict: only known keys with values of the right type (cursors carry filters)."""
        kinds: dict[str, Any] = {"from_": str, "to": str, "subject": str, "text": str, "larger_than": int}
        kinds["gmail_query"] = str
        kinds |= dict.fromkeys(("unread", "flagged", "has_attachment", "group_by_thread"), bool)
        kinds |= dict.fromkeys(DATE_FILTERS, date)
        fields: dict[str, Any] = {}
        for key, value in data.items():
            kind = kinds.get(key)
            if kind is None:
                raise ValueError(f"unknown filter {key}")
            if kind is date:
                value = date.fromisoformat(value) if isinstance(value, str) else None
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ValueError(f"bad filter {key}")
            fields[key] = value
        return cls(**fields)


CURSOR_KEY = secrets.token_bytes(32)  # per process: a cursor outlives neither a restart nor a forgery
BAD_CURSOR = "the cursor is not one this server issued; start again without it"


@dataclass(frozen=True)
class Cursor:
    """Where a listing stopped: the (arrival time, UID) of the last message shown, newest-first order."""

    account: str
    mailbox: str
    uidvalidity: int
    filters: dict[str, Any]
    last_date: int  # INTERNALDATE, seconds since the epoch
    last_uid: int
    state: str = ""  # the listing's state token, from its first page
    uid_bound: int = 0  # group_by_thread: conversations are grouped over the UIDs below this (page 1's)

    def encode(self) -> str:
        payload = json.dumps(
            {
                "v": 3,
                "a": self.account,
                "m": self.mailbox,
                "uv": self.uidvalidity,
                "f": self.filters,
                "d": self.last_date,
                "u": self.last_uid,
                "s": self.state,
                "n": self.uid_bound,
            },
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        mac = hmac.new(CURSOR_KEY, payload, hashlib.sha256).digest()[:12]
        return base64.urlsafe_b64encode(mac + payload).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            mac, payload = raw[:12], raw[12:]
            if not hmac.compare_digest(mac, hmac.new(CURSOR_KEY, payload, hashlib.sha256).digest()[:12]):
                raise ValueError("signature")
            data = json.loads(payload)
            if (
                not isinstance(data, dict)
                or set(data) != {"v", "a", "m", "uv", "f", "d", "u", "s", "n"}
                or data["v"] != 3
            ):
                raise ValueError("shape")
            numbers = (data["uv"], data["d"], data["u"], data["n"])
            if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in numbers):
                raise ValueError("numbers")
            if not (
                isinstance(data["a"], str)
                and isinstance(data["m"], str)
                and isinstance(data["f"], dict)
                and isinstance(data["s"], str)
            ):
                raise ValueError("strings")
            Filters.from_json(data["f"])
            return cls(
                data["a"], data["m"], data["uv"], data["f"], data["d"], data["u"], data["s"], data["n"]
            )
        except (binascii.Error, ValueError, KeyError, TypeError, AttributeError, MailError):
            raise InvalidInput(BAD_CURSOR, field="cursor") from None

    @property
    def key(self) -> tuple[int, int]:
        return (self.last_date, self.last_uid)


def page_start(keys_newest_first: Sequence[tuple[int, int]], after: tuple[int, int] | None) -> int:
    """Index of the first message older than `after` in (arrival, UID) order: stable when mail arrives or goes."""
    if after is None:
        return 0
    return bisect.bisect_right(keys_newest_first, (-after[0], -after[1]), key=lambda k: (-k[0], -k[1]))
