"""IMAP UID sets (RFC 3501 sequence-set syntax): compact `3:5,9` forms both ways. Pure functions."""

from __future__ import annotations


def uid_set(uids: list[int]) -> bytes:
    """Compact UID set, e.g. [3, 4, 5, 9] -> b"3:5,9"."""
    ordered = sorted(set(uids))
    runs: list[str] = []
    start = prev = ordered[0]
    for uid in [*ordered[1:], 0]:
        if uid != prev + 1:
            runs.append(str(start) if start == prev else f"{start}:{prev}")
            start = uid
        prev = uid
    return ",".join(runs).encode("ascii")


def parse_uid_set(text: str) -> list[int]:
    """Expand a UID set such as "3:5,9" in the order given (RFC 4315 pairs source and destination in order)."""
    uids: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition(":")
        a, b = int(low), int(high or low)
        uids.extend(range(min(a, b), max(a, b) + 1))
    return uids
