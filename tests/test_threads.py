"""get_thread at the service level (mailbox/threads.Threads) against a private Dovecot: a thread spanning INBOX,
Sent and Archive, found by HEADER searches, linked by References, compact (grouping: test_threads_grouping.py).
Each test uses its own Message-IDs, so the tests share the sandbox without seeing each other's mail."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from mail_mcp.config.sources import load_settings
from mail_mcp.errors import InvalidInput, NotFound, StaleId
from mail_mcp.ids import MessageId
from mail_mcp.mailbox.reading import Reader
from mail_mcp.mailbox.service import MailService
from mail_mcp.mailbox.thread_view import _hint
from mail_mcp.mailbox.threads import MAX_LIMIT, MAX_ROUNDS, Thread, Threads
from mail_mcp.sandbox import Sandbox

from .imapshim import PassThrough, ProviderShim

pytestmark = pytest.mark.anyio
USER = "tess"


def mail(
    mid: str,
    subject: str,
    body: str,
    *,
    parent: str | None = None,
    refs: tuple[str, ...] = (),
    sender: str = "carol@example.test",
    day: int = 1,
    hour: int = 10,
    html: bool = False,
) -> bytes:
    head = (
        f"From: {sender}\r\nTo: {USER}@example.test\r\nSubject: {subject}\r\n"
        f"Date: Mon, {day:02d} Jun 2026 {hour:02d}:00:00 +0000\r\n"
    )
    if mid:
        head += f"Message-ID: {mid}\r\n"
    if parent:
        head += f"In-Reply-To: {parent}\r\n"
    if refs:
        head += "References: " + " ".join(refs) + "\r\n"
    kind = "html" if html else "plain"
    return (
        head + f"Content-Type: text/{kind}; charset=utf-8\r\n\r\n" + body.replace("\n", "\r\n") + "\r\n"
    ).encode()


def ids(n: int) -> list[str]:
    tag = uuid.uuid4().hex[:10]
    return [f"<{tag}.{i}@example.test>" for i in range(n)]


def uid_of(sb: Sandbox, folder: str, header_id: str) -> str:
    """Our message id of the message with this Message-ID in `folder`."""
    with sb.connect(USER) as imap:
        info = imap.select_folder(folder, readonly=True)
        [uid] = imap.search(["HEADER", "Message-ID", header_id])
        return str(MessageId("default", folder, int(info[b"UIDVALIDITY"]), uid))


def shape(thread: Thread) -> list[tuple[str | None, str, str | None]]:
    return [(m.header_message_id, m.mailbox, m.parent) for m in thread.messages]


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with Sandbox(users=(USER,)) as sb:
        for i in range(40):  # unrelated mail: a thread must be found without reading these
            sb.append(USER, "INBOX", mail(f"<filler{i}@example.test>", f"Filler {i}", "nothing", day=2))
        yield sb


@pytest.fixture(scope="module")
async def service(box: Sandbox) -> AsyncIterator[MailService]:
    svc = MailService(load_settings(env=box.env(USER)))
    yield svc
    await svc.close()


@pytest.fixture(scope="module")
async def threads(service: MailService) -> Threads:
    return Threads(service)


def seed_conversation(sb: Sandbox) -> list[str]:
    """a (INBOX) <- b (my reply, Sent) <- c (Archive) <- d (INBOX): returns the four Message-IDs."""
    a, b, c, d = ids(4)
    sb.append(USER, "INBOX", mail(a, "Budget 2027", "Can you send the numbers?", hour=9))
    sb.append(
        USER,
        "Sent",
        mail(
            b,
            "Re: Budget 2027",
            "Attached are the numbers.\n\nOn Mon, 1 Jun 2026, Carol <carol@example.test> wrote:\n"
            "> Can you send the numbers?",
            parent=a,
            refs=(a,),
            sender=f"{USER}@example.test",
            hour=10,
        ),
    )
    sb.append(
        USER,
        "Archive",
        mail(c, "Re: Budget 2027", "Thanks!\n\n> Attached are the numbers.", parent=b, refs=(a, b), hour=11),
    )
    sb.append(
        USER, "INBOX", mail(d, "Re: Budget 2027", "One more question.", parent=c, refs=(a, b, c), hour=12)
    )
    return [a, b, c, d]


async def test_thread_across_inbox_sent_and_archive_from_any_seed(box: Sandbox, threads: Threads) -> None:
    a, b, c, d = seed_conversation(box)
    expected = [(a, "INBOX", None), (b, "Sent", a), (c, "Archive", b), (d, "INBOX", c)]
    for folder, header_id in (("INBOX", a), ("Sent", b), ("Archive", c), ("INBOX", d)):
        thread = await threads.get_thread(uid_of(box, folder, header_id))
        assert shape(thread) == expected, folder
    assert thread.count == 4 and thread.method == "references" and thread.subject == "Budget 2027"
    assert set(thread.folders) == {"INBOX", "Sent", "Archive"}
    mine = thread.messages[1]
    assert (
        mine.folder_role == "sent" and mine.from_ is not None and mine.from_.email == f"{USER}@example.test"
    )
    assert all(m.subject is None for m in thread.messages)  # "Re: Budget 2027" is the thread's subject


async def test_quoted_history_is_trimmed(box: Sandbox, threads: Threads) -> None:
    a, b, _, _ = seed_conversation(box)
    thread = await threads.get_thread(uid_of(box, "Sent", b))
    reply = thread.messages[1]
    assert reply.text == "Attached are the numbers."
    assert reply.quoted_chars_trimmed > 0 and reply.next_offset is None
    assert thread.hint is not None and "trimmed" in thread.hint
    assert thread.messages[0].quoted_chars_trimmed == 0 and thread.messages[0].header_message_id == a


async def test_long_body_is_cut_and_get_message_reads_on(
    box: Sandbox, threads: Threads, service: MailService
) -> None:
    a, b = ids(2)
    long_text = " ".join(f"word{i}" for i in range(800))
    box.append(USER, "INBOX", mail(a, "Long one", long_text))
    box.append(USER, "Sent", mail(b, "Re: Long one", "Short answer.", parent=a, refs=(a,), hour=11))
    thread = await threads.get_thread(uid_of(box, "Sent", b), max_chars=300)
    first = thread.messages[0]
    assert len(first.text) == 300 and first.next_offset == 300
    assert thread.hint is not None and "offset=next_offset" in thread.hint
    rest = await Reader(service).get_message(first.message_id, fmt="text", offset=300, max_chars=100)
    assert (first.text + rest.body.text).startswith(long_text[:400])
    assert thread.messages[1].next_offset is None and thread.messages[1].text == "Short answer."


async def test_a_body_fetched_only_in_part_says_so(
    box: Sandbox, threads: Threads, service: MailService
) -> None:
    """Only the start of a big text part is fetched; when what came is short, the rest is still announced."""
    [a] = ids(1)
    box.append(USER, "INBOX", mail(a, "Padded", "Short." + " " * 20_000 + "\nThe end."))
    thread = await threads.get_thread(uid_of(box, "INBOX", a), max_chars=100)
    [only] = thread.messages
    assert only.text == "Short." and only.next_offset == 6
    rest = await Reader(service).get_message(only.message_id, fmt="text", offset=6, max_chars=30_000)
    assert rest.body.text.rstrip().endswith("The end.")


async def test_copy_in_two_folders_is_shown_once(box: Sandbox, threads: Threads) -> None:
    a, b = ids(2)
    original = mail(a, "Contract", "Please sign.")
    box.append(USER, "Archive", original)
    box.append(USER, "INBOX", original)
    box.append(USER, "Sent", mail(b, "Re: Contract", "Signed.", parent=a, refs=(a,), hour=11))
    thread = await threads.get_thread(uid_of(box, "Archive", a))
    assert [(m.header_message_id, m.mailbox, m.also_in) for m in thread.messages] == [
        (a, "INBOX", ["Archive"]),
        (b, "Sent", None),
    ]
    assert thread.count == 2 and set(thread.folders) == {"INBOX", "Archive", "Sent"}


async def test_message_without_references_is_a_thread_of_one(box: Sandbox, threads: Threads) -> None:
    [a] = ids(1)
    box.append(USER, "INBOX", mail(a, "Alone", "Just me."))
    thread = await threads.get_thread(uid_of(box, "INBOX", a))
    assert shape(thread) == [(a, "INBOX", None)] and thread.count == 1 and thread.omitted == 0


async def test_message_without_message_id_is_a_thread_of_one(box: Sandbox, threads: Threads) -> None:
    subject = f"No id {uuid.uuid4().hex[:6]}"
    box.append(USER, "INBOX", mail("", subject, "Anonymous."))
    with box.connect(USER) as imap:
        info = imap.select_folder("INBOX", readonly=True)
        [uid] = imap.search(["SUBJECT", subject])
    thread = await threads.get_thread(str(MessageId("default", "INBOX", int(info[b"UIDVALIDITY"]), uid)))
    assert [m.text for m in thread.messages] == ["Anonymous."] and thread.subject == subject


async def test_broken_chain_still_links_through_references(box: Sandbox, threads: Threads) -> None:
    a, b, c = ids(3)  # b, the middle message, is not in the mailbox
    box.append(USER, "INBOX", mail(a, "Trip", "Where shall we go?"))
    box.append(USER, "Archive", mail(c, "Re: Trip", "Rome, then.", parent=b, refs=(a, b), hour=13))
    for folder, seed in (("INBOX", a), ("Archive", c)):
        thread = await threads.get_thread(uid_of(box, folder, seed))
        assert shape(thread) == [(a, "INBOX", None), (c, "Archive", a)]


async def test_descendants_found_through_the_closure(box: Sandbox, threads: Threads) -> None:
    """d names only c (a client that trims References): found in a second round, via c's Message-ID."""
    a, c, d = ids(3)
    box.append(USER, "INBOX", mail(a, "Chain", "Start."))
    box.append(USER, "Sent", mail(c, "Re: Chain", "Middle.", parent=a, refs=(a,), hour=11))
    box.append(USER, "Archive", mail(d, "Re: Chain", "End.", parent=c, hour=12))
    thread = await threads.get_thread(uid_of(box, "INBOX", a))
    assert shape(thread) == [(a, "INBOX", None), (c, "Sent", a), (d, "Archive", c)]


