"""list_changes at the service level against the real Dovecot sandbox: new mail, flag changes and expunges made by
another client, with CONDSTORE+QRESYNC, with CONDSTORE only and with neither (capabilities withheld)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote

import pytest

from mail_mcp.config.sources import load_settings
from mail_mcp.errors import InvalidInput, NotFound, StaleId
from mail_mcp.ids import MessageId
from mail_mcp.imap import changes as imap_changes
from mail_mcp.imap.search import Filters
from mail_mcp.mailbox import changes as changes_module
from mail_mcp.mailbox import state_tokens
from mail_mcp.mailbox.changes import ChangeList, ChangeTracker
from mail_mcp.mailbox.reading import Reader
from mail_mcp.mailbox.service import MailService
from mail_mcp.sandbox import Sandbox

from .test_read_tools import fresh_folder, make_message

pytestmark = pytest.mark.anyio
ACCOUNT = "default"


def uids_of(sandbox: Sandbox, folder: str) -> list[int]:
    with sandbox.connect("alice") as imap:
        imap.select_folder(folder, readonly=True)
        return sorted(imap.search(["ALL"]))


def other_client_changes(sandbox: Sandbox, folder: str, *, flag: int | None, expunge: int | None) -> None:
    """Another client (raw imapclient) flags one message and expunges another."""
    with sandbox.connect("alice") as imap:
        imap.select_folder(folder)
        if flag is not None:
            imap.add_flags([flag], [b"\\Flagged", b"\\Seen"])
        if expunge is not None:
            imap.add_flags([expunge], [b"\\Deleted"])
            imap.uid_expunge([expunge])


def subjects(result: ChangeList) -> list[str]:
    return [m.subject for m in result.new_messages]


def uid_of(message_id: str) -> int:
    return MessageId.parse(message_id).uid


@pytest.fixture
def tracker(service: MailService) -> ChangeTracker:
    return ChangeTracker(service)


@pytest.fixture(scope="module")
def own_sandbox() -> Iterator[Sandbox]:
    """A Dovecot of this module's own, so mail delivered to INBOX leaves the shared sample INBOX as it is."""
    with Sandbox(users=("alice",)) as box:
        yield box


async def test_new_mail_appended_and_delivered(own_sandbox: Sandbox) -> None:
    folder = fresh_folder(own_sandbox, 3, "chg-new")
    service = MailService(load_settings(env=own_sandbox.env()))
    try:
        tracker = ChangeTracker(service)
        state = await tracker.state(ACCOUNT, [folder, "INBOX"])
        with own_sandbox.connect("alice") as imap:
            imap.append(folder, make_message("appended"))
        own_sandbox.deliver("alice@example.test", make_message("delivered"))
        result = await tracker.list_changes(state)
        assert result.changed and result.complete and result.mailboxes == [folder, "INBOX"]
        assert result.new_total == 2 and set(subjects(result)) == {"appended", "delivered"}
        by_subject = {m.subject: m for m in result.new_messages}
        assert MessageId.parse(by_subject["appended"].message_id).mailbox == folder
        assert by_subject["delivered"].mailbox == "INBOX" and by_subject["delivered"].folder_role == "inbox"
        assert all(not m.is_read and m.preview for m in result.new_messages)
        assert result.flag_changes == [] and result.vanished == []
        again = await tracker.list_changes(result.state)
        assert not again.changed and again.new_total == 0 and again.complete
    finally:
        await service.close()


async def test_flag_change_by_another_client(tracker: ChangeTracker, sandbox: Sandbox) -> None:
    folder = fresh_folder(sandbox, 4, "chg-flag")
    uids = uids_of(sandbox, folder)
    state = await tracker.state(ACCOUNT, [folder])
    other_client_changes(sandbox, folder, flag=uids[1], expunge=None)
    result = await tracker.list_changes(state)
    (change,) = result.flag_changes
    assert uid_of(change.message_id) == uids[1] and change.is_read and change.is_flagged
    assert {"\\Flagged", "\\Seen"} <= set(change.flags) and "\\Recent" not in change.flags
    assert result.new_total == 0 and result.vanished == [] and result.complete
    assert (await tracker.list_changes(result.state)).changed is False


