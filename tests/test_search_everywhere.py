"""Searching several folders at once (mailbox/everywhere.py) against a Dovecot of its own, under account ids of its
own (order.py caches arrival times by account, folder and UIDVALIDITY), so "every folder" is known exactly: merged
newest first by arrival, one cursor that covers every message once, Trash and Junk left out unless named, roles,
filters in every folder, refused and stale cursors, IMAP cost per folder, and Gmail's copies of one message in
several label folders shown once."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage

import pytest

from mail_mcp.config.sources import load_settings
from mail_mcp.errors import InvalidInput, NotFound, StaleId
from mail_mcp.imap.search import Filters
from mail_mcp.mailbox.everywhere import MAX_OFFSET, Everywhere
from mail_mcp.mailbox.models import MessageList
from mail_mcp.mailbox.reading import Reader
from mail_mcp.mailbox.service import MailService
from mail_mcp.sandbox import Sandbox

from .imapshim import ProviderShim, ShimConn
from .servers.common import ServerInfo
from .test_providers_gmail import GMAIL_FOLDERS, GMAIL_LIKE, Gmail

pytest_plugins = ["tests.servers.fixtures"]
pytestmark = pytest.mark.anyio
BASE = datetime(2026, 10, 1, 8, 0)
SEARCHING = ("EXAMINE", "SELECT", "NOOP", "UID SEARCH", "UID SORT", "UID FETCH", "SEARCH", "SORT", "FETCH")


def raw(subject: str, *, attachment: bool = False, message_id: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "carol@example.test", "alice@example.test", subject
    msg["Message-ID"] = message_id or f"<{uuid.uuid4().hex}@example.test>"
    msg.set_content(f"body of {subject}")
    if attachment:
        msg.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="a.pdf")
    return msg.as_bytes()


def put(sb: Sandbox, folder: str, subject: str, hours: float, **kwargs: object) -> None:
    """APPEND with a known arrival time (BASE + hours); flags=... and attachment=... pass through."""
    flags = kwargs.pop("flags", ())
    with sb.connect("alice") as imap:
        if not imap.folder_exists(folder):
            imap.create_folder(folder)
        imap.append(folder, raw(subject, **kwargs), flags, BASE + timedelta(hours=hours))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def span_sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


@pytest.fixture
async def span(span_sandbox: Sandbox) -> AsyncIterator[MailService]:
    svc = MailService(load_settings(env=span_sandbox.env(account="span")))
    yield svc
    await svc.close()


async def everything(
    engine: Everywhere, mailboxes: list[str] | None, filters: Filters, limit: int
) -> tuple[list[str], list[MessageList]]:
    """Every page of a search: the subjects in order and the listings."""
    page, cursor = await engine.list_messages(None, mailboxes, filters, limit, None)
    pages = [page]
    while cursor is not None:
        page, cursor = await engine.list_messages(None, None, Filters(), limit, cursor)
        pages.append(page)
    return [m.subject for p in pages for m in p.messages], pages


@pytest.fixture(scope="module")
def spread(span_sandbox: Sandbox) -> tuple[str, list[str]]:
    """Ten messages over INBOX, Sent, Archive and a folder of our own, two ties at one second (one across
    folders, one within a folder), plus one each in Trash and Junk; the subject token and the expected order."""
    token = f"spread{uuid.uuid4().hex[:6]}"
    placed = [
        ("INBOX", 1),
        ("Sent", 2),
        ("Archive", 3),
        ("Projects", 4),
        ("INBOX", 5),
        ("Sent", 5),  # same second as INBOX's: INBOX (the earlier folder) first
        ("Archive", 6),
        ("Archive", 6),  # same second, same folder: the higher UID first
        ("Projects", 0.5),
        ("INBOX", 7),
    ]
    for n, (folder, hours) in enumerate(placed):
        put(span_sandbox, folder, f"{token} {n}", hours)
    put(span_sandbox, "Trash", f"{token} trash", 8)
    put(span_sandbox, "Junk", f"{token} junk", 9)
    expected = [f"{token} {n}" for n in (9, 7, 6, 4, 5, 3, 2, 1, 0, 8)]
    return token, expected


async def test_merged_newest_first_and_the_cursor_covers_every_message_once(
    span: MailService, spread: tuple[str, list[str]]
) -> None:
    token, expected = spread
    engine = Everywhere(span)
    for limit in (1, 3, 4, 20):
        seen, pages = await everything(engine, None, Filters(subject=token), limit)
        assert seen == expected, limit
        assert {p.total for p in pages} == {len(expected)} and all(p.messages for p in pages)
    first = pages[0]
    assert first.mailbox == "*" and first.mailboxes is not None
    assert first.mailboxes[0] == "INBOX" and {"Sent", "Archive", "Projects"} <= set(first.mailboxes)
    assert not {"Trash", "Junk"} & set(first.mailboxes)
    rows = {m.subject: m for m in first.messages}
    assert rows[f"{token} 1"].mailbox == "Sent" and rows[f"{token} 1"].folder_role == "sent"
    assert rows[f"{token} 9"].message_id.startswith("imap:span:INBOX:")


async def test_trash_and_junk_are_searched_when_named_and_roles_resolve(
    span: MailService, spread: tuple[str, list[str]]
) -> None:
    token, _ = spread
    engine = Everywhere(span)
    page, cursor = await engine.list_messages(
        None, ["junk", "trash", "sent"], Filters(subject=token), 10, None
    )
    assert [m.subject for m in page.messages] == [
        f"{token} junk",
        f"{token} trash",
        f"{token} 5",
        f"{token} 1",
    ]
    assert page.mailboxes == ["Junk", "Trash", "Sent"] and page.mailbox == "junk, trash, sent"
    assert [m.folder_role for m in page.messages] == ["junk", "trash", "sent", "sent"]
    assert page.total == 4 and cursor is None


async def test_filters_apply_in_every_folder_and_offset_skips_in_merged_order(
    span: MailService, span_sandbox: Sandbox
) -> None:
    token = f"filt{uuid.uuid4().hex[:6]}"
    for n, folder in enumerate(("INBOX", "Sent", "Archive", "INBOX", "Sent", "Archive")):
        put(span_sandbox, folder, f"{token} {n}", 100 + n, flags=("\\Seen",) if n % 2 else ())
    put(span_sandbox, "Archive", f"{token} pdf", 90, attachment=True)
    put(span_sandbox, "Sent", f"{token} pdf2", 91, attachment=True)
    engine = Everywhere(span)
    unread, _ = await everything(engine, ["inbox", "sent", "archive"], Filters(subject=token, unread=True), 2)
    assert unread == [f"{token} 4", f"{token} 2", f"{token} 0", f"{token} pdf2", f"{token} pdf"]
    attached, pages = await everything(engine, None, Filters(subject=token, has_attachment=True), 1)
    assert attached == [f"{token} pdf2", f"{token} pdf"] and {p.total for p in pages} == {None}
    assert all(m.has_attachment for p in pages for m in p.messages)
    skipped, cursor = await engine.list_messages(None, None, Filters(subject=token), 3, None, offset=2)
    assert [m.subject for m in skipped.messages] == [f"{token} {n}" for n in (3, 2, 1)]
    assert skipped.total == 8 and cursor is not None
    rest, _ = await engine.list_messages(None, None, Filters(), 10, cursor)
    assert [m.subject for m in rest.messages] == [f"{token} 0", f"{token} pdf2", f"{token} pdf"]
    with pytest.raises(InvalidInput, match="cursor"):
        await engine.list_messages(None, None, Filters(subject=token), 3, None, offset=MAX_OFFSET + 1)


async def test_cursors_of_other_searches_are_refused(
    span: MailService, spread: tuple[str, list[str]]
) -> None:
    token, _ = spread
    engine, reader = Everywhere(span), Reader(span)
    _, cursor = await engine.list_messages(None, None, Filters(subject=token), 2, None)
    assert cursor is not None and Everywhere.owns_cursor(cursor)
    for call in (
        engine.list_messages(None, None, Filters(subject="other"), 2, cursor),
        engine.list_messages(None, ["Sent"], Filters(), 2, cursor),
        engine.list_messages("elsewhere", None, Filters(), 2, cursor),
        engine.list_messages(None, None, Filters(), 2, cursor, offset=1),
        engine.list_messages(None, None, Filters(), 2, cursor[:-4] + "AAAA"),
        reader.list_messages(None, "INBOX", Filters(), 2, cursor),  # not a single folder's cursor
    ):
        with pytest.raises(InvalidInput):
            await call
    _, single, _ = await reader.list_messages(None, "INBOX", Filters(subject=token), 1, None)
    assert single is not None and not Everywhere.owns_cursor(single)
    with pytest.raises(InvalidInput, match="not one this server"):
        await engine.list_messages(None, None, Filters(), 2, single)
    with pytest.raises(InvalidInput, match="start the search again"):
        await engine.list_messages(
            None, None, Filters(), 2, "~" + "A" * 16
        )  # unknown (e.g. before a restart)
    again, _ = await engine.list_messages(None, None, Filters(subject=token), 2, cursor)  # same filters: fine
    assert len(again.messages) == 2
    assert cursor is not None and len(cursor) <= 20  # a handle: the folder list stays on the server


async def test_a_missing_folder_is_not_found(span: MailService) -> None:
    with pytest.raises(NotFound, match="Nowhere"):
        await Everywhere(span).list_messages(None, ["INBOX", "Nowhere"], Filters(), 5, None)


async def test_a_recreated_folder_makes_the_cursor_stale(span: MailService, span_sandbox: Sandbox) -> None:
    token, folder = f"stale{uuid.uuid4().hex[:6]}", f"Shortlived-{uuid.uuid4().hex[:6]}"
    for n in range(3):
        put(span_sandbox, folder, f"{token} {n}", 200 + n)
    put(span_sandbox, "INBOX", f"{token} inbox", 199)
    engine = Everywhere(span)
    _, cursor = await engine.list_messages(None, [folder, "INBOX"], Filters(subject=token), 1, None)
    with span_sandbox.connect("alice") as imap:
        imap.delete_folder(folder)
        imap.create_folder(folder)
        imap.append(folder, raw(f"{token} new"), (), BASE)
    with pytest.raises(StaleId, match="without the cursor") as stale:
        await engine.list_messages(None, None, Filters(), 1, cursor)
    assert stale.value.details["mailbox"] == folder


async def test_a_folder_deleted_between_pages_is_left_out(span: MailService, span_sandbox: Sandbox) -> None:
    token, folder = f"gone{uuid.uuid4().hex[:6]}", f"Going-{uuid.uuid4().hex[:6]}"
    put(span_sandbox, folder, f"{token} a", 300)
    put(span_sandbox, "INBOX", f"{token} b", 299)
    put(span_sandbox, "INBOX", f"{token} c", 298)
    engine = Everywhere(span)
    first, cursor = await engine.list_messages(None, None, Filters(subject=token), 1, None)
    assert [m.subject for m in first.messages] == [f"{token} a"] and folder in (first.mailboxes or [])
    with span_sandbox.connect("alice") as imap:
        imap.delete_folder(folder)
    rest, _ = await engine.list_messages(None, None, Filters(), 5, cursor)
    assert [m.subject for m in rest.messages] == [f"{token} b", f"{token} c"]
    assert folder not in (rest.mailboxes or []) and "INBOX" in (rest.mailboxes or [])


def searching(counts: Counter[str]) -> int:
    return sum(n for name, n in counts.items() if name in SEARCHING)


async def _cost(sb: Sandbox, folders: list[str], limit: int) -> tuple[int, list[str]]:
    """Search-and-fetch commands of one first page on a fresh service (logins and LIST aside)."""
    svc = MailService(load_settings(env=sb.env(account="span")))
    try:
        await svc.folders.folders("span")
        page, _ = await Everywhere(svc).list_messages(None, folders, Filters(), limit, None)
        return searching(svc.pools.get("span").command_counts()), [m.subject for m in page.messages]
    finally:
        await svc.close()


async def test_imap_commands_grow_with_folders_not_their_size(span_sandbox: Sandbox) -> None:
    prefix = f"Cost-{uuid.uuid4().hex[:6]}"
    small = [f"{prefix}-small{n}" for n in range(3)]
    big = [f"{prefix}-big{n}" for n in range(3)]
    with span_sandbox.connect("alice") as imap:
        for size, names in ((4, small), (150, big)):
            for n, name in enumerate(names):
                imap.create_folder(name)
                dated = [
                    {"msg": raw(f"{name} {i}"), "date": BASE + timedelta(minutes=3 * i + n)}
                    for i in range(size)
                ]
                imap.multiappend(name, dated)  # interleaved: every folder has two of the newest six
    small_cost, small_page = await _cost(span_sandbox, small, 6)
    big_cost, big_page = await _cost(span_sandbox, big, 6)
    double_cost, _ = await _cost(span_sandbox, small + big, 6)
    assert small_page == [f"{name} {i}" for i in (3, 2) for name in reversed(small)]
    assert len(big_page) == 6 and {s.rsplit(" ", 1)[0] for s in big_page} == set(big)
    assert big_cost == small_cost
    assert small_cost < double_cost <= 2 * small_cost


class GmailWithMsgids(Gmail):
    """X-GM-MSGID emulated: the FETCH asks Dovecot for the Message-ID header, and the answer carries a number
    made from it, so copies of one message in several folders share it (as on Gmail)."""

    def translate(self, conn: ShimConn, text: bytes) -> bytes:
        text = super().translate(conn, text)
        return re.sub(rb"\(X-GM-MSGID\)$", b"(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])", text)

    def response(self, conn: ShimConn, line: bytes) -> bytes | None:
        if b"BODY[HEADER.FIELDS (MESSAGE-ID)]" in line:
            seq = line.split(b" ")[1]
            uid = re.search(rb"UID (\d+)", line)
            header = re.search(rb"(?i)Message-ID:\s*(<[^>]*>)", line)
            assert uid is not None and header is not None
            msgid = int(hashlib.sha1(header[1]).hexdigest()[:15], 16)
            return b"* %s FETCH (UID %s X-GM-MSGID %d)\r\n" % (seq, uid[1], msgid)
        return super().response(conn, line)


@pytest.fixture(scope="module")
async def gmail_service() -> AsyncIterator[tuple[MailService, Sandbox]]:
    with Sandbox(imap_capability=GMAIL_LIKE) as sb:
        with sb.connect() as imap:
            for name in (*GMAIL_FOLDERS, "Work"):
                imap.create_folder(name)
        with ProviderShim(sb.host, sb.imap_port, GmailWithMsgids()) as shim:
            env = sb.env(account="spangmail", security="plain") | {"MAIL_IMAP_SPANGMAIL_PORT": str(shim.port)}
            svc = MailService(load_settings(env=env))
            try:
                yield svc, sb
            finally:
                await svc.close()


async def test_gmail_copies_in_several_folders_are_shown_once(
    gmail_service: tuple[MailService, Sandbox],
) -> None:
    svc, sb = gmail_service
    token = f"gm{uuid.uuid4().hex[:6]}"
    copies = {
        0: ("[Gmail]/All Mail", "INBOX"),
        1: ("[Gmail]/All Mail", "Work", "INBOX"),
        2: ("[Gmail]/All Mail",),
    }
    copies |= {3: ("[Gmail]/All Mail", "Work"), 4: ("[Gmail]/All Mail", "INBOX")}
    with sb.connect() as imap:
        for n, folders in copies.items():
            message = raw(f"{token} {n}", message_id=f"<{token}-{n}@example.test>")
            for folder in folders:
                imap.append(folder, message, (), BASE + timedelta(hours=n))
    engine = Everywhere(svc)
    wanted = ["[Gmail]/All Mail", "Work", "INBOX"]
    expected = [f"{token} {n}" for n in (4, 3, 2, 1, 0)]
    for limit in (1, 2, 10):
        seen, pages = await everything(engine, wanted, Filters(subject=token), limit)
        assert seen == expected, limit
        assert {p.total for p in pages} == {None} and all(p.messages for p in pages)  # no empty page
    page, _ = await engine.list_messages(None, wanted, Filters(subject=token), 10, None)
    assert page.mailboxes == [
        "INBOX",
        "Work",
        "[Gmail]/All Mail",
    ]  # All Mail last: a label folder's copy wins
    assert [m.mailbox for m in page.messages] == ["INBOX", "Work", "[Gmail]/All Mail", "INBOX", "INBOX"]
    default, _ = await engine.list_messages(None, None, Filters(subject=token), 10, None)
    assert default.mailboxes == ["[Gmail]/All Mail"] and default.total == 5
    assert [m.subject for m in default.messages] == expected


async def test_mail_arriving_between_pages_lands_only_where_the_order_puts_it(
    span: MailService, span_sandbox: Sandbox
) -> None:
    token, own = f"late{uuid.uuid4().hex[:6]}", f"Late-{uuid.uuid4().hex[:6]}"
    for n, (folder, hours) in enumerate(
        [("INBOX", 410), ("INBOX", 409), ("Sent", 405), (own, 404), (own, 403)]
    ):
        put(span_sandbox, folder, f"{token} {n}", hours)
    engine = Everywhere(span)
    first, cursor = await engine.list_messages(None, ["INBOX", "Sent", own], Filters(subject=token), 2, None)
    assert [m.subject for m in first.messages] == [f"{token} 0", f"{token} 1"]
    put(span_sandbox, own, f"{token} newer", 500)  # newer than the cursor: not in the later pages
    put(span_sandbox, "Sent", f"{token} newer too", 501)
    put(span_sandbox, "INBOX", f"{token} older", 1)  # older: where the order puts it
    rest = []
    while cursor is not None:
        page, cursor = await engine.list_messages(None, None, Filters(), 2, cursor)
        rest += [m.subject for m in page.messages]
    assert rest == [f"{token} 2", f"{token} 3", f"{token} 4", f"{token} older"]


@pytest.mark.parametrize("kind", ["courier", "cyrus_dot"])
async def test_other_servers_merge_and_page_the_same(kind: str, request: pytest.FixtureRequest) -> None:
    """Courier (no ESEARCH, ESORT or SPECIAL-USE: arrival times fetched per folder) and Cyrus in INBOX. mode."""
    info: ServerInfo = request.getfixturevalue(kind).info
    token, own = f"srv{uuid.uuid4().hex[:6]}", info.folder(f"Span-{uuid.uuid4().hex[:6]}")
    sent, trash = info.folders["\\Sent"], info.folders["\\Trash"]
    client = info.connect()
    try:
        client.create_folder(own)
        for n, (folder, hours) in enumerate([("INBOX", 3), (sent, 5), (own, 4), ("INBOX", 1), (own, 2)]):
            client.append(folder, raw(f"{token} {n}"), (), BASE + timedelta(hours=hours))
        client.append(trash, raw(f"{token} trash"), (), BASE + timedelta(hours=9))
    finally:
        client.logout()
    svc = MailService(load_settings(env=info.env(f"span{kind.replace('_', '')}")))
    try:
        engine = Everywhere(svc)
        seen, pages = await everything(engine, None, Filters(subject=token), 2)
        assert seen == [f"{token} {n}" for n in (1, 2, 0, 4, 3)] and {p.total for p in pages} == {5}
        named, _ = await engine.list_messages(None, ["sent", "trash"], Filters(subject=token), 5, None)
        assert [m.subject for m in named.messages] == [f"{token} trash", f"{token} 1"]
        assert named.mailboxes == [sent, trash]
    finally:
        await svc.close()
