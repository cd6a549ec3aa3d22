"""IMAP writes when the connection breaks at an exact point: drafts, update_draft, create_folder, stale kept
connections, a folder deleted under a selected connection, a server without UIDPLUS and an unparseable answer.
In-memory MCP client -> server -> FaultProxy -> real Dovecot (user bob)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from mcp import Client

from mail_mcp.config.sources import load_settings
from mail_mcp.ids import MessageId
from mail_mcp.mailbox.service import MailService
from mail_mcp.sandbox import Sandbox
from mail_mcp.server.app import build_server

from .conftest import call, call_error
from .faultproxy import FaultProxy, Rule

pytestmark = pytest.mark.anyio


def tag() -> str:
    return uuid.uuid4().hex[:10]


def imap_env(sandbox: Sandbox, port: int | None = None, **extra: str) -> dict[str, str]:
    env = {**sandbox.env("bob", account="bob"), "MAIL_IMAP_WRITE_ENABLED": "true", **extra}
    if port is not None:
        env.update(
            {
                "MAIL_IMAP_BOB_HOST": "127.0.0.1",
                "MAIL_IMAP_BOB_PORT": str(port),
                "MAIL_IMAP_BOB_SECURITY": "plain",
            }
        )
    return env


@asynccontextmanager
async def client_for(env: dict[str, str]) -> AsyncIterator[tuple[Client, MailService]]:
    service = MailService(load_settings(env=env))
    try:
        async with Client(build_server(service), raise_exceptions=True) as client:
            yield client, service
    finally:
        await service.close()


@pytest.fixture
def proxy(sandbox: Sandbox) -> Iterator[FaultProxy]:
    with FaultProxy(sandbox.host, sandbox.imap_port) as running:
        yield running


@pytest.fixture
async def bob(sandbox: Sandbox, proxy: FaultProxy) -> AsyncIterator[tuple[Client, MailService]]:
    async with client_for(imap_env(sandbox, proxy.port)) as pair:
        await call(
            pair[0], "list_folders", account="bob"
        )  # a kept, logged-in connection and the folder roles
        yield pair


def drafts_with(sandbox: Sandbox, header_message_id: str) -> list[int]:
    with sandbox.connect("bob") as imap:
        imap.select_folder("Drafts", readonly=True)
        return sorted(int(u) for u in imap.search(["HEADER", "Message-ID", header_message_id]))


def drafts_with_subject(sandbox: Sandbox, subject: str) -> list[int]:
    with sandbox.connect("bob") as imap:
        imap.select_folder("Drafts", readonly=True)
        return sorted(int(u) for u in imap.search(["SUBJECT", subject]))


def fresh_folder(sandbox: Sandbox, count: int = 1) -> tuple[str, list[int]]:
    name = f"F-{tag()}"
    with sandbox.connect("bob") as imap:
        imap.create_folder(name)
        for i in range(count):
            imap.append(name, f"Subject: m{i}\r\nMessage-ID: <{tag()}@t>\r\n\r\nbody {i}\r\n".encode())
        info = imap.select_folder(name)
        uids = sorted(int(u) for u in imap.search("ALL"))
        return name, [int(info[b"UIDVALIDITY"]), *uids]


def mid(name: str, validity: int, uid: int) -> str:
    return str(MessageId("bob", name, validity, uid))


# ---------------------------------------------------------------------------------------------- save_draft


@pytest.mark.parametrize("fault", ["cut_after_send", "bye_reply"])
async def test_save_draft_whose_append_answer_was_lost_reports_the_saved_draft(
    sandbox: Sandbox, proxy: FaultProxy, bob: tuple[Client, MailService], fault: str
) -> None:
    client, _ = bob
    subject = f"Draft lost reply {tag()}"
    if fault == "cut_after_send":
        rule = proxy.cut_after_send(r"APPEND")
    else:
        rule = proxy.replace_reply(r"APPEND", b"* BYE shutting down\r\n", close=True)
    data = (await call(client, "save_draft", account="bob", to=["carol@example.test"], subject=subject))[
        "data"
    ]
    assert rule.fired.wait(2) and rule.upstream_reply is not None and b"OK" in rule.upstream_reply
    uids = drafts_with(sandbox, data["header_message_id"])
    assert len(uids) == 1 and data["draft_id"] == mid(
        "Drafts", MessageId.parse(data["draft_id"]).uidvalidity, uids[0]
    )


async def test_save_draft_cut_before_the_literal_left_saves_nothing_and_says_so(
    sandbox: Sandbox, proxy: FaultProxy, bob: tuple[Client, MailService]
) -> None:
    client, _ = bob
    subject = f"Draft never {tag()}"
    proxy.cut_before(r"APPEND", times=2)  # the kept connection and the fresh one it is retried on
    error = (
        await call_error(client, "save_draft", account="bob", to=["carol@example.test"], subject=subject)
    )["error"]
    assert error["code"] == "connection_failed"
    assert drafts_with_subject(sandbox, subject) == []


# ---------------------------------------------------------------------------------------------- update_draft


@pytest.mark.parametrize("where", [r"APPEND", r"UID EXPUNGE"])
async def test_update_draft_broken_after_the_append_leaves_exactly_the_new_draft(
    sandbox: Sandbox, proxy: FaultProxy, bob: tuple[Client, MailService], where: str
) -> None:
    client, _ = bob
    subject = f"Replace {tag()}"
    first = (await call(client, "save_draft", account="bob", to=["carol@example.test"], subject=subject))[
        "data"
    ]
    rule = proxy.cut_after_send(where)
    second = (
        await call(
            client,
            "update_draft",
            draft_id=first["draft_id"],
            to=["carol@example.test"],
            subject=subject + " v2",
        )
    )["data"]
    assert rule.fired.wait(2) and rule.upstream_reply is not None
    assert drafts_with(sandbox, first["header_message_id"]) == []
    uids = drafts_with(sandbox, second["header_message_id"])
    assert len(uids) == 1 and second["draft_id"].endswith(f":{uids[0]}")
    assert second["replaced"] == first["draft_id"]


async def test_update_draft_whose_append_never_reached_the_server_changes_nothing(
    sandbox: Sandbox, proxy: FaultProxy, bob: tuple[Client, MailService]
) -> None:
    client, _ = bob
    subject = f"Keep {tag()}"
    first = (await call(client, "save_draft", account="bob", to=["carol@example.test"], subject=subject))[
        "data"
    ]
    proxy.cut_before(r"APPEND", times=2)  # the kept connection and the fresh one it is retried on
    error = (
        await call_error(
            client,
            "update_draft",
            draft_id=first["draft_id"],
            to=["carol@example.test"],
            subject=subject + " v2",
        )
    )["error"]
    assert error["code"] == "connection_failed"
    assert drafts_with(sandbox, first["header_message_id"]) == [int(first["draft_id"].rsplit(":", 1)[1])]
    assert drafts_with_subject(sandbox, subject + " v2") == []


@pytest.fixture(scope="module")
def no_uidplus(sandbox: Sandbox) -> Iterator[Sandbox]:
    with sandbox.connect("alice") as imap:
        live = [c.decode() for c in imap.capabilities() if not c.upper().startswith((b"AUTH=", b"STARTTLS"))]
    with Sandbox(imap_capability=" ".join(c for c in live if c.upper() != "UIDPLUS")) as sb:
        yield sb


async def test_update_draft_without_uidplus_refuses_before_changing_anything(no_uidplus: Sandbox) -> None:
    async with client_for(imap_env(no_uidplus)) as (client, _):
        subject = f"No UIDPLUS {tag()}"
        first = (await call(client, "save_draft", account="bob", to=["carol@example.test"], subject=subject))[
            "data"
        ]
        error = (
            await call_error(
                client,
                "update_draft",
                draft_id=first["draft_id"],
                to=["carol@example.test"],
                subject=subject + " 2",
            )
        )["error"]
    assert error["code"] == "unsupported" and "nothing was changed" in error["message"]
    with no_uidplus.connect("bob") as imap:
        imap.select_folder("Drafts", readonly=True)
        assert len(imap.search(["SUBJECT", subject])) == 1


# ---------------------------------------------------------------------------------------------- create_folder


async def test_create_folder_whose_reply_was_lost_is_reported_from_what_the_server_has(
    sandbox: Sandbox, proxy: FaultProxy, bob: tuple[Client, MailService]
) -> None:
    client, _ = bob
    name = f"Created-{tag()}"
    rule = proxy.cut_after_send(r"CREATE")
    data = (await call(client, "create_folder", account="bob", name=name))["data"]
    assert rule.fired.wait(2) and rule.upstream_reply is not None and b"OK" in rule.upstream_reply
    assert data["created"] is True
    with sandbox.connect("bob") as imap:
        assert imap.folder_exists(name)


async def test_create_folder_cut_before_it_reached_the_server_is_failed(
    sandbox: Sandbox, proxy: FaultProxy, bob: tuple[Client, MailService]
) -> None:
    client, _ = bob
    name = f"Never-{tag()}"
    proxy.cut_before(r"CREATE", times=2)
    error = (await call_error(client, "create_folder", account="bob", name=name))["error"]
    assert error["code"] == "connection_failed"
    with sandbox.connect("bob") as imap:
        assert not imap.folder_exists(name)


# ---------------------------------------------------------------------------------------------- stale connections


@pytest.mark.parametrize("tool", ["modify_flags", "save_draft", "create_folder", "move_message"])
async def test_a_write_on_a_connection_the_server_dropped_while_idle_succeeds(
    sandbox: Sandbox, proxy: FaultProxy, bob: tuple[Client, MailService], tool: str
) -> None:
    client, service = bob
    name, (validity, uid) = fresh_folder(sandbox)
    await call(
        client, "list_messages", account="bob", mailbox=name
    )  # connections kept, one with `name` selected
    logins = service.pools.get("bob").logins
    assert proxy.cut_idle_connections(b"* BYE Disconnected for inactivity.\r\n") >= 1
    if tool == "modify_flags":
        data = (await call(client, tool, message_ids=[mid(name, validity, uid)], add_flags=["\\Flagged"]))[
            "data"
        ]
        assert data["messages"][0]["status"] == "ok" and "\\Flagged" in data["messages"][0]["flags"]
    elif tool == "move_message":
        data = (await call(client, tool, message_ids=[mid(name, validity, uid)], destination="Archive"))[
            "data"
        ]
        assert data["messages"][0]["status"] == "ok", data
    elif tool == "save_draft":
        data = (await call(client, tool, account="bob", to=["carol@example.test"], subject=f"Stale {tag()}"))[
            "data"
        ]
        assert len(drafts_with(sandbox, data["header_message_id"])) == 1
    else:
        data = (await call(client, tool, account="bob", name=f"{name}-sub"))["data"]
        assert data["created"] is True
    assert service.pools.get("bob").logins > logins  # it really ran on a new connection


async def test_a_store_that_left_before_the_connection_broke_is_unknown_not_retried(
    sandbox: Sandbox, proxy: FaultProxy, bob: tuple[Client, MailService]
) -> None:
    client, _ = bob
    name, (validity, uid) = fresh_folder(sandbox)
    rule = proxy.cut_after_send(r"UID STORE", wait_reply=False)
    data = (
        await call(client, "modify_flags", message_ids=[mid(name, validity, uid)], add_flags=["\\Flagged"])
    )["data"]
    assert rule.fired.wait(2)
    assert data["messages"][0]["status"] == "unknown" and data["counts"]["unknown"] == 1
    stores = [line for line in proxy.lines(">") if re.match(r"\S+ UID STORE", line)]
    assert len(stores) == 1, proxy.dump()


# ---------------------------------------------------------------------------------------------- deleted folder


@pytest.mark.parametrize("tool", ["modify_flags", "move_message"])
async def test_a_folder_deleted_by_another_client_while_selected_is_not_found(
    sandbox: Sandbox, bob: tuple[Client, MailService], tool: str
) -> None:
    client, _ = bob
    name, (validity, uid) = fresh_folder(sandbox)
    await call(
        client, "modify_flags", message_ids=[mid(name, validity, uid)], add_flags=["\\Seen"]
    )  # selected
    with sandbox.connect("bob") as imap:
        imap.delete_folder(name)
    if tool == "modify_flags":
        data = (await call(client, tool, message_ids=[mid(name, validity, uid)], add_flags=["\\Flagged"]))[
            "data"
        ]
    else:
        data = (await call(client, tool, message_ids=[mid(name, validity, uid)], destination="Archive"))[
            "data"
        ]
    outcome = data["messages"][0]
    assert outcome["status"] == "failed" and outcome["code"] == "not_found", outcome
    assert name in outcome["reason"]


# ---------------------------------------------------------------------------------------------- unparseable answers


class TaggedProxy(FaultProxy):
    """`replace_reply` whose bytes may hold ``{tag}``, replaced by the faulted command's tag."""

    def _begin(
        self, conn: Any, rule: Rule | None, line: bytes, tag: bytes, seq: int, last_seq: int | None
    ) -> Any:
        if rule is not None and rule.action == "replace_reply" and b"{tag}" in rule.reply:
            rule.reply = rule.reply.replace(b"{tag}", tag)
        return super()._begin(conn, rule, line, tag, seq, last_seq)  # type: ignore[misc]


