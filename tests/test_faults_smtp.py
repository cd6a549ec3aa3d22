"""Sending when the SMTP conversation breaks once DATA has begun, and the Sent copy when the APPEND's answer is
lost: in-memory MCP client -> server -> FaultProxy -> aiosmtpd / Dovecot (user bob).

`ok` only if it happened, `failed` only if nothing happened, `unknown` when it cannot be known."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from mail_mcp.config.sources import load_settings
from mail_mcp.mailbox.service import MailService
from mail_mcp.sandbox import Sandbox
from mail_mcp.server.app import build_server

from .conftest import call
from .faultproxy import END_OF_DATA, FaultProxy
from .smtp_support import SmtpSink, smtp_server

pytestmark = pytest.mark.anyio


def tag() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="module")
def sink(sandbox: Sandbox) -> Iterator[tuple[int, SmtpSink]]:
    with smtp_server(sandbox) as running:
        yield running


def env_for(sandbox: Sandbox, smtp_port: int, imap_port: int | None = None, **extra: str) -> dict[str, str]:
    env = {
        **sandbox.env("bob", account="bob"),
        "MAIL_IMAP_WRITE_ENABLED": "true",
        "MAIL_SMTP_SEND_ENABLED": "true",
        "MAIL_SMTP_CONFIRM": "never",
        "MAIL_SMTP_BOB_HOST": "127.0.0.1",
        "MAIL_SMTP_BOB_PORT": str(smtp_port),
        "MAIL_SMTP_BOB_SECURITY": "plain",
        "MAIL_SMTP_BOB_FROM": "bob@example.test",
        **extra,
    }
    if imap_port is not None:
        env.update(
            {
                "MAIL_IMAP_BOB_HOST": "127.0.0.1",
                "MAIL_IMAP_BOB_PORT": str(imap_port),
                "MAIL_IMAP_BOB_SECURITY": "plain",
            }
        )
    return env


@asynccontextmanager
async def client_for(env: dict[str, str]) -> AsyncIterator[Client]:
    service = MailService(load_settings(env=env))
    try:
        async with Client(build_server(service), raise_exceptions=True) as client:
            yield client
    finally:
        await service.close()


def audit_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def sent_holding(sandbox: Sandbox, subject: str) -> list[int]:
    with sandbox.connect("bob") as imap:
        imap.select_folder("Sent", readonly=True)
        return [int(u) for u in imap.search(["SUBJECT", subject])]


# ---------------------------------------------------------------------------------------------- after DATA


@pytest.mark.parametrize(
    "fault",
    ["malformed_final_reply", "malformed_data_reply", "reset_after_data", "timeout_after_data"],
)
async def test_any_failure_once_data_began_is_unknown_audited_and_never_sent_twice(
    sandbox: Sandbox,
    sink: tuple[int, SmtpSink],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
) -> None:
    port, received = sink
    log = tmp_path / "audit.jsonl"
    monkeypatch.setenv("MAIL_MCP_AUDIT_LOG", str(log))
    subject = f"After DATA {fault} {tag()}"
    with FaultProxy("127.0.0.1", port, "smtp") as proxy:
        if fault == "malformed_final_reply":
            rule = proxy.replace_reply(END_OF_DATA, b"garbage\r\n")
        elif fault == "malformed_data_reply":
            rule = proxy.replace_reply("DATA", b"garbage\r\n")
        elif fault == "reset_after_data":
            rule = proxy.cut_after_send(END_OF_DATA)
        else:
            rule = proxy.stall(END_OF_DATA, 3, forward=True)
        env = env_for(sandbox, proxy.port, MAIL_SMTP_BOB_TIMEOUT="1")
        async with client_for(env) as client:
            arguments = {
                "to": ["carol@example.test"],
                "subject": subject,
                "body_text": "x",
                "idempotency_key": f"k-{tag()}",
            }
            before = received.count
            first = await call(client, "send_message", **arguments)
            assert rule.fired.wait(2)
            data = first["data"]
            assert data["status"] == "unknown", first
            assert data["sent_copy"]["saved"] is False and "unknown" in first["summary"]
            again = (await call(client, "send_message", **arguments))["data"]
            assert again["status"] == "unknown" and again["replayed"] is True
    assert received.count == before + 1  # the server did take it, once
    sends = [r for r in audit_lines(log) if r["action"] == "send"]
    assert [r["status"] for r in sends] == ["unknown"]
    assert sends[0]["header_message_id"] == data["header_message_id"]


async def test_a_clear_refusal_after_data_is_still_failed(
    sandbox: Sandbox, sink: tuple[int, SmtpSink]
) -> None:
    port, _ = sink
    with FaultProxy("127.0.0.1", port, "smtp") as proxy:
        proxy.replace_reply(END_OF_DATA, b"554 5.7.1 rejected as spam\r\n")
        async with client_for(env_for(sandbox, proxy.port)) as client:
            result = await client.call_tool(
                "send_message", {"to": ["carol@example.test"], "subject": f"Spam {tag()}", "body_text": "x"}
            )
    assert result.is_error
    error = json.loads(result.content[0].text)["error"]  # type: ignore[union-attr]
    assert error["code"] == "server_error" and "554" in error["message"]


# ---------------------------------------------------------------------------------------------- the Sent copy


@pytest.mark.parametrize("fault", ["cut_after_append", "bye_after_append"])
async def test_sent_copy_whose_append_answer_was_lost_is_found_and_reported_saved(
    sandbox: Sandbox, sink: tuple[int, SmtpSink], fault: str
) -> None:
    port, _ = sink
    subject = f"Copy {fault} {tag()}"
    with FaultProxy(sandbox.host, sandbox.imap_port) as imap:
        async with client_for(env_for(sandbox, port, imap.port)) as client:
            await call(client, "list_folders", account="bob")
            if fault == "cut_after_append":
                rule = imap.cut_after_send(r"APPEND")
            else:
                rule = imap.replace_reply(r"APPEND", b"* BYE going away\r\n", close=True)
            data = (
                await call(client, "send_message", to=["carol@example.test"], subject=subject, body_text="x")
            )["data"]
            assert rule.fired.wait(2) and rule.upstream_reply is not None and b"OK" in rule.upstream_reply
    assert data["status"] == "sent"
    copy = data["sent_copy"]
    uids = sent_holding(sandbox, subject)
    assert len(uids) == 1
    assert copy["saved"] is True and copy["status"] == "ok", copy
    assert copy["message_id"].endswith(f":{uids[0]}")


async def test_sent_copy_cut_before_the_append_reached_the_server_is_not_saved(
    sandbox: Sandbox, sink: tuple[int, SmtpSink]
) -> None:
    port, _ = sink
    subject = f"Copy never {tag()}"
    with FaultProxy(sandbox.host, sandbox.imap_port) as imap:
        async with client_for(env_for(sandbox, port, imap.port)) as client:
            await call(client, "list_folders", account="bob")
            rule = imap.cut_before(r"APPEND", times=2)
            data = (
                await call(client, "send_message", to=["carol@example.test"], subject=subject, body_text="x")
            )["data"]
            assert rule.fired.is_set()
    assert data["status"] == "sent" and sent_holding(sandbox, subject) == []
    assert data["sent_copy"]["saved"] is False and data["sent_copy"]["status"] == "failed"