async def test_expunge_by_another_client(tracker: ChangeTracker, sandbox: Sandbox) -> None:
    folder = fresh_folder(sandbox, 4, "chg-gone")
    uids = uids_of(sandbox, folder)
    state = await tracker.state(ACCOUNT, [folder])
    other_client_changes(sandbox, folder, flag=None, expunge=uids[2])
    result = await tracker.list_changes(state)
    assert [uid_of(i) for i in result.vanished] == [uids[2]] and result.vanished_total == 1
    assert result.vanished[0].startswith(f"imap:{ACCOUNT}:{folder}:")
    assert result.new_total == 0 and result.flag_changes == [] and result.complete


async def test_all_three_at_once_then_nothing_again(tracker: ChangeTracker, sandbox: Sandbox) -> None:
    folder = fresh_folder(sandbox, 5, "chg-all")
    uids = uids_of(sandbox, folder)
    state = await tracker.state(ACCOUNT, [folder])
    with sandbox.connect("alice") as imap:
        imap.append(folder, make_message("arrived later"))
    other_client_changes(sandbox, folder, flag=uids[0], expunge=uids[4])
    result = await tracker.list_changes(state)
    assert subjects(result) == ["arrived later"]
    assert [uid_of(c.message_id) for c in result.flag_changes] == [uids[0]]
    assert [uid_of(i) for i in result.vanished] == [uids[4]]
    again = await tracker.list_changes(result.state)
    assert not again.changed and again.new_messages == again.flag_changes == again.vanished == []
    assert again.state == result.state


async def test_nothing_changed_gives_the_same_state(tracker: ChangeTracker, sandbox: Sandbox) -> None:
    folder = fresh_folder(sandbox, 2, "chg-none")
    state = await tracker.state(ACCOUNT, [folder])
    result = await tracker.list_changes(state)
    assert not result.changed and result.complete and result.state == state
    assert result.new_total == result.flag_changes_total == result.vanished_total == 0


async def test_newest_first_and_limit(tracker: ChangeTracker, sandbox: Sandbox) -> None:
    folder = fresh_folder(sandbox, 1, "chg-limit")
    state = await tracker.state(ACCOUNT, [folder])
    with sandbox.connect("alice") as imap:
        for i in range(5):
            imap.append(folder, make_message(f"wave {i}"))
    result = await tracker.list_changes(state, limit=2)
    assert result.new_total == 5 and subjects(result) == ["wave 4", "wave 3"]
    assert result.note is not None and "3 more new messages" in result.note
    assert not (await tracker.list_changes(result.state)).changed


async def test_reading_changes_never_sets_seen(tracker: ChangeTracker, sandbox: Sandbox) -> None:
    folder = fresh_folder(sandbox, 0, "chg-seen")
    state = await tracker.state(ACCOUNT, [folder])
    with sandbox.connect("alice") as imap:
        imap.append(folder, make_message("still unread"))
    (message,) = (await tracker.list_changes(state)).new_messages
    with sandbox.connect("alice") as imap:
        imap.select_folder(folder, readonly=True)
        assert imap.search(["UNSEEN"]) == [uid_of(message.message_id)]


async def test_recreated_folder_is_stale(tracker: ChangeTracker, sandbox: Sandbox) -> None:
    folder = fresh_folder(sandbox, 1, "chg-stale")
    state = await tracker.state(ACCOUNT, [folder])
    with sandbox.connect("alice") as imap:
        imap.delete_folder(folder)
        imap.create_folder(folder)
    with pytest.raises(StaleId) as caught:
        await tracker.list_changes(state)
    assert "list the folder again" in caught.value.message and caught.value.details["mailbox"] == folder


