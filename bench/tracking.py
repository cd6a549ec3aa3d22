"""The issue 14 operations of the benchmark: get_thread, a search over every folder, and list_changes, each
beside the floor (the same IMAP work done with raw imapclient on one connection)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from imapclient import IMAPClient
from mcp import Client

from mail_mcp.sandbox import Sandbox

Operation = tuple[str, Callable[[], Awaitable[Any]], Callable[[], Any]]
THREAD_FOLDERS = ("INBOX", "Sent", "Archive")
SUMMARY = ["FLAGS", "ENVELOPE", "RFC822.SIZE", "BODYSTRUCTURE", "INTERNALDATE"]
PAGE = 20
UID = re.compile(rb"UID (\d+)")


def seed_thread(sandbox: Sandbox) -> list[str]:
    """Five messages of one conversation: two in INBOX (10k messages), two replies in Sent, one in Archive."""
    start = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    ids: list[str] = []
    places = ["INBOX", "Sent", "INBOX", "Sent", "Archive"]
    for n, folder in enumerate(places):
        msg = EmailMessage()
        mine = folder == "Sent"
        msg["From"] = "alice@example.test" if mine else "Bob <bob@example.test>"
        msg["To"] = "Bob <bob@example.test>" if mine else "alice@example.test"
        msg["Subject"] = "Re: bench thread" if n else "bench thread"
        msg["Date"] = format_datetime(start + timedelta(hours=n))
        msg["Message-ID"] = f"<bench-thread-{n}@example.test>"
        if ids:
            msg["In-Reply-To"] = ids[-1]
            msg["References"] = " ".join(ids)
        msg.set_content(f"Message {n} of the bench thread.\n\n> quoted earlier text\n> more of it\n")
        ids.append(msg["Message-ID"])
        sandbox.append("alice", folder, msg.as_bytes())
    return ids


def _selected(imap: IMAPClient, folder: str) -> None:
    imap.select_folder(folder, readonly=True)
    imap._bench_selected = folder  # type: ignore[attr-defined]


def floor_thread(imap: IMAPClient, folders: list[str], header_ids: list[str]) -> None:
    """What get_thread asks of the server, done by hand: per folder one SEARCH for every id the seed names (as
    Message-ID, In-Reply-To or References), then the found messages' envelopes and first 1,500 bytes of text."""
    terms = [
        ["HEADER", name, value]
        for value in header_ids
        for name in ("Message-ID", "In-Reply-To", "References")
    ]
    criteria: list[Any] = terms[-1]
    for term in reversed(terms[:-1]):
        criteria = ["OR", *term, *criteria]
    for folder in folders:
        _selected(imap, folder)
        uids = imap.search(criteria)
        if uids:
            imap.fetch(uids, [*SUMMARY, "BODY.PEEK[1]<0.1500>"])


def floor_everywhere(imap: IMAPClient, folders: list[str], criteria: list[Any]) -> None:
    """Per folder the newest 20 matches by arrival with their dates, then the 20 newest overall fetched."""
    candidates: list[tuple[int, str, int]] = []
    for folder in folders:
        _selected(imap, folder)
        uids = imap.sort(["REVERSE", "ARRIVAL"], criteria, "UTF-8")[:PAGE]
        if uids:
            for uid, data in imap.fetch(uids, ["INTERNALDATE"]).items():
                candidates.append((int(data[b"INTERNALDATE"].timestamp()), folder, uid))
    chosen = sorted(candidates, reverse=True)[:PAGE]
    for folder in folders:
        uids = [uid for _, f, uid in chosen if f == folder]
        if uids:
            _selected(imap, folder)
            imap.fetch(uids, SUMMARY)


def floor_changes(imap: IMAPClient, folder: str, modseq: int, uidnext: int) -> None:
    """CONDSTORE: what changed since modseq in one FETCH (raw imaplib: imapclient's fetch wants the UIDs
    listed), then the new messages' summaries."""
    _selected(imap, folder)
    _, lines = imap._imap.uid("FETCH", "1:*", f"(UID FLAGS) (CHANGEDSINCE {modseq})")
    uids = [int(m.group(1)) for line in lines if isinstance(line, bytes) and (m := UID.search(line))]
    new = [uid for uid in uids if uid >= uidnext]
    if new:
        imap.fetch(new, SUMMARY)


async def operations(client: Client, sandbox: Sandbox, imap: IMAPClient) -> list[Operation]:
    thread_ids = seed_thread(sandbox)
    seed = await client.call_tool("list_messages", {"mailbox": "*", "subject": "bench thread", "limit": 1})
    seed_id = seed.structured_content["data"]["messages"][0]["message_id"]  # type: ignore[index]
    folders = [f for f in (await _scope(client)) if f]

    _selected(imap, "INBOX")
    status = imap.folder_status("INBOX", ["UIDNEXT", "HIGHESTMODSEQ"])
    modseq, uidnext = int(status[b"HIGHESTMODSEQ"]), int(status[b"UIDNEXT"])
    listed = await client.call_tool("list_messages", {"limit": 1})
    state = listed.structured_content["meta"]["state"]  # type: ignore[index]
    imap.select_folder("INBOX")
    some = imap.search(["ALL"])[:1]
    imap.add_flags(some, [b"$BenchSeen"], silent=True)
    sandbox.deliver("alice@example.test", b"Subject: bench new mail\r\nFrom: x@example.test\r\n\r\nnew\r\n")
    return [
        (
            "get_thread (5 messages in INBOX, Sent, Archive)",
            lambda: client.call_tool("get_thread", {"message_id": seed_id}),
            lambda: floor_thread(imap, folders, thread_ids),
        ),
        (
            f"search every folder (subject, {len(folders)} folders)",
            lambda: client.call_tool("list_messages", {"mailbox": "*", "subject": "invoice"}),
            lambda: floor_everywhere(imap, folders, ["SUBJECT", "invoice"]),
        ),
        (
            "list_changes (INBOX: 1 new, 1 flag change)",
            lambda: client.call_tool("list_changes", {"state": state}),
            lambda: floor_changes(imap, "INBOX", modseq, uidnext),
        ),
    ]


async def _scope(client: Client) -> list[str]:
    listed = await client.call_tool("list_folders", {})
    return [
        f["name"]
        for f in listed.structured_content["data"]["folders"]  # type: ignore[index]
        if f.get("selectable", True) and f.get("role") not in ("trash", "junk")
    ]
