"""The flag grammar (pure): aliases, system flags, keywords as IMAP atoms, and refusal of anything else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mail_mcp.errors import InvalidInput
from mail_mcp.imap.flags import (
    ALIASES,
    SYSTEM_FLAGS,
    canonical_flag,
    check_wire_flags,
    keyword_problem,
    parse_change,
)
from mail_mcp.imap.uidset import parse_uid_set, uid_set

INJECTIONS = [
    "\\Seen) (\\Deleted",
    "a b",
    "x\r\nA1 EXPUNGE",
    '"q"',
    "{5}",
    "%",
    "*",
    "]",
    "",
    "x" * 65,
    "café",
    "(",
    ")",
    "a\\b",
    "tab\there",
    "nul\x00",
    "del\x7f",
    "\\Recent",
    "\\Unknown",
    "\\",
    "\\*",
]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("read", "\\Seen"),
        ("Read", "\\Seen"),
        ("seen", "\\Seen"),
        ("flagged", "\\Flagged"),
        ("starred", "\\Flagged"),
        ("answered", "\\Answered"),
        ("draft", "\\Draft"),
        ("important", "$Important"),
        ("junk", "$Junk"),
        ("NotJunk", "$NotJunk"),
        ("\\seen", "\\Seen"),
        ("\\DELETED", "\\Deleted"),
        ("$Forwarded", "$Forwarded"),
        ("project-x", "project-x"),
        ("x" * 64, "x" * 64),
        ("a[b", "a[b"),
    ],
)
def test_canonical_flags(given: str, expected: str) -> None:
    assert canonical_flag(given) == expected


def test_every_system_flag_and_alias_is_accepted() -> None:
    for flag in SYSTEM_FLAGS:
        assert canonical_flag(flag) == flag
    for alias, flag in ALIASES.items():
        assert canonical_flag(alias.upper()) == flag


@pytest.mark.parametrize("bad", INJECTIONS)
def test_bad_flags_are_refused_naming_the_flag(bad: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_change(["\\Seen", bad], None)
    assert info.value.details["problems"][0]["flag"] == bad[:100]
    with pytest.raises(InvalidInput):
        parse_change(None, [bad])
    with pytest.raises(InvalidInput):
        check_wire_flags([bad])


def test_change_is_deduplicated_and_checked_as_a_whole() -> None:
    change = parse_change(["read", "\\Seen", "$Work", "$work"], ["starred"])
    assert change.add == ("\\Seen", "$Work") and change.remove == ("\\Flagged",)
    with pytest.raises(InvalidInput, match="at least one flag"):
        parse_change([], None)
    with pytest.raises(InvalidInput, match="both added and removed"):
        parse_change(["read"], ["\\Seen"])
    with pytest.raises(InvalidInput, match="at most 20"):
        parse_change([f"k{i}" for i in range(21)], None)


@given(st.text(max_size=80))
def test_accepted_keywords_are_safe_atoms(text: str) -> None:
    try:
        flag = canonical_flag(text)
    except InvalidInput:
        return
    assert flag in SYSTEM_FLAGS or (keyword_problem(flag) is None and not flag.startswith("\\"))
    assert all(" " < c < "\x7f" and c not in '(){%*"\\]' for c in flag.lstrip("\\"))
    assert 1 <= len(flag) <= 64


@given(st.lists(st.integers(min_value=1, max_value=5000), min_size=1, max_size=300))
def test_uid_sets_round_trip(uids: list[int]) -> None:
    assert parse_uid_set(uid_set(uids).decode()) == sorted(set(uids))


def test_uid_set_text() -> None:
    assert uid_set([9, 3, 4, 5, 5]) == b"3:5,9"
    assert parse_uid_set("7:5,1") == [5, 6, 7, 1]
