"""Hostile and broken mail read through the MCP client from a private Dovecot: senders the server cannot parse,
display tricks, HTML built to hang a renderer, and folder names that are not valid modified UTF-7."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from mcp import Client

from mail_mcp.config.sources import load_settings
from mail_mcp.ids import MessageId
from mail_mcp.imap.fetch import RawMessage
from mail_mcp.imap.folders import folder_name
from mail_mcp.mailbox import presenting
from mail_mcp.mailbox.service import MailService
from mail_mcp.mime import parse_bodystructure
from mail_mcp.sandbox import Sandbox
from mail_mcp.server.app import build_server
from tests.conftest import call

pytestmark = pytest.mark.anyio

DEEP = 100_000
MESSAGES = {
    "nul-sender": b"From: Evil\x00 Person <evil@example.test>\r\nTo: alice@example.test\r\n",
    "syntax-sender": b"From: <ev\x00il@example.test>\r\nTo: alice@example.test\r\n",
    "spoofed": b'From: "ceo@bank.com" <attacker@evil.test>\r\nTo: alice@example.test\r\n',
    "bidi": b"From: =?utf-8?q?Mallory=E2=80=8B_Bank?= <m@evil.test>\r\nTo: alice@example.test\r\n",
}


def message(key: str, head: bytes, subject: bytes | None = None, body: bytes = b"hello\r\n") -> bytes:
    subject = subject or f"hostile {key}".encode()
    return (
        head + b"Subject: " + subject + b"\r\nMessage-ID: <" + key.encode() + b"@example.test>\r\n\r\n" + body
    )


def deep_html() -> bytes:
    level = f"<div title='{'t' * 40}'>"  # 100,000 levels make about 5 MB, so only the first 4 MB are fetched
    html = f"<html><body>{level * 300}Visible words deep inside{level * (DEEP - 300)}{'</div>' * DEEP}</body></html>"
    return (
        b"From: deep@example.test\r\nTo: alice@example.test\r\nSubject: hostile deep\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n" + html.encode()
    )


BIDI_ATTACHMENT = (
    b"From: files@example.test\r\nTo: alice@example.test\r\nSubject: =?utf-8?q?Invoice_=E2=80=AEfdp.exe?=\r\n"
    b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
    b"Content-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: application/octet-stream\r\n"
    b"Content-Disposition: attachment; filename*=utf-8''Invoice%E2%80%AEfdp.exe\r\n\r\nMZ\r\n--b--\r\n"
)


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with Sandbox(users=("alice",)) as sb:
        for key, head in MESSAGES.items():
            sb.append("alice", "INBOX", message(key, head))
        sb.append("alice", "INBOX", deep_html())
        sb.append("alice", "INBOX", BIDI_ATTACHMENT)
        yield sb


@pytest.fixture(scope="module")
async def client(box: Sandbox) -> AsyncIterator[Client]:
    service = MailService(load_settings(env=box.env()))
    try:
        async with Client(build_server(service), raise_exceptions=True) as c:
            yield c
    finally:
        await service.close()


async def listed(client: Client) -> dict[str, dict[str, Any]]:
    page = await call(client, "list_messages", mailbox="INBOX", limit=50)
    return {m["subject"]: m for m in page["data"]["messages"]}


# ---------------------------------------------------------------------------------------------- item 18


async def test_a_placeholder_is_never_shown_as_the_sender(client: Client) -> None:
    messages = await listed(client)
    for key in ("nul-sender", "syntax-sender"):
        sender = messages[f"hostile {key}"]["from"]
        assert not {"Evil", "ev", "Nul", "MISSING_MAILBOX@MISSING_DOMAIN"} & {
            sender["email"],
            sender.get("name"),
        }
        assert "MISSING" not in sender["email"] and "SYNTAX" not in sender["email"], sender
    # Listings and get_message fetch the From header beside the ENVELOPE, so our own parser recovers the real
    # address where Dovecot's ENVELOPE gave up, and says so.
    nul = messages["hostile nul-sender"]["from"]
    assert nul["email"] == "evil@example.test" and nul.get("warning"), nul
    detail = await call(client, "get_message", message_id=messages["hostile nul-sender"]["message_id"])
    assert detail["data"]["from"]["email"] == "evil@example.test" and detail["data"]["from"]["warning"]


def test_the_header_is_parsed_when_the_envelope_is_incomplete(box: Sandbox) -> None:
    """With the From header fetched beside the ENVELOPE, our own parser gives the real address."""
    with box.connect("alice") as imap:
        validity = imap.select_folder("INBOX", readonly=True)[b"UIDVALIDITY"]
        uids = imap.search(["HEADER", "Message-ID", "nul-sender@example.test"])
        items = [
            "ENVELOPE",
            "FLAGS",
            "RFC822.SIZE",
            "BODYSTRUCTURE",
            "BODY.PEEK[HEADER.FIELDS (FROM SENDER REPLY-TO)]",
        ]
        data = imap.fetch(uids, items)[uids[0]]
    raw = RawMessage(uid=uids[0], data=data, structure=parse_bodystructure(data[b"BODYSTRUCTURE"]))
    summary = presenting.summary(raw, MessageId("default", "INBOX", validity, uids[0]), None)
    assert summary.from_ is not None and summary.from_.email == "evil@example.test"
    assert (
        summary.from_.warning == presenting.RECOVERED
        and summary.from_.name
        and "Person" in summary.from_.name
    )


# ---------------------------------------------------------------------------------------------- item 19


async def test_display_tricks_are_escaped_and_flagged(client: Client) -> None:
    messages = await listed(client)
    spoofed = messages["hostile spoofed"]["from"]
    assert spoofed["email"] == "attacker@evil.test" and "ceo@bank.com" in spoofed["warning"]
    bidi = messages["hostile bidi"]["from"]
    assert bidi["name"] == "Mallory[U+200B] Bank" and bidi["warning"]
    invoice = messages["Invoice [U+202E]fdp.exe"]
    detail = await call(client, "get_message", message_id=invoice["message_id"])
    assert detail["data"]["subject"] == "Invoice [U+202E]fdp.exe"
    assert [a["filename"] for a in detail["data"]["attachments"]] == ["Invoice[U+202E]fdp.exe"]
    assert messages["hostile nul-sender"]["from"].get("warning")  # and plain senders carry none:
    assert (await listed(client))["hostile deep"]["from"].get("warning") is None


# ---------------------------------------------------------------------------------------------- item 16


@pytest.mark.parametrize("fmt", ["text", "html", "both"])
async def test_deeply_nested_html_is_bounded_and_keeps_its_text(client: Client, fmt: str) -> None:
    deep = (await listed(client))["hostile deep"]
    begun = time.perf_counter()
    detail = await call(client, "get_message", message_id=deep["message_id"], format=fmt)
    took = time.perf_counter() - begun
    body = detail["data"]["body"]
    assert took < 2.0, f"{fmt} took {took:.1f}s"
    assert body["text"] == "Visible words deep inside"
    if fmt != "text":
        assert "Visible words deep inside" in body["html"] and "<div" not in body["html"]


# ---------------------------------------------------------------------------------------------- item 17


class RenamingRelay:
    """A loopback relay to Dovecot that renames one folder, in LIST and STATUS replies, to bytes that are not
    valid modified UTF-7 (Dovecot itself refuses to create or list such a name)."""

    def __init__(self, port: int, old: bytes, new: bytes, hide: bytes = b"") -> None:
        self.upstream, self.old, self.new, self.hide = port, old, new, hide
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream))
            threading.Thread(target=self._pump, args=(downstream, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, downstream, True), daemon=True).start()

    def _pump(self, source: socket.socket, dest: socket.socket, rewrite: bool) -> None:
        with source, dest:
            reader = source.makefile("rb")
            try:
                for line in reader if rewrite else iter(lambda: source.recv(65536), b""):
                    if rewrite and line.startswith((b"* LIST", b"* STATUS")):
                        line = line.replace(b" " + self.old + b"\r\n", b" " + self.new + b"\r\n")
                        line = line.replace(b"STATUS " + self.old + b" ", b"STATUS " + self.new + b" ")
                    if rewrite and self.hide and b"CAPABILITY" in line:
                        line = line.replace(b" " + self.hide, b"")
                    dest.sendall(line)
            except OSError:
                pass

    def close(self) -> None:
        self.listener.close()


@pytest.mark.parametrize("listing", ["LIST-STATUS", "LIST then STATUS"])
async def test_a_folder_name_that_is_not_modified_utf7_is_shown_escaped(box: Sandbox, listing: str) -> None:
    hide = b"" if listing == "LIST-STATUS" else b"LIST-STATUS"
    relay = RenamingRelay(box.imap_port, b"Archive", b"Arch&Zm9v-", hide)
    env = {**box.env(security="plain"), "MAIL_IMAP_DEFAULT_PORT": str(relay.port)}
    service = MailService(load_settings(env=env))
    try:
        async with Client(build_server(service), raise_exceptions=True) as client:
            folders = (await call(client, "list_folders"))["data"]["folders"]
    finally:
        await service.close()
        relay.close()
    names = [f["name"] for f in folders]
    assert "Arch&Zm9v-" in names and "INBOX" in names and "Sent" in names


def test_folder_name_decoding() -> None:
    assert folder_name(b"Entw&APw-rfe") == "Entwürfe"
    assert folder_name(b"Arch&Zm9v-") == "Arch&Zm9v-"  # not valid mUTF-7: kept as the server sent it
    assert folder_name(b"Lone&2AA-") == "Lone&2AA-"  # a lone surrogate
    assert folder_name(b"x&\xff-") == "x&\\xff-"
    assert folder_name(42) == "42"
