"""Message ids: `imap:<account>:<mailbox>:<uidvalidity>:<uid>`, parsed right to left."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mail_mcp.errors import InvalidInput

ACCOUNT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_U32 = 2**32 - 1
_NUMBER_RE = re.compile(r"^[1-9][0-9]{0,9}$")


@dataclass(frozen=True, slots=True)
class MessageId:
    account: str
    mailbox: str
    uidvalidity: int
    uid: int

    def __post_init__(self) -> None:
        if not ACCOUNT_ID_RE.match(self.account):
            raise InvalidInput(f"account id {self.account!r} must match ^[A-Za-z0-9_-]{{1,64}}$")
        if not self.mailbox:
            raise InvalidInput("mailbox name must not be empty")
        for name, value in (("uidvalidity", self.uidvalidity), ("uid", self.uid)):
            if not 1 <= value <= MAX_U32:
                raise InvalidInput(f"{name} must be a positive 32-bit number, got {value}")

    def __str__(self) -> str:
        return f"imap:{self.account}:{self.mailbox}:{self.uidvalidity}:{self.uid}"

    @classmethod
    def parse(cls, text: str) -> MessageId:
        """Parse an id; the mailbox is everything between the account and the last two fields."""
        hint = "message ids look like imap:<account>:<mailbox>:<uidvalidity>:<uid>, as list_messages returns them"
        if not isinstance(text, str) or not text.startswith("imap:"):
            raise InvalidInput(f"not a message id: {text!r}; {hint}", message_id=str(text)[:300])
        rest, sep_uid, uid = text[5:].rpartition(":")
        rest, sep_validity, validity = rest.rpartition(":")
        account, sep_account, mailbox = rest.partition(":")
        if not (sep_uid and sep_validity and sep_account):
            raise InvalidInput(f"not a message id: {text!r}; {hint}", message_id=text[:300])
        if not (_NUMBER_RE.match(uid) and _NUMBER_RE.match(validity)):
            raise InvalidInput(
                f"uidvalidity and uid in {text!r} must be positive numbers; {hint}", message_id=text[:300]
            )
        return cls(account, mailbox, int(validity), int(uid))