async def test_deleted_folder_is_not_found(tracker: ChangeTracker, sandbox: Sandbox) -> None:
    folder = fresh_folder(sandbox, 1, "chg-deleted")
    state = await tracker.state(ACCOUNT, [folder])
    with sandbox.connect("alice") as imap:
        imap.delete_folder(folder)
    with pytest.raises(NotFound):
        await tracker.list_changes(state)
    with pytest.raises(NotFound):
        await tracker.state(ACCOUNT, [folder])


async def test_changes_seen_when_the_folder_is_already_selected(sandbox: Sandbox) -> None:
    """STATUS on the selected mailbox answers for the session's stale view: the one pooled connection has the
    folder open from a listing when the changes are asked for, and still sees them."""
    folder = fresh_folder(sandbox, 3, "chg-open")
    uids = uids_of(sandbox, folder)
    service = MailService(load_settings(env={**sandbox.env(), "MAIL_IMAP_DEFAULT_POOL_SIZE": "1"}))
    try:
        tracker = ChangeTracker(service)
        state = await tracker.state(ACCOUNT, [folder])
        await Reader(service).list_messages(ACCOUNT, folder, Filters(), 10, None)
        with sandbox.connect("alice") as imap:
            imap.append(folder, make_message("while open"))
        other_client_changes(sandbox, folder, flag=uids[0], expunge=uids[1])
        result = await tracker.list_changes(state)
        assert subjects(result) == ["while open"] and len(result.flag_changes) == len(result.vanished) == 1
        state = result.state
        with sandbox.connect("alice") as imap:
            imap.append(folder, make_message("still open"))
        assert subjects(await tracker.list_changes(state)) == ["still open"]
        assert await tracker.state(ACCOUNT, [folder]) != state
    finally:
        await service.close()


def token(payload: dict[str, Any]) -> str:
    """A state token of the given parts, in the token's text form (for crafting bad ones)."""
    rows = [
        ",".join(
            quote(str(v), safe="") if i == 0 else ("" if v is None else str(v)) for i, v in enumerate(row)
        )
        for row in payload["m"]
    ]
    extra = [f"s{payload['s']}"] if payload.get("s") is not None else []
    extra += [f"{k}{v}" for k, v in payload.items() if k not in ("v", "a", "m", "s")]
    return ";".join([str(payload["v"]), payload["a"], *rows, *extra])


GOOD_ROW = ["INBOX", 1, 2, 3, 1]


