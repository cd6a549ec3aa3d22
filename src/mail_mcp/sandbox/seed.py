"""Putting mail into a sandbox mailbox over IMAP: the sample mailbox and bulk mail, both with MULTIAPPEND.

The sample's own names (`SAMPLE_COUNTS`, `SAMPLE_THREAD_SUBJECT`, ...) are re-exported here.
"""

from __future__ import annotations

import imapclient

from mail_mcp.sandbox.bulk import generate_bulk
from mail_mcp.sandbox.processes import ensure_folder
from mail_mcp.sandbox.sample import (
    SAMPLE,
    SAMPLE_COUNTS,
    SAMPLE_FOLDERS,
    SAMPLE_SUBJECTS,
    SAMPLE_THREAD_SUBJECT,
    SampleSpec,
    build_sample,
)

__all__ = [
    "SAMPLE",
    "SAMPLE_COUNTS",
    "SAMPLE_FOLDERS",
    "SAMPLE_SUBJECTS",
    "SAMPLE_THREAD_SUBJECT",
    "SampleSpec",
    "build_sample",
    "generate_bulk",
    "seed_bulk",
    "seed_sample",
]


def seed_sample(client: imapclient.IMAPClient, address: str) -> dict[str, int]:
    """APPEND the whole sample mailbox, addressed to ``address``; returns `SAMPLE_COUNTS`."""
    for folder in SAMPLE_FOLDERS:
        ensure_folder(client, folder)
    by_folder: dict[str, list[dict[str, object]]] = {}
    for folder, raw, flags, when in build_sample(address):
        by_folder.setdefault(folder, []).append({"msg": raw, "flags": flags, "date": when})
    for folder, msgs in by_folder.items():
        client.multiappend(folder, msgs)
    return dict(SAMPLE_COUNTS)


def seed_bulk(
    client: imapclient.IMAPClient, folder: str, count: int, *, size_hint: int, batch: int, seed: int
) -> int:
    """APPEND ``count`` generated messages to ``folder`` in MULTIAPPEND batches of ``batch``."""
    ensure_folder(client, folder)
    chunk: list[dict[str, object]] = []
    for raw, when, flags in generate_bulk(count, size_hint=size_hint, seed=seed):
        chunk.append({"msg": raw, "flags": flags, "date": when})
        if len(chunk) >= batch:
            client.multiappend(folder, chunk)
            chunk = []
    if chunk:
        client.multiappend(folder, chunk)
    return count