def reply_chain(sb: Sandbox, n: int, subject: str) -> list[str]:
    """n messages, each naming only its parent by In-Reply-To (no References), in turn in INBOX and Sent."""
    chain = ids(n)
    for i, header_id in enumerate(chain):
        parent = chain[i - 1] if i else None
        folder = "Sent" if i % 2 else "INBOX"
        sb.append(USER, folder, mail(header_id, subject, f"Step {i}.", parent=parent, day=3, hour=i))
    return chain


async def test_reply_chain_without_references_is_followed_to_its_end(box: Sandbox, threads: Threads) -> None:
    """Each round of searches reaches one reply further: 8 messages linked by In-Reply-To only, either end."""
    chain = reply_chain(box, 8, "Re: Relay")
    expected = [(c, "Sent" if i % 2 else "INBOX", chain[i - 1] if i else None) for i, c in enumerate(chain)]
    for folder, seed in (("Sent", chain[-1]), ("INBOX", chain[0])):
        thread = await threads.get_thread(uid_of(box, folder, seed))
        assert shape(thread) == expected, seed
        assert thread.count == 8 and thread.omitted == 0 and thread.hint is None


async def test_a_chain_beyond_the_round_cap_says_so_and_the_first_message_reaches_further(
    box: Sandbox, threads: Threads
) -> None:
    n = MAX_ROUNDS + 3
    chain = reply_chain(box, n, "Re: Marathon")
    thread = await threads.get_thread(uid_of(box, "INBOX" if (n - 1) % 2 == 0 else "Sent", chain[-1]))
    assert [m.header_message_id for m in thread.messages] == chain[-(MAX_ROUNDS + 1) :]
    assert thread.count == MAX_ROUNDS + 1 and thread.omitted == 0
    assert thread.hint is not None and "may go on" in thread.hint and f"{MAX_ROUNDS} replies" in thread.hint
    first = thread.messages[0]
    further = await threads.get_thread(first.message_id)
    assert [m.header_message_id for m in further.messages][:3] == chain[:3]
    assert further.count == n