@pytest.mark.parametrize(
    "text",
    [
        "garbage!",
        "",
        "1;" + ACCOUNT,
        token({"v": 2, "a": ACCOUNT, "m": [GOOD_ROW], "s": None}),
        token({"v": 1, "a": ACCOUNT, "m": [GOOD_ROW], "s": None, "x": 1}),
        token({"v": 1, "a": "bad account!", "m": [GOOD_ROW], "s": None}),
        token({"v": 1, "a": ACCOUNT, "m": [], "s": None}),
        token({"v": 1, "a": ACCOUNT, "m": [["INBOX", 0, 2, 3, 1]], "s": None}),
        token({"v": 1, "a": ACCOUNT, "m": [["INBOX", 1, 2, -3, 1]], "s": None}),
        token({"v": 1, "a": ACCOUNT, "m": [["INBOX", 1, 2, 3, True]], "s": None}),
        token({"v": 1, "a": ACCOUNT, "m": [["", 1, 2, 3, 1]], "s": None}),
        token({"v": 1, "a": ACCOUNT, "m": [GOOD_ROW, GOOD_ROW], "s": None}),
        token({"v": 1, "a": ACCOUNT, "m": [GOOD_ROW], "s": 5}),
        token({"v": 1, "a": ACCOUNT, "m": [["INBOX\r\nA1 DELETE INBOX", 1, 2, 3, 1]], "s": None}),
        token({"v": 1, "a": ACCOUNT, "m": [["INBOX", 1, 2, 3, 1, 9]], "s": None}),
        f"1;{ACCOUNT};INBOX,1,2,3,1;" + "s" + "%" * 20,
        f"1;{ACCOUNT};%FF%FE,1,2,3,1",
        "A" * 70_000,
    ],
)
async def test_bad_token_is_invalid_input(tracker: ChangeTracker, text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        await tracker.list_changes(text)
    assert caught.value.details["field"] == "state" and "list the folder again" in caught.value.message


async def test_unknown_account_and_bad_limit(tracker: ChangeTracker) -> None:
    with pytest.raises(NotFound):
        await tracker.list_changes(token({"v": 1, "a": "nobody", "m": [GOOD_ROW], "s": None}))
    state = await tracker.state(ACCOUNT, ["INBOX"])
    with pytest.raises(InvalidInput):
        await tracker.list_changes(state, limit=51)


async def test_two_mailboxes_each_tracked(tracker: ChangeTracker, sandbox: Sandbox) -> None:
    first, second = fresh_folder(sandbox, 3, "chg-one"), fresh_folder(sandbox, 3, "chg-two")
    one, two = uids_of(sandbox, first), uids_of(sandbox, second)
    state = await tracker.state(ACCOUNT, [first, second])
    other_client_changes(sandbox, first, flag=one[0], expunge=None)
    other_client_changes(sandbox, second, flag=None, expunge=two[1])
    with sandbox.connect("alice") as imap:
        imap.append(second, make_message("into the second"))
    result = await tracker.list_changes(state)
    assert [MessageId.parse(c.message_id).mailbox for c in result.flag_changes] == [first]
    assert [(MessageId.parse(i).mailbox, uid_of(i)) for i in result.vanished] == [(second, two[1])]
    assert [(m.mailbox, m.subject) for m in result.new_messages] == [(second, "into the second")]
    assert not (await tracker.list_changes(result.state)).changed


async def test_token_survives_a_restart_with_qresync(settings: Any, sandbox: Sandbox) -> None:
    """With QRESYNC the token alone is enough: a new service (a restarted process) reads the changes."""
    folder = fresh_folder(sandbox, 3, "chg-restart")
    uids = uids_of(sandbox, folder)
    first = MailService(settings)
    try:
        state = await ChangeTracker(first).state(ACCOUNT, [folder])
    finally:
        await first.close()
    assert "," in state.split(";")[-1]  # it ends with a folder, not a snapshot id: the token is enough
    other_client_changes(sandbox, folder, flag=uids[0], expunge=uids[1])
    second = MailService(settings)
    try:
        result = await ChangeTracker(second).list_changes(state)
    finally:
        await second.close()
    assert result.complete and len(result.flag_changes) == 1 and len(result.vanished) == 1


async def test_qresync_cost_does_not_grow_with_the_mailbox(
    own_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same changes in a 10- and a 3,000-message folder send the same commands and get the same answer
    (LIST aside: the folder cache reads the list once to give the new messages their folder role)."""
    small = fresh_folder(own_sandbox, 10, "chg-small")
    big = f"Test-chg-big-{uuid.uuid4().hex[:8]}"
    own_sandbox.seed_bulk("alice", big, 3000)
    answers: list[int] = []
    original = imap_changes._compat.uid_fetch_changed

    def counting(*args: Any, **kwargs: Any) -> tuple[list[Any], list[Any]]:
        fetched, vanished = original(*args, **kwargs)
        answers.append(sum(len(f) if isinstance(f, bytes) else 0 for f in fetched) + len(vanished))
        return fetched, vanished

    monkeypatch.setattr(imap_changes._compat, "uid_fetch_changed", counting)
    service = MailService(load_settings(env={**own_sandbox.env(), "MAIL_IMAP_DEFAULT_POOL_SIZE": "1"}))
    try:
        tracker, pool = ChangeTracker(service), service.pools.get(ACCOUNT)
        sent: list[Counter[str]] = []
        for folder in (small, big):
            uids = uids_of(own_sandbox, folder)
            state = await tracker.state(ACCOUNT, [folder])
            other_client_changes(own_sandbox, folder, flag=uids[3], expunge=uids[5])
            with own_sandbox.connect("alice") as imap:
                imap.append(folder, make_message("new in both"))
            before = pool.command_counts()
            result = await tracker.list_changes(state)
            sent.append(Counter({k: n for k, n in (pool.command_counts() - before).items() if k != "LIST"}))
            assert (
                subjects(result) == ["new in both"] and len(result.flag_changes) == len(result.vanished) == 1
            )
        assert await pool.run(lambda c: c.qresync, action="test") is True
        assert sent[0] == sent[1] and not any("SEARCH" in name for name in sent[1])
        assert sent[1]["UID FETCH"] <= 3 and sent[1]["STATUS"] == 1
        assert len(answers) == 2 and abs(answers[0] - answers[1]) < 64, answers
    finally:
        await service.close()


# ------------------------------------------------------------------ without QRESYNC, and without CONDSTORE


@pytest.fixture(scope="module", params=["no-condstore", "no-qresync"])
def limited(request: pytest.FixtureRequest, sandbox: Sandbox) -> Iterator[tuple[str, Sandbox]]:
    dropped = {"CONDSTORE", "QRESYNC"} if request.param == "no-condstore" else {"QRESYNC"}
    with sandbox.connect("alice") as imap:
        live = [c.decode() for c in imap.capabilities() if not c.upper().startswith((b"AUTH=", b"STARTTLS"))]
    with Sandbox(imap_capability=" ".join(c for c in live if c.upper() not in dropped)) as box:
        yield request.param, box


@pytest.fixture
async def limited_tracker(limited: tuple[str, Sandbox]) -> AsyncIterator[ChangeTracker]:
    service = MailService(load_settings(env=limited[1].env()))
    try:
        yield ChangeTracker(service)
    finally:
        await service.close()


async def test_without_qresync_with_the_snapshot(
    limited: tuple[str, Sandbox], limited_tracker: ChangeTracker
) -> None:
    kind, box = limited
    folder = fresh_folder(box, 5, f"chg-{kind}")
    uids = uids_of(box, folder)
    state = await limited_tracker.state(ACCOUNT, [folder])
    caps = await limited_tracker.service.pools.get(ACCOUNT).run(lambda c: c.capabilities, action="test")
    assert "QRESYNC" not in caps and ("CONDSTORE" in caps) == (kind == "no-qresync")
    with box.connect("alice") as imap:
        imap.append(folder, make_message("fallback new"))
    other_client_changes(box, folder, flag=uids[1], expunge=uids[3])
    result = await limited_tracker.list_changes(state)
    assert result.complete and subjects(result) == ["fallback new"]
    assert [uid_of(c.message_id) for c in result.flag_changes] == [uids[1]]
    assert [uid_of(i) for i in result.vanished] == [uids[3]]
    again = await limited_tracker.list_changes(result.state)
    assert not again.changed and again.complete


async def test_without_qresync_nothing_changed(
    limited: tuple[str, Sandbox], limited_tracker: ChangeTracker
) -> None:
    folder = fresh_folder(limited[1], 3, "chg-quiet")
    result = await limited_tracker.list_changes(await limited_tracker.state(ACCOUNT, [folder]))
    assert not result.changed and result.complete


async def test_without_qresync_after_the_snapshot_is_gone(
    limited: tuple[str, Sandbox], limited_tracker: ChangeTracker, monkeypatch: pytest.MonkeyPatch
) -> None:
    kind, box = limited
    folder = fresh_folder(box, 5, f"chg-lost-{kind}")
    uids = uids_of(box, folder)
    state = await limited_tracker.state(ACCOUNT, [folder])
    monkeypatch.setattr(state_tokens, "_snapshots", type(state_tokens._snapshots)())  # a restart
    with box.connect("alice") as imap:
        imap.append(folder, make_message("after restart"))
    other_client_changes(box, folder, flag=uids[0], expunge=uids[2])
    result = await limited_tracker.list_changes(state)
    assert subjects(result) == ["after restart"] and result.changed and not result.complete
    assert result.note is not None and "could not be told" in result.note
    (unknown,) = result.unknown
    assert unknown.mailbox == folder and unknown.vanished_unknown == 1 and result.vanished == []
    if kind == "no-condstore":
        assert unknown.flags_unknown and result.flag_changes == []
    else:
        assert not unknown.flags_unknown and [uid_of(c.message_id) for c in result.flag_changes] == [uids[0]]
    again = await limited_tracker.list_changes(result.state)  # the new state tracks completely again
    assert not again.changed and again.complete
    other_client_changes(box, folder, flag=None, expunge=uids[1])
    last = await limited_tracker.list_changes(again.state)
    assert last.complete and [uid_of(i) for i in last.vanished] == [uids[1]]


def test_flag_lines_are_parsed_exactly() -> None:
    """The fast FETCH parser: a keyword that looks like an item does not confuse it; other shapes fall back."""
    parsed = imap_changes._parse(
        [
            b"3 (UID 7 FLAGS ($UID \\Seen \\Recent) MODSEQ (12))",
            b"4 (MODSEQ (13) FLAGS () UID 9)",
            b"5 (UID 11 FLAGS (\\Flagged))",
        ]
    )
    assert parsed == {7: (("$UID", "\\Seen"), 12), 9: ((), 13), 11: (("\\Flagged",), None)}


# ------------------------------------------------------------------ review fixes


ROTATE_LOG = (
    "mail_index_log_rotate_min_size = 0\nmail_index_log_rotate_max_size = 1k\n"
    "mail_index_log_rotate_min_age = 0\nmail_index_log2_max_age = 0\n"
)


def churn(box: Sandbox, folder: str, rounds: int = 60) -> None:
    """Keyword changes by another client, enough to rotate Dovecot's transaction log under ROTATE_LOG."""
    with box.connect("alice") as imap:
        imap.select_folder(folder)
        for r in range(rounds):
            imap.add_flags(imap.search(["ALL"])[r % 2 :: 2], [f"$k{r}".encode()])


async def test_qresync_without_history_does_not_report_older_expunges(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once Dovecot's log no longer reaches back to the state, `VANISHED (EARLIER)` names every missing UID, also
    those expunged before the state: which ones went since is then unknown, and the counts say how many."""
    named: list[Any] = []
    original = imap_changes._compat.uid_fetch_changed

    def recording(*args: Any, **kwargs: Any) -> tuple[list[Any], list[Any]]:
        fetched, vanished = original(*args, **kwargs)
        named.extend(vanished)
        return fetched, vanished

    monkeypatch.setattr(imap_changes._compat, "uid_fetch_changed", recording)
    with Sandbox(users=("alice",), extra_config=ROTATE_LOG) as box:
        folder = fresh_folder(box, 10, "chg-rotated")
        other_client_changes(box, folder, flag=None, expunge=2)
        other_client_changes(box, folder, flag=None, expunge=3)  # gone long before the state
        churn(box, folder)
        service = MailService(load_settings(env=box.env()))
        try:
            tracker = ChangeTracker(service)
            state = await tracker.state(ACCOUNT, [folder])
            other_client_changes(box, folder, flag=None, expunge=5)
            churn(box, folder)
            result = await tracker.list_changes(state)
            assert any(b"2:3" in v or b"2:5" in v for v in named), named  # the server did name the older ones
            assert result.vanished == [] and result.vanished_total == 0 and not result.complete
            assert [(u.mailbox, u.flags_unknown, u.vanished_unknown) for u in result.unknown] == [
                (folder, False, 1)
            ]
            assert result.flag_changes_total > 0 and "could not be told" in (result.note or "")
            churn(box, folder)
            again = await tracker.list_changes(result.state)  # named again, but the counts say none went
            assert again.complete and again.vanished == [] and again.unknown == []
        finally:
            await service.close()


async def test_state_can_leave_out_deleted_folders(tracker: ChangeTracker, sandbox: Sandbox) -> None:
    first, gone, last = (fresh_folder(sandbox, 2, f"chg-skip{i}") for i in range(3))
    with sandbox.connect("alice") as imap:
        imap.delete_folder(gone)
    with pytest.raises(NotFound):
        await tracker.state(ACCOUNT, [first, gone, last])
    state = await tracker.state(ACCOUNT, [first, gone, last], skip_missing=True)
    assert [row.split(",")[0] for row in state.split(";")[2:]] == [first, last]
    with sandbox.connect("alice") as imap:
        imap.append(last, make_message("after the skip"))
    result = await tracker.list_changes(state)
    assert result.mailboxes == [first, last] and subjects(result) == ["after the skip"] and result.complete
    with pytest.raises(NotFound):
        await tracker.state(ACCOUNT, [gone], skip_missing=True)
    with sandbox.connect("alice") as imap:
        imap.delete_folder(first)
        imap.delete_folder(last)
    with pytest.raises(NotFound):
        await tracker.state(ACCOUNT, [first, gone, last], skip_missing=True)


async def test_a_long_state_is_kept_behind_a_handle(
    tracker: ChangeTracker, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    folders = [fresh_folder(sandbox, 1, "чрезвычайно-длинное-имя-папки-клиента") for _ in range(5)]
    text = state_tokens.encode_state(
        ACCOUNT, [imap_changes.MailboxState(f, 1, 2, 3, 1) for f in folders], None
    )
    assert len(text) > state_tokens.LONG_TOKEN  # what the token would have been
    state = await tracker.state(ACCOUNT, folders)
    assert state.startswith(f"2;{ACCOUNT};h") and len(state) < 40
    with sandbox.connect("alice") as imap:
        imap.append(folders[3], make_message("behind a handle"))
    result = await tracker.list_changes(state)
    assert result.mailboxes == folders and subjects(result) == ["behind a handle"] and result.complete
    again = await tracker.list_changes(result.state)
    assert not again.changed and again.state == result.state  # the same state, the same handle
    assert (await tracker.state(ACCOUNT, [folders[0]])).startswith("1;")  # a short token stays as it is
    handle = result.state.split(";")[2]
    with pytest.raises(InvalidInput) as caught:
        await tracker.list_changes(f"2;other;{handle}")
    assert caught.value.message == state_tokens.BAD_STATE
    monkeypatch.setattr(state_tokens, "_long_states", state_tokens._KeptStates())  # a restart
    with pytest.raises(InvalidInput) as caught:
        await tracker.list_changes(result.state)
    assert caught.value.details["field"] == "state"
    assert "is gone" in caught.value.message and "list the folder again" in caught.value.message


def test_kept_states_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state_tokens, "KEPT_STATES", 2)
    kept = state_tokens._KeptStates()
    first, second = kept.put("a" * 2000), kept.put("b" * 2000)
    assert kept.put("a" * 2000) == first  # the same text, the same handle (and now the most recent)
    kept.put("c" * 2000)
    assert kept.get(second) is None and kept.get(first) == "a" * 2000 and kept.chars == 4000
    monkeypatch.setattr(state_tokens, "KEPT_STATE_CHARS", 3000)
    last = kept.put("d" * 2000)
    assert list(kept.by_id) == [last] and kept.chars == 2000


def test_fetch_answers_without_a_uid_are_left_out() -> None:
    """An unsolicited FETCH (keyed by sequence number, no UID) never passes for a UID."""
    parsed = imap_changes._parse(
        [
            b"1 (UID 7 FLAGS (\\Seen))",
            b"2 (FLAGS (\\Deleted))",
            b"3 (FLAGS (\\Seen) MODSEQ (40))",
            (b"4 (UID 9 X-EXTRA {2}", b"ab"),
            b" FLAGS (\\Answered))",
            (b"5 (X-EXTRA {2}", b"ab"),
            b" FLAGS (\\Flagged))",
        ]
    )
    assert parsed == {7: (("\\Seen",), None), 9: (("\\Answered",), None)}


@pytest.fixture(scope="module")
def no_condstore(sandbox: Sandbox) -> Iterator[Sandbox]:
    with sandbox.connect("alice") as imap:
        live = [c.decode() for c in imap.capabilities() if not c.upper().startswith((b"AUTH=", b"STARTTLS"))]
    with Sandbox(
        imap_capability=" ".join(c for c in live if c.upper() not in ("CONDSTORE", "QRESYNC"))
    ) as box:
        yield box


async def test_an_unsolicited_fetch_is_no_flag_change(no_condstore: Sandbox) -> None:
    """Comparing flags without CONDSTORE: a `* 2 FETCH (FLAGS (...))` without UID amid the answer is left out."""
    from .test_faults_imap import TaggedProxy

    folder = fresh_folder(no_condstore, 3, "chg-unsolicited")
    uids = uids_of(no_condstore, folder)
    lines = b"".join(b"* %d FETCH (UID %d FLAGS ())\r\n" % (i + 1, uid) for i, uid in enumerate(uids))
    reply = lines + b"* 2 FETCH (FLAGS (\\Seen \\Flagged))\r\n{tag} OK Fetch completed.\r\n"
    with TaggedProxy(no_condstore.host, no_condstore.imap_port) as proxy:
        env = {**no_condstore.env(security="plain"), "MAIL_IMAP_DEFAULT_PORT": str(proxy.port)}
        env["MAIL_IMAP_DEFAULT_HOST"] = "127.0.0.1"
        service = MailService(load_settings(env=env))
        try:
            tracker = ChangeTracker(service)
            state = await tracker.state(ACCOUNT, [folder])
            rule = proxy.replace_reply(rf"UID FETCH 1:{uids[-1]} \(UID FLAGS\)", reply)
            result = await tracker.list_changes(state)
            assert rule.fired.is_set()
        finally:
            await service.close()
    assert not result.changed and result.complete and result.flag_changes == []


async def test_more_changes_than_listed_are_not_complete(
    tracker: ChangeTracker, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(changes_module, "MAX_LISTED", 2)
    folder = fresh_folder(sandbox, 6, "chg-many")
    uids = uids_of(sandbox, folder)
    state = await tracker.state(ACCOUNT, [folder])
    with sandbox.connect("alice") as imap:
        imap.select_folder(folder)
        imap.add_flags(uids[:3], [b"\\Flagged"])
        imap.add_flags(uids[3:], [b"\\Deleted"])
        imap.uid_expunge(uids[3:])
    result = await tracker.list_changes(state)
    assert result.flag_changes_total == result.vanished_total == 3
    assert len(result.flag_changes) == len(result.vanished) == 2
    assert not result.complete and result.unknown == [] and result.note is not None
    assert (
        "1 flag changes and 1 vanished ids are not listed" in result.note and "list the folder" in result.note
    )
    assert (await tracker.list_changes(result.state)).complete


async def test_a_snapshot_too_big_to_keep_is_not_kept(
    limited: tuple[str, Sandbox], limited_tracker: ChangeTracker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Snapshots are kept up to KEPT_MESSAGES UIDs in all, one state's included: a folder past that has none."""
    monkeypatch.setattr(state_tokens, "KEPT_MESSAGES", 6)
    kind, box = limited
    kept_folder, lost_folder = (
        fresh_folder(box, 4, f"chg-fits-{kind}"),
        fresh_folder(box, 4, f"chg-big-{kind}"),
    )
    state = await limited_tracker.state(ACCOUNT, [kept_folder, lost_folder])
    snapshot_id = state.rsplit(";s", 1)[1]
    assert list(state_tokens._snapshots[snapshot_id][1]) == [kept_folder]
    for folder in (kept_folder, lost_folder):
        uids = uids_of(box, folder)
        other_client_changes(box, folder, flag=uids[0], expunge=uids[1])
    result = await limited_tracker.list_changes(state)
    assert not result.complete and [MessageId.parse(i).mailbox for i in result.vanished] == [kept_folder]
    (unknown,) = result.unknown
    assert unknown.mailbox == lost_folder and unknown.vanished_unknown == 1
    assert unknown.flags_unknown == (kind == "no-condstore")
    assert sum(len(s.uids) for _, kept in state_tokens._snapshots.values() for _, s in kept.values()) <= 6
