"""Tests of the throwaway Dovecot sandbox (mail_mcp.sandbox) that the rest of the suite builds on."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path

import imapclient
import pytest

from mail_mcp.sandbox import SAMPLE_COUNTS, SAMPLE_SUBJECTS, Sandbox, SandboxError
from mail_mcp.sandbox.seed import SAMPLE_THREAD_SUBJECT

pytestmark = pytest.mark.dovecot

REQUIRED_CAPS = {
    "LIST-STATUS",
    "SPECIAL-USE",
    "MOVE",
    "UIDPLUS",
    "SORT",
    "ESEARCH",
    "ID",
    "CONDSTORE",
    "LITERAL+",
    "MULTIAPPEND",
}


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    """One sandbox for this module, alice seeded with the sample mailbox (bob is left for writes)."""
    with Sandbox() as box:
        box.seed_sample("alice")
        yield box


def _alive(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _subjects(client: imapclient.IMAPClient, folder: str) -> list[str]:
    client.select_folder(folder, readonly=True)
    uids = client.search()
    data = client.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    parser = BytesParser(policy=default_policy)
    key = b"BODY[HEADER.FIELDS (SUBJECT)]"
    return [str(parser.parsebytes(data[u][key])["Subject"]) for u in sorted(uids)]


def test_login_starttls_verifies_cert(sb: Sandbox) -> None:
    client = sb.connect("alice", tls="starttls")
    try:
        sock = client.socket()
        assert isinstance(sock, ssl.SSLSocket)
        assert sock.getpeercert()["subjectAltName"] == (("DNS", "localhost"), ("IP Address", "127.0.0.1"))
        assert client.select_folder("INBOX", readonly=True)[b"EXISTS"] >= 20
    finally:
        client.logout()


def test_login_implicit_tls_and_address_username(sb: Sandbox) -> None:
    ctx = ssl.create_default_context(cafile=str(sb.ca_cert_path))
    client = imapclient.IMAPClient(sb.host, sb.imaps_port, ssl=True, ssl_context=ctx, timeout=10)
    try:
        alice = sb.users["alice"]
        assert alice.address == "alice@example.test"
        client.login(alice.address, alice.password)  # auth_username_format = %Ln
        assert isinstance(client.socket(), ssl.SSLSocket)
    finally:
        client.logout()
    sb.connect("bob", tls="tls").logout()


def test_unknown_ca_is_rejected(sb: Sandbox) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        imapclient.IMAPClient(
            sb.host, sb.imaps_port, ssl=True, ssl_context=ssl.create_default_context(), timeout=10
        )


def test_wrong_password_is_rejected(sb: Sandbox) -> None:
    client = imapclient.IMAPClient(sb.host, sb.imap_port, ssl=False, timeout=10)
    try:
        with pytest.raises(imapclient.exceptions.LoginError):
            client.login("alice", "wrong")
    finally:
        client.shutdown()


def test_capabilities(sb: Sandbox) -> None:
    client = sb.connect("alice", tls="plain")
    try:
        caps = {c.decode() for c in client.capabilities()}
        assert caps >= REQUIRED_CAPS
        assert any(c.startswith("THREAD=") for c in caps)
    finally:
        client.logout()


def test_special_use_folders_exist_and_are_subscribed(sb: Sandbox) -> None:
    client = sb.connect("alice")
    try:
        listed = {name: {f.decode() for f in flags} for flags, _sep, name in client.list_folders()}
        subscribed = {name for _flags, _sep, name in client.list_sub_folders()}
        for name, flag in {
            "Sent": "\\Sent",
            "Drafts": "\\Drafts",
            "Trash": "\\Trash",
            "Junk": "\\Junk",
            "Archive": "\\Archive",
        }.items():
            assert flag in listed[name]
            assert name in subscribed
        assert client.find_special_folder(b"\\Sent") == "Sent"
    finally:
        client.logout()


def test_seed_sample_matches_declared_content(sb: Sandbox) -> None:
    assert SAMPLE_COUNTS["INBOX"] >= 20
    client = sb.connect("alice")
    try:
        folders = {name for _f, _s, name in client.list_folders()}
        subscribed = {name for _f, _s, name in client.list_sub_folders()}
        for folder, count in SAMPLE_COUNTS.items():
            assert folder in folders and folder in subscribed
            assert client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"] == count, folder
        for folder in ("INBOX", "Reçus", "Projects.2026", "Notes:2026"):
            assert _subjects(client, folder) == list(SAMPLE_SUBJECTS[folder])
        client.select_folder("INBOX", readonly=True)
        assert len(client.search(["ANSWERED"])) == 1
        assert client.search(["FLAGGED"]) and client.search(["UNSEEN"]) and client.search(["SEEN"])
        threads = [t for t in client.thread("REFERENCES") if len(t) == 3]
        assert len(threads) == 1
        assert _subjects(client, "INBOX").count("Re: " + SAMPLE_THREAD_SUBJECT) == 2
        assert {"Grüße aus München", "会議の議題"} <= set(SAMPLE_SUBJECTS["INBOX"])
        client.select_folder("INBOX", readonly=True)
        structure = client.fetch(client.search(["SUBJECT", "Q1 report"]), ["BODYSTRUCTURE"])
        assert b"report.pdf" in repr(structure).encode()
    finally:
        client.logout()


def test_lmtp_delivery_arrives_in_inbox(sb: Sandbox) -> None:
    raw = (
        b"From: Sender <sender@example.test>\r\nTo: bob@example.test\r\n"
        b"Subject: LMTP probe\r\nMessage-ID: <lmtp-probe@example.test>\r\n\r\nHello Bob.\r\n"
    )
    sb.deliver("bob@example.test", raw)
    client = sb.connect("bob")
    try:
        client.select_folder("INBOX", readonly=True)
        assert len(client.search(["HEADER", "Message-ID", "<lmtp-probe@example.test>"])) == 1
    finally:
        client.logout()


def test_append_with_flags(sb: Sandbox) -> None:
    sb.append("bob", "Appended", b"Subject: one\r\n\r\nbody\r\n", flags=["\\Flagged"])
    client = sb.connect("bob")
    try:
        client.select_folder("Appended", readonly=True)
        assert client.search(["FLAGGED"]) == client.search()
        assert len(client.search()) == 1
    finally:
        client.logout()


def test_seed_bulk(sb: Sandbox) -> None:
    started = time.perf_counter()
    assert sb.seed_bulk("bob", "Bulk", 2000) == 2000
    print(f"seed_bulk 2000 took {time.perf_counter() - started:.2f}s")
    client = sb.connect("bob")
    try:
        assert client.folder_status("Bulk", [b"MESSAGES"])[b"MESSAGES"] == 2000
    finally:
        client.logout()


def test_env(sb: Sandbox) -> None:
    env = sb.env("bob", account="work", security="tls")
    assert env == {
        "MAIL_IMAP_WORK_HOST": "127.0.0.1",
        "MAIL_IMAP_WORK_PORT": str(sb.imaps_port),
        "MAIL_IMAP_WORK_USER": "bob",
        "MAIL_IMAP_WORK_PASS": sb.users["bob"].password,
        "MAIL_IMAP_WORK_SECURITY": "tls",
        "MAIL_IMAP_WORK_CA_FILE": str(sb.ca_cert_path),
        "MAIL_IMAP_WORK_ADDRESS": "bob@example.test",
    }
    assert sb.env()["MAIL_IMAP_DEFAULT_PORT"] == str(sb.imap_port)


def test_imap_capability_override_removes_move(sb: Sandbox) -> None:
    client = sb.connect("alice")
    try:
        caps = [c.decode() for c in client.capabilities()]
    finally:
        client.logout()
    without_move = " ".join(c for c in caps if c != "MOVE")
    with Sandbox(imap_capability=without_move, users=("carol",)) as other:
        client = other.connect("carol")
        try:
            got = {c.decode() for c in client.capabilities()}
        finally:
            client.logout()
    assert "MOVE" not in got
    assert {"UIDPLUS", "SPECIAL-USE", "LITERAL+"} <= got


def test_stop_kills_every_process_and_closes_ports() -> None:
    sb = Sandbox(users=("alice",))
    sb.start()
    client = sb.connect()  # an imap child process for a live session
    pids = sb.process_ids()
    ports = (sb.imap_port, sb.imaps_port, sb.lmtp_port)
    root = sb.root
    assert sb.master_pid in pids and len(pids) > 2
    assert root is not None and root.is_dir()
    sb.stop()
    sb.stop()  # idempotent
    assert not sb.running
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p for p in pids if _alive(p)] == []
    assert not any(_port_open(p) for p in ports)
    assert not root.exists()
    with pytest.raises((OSError, imapclient.exceptions.IMAPClientError)):
        client.noop()


def test_missing_dovecot_gives_clear_error(tmp_path: Path) -> None:
    sb = Sandbox(root=tmp_path / "sb", dovecot_binary="/nonexistent/dovecot")
    with pytest.raises(SandboxError, match="Dovecot not found: install it with `sudo apt-get install"):
        sb.start()
    assert not sb.running
