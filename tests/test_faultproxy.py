"""The fault-injection proxy against the real sandbox Dovecot and a real aiosmtpd."""

from __future__ import annotations

import imaplib
import smtplib
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage

import aiosmtplib
import imapclient
import pytest
from imapclient.exceptions import IMAPClientError

from mail_mcp.sandbox import Sandbox

from .faultproxy import END_OF_DATA, FaultProxy
from .smtp_support import SmtpSink, smtp_server

USER = "bob"
IMAP_BROKEN = (imaplib.IMAP4.abort, ConnectionError)  # a lost connection, never a timeout


def _message(subject: str) -> bytes:
    return (
        f"From: a@example.test\r\nTo: bob@example.test\r\nSubject: {subject}\r\n\r\n"
        "body line\r\nA9 LOGOUT\r\n"
    ).encode()


@pytest.fixture
def folder(sandbox: Sandbox) -> Iterator[str]:
    """A fresh, empty folder of bob's, deleted afterwards."""
    name = f"FP-{uuid.uuid4().hex[:8]}"
    client = sandbox.connect(USER, tls="plain")
    client.create_folder(name)
    yield name
    client.delete_folder(name)
    client.logout()


@pytest.fixture
def imap_proxy(sandbox: Sandbox) -> Iterator[FaultProxy]:
    with FaultProxy(sandbox.host, sandbox.imap_port) as proxy:
        yield proxy


def _login(sandbox: Sandbox, proxy: FaultProxy, timeout: float = 5) -> imapclient.IMAPClient:
    client = imapclient.IMAPClient(proxy.host, proxy.port, ssl=False, timeout=timeout)
    client.login(USER, sandbox.users[USER].password)
    return client