BAD_STRUCTURE = (
    b'* 1 FETCH (UID {uid} BODYSTRUCTURE ("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 12 1 NIL NIL NIL NIL))'
    b' (("x"))\r\n{tag} OK Fetch completed.\r\n'
)


async def test_an_unparseable_bodystructure_falls_back_to_the_raw_message(sandbox: Sandbox) -> None:
    name, (validity, uid) = fresh_folder(sandbox, 1)
    with TaggedProxy(sandbox.host, sandbox.imap_port) as proxy:
        async with client_for(imap_env(sandbox, proxy.port)) as (client, _):
            rule = proxy.replace_reply(
                r"UID FETCH \S+ \(.*BODYSTRUCTURE", BAD_STRUCTURE.replace(b"{uid}", str(uid).encode())
            )
            data = (await call(client, "get_message", message_id=mid(name, validity, uid)))["data"]
            assert rule.fired.is_set()
    assert data["subject"] == "m0" and "body 0" in data["body"]["text"]


async def test_an_unparseable_answer_is_bad_response_not_a_refusal(sandbox: Sandbox) -> None:
    name, (validity, uid) = fresh_folder(sandbox, 1)
    with TaggedProxy(sandbox.host, sandbox.imap_port) as proxy:
        async with client_for(imap_env(sandbox, proxy.port)) as (client, _):
            rule = proxy.replace_reply(
                r"UID FETCH", BAD_STRUCTURE.replace(b"{uid}", str(uid).encode()), times=5
            )
            result = await client.call_tool(
                "get_attachment", {"message_id": mid(name, validity, uid), "attachment": 1}
            )
            assert rule.fired.is_set()
    assert result.is_error
    error = json.loads(result.content[0].text)["error"]  # type: ignore[union-attr]
    assert error["code"] == "bad_response" and "could not be parsed" in error["message"]
