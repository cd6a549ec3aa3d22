"""Pure pieces of list_messages: filters to IMAP SEARCH criteria, opaque cursors, and page slicing."""

from __future__ import annotations

import base64
import binascii
import bisect
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from mail_mcp.errors import InvalidInput

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


@dataclass(frozen=True)
class Filters:
    unread: bool | None = None
    flagged: bool | None = None
    from_: str | None = None
    to: str | None = None
    subject: str | None = None
    text: str | None = None
    since: date | None = None
    before: date | None = None
    larger_than: int | None = None
    has_attachment: bool | None = None

    def __post_init__(self) -> None:
        for name in ("from_", "to", "subject", "text"):
            value = getattr(self, name)
            if value is not None:
                check_text(name.rstrip("_"), value)
        if self.since and self.before and self.since >= self.before:
            raise InvalidInput(
                "since must be earlier than before", since=str(self.since), before=str(self.before)
            )
        if self.larger_than is not None and self.larger_than < 0:
            raise InvalidInput("larger_than must be a positive number of bytes", field="larger_than")

    def criteria(self) -> tuple[list[Any], str | None]:
        """IMAP SEARCH criteria and the charset to declare (UTF-8 only when a string needs it)."""
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
        ):
            if value is not None:
                out += [key, value]
        if self.since:
            out += ["SINCE", self.since]
        if self.before:
            out += ["BEFORE", self.before]
        if self.larger_than is not None:
            out += ["LARGER", self.larger_than]
        if self.has_attachment:
            out += ["HEADER", "Content-Type", "multipart/mixed"]
        strings = [v for v in (self.from_, self.to, self.subject, self.text) if v]
        charset = "UTF-8" if any(not s.isascii() for s in strings) else None
        return (out or ["ALL"]), charset

    @property
    def needs_structure_check(self) -> bool:
        """has_attachment is refined per message from BODYSTRUCTURE: IMAP cannot search for it exactly."""
        return self.has_attachment is not None

    def as_json(self) -> dict[str, Any]:
        return {
            k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(self).items() if v is not None
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Filters:
        fields = dict(data)
        for key in ("since", "before"):
            if key in fields:
                fields[key] = date.fromisoformat(fields[key])
        return cls(**fields)


@dataclass(frozen=True)
class Cursor:
    account: str
    mailbox: str
    uidvalidity: int
    filters: dict[str, Any]
    last_uid: int

    def encode(self) -> str:
        payload = json.dumps(
            {
                "v": 1,
                "a": self.account,
                "m": self.mailbox,
                "uv": self.uidvalidity,
                "f": self.filters,
                "u": self.last_uid,
            },
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        return base64.urlsafe_b64encode(payload).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            data = json.loads(raw)
            if data.get("v") != 1:
                raise ValueError("version")
            return cls(str(data["a"]), str(data["m"]), int(data["uv"]), dict(data["f"]), int(data["u"]))
        except (binascii.Error, ValueError, KeyError, TypeError, AttributeError):
            raise InvalidInput(
                "cursor is not one this server made; pass next_cursor from a list_messages result unchanged",
                field="cursor",
            ) from None


def page_start(uids_newest_first: Sequence[int], cursor: Cursor | None) -> int:
    """Index of the first message older than the cursor's last one: stable when mail arrives or goes."""
    if cursor is None:
        return 0
    return bisect.bisect_left(uids_newest_first, -cursor.last_uid + 1, key=lambda uid: -uid)
