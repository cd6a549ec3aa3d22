"""`mail-mcp sandbox` as a playground: writes and sending on, a local SMTP sink delivering into the sandbox
mailbox, the account alice@example.test, and `--data-dir` keeping the mailbox (and its ids) between runs."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from mail_mcp.config.sources import load_settings
from mail_mcp.mailbox.service import MailService
from mail_mcp.sandbox import SAMPLE_COUNTS, Sandbox, SandboxError
from mail_mcp.sandbox.playground import playground
from mail_mcp.sandbox.sample import SAMPLE_THREAD_SUBJECT
from mail_mcp.sandbox.smtp_sink import OUTBOX
from mail_mcp.server.app import build_server
from tests.conftest import call

pytestmark = [pytest.mark.anyio, pytest.mark.dovecot]
ALICE = "alice@example.test"


@pytest.fixture(scope="module")
def env() -> Iterator[dict[str, str]]:
    with playground(environ={}) as settings_env:
        yield settings_env


@pytest.fixture(scope="module")
async def alice(env: dict[str, str]) -> AsyncIterator[Client]:
    service = MailService(load_settings(env=env))
    try:
        async with Client(build_server(service), raise_exceptions=True) as client:
            yield client
    finally:
        await service.close()


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory Dovecot's own users can reach (pytest's tmp_path is closed to them when running as root)."""
    path = Path(tempfile.mkdtemp(prefix="mmcp-playground-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def tag() -> str:
    return uuid.uuid4().hex[:10]


async def find(client: Client, text: str, mailbox: str = "INBOX") -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = (await call(client, "list_messages", mailbox=mailbox, subject=text))[
        "data"
    ]["messages"]
    return messages


async def test_playground_account_is_alice_with_writes_and_sending(alice: Client) -> None:
    (account,) = (await call(alice, "list_accounts"))["data"]["accounts"]
    assert account["address"] == ALICE and account["status"] == "ok"
    assert account["write_enabled"] is True and account["send_enabled"] is True
    tools = {tool.name for tool in (await alice.list_tools()).tools}
    assert {"send_message", "save_draft", "move_message", "modify_flags"} <= tools


async def test_sent_mail_arrives_in_the_inbox(alice: Client) -> None:
    t = tag()
    sent = (await call(alice, "send_message", to=[ALICE], subject=f"Hello {t}", body_text=f"Body {t}"))[
        "data"
    ]
    assert sent["status"] == "sent" and sent["accepted"] == [ALICE] and not sent["refused"]
    (arrived,) = await find(alice, t)
    assert arrived["subject"] == f"Hello {t}"
    message = (await call(alice, "get_message", message_id=arrived["message_id"]))["data"]
    assert message["from"]["email"] == ALICE and message["body"]["text"].startswith(f"Body {t}")
    assert sent["sent_copy"]["saved"] is True
    assert [m["subject"] for m in await find(alice, t, "Sent")] == [f"Hello {t}"]


async def test_a_reply_arrives_threaded(alice: Client) -> None:
    t = tag()
    await call(alice, "send_message", to=[ALICE], subject=f"Question {t}", body_text="Lunch?")
    (original,) = await find(alice, t)
    reply = (
        await call(alice, "send_message", reply_to_id=original["message_id"], body_text=f"Yes {t}, at noon.")
    )["data"]
    assert reply["status"] == "sent" and reply["to"] == [ALICE]
    assert reply["original_answered"] is True
    arrived = next(m for m in await find(alice, t) if m["subject"] == f"Re: Question {t}")
    message = (await call(alice, "get_message", message_id=arrived["message_id"]))["data"]
    assert message["body"]["text"].startswith(f"Yes {t}, at noon.")
    assert message["in_reply_to"] == reply["in_reply_to"] is not None


async def test_reply_all_to_sample_mail_leaves_alice_out_and_keeps_it_in_outbox(alice: Client) -> None:
    (latest, *_) = await find(alice, "Re: " + SAMPLE_THREAD_SUBJECT)  # from Bob, to Alice, Cc Carol
    t = tag()
    reply = (
        await call(
            alice, "send_message", reply_to_id=latest["message_id"], reply_all=True, body_text=f"Agreed {t}"
        )
    )["data"]
    assert reply["status"] == "sent" and not reply["refused"]
    assert reply["to"] == ["Bob Builder <bob@example.test>"] and reply["cc"] == [
        "Carol Jones <carol@example.test>"
    ]
    assert sorted(reply["accepted"]) == ["bob@example.test", "carol@example.test"]
    assert (await call(alice, "list_messages", text=t))["data"]["messages"] == []  # no copy to Alice
    (kept,) = (await call(alice, "list_messages", mailbox=OUTBOX, text=t))["data"]["messages"]
    assert kept["subject"] == "Re: " + SAMPLE_THREAD_SUBJECT
    held = "kept here, not sent to bob@example.test, carol@example.test"
    found = (await call(alice, "list_messages", mailbox=OUTBOX, text=held))["data"]["messages"]
    assert kept["message_id"] in [m["message_id"] for m in found]


async def test_mail_to_the_outside_world_never_leaves(alice: Client) -> None:
    t = tag()
    sent = (
        await call(
            alice, "send_message", to=["someone@real-world.example", ALICE], subject=f"Out {t}", body_text="."
        )
    )["data"]
    assert sent["status"] == "sent" and sorted(sent["accepted"]) == sorted(
        [ALICE, "someone@real-world.example"]
    )
    assert [m["subject"] for m in await find(alice, t)] == [f"Out {t}"]  # Alice's copy
    assert [m["subject"] for m in await find(alice, t, OUTBOX)] == [f"Out {t}"]  # the one that stayed home


def test_environment_can_still_turn_writes_and_sending_off() -> None:
    with playground(environ={"MAIL_IMAP_WRITE_ENABLED": "false", "MAIL_SMTP_SEND_ENABLED": "no"}) as env:
        settings = load_settings(env=env)
        assert not settings.any_write_enabled and not settings.can_send("default")
        assert settings.accounts["default"].login_address == ALICE


def test_data_dir_must_be_new_empty_or_a_sandbox(open_dir: Path) -> None:
    (open_dir / "precious.txt").write_text("mine")
    with pytest.raises(SandboxError, match="neither empty nor a mail-mcp sandbox"):
        Sandbox(root=open_dir).start()
    assert (open_dir / "precious.txt").read_text() == "mine" and len(list(open_dir.iterdir())) == 1


def test_a_data_dir_serves_one_sandbox_at_a_time(open_dir: Path) -> None:
    with Sandbox(root=open_dir / "box", users=("alice",)) as first:
        cert = first.ca_cert_path.read_bytes()  # type: ignore[union-attr]
        with pytest.raises(SandboxError, match="another mail-mcp sandbox is running"):
            Sandbox(root=open_dir / "box", users=("alice",)).start()
        assert first.ca_cert_path.read_bytes() == cert  # type: ignore[union-attr]
        with first.connect("alice") as imap:  # its password and certificate were left alone
            assert imap.folder_exists("Sent")
    with Sandbox(root=open_dir / "box", users=("alice",)) as again:  # free again once the first stopped
        assert again.running


# --------------------------------------------------------------------------- the real command, twice


def sandbox_command(*args: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "mail_mcp", "sandbox", *args],
        env={"PATH": os.environ["PATH"], "MAIL_MCP_LOG_LEVEL": "WARNING"},
    )


async def test_data_dir_keeps_mail_and_ids_across_server_processes(open_dir: Path) -> None:
    data_dir = open_dir / "playground"
    t = tag()
    async with Client(sandbox_command("--data-dir", str(data_dir))) as first:
        (account,) = (await call(first, "list_accounts"))["data"]["accounts"]
        assert account["write_enabled"] is True and account["send_enabled"] is True
        assert account["address"] == ALICE
        await call(first, "send_message", to=[ALICE], subject=f"Keep {t}", body_text="still here?")
        (kept,) = await find(first, t)
        sample_id = (await call(first, "list_messages", limit=1))["data"]["messages"][0]["message_id"]
    assert (data_dir / "home" / "alice").is_dir()
    async with Client(sandbox_command("--data-dir", str(data_dir))) as second:
        again = (await call(second, "get_message", message_id=kept["message_id"]))["data"]
        assert again["message_id"] == kept["message_id"] and again["subject"] == f"Keep {t}"
        assert (await call(second, "get_message", message_id=sample_id))["data"]["message_id"] == sample_id
        total = (await call(second, "list_messages", limit=1))["data"]["total"]
        assert total == SAMPLE_COUNTS["INBOX"] + 1  # seeded once, not again on the second run