def test_limit_hint_asks_only_for_a_limit_the_tool_takes() -> None:
    few = _hint(False, False, 3, 6, 3)
    assert few == (
        "3 of 6 messages were left out (the first and the newest are shown): "
        "call get_thread again with limit=6."
    )
    more = _hint(False, False, 220, 250, 30)
    assert more is not None and f"limit={MAX_LIMIT} ({MAX_LIMIT} is the most" in more
    most = _hint(False, False, 50, 250, MAX_LIMIT)
    assert most is not None and "limit=" not in most and f"{MAX_LIMIT} is the most" in most


async def test_trash_is_left_out(box: Sandbox, threads: Threads) -> None:
    a, b = ids(2)
    box.append(USER, "INBOX", mail(a, "Party", "Saturday?"))
    box.append(USER, "Trash", mail(b, "Re: Party", "Deleted reply.", parent=a, refs=(a,), hour=11))
    thread = await threads.get_thread(uid_of(box, "INBOX", a))
    assert shape(thread) == [(a, "INBOX", None)]
    from_trash = await threads.get_thread(uid_of(box, "Trash", b))  # a seed in Trash is still shown
    assert shape(from_trash) == [(a, "INBOX", None), (b, "Trash", a)]


async def test_subject_shown_only_when_it_changes_and_html_is_text(box: Sandbox, threads: Threads) -> None:
    a, b = ids(2)
    box.append(USER, "INBOX", mail(a, "Lunch", "<p>Lunch <b>at noon</b>?</p>", html=True))
    box.append(USER, "Sent", mail(b, "AW: Lunch moved", "Yes.", parent=a, refs=(a,), hour=11))
    thread = await threads.get_thread(uid_of(box, "INBOX", a))
    assert "Lunch at noon?" in " ".join(thread.messages[0].text.split())
    assert [m.subject for m in thread.messages] == [None, "AW: Lunch moved"]


