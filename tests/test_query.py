"""Pure parts of list_messages: criteria, cursors, UID sets and page starts."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mail_mcp.errors import InvalidInput
from mail_mcp.imap.search import Cursor, Filters, page_start
from mail_mcp.imap.uidset import parse_uid_set


def test_criteria_and_charset() -> None:
    criteria, charset = Filters(
        unread=True, flagged=False, subject="report", arrived_since=date(2026, 1, 2)
    ).criteria()
    assert criteria == ["UNSEEN", "UNFLAGGED", "SUBJECT", "report", "SINCE", date(2026, 1, 2)]
    assert charset is None
    assert Filters(from_="Jürgen").criteria() == (["FROM", "Jürgen"], "UTF-8")
    assert Filters().criteria() == (["ALL"], None)


@pytest.mark.parametrize("bad", ["a\r\nb", "tab\there", "", "x" * 257, "nul\x00"])
def test_search_strings_refuse_controls(bad: str) -> None:
    with pytest.raises(InvalidInput):
        Filters(subject=bad)


def test_dates_must_be_ordered() -> None:
    with pytest.raises(InvalidInput):
        Filters(arrived_since=date(2026, 2, 1), arrived_before=date(2026, 1, 1))
    with pytest.raises(InvalidInput):
        Filters(sent_since=date(2026, 2, 1), sent_before=date(2026, 1, 1))
    assert Filters(sent_since=date(2026, 1, 1), sent_before=date(2026, 2, 1)).criteria()[0] == [
        "SENTSINCE",
        date(2026, 1, 1),
        "SENTBEFORE",
        date(2026, 2, 1),
    ]


def test_cursor_round_trip_and_garbage() -> None:
    filters = Filters(subject="Grüße", arrived_since=date(2026, 1, 1)).as_json()
    cursor = Cursor("work", "Lists:python", 7, filters, 1_790_000_000, 42)
    again = Cursor.decode(cursor.encode())
    assert again == cursor and Filters.from_json(again.filters) == Filters(
        subject="Grüße", arrived_since=date(2026, 1, 1)
    )
    for garbage in ["", "!!!", "eyJ2IjoyfQ", cursor.encode()[:-3]]:
        with pytest.raises(InvalidInput):
            Cursor.decode(garbage)


@given(st.lists(st.integers(1, 5000), unique=True))
def test_uid_set_round_trip(uids: list[int]) -> None:
    ordered = sorted(uids)
    text = ",".join(str(u) for u in ordered)
    assert (parse_uid_set(text) if text else []) == ordered
    assert sorted(parse_uid_set("9:7,1")) == [1, 7, 8, 9]


@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(1, 10_000)), unique_by=lambda k: k[1], min_size=1),
    st.tuples(st.integers(0, 5), st.integers(1, 10_001)),
)
def test_page_start_is_first_older_key(keys: list[tuple[int, int]], after: tuple[int, int]) -> None:
    newest_first = sorted(keys, reverse=True)
    start = page_start(newest_first, after)
    assert all(k >= after for k in newest_first[:start]) and all(k < after for k in newest_first[start:])
