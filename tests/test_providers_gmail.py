"""Gmail semantics against a Dovecot made to look like Gmail: X-GM-EXT-1 advertised and SORT/THREAD withheld
(emailjs-imap-client#119), Gmail's folder names with Gmail's special-use attributes and Dovecot's own special
folders hidden (developers.google.com/gmail/imap/imap-extensions), and a shim that answers X-GM-LABELS from a
table it keeps and runs X-GM-RAW as a TEXT search."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from mcp import Client

from mail_mcp.config.sources import load_settings
from mail_mcp.imap.gmail import unique_by_msgid
from mail_mcp.mailbox.service import MailService
from mail_mcp.sandbox import Sandbox
from mail_mcp.server.app import build_server

from .conftest import call, call_error
from .imapshim import PassThrough, ProviderShim, ShimConn

pytestmark = pytest.mark.anyio
GMAIL_LIKE = (
    "IMAP4rev1 MULTIAPPEND LITERAL+ ID NAMESPACE UIDPLUS MOVE ENABLE IDLE CONDSTORE ESEARCH LIST-STATUS "
    "SPECIAL-USE X-GM-EXT-1"
)  # no SORT, no THREAD (MULTIAPPEND only to seed the sandbox)
GMAIL_FOLDERS = {"[Gmail]/All Mail": "\\All", "[Gmail]/Trash": "\\Trash", "[Gmail]/Sent Mail": "\\Sent"}
HIDDEN = {"Sent", "Drafts", "Trash", "Junk", "Archive"}  # Dovecot's sandbox folders; Gmail has none of them
SPECIAL = re.compile(rb" ?\\(Sent|Drafts|Trash|Junk|Archive|All|Flagged)\b", re.IGNORECASE)
LIST_LINE = re.compile(rb'^\* LIST \(([^)]*)\) ("[^"]*"|NIL) (.+?)\r\n$', re.DOTALL)


class Gmail(PassThrough):
    def __init__(self) -> None:
        self.labels: dict[tuple[str | None, int], set[str]] = {}

    def command(self, conn: ShimConn, tag: bytes, text: bytes) -> bytes | None:
        found = re.match(rb"UID STORE (\d+(?:[,:]\d+)*) ([+-])X-GM-LABELS(?:\.SILENT)? \((.*)\)$", text, re.I)
        if found:
            names = [n.decode() for n in re.findall(rb'"((?:[^"\\]|\\.)*)"|(\S+)', found[3]) for n in n if n]
            for uid in _uids(found[1]):
                have = self.labels.setdefault((conn.selected, uid), set())
                have.update(names) if found[2] == b"+" else have.difference_update(names)
            return tag + b" OK Success\r\n"
        found = re.match(rb"UID FETCH (\d+(?:[,:]\d+)*) \(X-GM-LABELS\)$", text, re.I)
        if found:
            lines = b""
            for uid in _uids(found[1]):
                quoted = " ".join(f'"{n}"' for n in sorted(self.labels.get((conn.selected, uid), ())))
                lines += f"* 1 FETCH (UID {uid} X-GM-LABELS ({quoted}))\r\n".encode()
            return lines + tag + b" OK Success\r\n"
        return None

    def translate(self, conn: ShimConn, text: bytes) -> bytes:
        return text.replace(b"X-GM-RAW", b"TEXT")  # a stand-in for Gmail's own search

    def response(self, conn: ShimConn, line: bytes) -> bytes | None:
        found = LIST_LINE.match(line)
        if found is None:
            return line
        name = found[3].strip(b'"').decode()
        if name in HIDDEN:
            return None
        flags = SPECIAL.sub(b"", found[1]).strip()
        if name in GMAIL_FOLDERS:
            flags = (flags + b" " + GMAIL_FOLDERS[name].encode()).strip()
        return b"* LIST (" + flags + b") " + found[2] + b" " + found[3] + b"\r\n"


def _uids(text: bytes) -> list[int]:
    out: list[int] = []
    for part in text.decode().split(","):
        low, _, high = part.partition(":")
        out += range(int(low), int(high or low) + 1)
    return out


@pytest.fixture(scope="module")
def gmail_sandbox() -> Iterator[Sandbox]:
    with Sandbox(imap_capability=GMAIL_LIKE) as sb:
        sb.seed_sample()
        with sb.connect() as imap:
            for name in (*GMAIL_FOLDERS, "Work"):
                imap.create_folder(name)
        yield sb


@pytest.fixture(scope="module")
async def gmail(
    gmail_sandbox: Sandbox, client: Client
) -> AsyncIterator[tuple[Client, ProviderShim, Sandbox]]:
    """Needs the session `client` first: async fixtures must be torn down in the reverse order of set-up."""
    with ProviderShim(gmail_sandbox.host, gmail_sandbox.imap_port, Gmail()) as shim:
        env = gmail_sandbox.env(security="plain") | {
            "MAIL_IMAP_DEFAULT_PORT": str(shim.port),
            "MAIL_IMAP_DEFAULT_WRITE_ENABLED": "true",
            "MAIL_IMAP_DEFAULT_ALLOW_PERMANENT_DELETE": "true",
        }
        service = MailService(load_settings(env=env))  # no PROVIDER: detected from X-GM-EXT-1
        try:
            async with Client(build_server(service)) as client:
                yield client, shim, gmail_sandbox
        finally:
            await service.close()


def _message(subject: str, n: int) -> bytes:
    return f"From: a@example.test\r\nSubject: {subject} {n}\r\nMessage-ID: <g{n}-{subject}@x>\r\n\r\nbody\r\n".encode()


async def _ids(client: Client, mailbox: str, subject: str) -> list[str]:
    listed = await call(client, "list_messages", mailbox=mailbox, subject=subject)
    return [m["message_id"] for m in listed["data"]["messages"]]


async def test_roles_from_gmail_folders(gmail: tuple[Client, ProviderShim, Sandbox]) -> None:
    folders = {f["name"]: f["role"] for f in (await call(gmail[0], "list_folders"))["data"]["folders"]}
    assert folders["[Gmail]/All Mail"] == "all" and folders["[Gmail]/Trash"] == "trash"
    assert not HIDDEN & set(folders)


async def test_newest_first_without_sort(gmail: tuple[Client, ProviderShim, Sandbox], client: Client) -> None:
    client_gmail, shim, _ = gmail
    got = await call(client_gmail, "list_messages", limit=50)
    expected = await call(client, "list_messages", limit=50)
    assert [m["subject"] for m in got["data"]["messages"]] == [
        m["subject"] for m in expected["data"]["messages"]
    ]
    assert not any(c.upper().startswith("UID SORT") for c in shim.commands)


async def test_archive_is_all_mail_and_delete_is_gmail_trash(
    gmail: tuple[Client, ProviderShim, Sandbox],
) -> None:
    client, _, sb = gmail
    for n in (1, 2):
        sb.append("alice", "INBOX", _message("archive-me", n))
    first, second = await _ids(client, "INBOX", "archive-me")
    archived = await call(client, "move_message", message_ids=[first], destination="archive")
    assert archived["data"]["folder"] == "[Gmail]/All Mail" and archived["data"]["counts"]["ok"] == 1
    deleted = await call(client, "delete_message", message_ids=[second])
    assert deleted["data"]["folder"] == "[Gmail]/Trash" and deleted["data"]["counts"]["ok"] == 1


async def test_expunge_in_a_label_folder_is_never_reported_as_deleted(
    gmail: tuple[Client, ProviderShim, Sandbox],
) -> None:
    client, _, sb = gmail
    sb.append("alice", "Work", _message("label-only", 1))
    sb.append("alice", "[Gmail]/All Mail", _message("label-only", 1))  # Gmail keeps it here
    [mid] = await _ids(client, "Work", "label-only")
    done = await call(client, "delete_message", message_ids=[mid], permanent=True)
    [outcome] = done["data"]["messages"]
    assert outcome["code"] == "label_removed" and outcome["folder"] == "[Gmail]/All Mail"
    assert "only lost a label" in done["summary"] and "permanently deleted" not in done["summary"]
    assert await _ids(client, "[Gmail]/All Mail", "label-only")


async def test_labels_add_and_remove(gmail: tuple[Client, ProviderShim, Sandbox]) -> None:
    client, shim, sb = gmail
    sb.append("alice", "INBOX", _message("labelled", 1))
    [mid] = await _ids(client, "INBOX", "labelled")
    added = await call(client, "modify_flags", message_ids=[mid], add_labels=["Work", "Projects/2024"])
    [outcome] = added["data"]["messages"]
    assert outcome["status"] == "ok" and sorted(outcome["labels"]) == ["Projects/2024", "Work"]
    removed = await call(
        client, "modify_flags", message_ids=[mid], remove_labels=["Work"], add_flags=["read"]
    )
    [outcome] = removed["data"]["messages"]
    assert outcome["labels"] == ["Projects/2024"] and "\\Seen" in outcome["flags"]
    assert any("+X-GM-LABELS" in c for c in shim.commands)


async def test_gmail_query_is_x_gm_raw(gmail: tuple[Client, ProviderShim, Sandbox]) -> None:
    client, shim, _ = gmail
    found = await call(client, "list_messages", gmail_query="Brezn")
    assert [m["subject"] for m in found["data"]["messages"]] == ["Grüße aus München"]
    assert any("X-GM-RAW" in c for c in shim.commands)


async def test_gmail_query_refused_elsewhere(client: Client) -> None:
    error = await call_error(client, "list_messages", gmail_query="is:starred")
    assert error["error"]["code"] == "invalid_input" and "Gmail" in error["error"]["message"]


async def test_labels_refused_elsewhere(sandbox: Sandbox) -> None:
    env = sandbox.env() | {"MAIL_IMAP_DEFAULT_WRITE_ENABLED": "true"}
    service = MailService(load_settings(env=env))
    try:
        async with Client(build_server(service)) as client:
            listed = await call(client, "list_messages", limit=1)
            mid = listed["data"]["messages"][0]["message_id"]
            error = await call_error(client, "modify_flags", message_ids=[mid], add_labels=["Work"])
            assert error["error"]["code"] == "invalid_input" and "Gmail" in error["error"]["message"]
    finally:
        await service.close()


async def test_unique_by_msgid_keeps_the_first_copy() -> None:
    rows: list[tuple[str, Any]] = [("INBOX", 7), ("Work", 7), ("Work", None), ("All", 8), ("All", None)]
    assert unique_by_msgid(rows, lambda r: r[1]) == [("INBOX", 7), ("Work", None), ("All", 8), ("All", None)]
