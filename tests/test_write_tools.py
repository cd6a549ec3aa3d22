"""Write tools end to end: in-memory MCP client -> server -> pool -> real Dovecot (user bob, fresh folders)."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from imapclient import IMAPClient
from mcp import Client

from mail_mcp.config.models import Settings
from mail_mcp.config.sources import load_settings
from mail_mcp.ids import MessageId
from mail_mcp.mailbox.service import MailService
from mail_mcp.sandbox import Sandbox
from mail_mcp.server.app import build_server

from .conftest import call, call_error

pytestmark = pytest.mark.anyio

USER = "bob"
WRITE_TOOLS = {"modify_flags", "move_message", "copy_message", "delete_message", "create_folder"}


def write_settings(sandbox: Sandbox, **account: Any) -> Settings:
    base = load_settings(env={**sandbox.env(user=USER), "MAIL_IMAP_WRITE_ENABLED": "true"})
    return base.model_copy(
        update={"accounts": {"default": base.accounts["default"].model_copy(update=account)}}
    )


@asynccontextmanager
async def write_client(settings: Settings) -> AsyncIterator[tuple[Client, MailService]]:
    svc = MailService(settings)
    try:
        async with Client(build_server(svc), raise_exceptions=True) as client:
            yield client, svc
    finally:
        await svc.close()


@pytest.fixture(scope="module")
async def writer(sandbox: Sandbox) -> AsyncIterator[tuple[Client, MailService]]:
    async with write_client(write_settings(sandbox)) as pair:
        yield pair


@pytest.fixture
def wc(writer: tuple[Client, MailService]) -> Client:
    return writer[0]


def commands(svc: MailService) -> Counter[str]:
    return svc.pools.get("default").command_counts()


def raw(sandbox: Sandbox) -> IMAPClient:
    return sandbox.connect(USER)


def fresh_folder(
    sandbox: Sandbox,
    count: int,
    prefix: str = "W",
    flags: dict[int, list[bytes]] | None = None,
) -> tuple[str, list[str]]:
    """A new folder holding `count` messages; returns its name and their ids (oldest first)."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    imap = raw(sandbox)
    try:
        imap.create_folder(name)
        if count:
            imap.multiappend(
                name,
                [
                    {
                        "msg": f"Subject: {prefix} {i}\r\nFrom: a@example.test\r\n\r\nbody {i}\r\n".encode(),
                        "flags": (flags or {}).get(i, []),
                    }
                    for i in range(count)
                ],
            )
        return name, folder_ids(sandbox, name)
    finally:
        imap.logout()


def folder_ids(sandbox: Sandbox, name: str) -> list[str]:
    imap = raw(sandbox)
    try:
        validity = imap.select_folder(name, readonly=True)[b"UIDVALIDITY"]
        return [str(MessageId("default", name, validity, uid)) for uid in sorted(imap.search("ALL"))]
    finally:
        imap.logout()


def flags_of(sandbox: Sandbox, mailbox: str) -> dict[int, set[str]]:
    imap = raw(sandbox)
    try:
        imap.select_folder(mailbox, readonly=True)
        uids = imap.search("ALL")
        fetched = imap.fetch(uids, ["FLAGS"]) if uids else {}
        return {uid: {f.decode() for f in data[b"FLAGS"]} - {"\\Recent"} for uid, data in fetched.items()}
    finally:
        imap.logout()


