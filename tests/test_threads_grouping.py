"""group_by_thread at the IMAP level (imap/threads.thread_heads): the newest matching message of each
conversation and its count, by THREAD=REFS, THREAD=REFERENCES, Gmail's X-GM-THRID or the headers alike; and
get_thread on Gmail, by X-GM-THRID in All Mail."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from mail_mcp.config.sources import load_settings
from mail_mcp.ids import MessageId
from mail_mcp.imap import threads as imap_threads
from mail_mcp.imap.connection import Connection
from mail_mcp.imap.threads import thread_heads
from mail_mcp.mailbox.service import MailService
from mail_mcp.mailbox.threads import Threads
from mail_mcp.sandbox import Sandbox

from .imapshim import PassThrough, ProviderShim, ShimConn
from .test_providers_gmail import GMAIL_FOLDERS, GMAIL_LIKE, Gmail
from .test_threads import USER, ids, mail, uid_of

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with Sandbox(users=(USER,)) as sb:
        yield sb


@pytest.fixture(scope="module")
async def service(box: Sandbox) -> AsyncIterator[MailService]:
    svc = MailService(load_settings(env=box.env(USER)))
    yield svc
    await svc.close()


def seed_listing(sb: Sandbox, folder: str) -> dict[str, list[str]]:
    """Three interleaved conversations in `folder`, one with a reply whose References skip its parent."""
    x, y, z = ids(3), ids(2), ids(1)
    with sb.connect(USER) as imap:
        if not imap.folder_exists(folder):
            imap.create_folder(folder)
    order = [
        (x[0], "Alpha", None, ()),
        (y[0], "Beta", None, ()),
        (x[1], "Re: Alpha", x[0], (x[0],)),
        (z[0], "Gamma", None, ()),
        (y[1], "Re: Beta", y[0], (y[0],)),
        (x[2], "Re: Alpha", x[1], (x[0], x[1])),
    ]
    for hour, (header_id, subject, parent, refs) in enumerate(order, start=8):
        sb.append(USER, folder, mail(header_id, subject, "text", parent=parent, refs=refs, hour=hour))
    return {"x": x, "y": y, "z": z}


async def heads_in(service: MailService, folder: str) -> list[tuple[str, int]]:
    """(Message-ID, count) of each head, newest first, as list_messages would page them."""

    def job(conn: Connection) -> list[tuple[str, int]]:
        conn.select(folder, readonly=True)
        uids = sorted((int(u) for u in conn.client.search(["ALL"])), reverse=True)  # appended oldest first
        heads, counts = thread_heads(conn, uids)
        fetched = conn.client.fetch(heads, [b"BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
        named = {
            u: re.search(rb"<[^>]+>", d[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"]) for u, d in fetched.items()
        }
        return [(m[0].decode() if (m := named[u]) else "", counts[u]) for u in heads]

    return await service.pools.get("default").run(job, action="test")


async def grouped_via_relay(sb: Sandbox) -> tuple[list[tuple[str, int]], list[tuple[str, int]], list[str]]:
    """Three conversations listed through a recording relay: (heads found, heads expected, commands)."""
    folder = f"Listing-{uuid.uuid4().hex[:6]}"
    made = seed_listing(sb, folder)
    with ProviderShim(sb.host, sb.imap_port, PassThrough()) as relay:
        env = sb.env(USER, security="plain") | {"MAIL_IMAP_DEFAULT_PORT": str(relay.port)}
        service = MailService(load_settings(env=env))
        try:
            grouped = await heads_in(service, folder)
        finally:
            await service.close()
    return grouped, [(made["x"][2], 3), (made["y"][1], 2), (made["z"][0], 1)], relay.commands


@pytest.mark.parametrize(
    ("withheld", "command"),
    [
        (None, "UID THREAD REFS UTF-8 UID "),
        ("THREAD=REFS", "UID THREAD REFERENCES UTF-8 UID "),
        ("THREAD=", None),
    ],
)
async def test_thread_heads_with_and_without_thread_command(
    box: Sandbox, withheld: str | None, command: str | None
) -> None:
    """REFS (Dovecot) first, else RFC 5256 REFERENCES, else the headers: the same conversations each way."""
    if withheld is None:
        grouped, expected, commands = await grouped_via_relay(box)
    else:
        with box.connect(USER) as imap:
            live = [
                c.decode() for c in imap.capabilities() if not c.upper().startswith((b"AUTH=", b"STARTTLS"))
            ]
        assert {"THREAD=REFS", "THREAD=REFERENCES"} <= set(live)
        kept = " ".join(c for c in live if not c.upper().startswith(withheld))
        with Sandbox(imap_capability=kept, users=(USER,)) as other:
            grouped, expected, commands = await grouped_via_relay(other)
    assert grouped == expected
    threaded = [t for t in commands if t.upper().startswith("UID THREAD")]
    if command is None:
        assert not threaded
    else:
        assert len(threaded) == 1 and threaded[0].startswith(command)


async def test_long_uid_sets_thread_the_whole_folder(
    box: Sandbox, service: MailService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scattered matching UIDs would make a long THREAD command: the folder is threaded and the matching picked
    out, so heads and counts still cover the matching messages only."""
    folder = f"Listing-{uuid.uuid4().hex[:6]}"
    made = seed_listing(box, folder)
    monkeypatch.setattr(imap_threads, "MAX_SET_CHARS", 1)
    wanted = {made["x"][0], made["x"][2], made["y"][0]}  # as if a filter matched these three

    def job(conn: Connection) -> tuple[list[str], dict[str, int], int]:
        conn.select(folder, readonly=True)
        before = conn.commands["UID THREAD"]
        named = {}
        for uid, data in conn.client.fetch(
            conn.client.search(["ALL"]), [b"BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]
        ).items():
            found = re.search(rb"<[^>]+>", data[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"])
            named[int(uid)] = found[0].decode() if found else ""
        matching = sorted((u for u, m in named.items() if m in wanted), reverse=True)
        heads, counts = thread_heads(conn, matching)
        return (
            [named[u] for u in heads],
            {named[u]: n for u, n in counts.items()},
            conn.commands["UID THREAD"] - before,
        )

    heads, counts, threaded = await service.pools.get("default").run(job, action="test")
    assert heads == [made["x"][2], made["y"][0]] and counts == {made["x"][2]: 2, made["y"][0]: 1}
    assert threaded == 1


async def test_thread_heads_of_nothing(service: MailService) -> None:
    def job(conn: Connection) -> tuple[list[int], dict[int, int]]:
        conn.select("INBOX", readonly=True)
        return thread_heads(conn, [])

    assert await service.pools.get("default").run(job, action="test") == ([], {})


# ---------------------------------------------------------------- Gmail: X-GM-THRID


class GmailThreads(Gmail):
    """Gmail plus X-GM-THRID: a table (folder, UID) -> conversation id the test fills in; `UID SEARCH
    X-GM-THRID n` answered from it, and X-GM-THRID added to the FETCH responses of commands that asked."""

    def __init__(self) -> None:
        super().__init__()
        self.thrids: dict[tuple[str, int], int] = {}

    def command(self, conn: ShimConn, tag: bytes, text: bytes) -> bytes | None:
        found = re.match(rb"UID SEARCH X-GM-THRID (\d+)$", text, re.I)
        if found:
            uids = sorted(u for (f, u), t in self.thrids.items() if f == conn.selected and t == int(found[1]))
            return b"* SEARCH" + b"".join(b" %d" % u for u in uids) + b"\r\n" + tag + b" OK Success\r\n"
        return super().command(conn, tag, text)

    def translate(self, conn: ShimConn, text: bytes) -> bytes:
        text = re.sub(rb" ?X-GM-THRID", b"", super().translate(conn, text))
        return text.replace(b"()", b"(UID)")

    def response(self, conn: ShimConn, line: bytes) -> bytes | None:
        asked = bool(conn.commands) and "X-GM-THRID" in conn.commands[-1]
        found = re.match(rb"\* \d+ FETCH \(", line)
        uid = re.search(rb"UID (\d+)", line)
        if asked and found and uid and conn.selected is not None:
            thrid = self.thrids.get((conn.selected, int(uid[1])))
            if thrid is not None:
                line = line[: found.end()] + b"X-GM-THRID %d " % thrid + line[found.end() :]
        return super().response(conn, line)


@pytest.fixture(scope="module")
def gmail_box() -> Iterator[Sandbox]:
    with Sandbox(imap_capability=GMAIL_LIKE, users=(USER,)) as sb:
        with sb.connect(USER) as imap:
            for name in GMAIL_FOLDERS:
                imap.create_folder(name)
        yield sb


async def test_gmail_conversation_by_thrid(gmail_box: Sandbox) -> None:
    all_mail, sent = "[Gmail]/All Mail", "[Gmail]/Sent Mail"
    a, b, c, stray = ids(4)
    messages = {
        a: mail(a, "Offsite", "Which date?", hour=9),
        b: mail(b, "Re: Offsite", "The 5th.", parent=a, refs=(a,), sender=f"{USER}@example.test", hour=10),
        c: mail(c, "Re: Offsite", "Booked.", parent=b, refs=(a, b), hour=11),
        stray: mail(stray, "Re: Offsite", "Another conversation.", parent=a, refs=(a,), hour=12),
    }
    for raw in messages.values():
        gmail_box.append(USER, all_mail, raw)
    gmail_box.append(USER, "INBOX", messages[c])
    gmail_box.append(USER, sent, messages[b])
    rewrite = GmailThreads()
    for folder, header_id in ((all_mail, a), (all_mail, b), (all_mail, c), ("INBOX", c), (sent, b)):
        rewrite.thrids[(folder, MessageId.parse(uid_of(gmail_box, folder, header_id)).uid)] = 777
    rewrite.thrids[(all_mail, MessageId.parse(uid_of(gmail_box, all_mail, stray)).uid)] = 888
    with ProviderShim(gmail_box.host, gmail_box.imap_port, rewrite) as shim:
        env = gmail_box.env(USER, security="plain") | {"MAIL_IMAP_DEFAULT_PORT": str(shim.port)}
        service = MailService(load_settings(env=env))
        try:
            thread = await Threads(service).get_thread(uid_of(gmail_box, "INBOX", c))
            heads = await heads_in(service, all_mail)
        finally:
            await service.close()
    assert thread.method == "x-gm-thrid"
    assert [(m.header_message_id, m.mailbox) for m in thread.messages] == [
        (a, all_mail),
        (b, all_mail),
        (c, all_mail),
    ]
    assert any(t.startswith("UID SEARCH X-GM-THRID 777") for t in shim.commands)
    assert not any("HEADER" in t for t in shim.commands if t.upper().startswith("UID SEARCH"))
    assert heads[:2] == [(stray, 1), (c, 3)]
