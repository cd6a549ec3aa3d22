"""The audit log: checked once at start-up, never turning a completed write into an error, never holding content."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import ElicitResult

from mail_mcp import audit
from mail_mcp.cli import main
from mail_mcp.config.sources import load_settings
from mail_mcp.mailbox.service import MailService
from mail_mcp.sandbox import Sandbox
from mail_mcp.server.app import build_server
from tests.conftest import call
from tests.smtp_support import SmtpSink, smtp_server

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with Sandbox(users=("alice",)) as sb:
        sb.append("alice", "INBOX", b"From: a@example.test\r\nSubject: flag me\r\n\r\nhello\r\n")
        yield sb


@pytest.fixture(scope="module")
def smtp(box: Sandbox) -> Iterator[tuple[int, SmtpSink]]:
    with smtp_server(box) as running:
        yield running


def env_for(box: Sandbox, port: int) -> dict[str, str]:
    return {
        **box.env(),
        "MAIL_IMAP_WRITE_ENABLED": "true",
        "MAIL_IMAP_DEFAULT_ADDRESS": "alice@example.test",
        "MAIL_SMTP_SEND_ENABLED": "true",
        "MAIL_SMTP_DEFAULT_HOST": "127.0.0.1",
        "MAIL_SMTP_DEFAULT_PORT": str(port),
        "MAIL_SMTP_DEFAULT_SECURITY": "plain",
    }


@pytest.fixture
async def alice(box: Sandbox, smtp: tuple[int, SmtpSink]) -> AsyncIterator[tuple[Client, dict[str, str]]]:
    answer: dict[str, str] = {"action": "decline"}

    async def elicit(context: Any, params: Any) -> ElicitResult:
        return ElicitResult(action=answer["action"], content=None)  # type: ignore[arg-type]

    service = MailService(load_settings(env=env_for(box, smtp[0])))
    try:
        async with Client(
            build_server(service), raise_exceptions=True, elicitation_callback=elicit
        ) as client:
            yield client, answer
    finally:
        await service.close()


def in_thread(argv: list[str]) -> int:
    """`mail-mcp check` runs its own event loop, so not on the thread of the suite's session loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(main, argv).result()


def test_unwritable_audit_log_stops_start_up(
    box: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in box.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MAIL_MCP_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    assert in_thread(["check"]) == 0 and (tmp_path / "audit.jsonl").exists()
    capsys.readouterr()
    for bad in (tmp_path / "missing" / "audit.jsonl", tmp_path):
        monkeypatch.setenv("MAIL_MCP_AUDIT_LOG", str(bad))
        assert in_thread(["check"]) == 2
        err = capsys.readouterr().err
        assert "MAIL_MCP_AUDIT_LOG" in err and "configuration error" in err


async def test_a_failed_audit_line_never_fails_the_write(
    alice: tuple[Client, dict[str, str]], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    client, _ = alice
    monkeypatch.setenv("MAIL_MCP_AUDIT_LOG", "/dev/full")  # opens fine, every write fails (ENOSPC)
    name = f"Audited-{uuid.uuid4().hex[:8]}"
    with caplog.at_level(logging.ERROR, logger="mail_mcp.audit"):
        created = await call(client, "create_folder", name=name)
    assert created["data"]["name"] == name
    assert created["meta"]["audit_failed"]  # the result says its audit line failed
    assert any(
        "MAIL_MCP_AUDIT_LOG" in r.getMessage() and "create_folder" in r.getMessage() for r in caplog.records
    )
    listed = await call(client, "list_folders")
    assert name in [f["name"] for f in listed["data"]["folders"]]
    assert "audit_failed" not in listed["meta"]  # a later call that wrote no audit line has nothing to report


async def test_no_content_in_the_audit_log_even_when_declined(
    alice: tuple[Client, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, answer = alice
    log = tmp_path / "audit.jsonl"
    monkeypatch.setenv("MAIL_MCP_AUDIT_LOG", str(log))
    secret = f"Secret subject {uuid.uuid4().hex[:8]}"
    answer["action"] = "decline"
    declined = await call(client, "send_message", to=["bob@example.test"], subject=secret, body_text="body")
    assert declined["data"]["status"] == "declined"
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["action"], r["status"]) for r in lines] == [("send", "declined")]
    assert lines[0]["to"] == ["bob@example.test"]
    assert secret not in log.read_text() and "subject" not in lines[0]


def test_audit_drops_content_keys_whatever_a_caller_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "audit.jsonl"
    monkeypatch.setenv("MAIL_MCP_AUDIT_LOG", str(log))
    assert (
        audit.audit("send", "x", status="sent", subject="S", body_text="B", html="<p>", to=["a@b.c"]) is True
    )
    record = json.loads(log.read_text())
    assert record["to"] == ["a@b.c"] and not {"subject", "body_text", "html"} & record.keys()
    monkeypatch.setenv("MAIL_MCP_AUDIT_LOG", "/dev/full")
    assert audit.audit("send", "x", status="sent") is False and "send" in (audit.failure() or "")