def subjects(sandbox: Sandbox, mailbox: str) -> list[str]:
    imap = raw(sandbox)
    try:
        imap.select_folder(mailbox, readonly=True)
        uids = imap.search("ALL")
        data = imap.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"]) if uids else {}
        return sorted(v[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().strip()[9:] for v in data.values())
    finally:
        imap.logout()


def uid_of(message_id: str) -> int:
    return MessageId.parse(message_id).uid


# ------------------------------------------------------------------------------------------- the gate


async def test_gate_off_tools_absent_and_calls_refused(client: Client, sandbox: Sandbox) -> None:
    names = {t.name for t in (await client.list_tools()).tools}
    assert not names & WRITE_TOOLS
    _, ids = fresh_folder(sandbox, 1, "Gate")
    for tool, arguments in [
        ("modify_flags", {"message_ids": ids, "add_flags": ["read"]}),
        ("delete_message", {"message_ids": ids, "permanent": True}),
        ("create_folder", {"name": "Nope"}),
    ]:
        error = (await call_error(client, tool, **arguments))["error"]
        assert error["code"] == "write_disabled" and "MAIL_IMAP_WRITE_ENABLED" in error["message"]
    accounts = (await call(client, "list_accounts"))["data"]["accounts"]
    assert accounts[0]["write_enabled"] is False


async def test_gate_on_tools_listed_with_honest_annotations(wc: Client) -> None:
    tools = {t.name: t for t in (await wc.list_tools()).tools}
    assert set(tools) >= WRITE_TOOLS
    expected = {
        "modify_flags": (False, True),
        "move_message": (True, True),
        "copy_message": (False, False),
        "delete_message": (True, True),
        "create_folder": (False, True),
    }
    for name, (destructive, idempotent) in expected.items():
        hints = tools[name].annotations
        assert hints is not None and hints.read_only_hint is False
        assert (hints.destructive_hint, hints.idempotent_hint) == (destructive, idempotent), name
        assert tools[name].description and tools[name].output_schema is not None
    schema = tools["modify_flags"].input_schema["properties"]
    assert "starred" in json.dumps(schema["add_flags"]) and schema["message_ids"]["maxItems"] == 250
    accounts = (await call(wc, "list_accounts"))["data"]["accounts"]
    assert accounts[0]["write_enabled"] is True


async def test_write_disabled_account_is_refused_when_another_is_enabled(sandbox: Sandbox) -> None:
    settings = write_settings(sandbox)
    off = settings.accounts["default"].model_copy(update={"id": "other", "write_enabled": False})
    settings = settings.model_copy(update={"accounts": {**settings.accounts, "other": off}})
    _, ids = fresh_folder(sandbox, 1, "Gate2")
    other_id = ids[0].replace("imap:default:", "imap:other:")
    async with write_client(settings) as (client, _):
        error = (await call_error(client, "modify_flags", message_ids=[other_id], add_flags=["read"]))[
            "error"
        ]
        assert error["code"] == "write_disabled" and "MAIL_IMAP_OTHER_WRITE_ENABLED" in error["message"]
        error = (
            await call_error(client, "modify_flags", message_ids=[ids[0], other_id], add_flags=["read"])
        )["error"]
        assert error["code"] == "invalid_input"
    assert flags_of(sandbox, MessageId.parse(ids[0]).mailbox) == {1: set()}


# ------------------------------------------------------------------------------------------- flags


ROUND_TRIPS = [
    ("\\Seen", "\\Seen"),
    ("\\Answered", "\\Answered"),
    ("\\Flagged", "\\Flagged"),
    ("\\Deleted", "\\Deleted"),
    ("\\Draft", "\\Draft"),
    ("read", "\\Seen"),
    ("flagged", "\\Flagged"),
    ("starred", "\\Flagged"),
    ("answered", "\\Answered"),
    ("draft", "\\Draft"),
    ("important", "$Important"),
    ("junk", "$Junk"),
    ("notjunk", "$NotJunk"),
    ("$Forwarded", "$Forwarded"),
    ("project-x", "project-x"),
]


async def test_each_flag_and_alias_round_trips(wc: Client, sandbox: Sandbox) -> None:
    folder, (mid,) = fresh_folder(sandbox, 1, "Flags")
    for given, imap_flag in ROUND_TRIPS:
        data = (await call(wc, "modify_flags", message_ids=[mid], add_flags=[given]))["data"]
        assert data["applied_add_flags"] == [imap_flag] and data["requested_add_flags"] == [given]
        (outcome,) = data["messages"]
        assert outcome["status"] == "ok" and imap_flag in outcome["flags"]
        assert flags_of(sandbox, folder)[1] == {imap_flag}
        data = (await call(wc, "modify_flags", message_ids=[mid], remove_flags=[given]))["data"]
        assert data["messages"][0]["status"] == "ok" and imap_flag not in data["messages"][0]["flags"]
        assert flags_of(sandbox, folder)[1] == set()


async def test_batch_across_two_folders_is_one_store_per_folder(
    writer: tuple[Client, MailService], sandbox: Sandbox
) -> None:
    wc, svc = writer
    a, ids_a = fresh_folder(sandbox, 3, "BatchA")
    b, ids_b = fresh_folder(sandbox, 4, "BatchB", flags={i: [b"\\Flagged"] for i in range(4)})
    before = commands(svc)
    data = (await call(wc, "modify_flags", message_ids=ids_b[:2] + ids_a + ids_b[2:], add_flags=["read"]))[
        "data"
    ]
    delta = commands(svc) - before
    assert delta["UID STORE"] == 2 and delta["UID FETCH"] == 2
    assert data["counts"] == {"ok": 7, "failed": 0, "unknown": 0}
    before = commands(svc)
    await call(
        wc, "modify_flags", message_ids=ids_a + ids_b, add_flags=["$Done"], remove_flags=["read", "flagged"]
    )
    delta = commands(svc) - before
    assert delta["UID STORE"] == 4 and delta["UID FETCH"] == 2
    assert list(flags_of(sandbox, a).values()) + list(flags_of(sandbox, b).values()) == [{"$Done"}] * 7


async def test_250_ids_work_and_251_are_refused(writer: tuple[Client, MailService], sandbox: Sandbox) -> None:
    wc, svc = writer
    folder, ids = fresh_folder(sandbox, 251, "Many")
    before = commands(svc)
    error = (await call_error(wc, "modify_flags", message_ids=ids, add_flags=["read"]))["error"]
    assert error["code"] == "invalid_input" and "message_ids" in json.dumps(error)
    assert all(flags == set() for flags in flags_of(sandbox, folder).values())
    data = (await call(wc, "modify_flags", message_ids=ids[:250], add_flags=["read"]))["data"]
    assert data["counts"]["ok"] == 250
    assert (commands(svc) - before)["UID STORE"] == 1
    assert sum("\\Seen" in flags for flags in flags_of(sandbox, folder).values()) == 250


INJECTIONS = [
    "\\Seen) (\\Deleted",
    "a b",
    "x\r\nA1 EXPUNGE",
    '"q"',
    "{5}",
    "%",
    "*",
    "]",
    "",
    "k" * 65,
    "café",
    "\\Recent",
    "\\Junk",
]


async def test_injection_attempts_are_refused_with_nothing_written(
    writer: tuple[Client, MailService], sandbox: Sandbox
) -> None:
    wc, svc = writer
    folder, ids = fresh_folder(sandbox, 2, "Inject")
    bystander, bystander_ids = fresh_folder(sandbox, 1, "Bystander", flags={0: [b"\\Deleted"]})
    before = commands(svc)
    for bad in INJECTIONS:
        for field in ("add_flags", "remove_flags"):
            arguments = {"message_ids": ids, field: ["read", bad]}
            error = (await call_error(wc, "modify_flags", **arguments))["error"]
            assert error["code"] == "invalid_input", bad
            assert error["details"]["problems"][0]["flag"] == bad[:100]
    error = (await call_error(wc, "modify_flags", message_ids=ids))["error"]
    assert error["code"] == "invalid_input"
    delta = commands(svc) - before
    assert not {"UID STORE", "UID EXPUNGE", "EXPUNGE", "SELECT"} & set(delta)
    assert flags_of(sandbox, folder) == {1: set(), 2: set()}
    assert flags_of(sandbox, bystander) == {1: {"\\Deleted"}} and len(bystander_ids) == 1


async def test_stale_and_gone_ids_fail_alone(wc: Client, sandbox: Sandbox) -> None:
    folder, ids = fresh_folder(sandbox, 2, "Alive")
    doomed, (stale_id,) = fresh_folder(sandbox, 1, "Recreated")
    await call(wc, "modify_flags", message_ids=[stale_id], add_flags=["read"])  # the pool now has it selected
    imap = raw(sandbox)
    try:
        imap.delete_folder(doomed)
        imap.create_folder(doomed)
        imap.append(doomed, b"Subject: newcomer\r\n\r\nhi\r\n")
    finally:
        imap.logout()
    gone = ids[0].rsplit(":", 1)[0] + ":999"
    data = (
        await call(
            wc, "modify_flags", message_ids=[ids[0], stale_id, gone, ids[1], ids[0]], add_flags=["flagged"]
        )
    )["data"]
    status = {m["message_id"]: (m["status"], m["code"]) for m in data["messages"]}
    assert status == {
        ids[0]: ("ok", None),
        ids[1]: ("ok", None),
        stale_id: ("failed", "stale_id"),
        gone: ("failed", "not_found"),
    }
    assert flags_of(sandbox, doomed) == {1: set()}
    assert flags_of(sandbox, folder) == {1: {"\\Flagged"}, 2: {"\\Flagged"}}


async def test_connection_lost_after_send_is_unknown_and_not_retried(
    writer: tuple[Client, MailService], sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    wc, svc = writer
    folder, ids = fresh_folder(sandbox, 2, "Lost")
    sent: list[bytes] = []
    original = IMAPClient.add_flags

    def add_then_drop(self: IMAPClient, messages: Any, flags: Any, silent: bool = False) -> Any:
        sent.append(messages)
        original(self, messages, flags, silent=silent)
        raise ConnectionResetError("connection lost after the command was sent")

    monkeypatch.setattr(IMAPClient, "add_flags", add_then_drop)
    logins = svc.pools.get("default").logins
    data = (await call(wc, "modify_flags", message_ids=ids, add_flags=["read"]))["data"]
    monkeypatch.undo()
    assert len(sent) == 1
    assert svc.pools.get("default").logins == logins
    assert [(m["status"], m["code"], m["flags"]) for m in data["messages"]] == [
        ("unknown", "connection_failed", None)
    ] * 2
    assert data["counts"]["unknown"] == 2 and "check" in data["messages"][0]["reason"]
    assert flags_of(sandbox, folder) == {1: {"\\Seen"}, 2: {"\\Seen"}}
    assert (await call(wc, "modify_flags", message_ids=ids, add_flags=["read"]))["data"]["counts"]["ok"] == 2


async def test_bad_argument_shapes_are_invalid_input(wc: Client) -> None:
    for arguments in [
        {"message_ids": 5},
        {"message_ids": "imap:default:INBOX:1:1"},
        {"message_ids": []},
        {"message_ids": ["not-an-id"]},
        {"message_ids": ["imap:default:INBOX:1:1"], "add_flags": "read"},
    ]:
        error = (await call_error(wc, "modify_flags", **{"add_flags": ["read"], **arguments}))["error"]
        assert error["code"] == "invalid_input", arguments


async def test_every_write_is_audited_without_content(
    wc: Client, sandbox: Sandbox, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "audit.jsonl"
    monkeypatch.setenv("MAIL_MCP_AUDIT_LOG", str(log))
    _folder, ids = fresh_folder(sandbox, 2, "Audited")
    await call(wc, "modify_flags", message_ids=ids, add_flags=["read"])
    moved = (await call(wc, "move_message", message_ids=ids[:1], destination="archive"))["data"]
    await call(wc, "delete_message", message_ids=ids[1:])
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["action"] for r in records] == ["modify_flags", "move", "delete"]
    assert records[0]["add"] == ["\\Seen"] and records[0]["outcomes"] == {ids[0]: "ok", ids[1]: "ok"}
    assert records[1]["folder"] == "Archive"
    assert records[1]["outcomes"][ids[0]] == ["ok", moved["messages"][0]["new_message_id"]]
    assert "body" not in log.read_text() and "Audited 0" not in log.read_text()


# ------------------------------------------------------------------------------------------- move, copy, delete


async def test_move_and_undo_with_the_returned_ids(
    writer: tuple[Client, MailService], sandbox: Sandbox
) -> None:
    wc, svc = writer
    source, ids = fresh_folder(sandbox, 3, "MoveSrc", flags={2: [b"\\Deleted"]})
    dest, _ = fresh_folder(sandbox, 0, "MoveDst")
    before = commands(svc)
    data = (await call(wc, "move_message", message_ids=ids[:2], destination=dest))["data"]
    delta = commands(svc) - before
    assert delta["UID MOVE"] == 1 and not delta["UID EXPUNGE"] and not delta["EXPUNGE"]
    assert data["folder"] == dest and data["counts"]["ok"] == 2
    new_ids = [m["new_message_id"] for m in data["messages"]]
    assert all(MessageId.parse(n).mailbox == dest for n in new_ids)
    assert [m["previous_folder"] for m in data["messages"]] == [source] * 2
    assert subjects(sandbox, dest) == ["MoveSrc 0", "MoveSrc 1"]
    assert flags_of(sandbox, source) == {3: {"\\Deleted"}}
    got = (await call(wc, "get_message", message_id=new_ids[1]))["data"]
    assert got["subject"] == "MoveSrc 1"
    undo = (await call(wc, "move_message", message_ids=new_ids, destination=source))["data"]
    assert undo["counts"]["ok"] == 2 and subjects(sandbox, dest) == []
    assert subjects(sandbox, source) == ["MoveSrc 0", "MoveSrc 1", "MoveSrc 2"]
    again = (await call(wc, "move_message", message_ids=new_ids, destination=source))["data"]
    assert [m["code"] for m in again["messages"]] == ["not_found"] * 2


async def test_move_by_role_same_folder_and_missing_destination(
    writer: tuple[Client, MailService], sandbox: Sandbox
) -> None:
    wc, svc = writer
    _source, ids = fresh_folder(sandbox, 2, "Role")
    data = (await call(wc, "move_message", message_ids=ids[:1], destination="archive"))["data"]
    assert data["folder"] == "Archive" and data["folder_role"] == "archive"
    archived = data["messages"][0]["new_message_id"]
    assert MessageId.parse(archived).mailbox == "Archive"
    before = commands(svc)
    data = (await call(wc, "move_message", message_ids=[archived, ids[1]], destination="Archive"))["data"]
    assert [(m["status"], m["code"]) for m in data["messages"]] == [("ok", "already_there"), ("ok", None)]
    assert (commands(svc) - before)["UID MOVE"] == 1
    error = (await call_error(wc, "move_message", message_ids=ids, destination="No-Such-Folder"))["error"]
    assert error["code"] == "not_found" and "create_folder" in error["message"]
    error = (await call_error(wc, "copy_message", message_ids=ids, destination="all"))["error"]
    assert error["code"] == "not_found"


async def test_copy_keeps_originals_and_returns_new_ids(
    writer: tuple[Client, MailService], sandbox: Sandbox
) -> None:
    wc, svc = writer
    source, ids = fresh_folder(sandbox, 2, "CopySrc")
    dest, _ = fresh_folder(sandbox, 0, "CopyDst")
    before = commands(svc)
    data = (await call(wc, "copy_message", message_ids=ids, destination=dest))["data"]
    assert (commands(svc) - before)["UID COPY"] == 1
    assert data["operation"] == "copy" and data["counts"]["ok"] == 2
    assert subjects(sandbox, source) == subjects(sandbox, dest) == ["CopySrc 0", "CopySrc 1"]
    new = {m["message_id"]: m["new_message_id"] for m in data["messages"]}
    for old, copy in new.items():
        assert (await call(wc, "get_message", message_id=copy))["data"]["subject"] == (
            await call(wc, "get_message", message_id=old)
        )["data"]["subject"]


async def test_delete_to_trash_then_permanently(writer: tuple[Client, MailService], sandbox: Sandbox) -> None:
    wc, svc = writer
    source, ids = fresh_folder(sandbox, 2, "Del")
    data = (await call(wc, "delete_message", message_ids=ids))["data"]
    assert data["folder"] == "Trash" and data["counts"]["ok"] == 2
    trashed = [m["new_message_id"] for m in data["messages"]]
    assert subjects(sandbox, source) == []
    again = (await call(wc, "delete_message", message_ids=trashed[:1]))["data"]
    assert again["messages"][0]["code"] == "already_there"
    imap = raw(sandbox)
    try:
        imap.append("Trash", b"Subject: bystander\r\n\r\nkeep me\r\n", flags=[b"\\Deleted"])
    finally:
        imap.logout()
    before = commands(svc)
    data = (await call(wc, "delete_message", message_ids=trashed, permanent=True))["data"]
    assert (commands(svc) - before)["UID EXPUNGE"] == 1
    assert data["operation"] == "permanent_delete" and data["counts"]["ok"] == 2
    remaining = subjects(sandbox, "Trash")
    assert "bystander" in remaining and "Del 0" not in remaining and "Del 1" not in remaining


async def test_permanent_delete_outside_trash_needs_the_setting(
    writer: tuple[Client, MailService], sandbox: Sandbox
) -> None:
    wc, _ = writer
    source, ids = fresh_folder(sandbox, 3, "Perm", flags={2: [b"\\Deleted"]})
    error = (await call_error(wc, "delete_message", message_ids=ids[:2], permanent=True))["error"]
    assert error["code"] == "write_disabled" and "ALLOW_PERMANENT_DELETE" in error["message"]
    assert len(subjects(sandbox, source)) == 3
    async with write_client(write_settings(sandbox, allow_permanent_delete=True)) as (client, _):
        data = (await call(client, "delete_message", message_ids=ids[:1], permanent=True))["data"]
    assert data["counts"]["ok"] == 1
    assert subjects(sandbox, source) == ["Perm 1", "Perm 2"]


async def test_allow_permanent_delete_setting(tmp_path: Any) -> None:
    env = {
        "MAIL_IMAP_DEFAULT_HOST": "imap.example.org",
        "MAIL_IMAP_DEFAULT_USER": "me",
        "MAIL_IMAP_DEFAULT_PASS": "x",
    }
    assert load_settings(env=env).accounts["default"].allow_permanent_delete is False
    on = load_settings(env={**env, "MAIL_IMAP_DEFAULT_ALLOW_PERMANENT_DELETE": "true"})
    assert on.accounts["default"].allow_permanent_delete is True
    toml = tmp_path / "mail.toml"
    toml.write_text(
        '[accounts.home]\nhost = "h"\nuser = "u"\npassword = "p"\nwrite_enabled = true\n'
        "allow_permanent_delete = true\n"
    )
    home = load_settings(env={}, config_path=toml).accounts["home"]
    assert home.write_enabled and home.allow_permanent_delete


async def test_create_folder(wc: Client, sandbox: Sandbox) -> None:
    name = f"Made-{uuid.uuid4().hex[:6]}/Sub"
    first = (await call(wc, "create_folder", name=name))["data"]
    second = (await call(wc, "create_folder", name=name))["data"]
    assert first["created"] is True and second["created"] is False
    _, ids = fresh_folder(sandbox, 1, "IntoNew")
    data = (await call(wc, "move_message", message_ids=ids, destination=name))["data"]
    assert data["counts"]["ok"] == 1 and subjects(sandbox, name) == ["IntoNew 0"]
    error = (await call_error(wc, "create_folder", name="bad\r\nname"))["error"]
    assert error["code"] == "invalid_input"


# ------------------------------------------------------------------------------------------- servers without MOVE


def capabilities_without(sandbox: Sandbox, *dropped: str) -> str:
    imap = sandbox.connect(USER)
    try:
        return " ".join(c.decode() for c in imap.capabilities() if c.decode() not in dropped)
    finally:
        imap.logout()


@pytest.fixture(scope="module")
def no_move(sandbox: Sandbox) -> Iterator[Sandbox]:
    with Sandbox(imap_capability=capabilities_without(sandbox, "MOVE"), users=(USER,)) as box:
        yield box


async def test_move_fallback_broken_after_copy_is_unknown_with_the_new_id(
    no_move: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, ids = fresh_folder(no_move, 2, "HalfMoved")
    dest, _ = fresh_folder(no_move, 0, "HalfDest")
    calls: list[Any] = []

    def drop(self: IMAPClient, messages: Any) -> Any:
        calls.append(messages)
        raise ConnectionResetError("connection lost before the expunge")

    async with write_client(write_settings(no_move)) as (client, _svc):
        monkeypatch.setattr(IMAPClient, "uid_expunge", drop)
        data = (await call(client, "move_message", message_ids=ids, destination=dest))["data"]
        monkeypatch.undo()
    assert len(calls) == 1
    assert [(m["status"], m["code"]) for m in data["messages"]] == [("unknown", "connection_failed")] * 2
    assert all(MessageId.parse(m["new_message_id"]).mailbox == dest for m in data["messages"])
    assert f"copied to {dest}" in data["messages"][0]["reason"]
    assert subjects(no_move, dest) == ["HalfMoved 0", "HalfMoved 1"]
    assert subjects(no_move, source) == ["HalfMoved 0", "HalfMoved 1"]
    assert flags_of(no_move, source) == {1: {"\\Deleted"}, 2: {"\\Deleted"}}


@pytest.fixture(scope="module")
def no_move_no_uidplus(sandbox: Sandbox) -> Iterator[Sandbox]:
    with Sandbox(imap_capability=capabilities_without(sandbox, "MOVE", "UIDPLUS"), users=(USER,)) as box:
        yield box


async def test_move_without_move_uses_uidplus(no_move: Sandbox) -> None:
    source, ids = fresh_folder(no_move, 3, "NoMove", flags={2: [b"\\Deleted"]})
    async with write_client(write_settings(no_move)) as (client, svc):
        data = (await call(client, "move_message", message_ids=ids[:2], destination="archive"))["data"]
        delta = commands(svc)
        undo = (
            await call(
                client,
                "move_message",
                message_ids=[m["new_message_id"] for m in data["messages"]],
                destination=source,
            )
        )["data"]
    assert "MOVE" not in delta and "UID MOVE" not in delta
    assert delta["UID COPY"] == 1 and delta["UID EXPUNGE"] == 1 and "EXPUNGE" not in delta
    assert data["counts"]["ok"] == 2 and all(m["new_message_id"] for m in data["messages"])
    assert undo["counts"]["ok"] == 2
    assert subjects(no_move, source) == ["NoMove 0", "NoMove 1", "NoMove 2"]
    assert not [s for s in subjects(no_move, "Archive") if s.startswith("NoMove")]
    assert {3: {"\\Deleted"}}.items() <= flags_of(no_move, source).items()


async def test_without_move_and_uidplus_moves_are_refused(no_move_no_uidplus: Sandbox) -> None:
    box = no_move_no_uidplus
    source, ids = fresh_folder(box, 3, "Bare", flags={2: [b"\\Deleted"]})
    async with write_client(write_settings(box, allow_permanent_delete=True)) as (client, svc):
        for tool, arguments in [
            ("move_message", {"destination": "archive"}),
            ("delete_message", {}),
            ("delete_message", {"permanent": True}),
        ]:
            error = (await call_error(client, tool, message_ids=ids[:2], **arguments))["error"]
            assert error["code"] == "unsupported", tool
        assert not {"UID COPY", "UID STORE", "UID EXPUNGE", "EXPUNGE", "UID MOVE"} & set(commands(svc))
        copied = (await call(client, "copy_message", message_ids=ids[:1], destination="archive"))["data"]
    assert copied["counts"]["ok"] == 1
    assert subjects(box, source) == ["Bare 0", "Bare 1", "Bare 2"]
    assert flags_of(box, source)[3] == {"\\Deleted"}
    assert "Bare 0" in subjects(box, "Archive")