async def test_limit_keeps_the_first_and_the_newest(box: Sandbox, threads: Threads) -> None:
    chain = ids(6)
    for i, header_id in enumerate(chain):
        parent = chain[i - 1] if i else None
        box.append(
            USER,
            "INBOX",
            mail(header_id, "Long thread", f"Message {i}.", parent=parent, refs=tuple(chain[:i]), hour=8 + i),
        )
    thread = await threads.get_thread(uid_of(box, "INBOX", chain[0]), limit=3)
    assert [m.header_message_id for m in thread.messages] == [chain[0], chain[4], chain[5]]
    assert thread.count == 6 and thread.omitted == 3
    assert thread.hint is not None and "limit=6" in thread.hint
    from_middle = await threads.get_thread(uid_of(box, "INBOX", chain[2]), limit=3)
    assert [m.header_message_id for m in from_middle.messages] == [chain[0], chain[2], chain[5]]


async def test_gone_and_stale_seeds(box: Sandbox, threads: Threads) -> None:
    [a] = ids(1)
    box.append(USER, "INBOX", mail(a, "Soon gone", "x"))
    mid = MessageId.parse(uid_of(box, "INBOX", a))
    with pytest.raises(NotFound):
        await threads.get_thread(str(MessageId(mid.account, mid.mailbox, mid.uidvalidity, mid.uid + 10_000)))
    with pytest.raises(StaleId):
        await threads.get_thread(str(MessageId(mid.account, mid.mailbox, mid.uidvalidity + 1, mid.uid)))


async def test_bad_arguments_are_refused(box: Sandbox, threads: Threads) -> None:
    [a] = ids(1)
    box.append(USER, "INBOX", mail(a, "Args", "x"))
    seed = uid_of(box, "INBOX", a)
    for arguments in (
        {"message_id": "not-an-id"},
        {"message_id": seed, "max_chars": 0},
        {"message_id": seed, "limit": 0},
    ):
        with pytest.raises(InvalidInput):
            await threads.get_thread(**arguments)  # type: ignore[arg-type]


async def test_candidates_come_from_header_searches(box: Sandbox) -> None:
    """Through a recording relay: every SEARCH is a HEADER search, and no FETCH names more than the thread."""
    a, b, c, d = seed_conversation(box)
    with ProviderShim(box.host, box.imap_port, PassThrough()) as relay:
        env = box.env(USER, security="plain") | {"MAIL_IMAP_DEFAULT_PORT": str(relay.port)}
        service = MailService(load_settings(env=env))
        try:
            thread = await Threads(service).get_thread(uid_of(box, "Archive", c))
        finally:
            await service.close()
    assert [m.header_message_id for m in thread.messages] == [a, b, c, d]
    searches = [t for t in relay.commands if t.upper().startswith("UID SEARCH")]
    assert searches and all("HEADER Message-ID" in t and "HEADER References" in t for t in searches)
    fetches = [t for t in relay.commands if t.upper().startswith("UID FETCH")]
    for text in fetches:
        uid_set = text.split()[2]
        assert ":" not in uid_set and len(uid_set.split(",")) <= 2, text  # INBOX holds two of the four
    assert not any(t.upper().startswith(("UID THREAD", "UID SORT", "FETCH")) for t in relay.commands)