def _subjects(sandbox: Sandbox, folder: str) -> list[bytes]:
    client = sandbox.connect(USER, tls="plain")
    try:
        client.select_folder(folder, readonly=True)
        fetched = client.fetch(client.search(), ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
        return [data[b"BODY[HEADER.FIELDS (SUBJECT)]"].strip() for data in fetched.values()]
    finally:
        client.logout()


def test_imap_forwarding_and_transcript(sandbox: Sandbox, imap_proxy: FaultProxy, folder: str) -> None:
    raw = _message("plain forwarding")
    client = _login(sandbox, imap_proxy)
    client.append(folder, raw)
    client.select_folder(folder)
    fetched = client.fetch(client.search(), ["RFC822"])
    client.logout()
    assert [data[b"RFC822"] for data in fetched.values()] == [raw]
    assert imap_proxy.connections == 1
    sent = imap_proxy.lines(">")
    assert any(line.endswith(f'APPEND "{folder}" () {{{len(raw)}}}') for line in sent), imap_proxy.dump()
    assert any(e.kind == "literal" and e.data == raw for e in imap_proxy.transcript if e.direction == ">")
    assert any(e.kind == "literal" and e.data == raw for e in imap_proxy.transcript if e.direction == "<")
    assert "A9 LOGOUT" not in sent  # literal bytes are data, not commands
    assert any(line.startswith("* OK") for line in imap_proxy.lines("<"))


def test_imap_cut_after_send_append_is_executed(
    sandbox: Sandbox, imap_proxy: FaultProxy, folder: str
) -> None:
    client = _login(sandbox, imap_proxy)
    rule = imap_proxy.cut_after_send(r"APPEND")
    with pytest.raises(IMAP_BROKEN):
        client.append(folder, _message("cut after send"))
    assert rule.fired.wait(1) and rule.hits == 1
    assert rule.reached_upstream is True
    assert rule.upstream_reply is not None and b" OK [APPENDUID " in rule.upstream_reply
    assert _subjects(sandbox, folder) == [b"Subject: cut after send"]
    assert imap_proxy.open_connections == 0
    assert not any(
        e.direction == "<" and b"APPENDUID" in e.data and e.delivered for e in imap_proxy.transcript
    )


def test_imap_cut_before_append_sends_nothing(sandbox: Sandbox, imap_proxy: FaultProxy, folder: str) -> None:
    client = _login(sandbox, imap_proxy)
    rule = imap_proxy.cut_before(r"APPEND")
    with pytest.raises(IMAP_BROKEN):
        client.append(folder, _message("cut before"))
    assert rule.fired.wait(1) and rule.reached_upstream is False
    assert _subjects(sandbox, folder) == []
    cut = [e for e in imap_proxy.transcript if b"APPEND" in e.data and e.direction == ">"]
    assert len(cut) == 1 and not cut[0].delivered


def test_imap_nth_match_and_literal_plus(sandbox: Sandbox, imap_proxy: FaultProxy, folder: str) -> None:
    """`{n+}` literal bytes that look like commands never match; the rule fires on the 2nd real CREATE."""
    rule = imap_proxy.cut_before(r"CREATE", nth=2)
    password = sandbox.users[USER].password
    payload = b"Subject: x\r\n\r\nt1 CREATE Evil\r\nt2 CREATE Evil2\r\n"
    with socket.create_connection((imap_proxy.host, imap_proxy.port), timeout=2) as sock:
        stream = sock.makefile("rb")
        assert stream.readline().startswith(b"* OK")
        sock.sendall(
            f"a1 LOGIN {USER} {password}\r\n".encode()
            + f"a2 APPEND {folder} {{{len(payload)}+}}\r\n".encode()
            + payload
            + b"\r\n"
            + f"a3 CREATE {folder}-one\r\n".encode()
        )
        replies = [stream.readline() for _ in range(3)]
        assert [r.split(b" ")[:2] for r in replies if not r.startswith(b"*")] == [
            [b"a1", b"OK"],
            [b"a2", b"OK"],
            [b"a3", b"OK"],
        ], replies
        sock.sendall(f"a4 CREATE {folder}-two\r\n".encode())
        assert stream.readline() == b""
    assert rule.fired.wait(1) and rule.matches == 2 and rule.command == f"CREATE {folder}-two"
    direct = sandbox.connect(USER, tls="plain")
    names = {name for _, _, name in direct.list_folders(f"{folder}*")}
    direct.delete_folder(f"{folder}-one")
    direct.logout()
    assert names == {folder, f"{folder}-one"}
    assert _subjects(sandbox, folder) == [b"Subject: x"]


def test_imap_refused_sync_literal_keeps_parsing(sandbox: Sandbox, imap_proxy: FaultProxy) -> None:
    client = _login(sandbox, imap_proxy)
    with pytest.raises(IMAPClientError, match="TRYCREATE"):
        client.append(f"Missing-{uuid.uuid4().hex[:8]}", _message("nowhere"))
    rule = imap_proxy.cut_before(r"NOOP")
    with pytest.raises(IMAP_BROKEN):
        client.noop()
    assert rule.fired.wait(1)  # the proxy cuts first and then marks the rule fired


def test_imap_replace_reply_with_bye(sandbox: Sandbox, imap_proxy: FaultProxy, folder: str) -> None:
    client = _login(sandbox, imap_proxy)
    rule = imap_proxy.replace_reply(r"CREATE", b"* BYE server shutting down\r\n", close=True)
    with pytest.raises(IMAP_BROKEN, match="server shutting down"):
        client.create_folder(f"{folder}/child")
    assert rule.fired.wait(1) and rule.upstream_reply is not None and b"OK" in rule.upstream_reply
    direct = sandbox.connect(USER, tls="plain")
    assert direct.folder_exists(f"{folder}/child")
    direct.delete_folder(f"{folder}/child")
    direct.logout()


def test_imap_cut_idle_connections(sandbox: Sandbox, imap_proxy: FaultProxy) -> None:
    first, second = _login(sandbox, imap_proxy), _login(sandbox, imap_proxy)
    assert imap_proxy.open_connections == 2
    assert imap_proxy.cut_idle_connections() == 2
    sent_before = len(imap_proxy.lines(">"))
    for client in (first, second):
        with pytest.raises(IMAP_BROKEN):
            client.noop()
    assert len(imap_proxy.lines(">")) == sent_before  # nothing of the NOOPs reached the server
    third = _login(sandbox, imap_proxy)
    third.noop()
    third.logout()
    assert imap_proxy.connections == 3


def test_imap_stall_times_out_and_close_ends_it(
    sandbox: Sandbox, imap_proxy: FaultProxy, folder: str
) -> None:
    client = _login(sandbox, imap_proxy, timeout=0.5)
    rule = imap_proxy.stall(r"SELECT")
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        client.select_folder(folder)
    assert 0.4 < time.monotonic() - started < 1.2
    assert rule.fired.is_set() and rule.reached_upstream is False
    started = time.monotonic()
    imap_proxy.close()
    assert time.monotonic() - started < 0.5 and imap_proxy.open_connections == 0


def test_imap_stall_forward_until_released(sandbox: Sandbox, imap_proxy: FaultProxy, folder: str) -> None:
    client = _login(sandbox, imap_proxy)
    rule = imap_proxy.stall(r"SELECT", forward=True)
    threading.Timer(0.3, rule.release).start()
    started = time.monotonic()
    assert client.select_folder(folder)[b"EXISTS"] == 0
    assert 0.25 < time.monotonic() - started < 1 and rule.reached_upstream is True
    timed = imap_proxy.stall(r"NOOP", duration=0.2)
    started = time.monotonic()
    client.noop()
    assert 0.15 < time.monotonic() - started < 1 and timed.hits == 1
    client.logout()


@pytest.fixture(scope="module")
def smtp_sink(sandbox: Sandbox) -> Iterator[tuple[int, SmtpSink]]:
    with smtp_server(sandbox) as running:
        yield running


def _mail(subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@example.test", "someone@elsewhere.test", subject
    msg.set_content("hello\n.\nwith a dot line\n")
    return msg


@pytest.mark.anyio
async def test_smtp_cut_after_data(smtp_sink: tuple[int, SmtpSink]) -> None:
    port, sink = smtp_sink
    subject = f"cut-{uuid.uuid4().hex}"
    with FaultProxy("127.0.0.1", port, "smtp") as proxy:
        rule = proxy.cut_after_send("DATA")
        with pytest.raises(aiosmtplib.SMTPServerDisconnected):
            await aiosmtplib.send(
                _mail(subject),
                hostname=proxy.host,
                port=proxy.port,
                timeout=2,
                use_tls=False,
                start_tls=False,
            )
        assert rule.fired.wait(1) and rule.reached_upstream is True
        assert rule.upstream_reply is not None and rule.upstream_reply.startswith(b"250")
        assert any(line.startswith("354") for line in proxy.lines("<", delivered_only=True))
    assert any(subject.encode() in r.content for r in sink.received)


@pytest.mark.anyio
@pytest.mark.parametrize("pattern", ["DATA", END_OF_DATA])
async def test_smtp_malformed_final_reply(smtp_sink: tuple[int, SmtpSink], pattern: str) -> None:
    port, sink = smtp_sink
    subject = f"garbage-{uuid.uuid4().hex}"
    with FaultProxy("127.0.0.1", port, "smtp") as proxy:
        rule = proxy.replace_reply(pattern, b"garbage\r\n")
        with pytest.raises(aiosmtplib.SMTPResponseException, match="Malformed"):
            await aiosmtplib.send(
                _mail(subject),
                hostname=proxy.host,
                port=proxy.port,
                timeout=2,
                use_tls=False,
                start_tls=False,
            )
        assert rule.fired.wait(1) and rule.upstream_reply is not None
        assert rule.upstream_reply.startswith(b"250")
    assert any(subject.encode() in r.content for r in sink.received)


def test_smtp_cut_before_end_of_data_with_smtplib(smtp_sink: tuple[int, SmtpSink]) -> None:
    port, sink = smtp_sink
    subject = f"never-{uuid.uuid4().hex}"
    with FaultProxy("127.0.0.1", port, "smtp") as proxy:
        rule = proxy.cut_before(END_OF_DATA)
        with (
            pytest.raises(smtplib.SMTPServerDisconnected),
            smtplib.SMTP(proxy.host, proxy.port, timeout=2) as smtp,
        ):
            smtp.send_message(_mail(subject))
        assert rule.fired.wait(1) and rule.reached_upstream is False
        body = b"".join(e.data for e in proxy.transcript if e.kind == "data")
        assert subject.encode() in body and b"\r\n..\r\n" in body  # dot-stuffed body line went through
    assert not any(subject.encode() in r.content for r in sink.received)
