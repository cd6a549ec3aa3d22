"""Message ids: right-to-left parsing, bounds, and round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mail_mcp.errors import InvalidInput
from mail_mcp.ids import MAX_U32, MessageId

accounts = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
mailboxes = st.text(min_size=1, max_size=80).filter(lambda s: "\x00" not in s)
numbers = st.integers(min_value=1, max_value=MAX_U32)


@given(accounts, mailboxes, numbers, numbers)
def test_round_trip(account: str, mailbox: str, uidvalidity: int, uid: int) -> None:
    mid = MessageId(account, mailbox, uidvalidity, uid)
    assert MessageId.parse(str(mid)) == mid


def test_mailbox_with_colons_is_parsed_right_to_left() -> None:
    mid = MessageId.parse("imap:work:Lists:python:dev:2:7")
    assert (mid.account, mid.mailbox, mid.uidvalidity, mid.uid) == ("work", "Lists:python:dev", 2, 7)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "imap:",
        "imap:default:INBOX:1",
        "pop:default:INBOX:1:2",
        "imap:default:INBOX:0:2",
        "imap:default:INBOX:1:0",
        "imap:default:INBOX:1:-2",
        "imap:default:INBOX:1:4294967296",
        "imap:default:INBOX:01:2",
        "imap:bad account:INBOX:1:2",
        "imap:default::1:2",
        "imap:" + "a" * 65 + ":INBOX:1:2",
        "imap:default:INBOX:1:2 ",
    ],
)
def test_bad_ids_are_invalid_input(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        MessageId.parse(text)
    assert caught.value.code == "invalid_input"
