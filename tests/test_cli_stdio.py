"""The installed `mail-mcp` as a real subprocess: MCP over stdio, `sandbox`, `check`, and config errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from mail_mcp.sandbox import Sandbox

pytestmark = pytest.mark.anyio
MAIL_MCP = [sys.executable, "-m", "mail_mcp"]


def server_params(env: dict[str, str], *args: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "mail_mcp", *args],
        env={**env, "PATH": os.environ["PATH"], "MAIL_MCP_LOG_LEVEL": "DEBUG"},
    )


async def test_stdio_subprocess_lists_and_reads(sandbox: Sandbox) -> None:
    async with Client(server_params(sandbox.env())) as client:
        folders = await client.call_tool("list_folders", {})
        assert not folders.is_error
        names = {f["name"] for f in folders.structured_content["data"]["folders"]}  # type: ignore[index]
        assert {"INBOX", "Sent", "Reçus"} <= names
        page = await client.call_tool("list_messages", {"limit": 1})
        message_id = page.structured_content["data"]["messages"][0]["message_id"]  # type: ignore[index]
        message = await client.call_tool("get_message", {"message_id": message_id})
        assert not message.is_error and message.structured_content["data"]["message_id"] == message_id  # type: ignore[index]


async def test_sandbox_command_serves_sample_mail() -> None:
    async with Client(server_params({}, "sandbox")) as client:
        accounts = await client.call_tool("list_accounts", {})
        (account,) = accounts.structured_content["data"]["accounts"]  # type: ignore[index]
        assert (
            account["status"] == "ok" and account["write_enabled"] is True and account["send_enabled"] is True
        )
        inbox = await client.call_tool("list_messages", {"limit": 50})
        assert len(inbox.structured_content["data"]["messages"]) >= 20  # type: ignore[index]


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MAIL_MCP, *args],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_ok(sandbox: Sandbox) -> None:
    done = run_cli("check", env=sandbox.env())
    assert done.returncode == 0, done.stderr
    assert "IMAP4REV1" in done.stdout.upper() and "sent" in done.stdout and "trash" in done.stdout


def test_check_bad_password_fails_without_leaking(sandbox: Sandbox) -> None:
    env = sandbox.env() | {"MAIL_IMAP_DEFAULT_PASS": "wrong-password-123"}
    done = run_cli("check", env=env)
    assert done.returncode == 1
    assert "auth_failed" in done.stderr and "wrong-password-123" not in done.stderr + done.stdout


def test_check_unreachable(sandbox: Sandbox) -> None:
    env = sandbox.env() | {"MAIL_IMAP_DEFAULT_PORT": "1"}
    done = run_cli("check", env=env)
    assert done.returncode == 1 and "connection_failed" in done.stderr


def test_check_tls_needs_the_right_ca(sandbox: Sandbox, tmp_path: Path) -> None:
    env = sandbox.env(security="tls")
    assert run_cli("check", env=env).returncode == 0
    env.pop("MAIL_IMAP_DEFAULT_CA_FILE")
    done = run_cli("check", env=env)
    assert done.returncode == 1 and "certificate" in done.stderr


def test_bad_config_exits_naming_the_variable() -> None:
    env = {
        "MAIL_IMAP_DEFAULT_HOST": "imap.example.org",
        "MAIL_IMAP_DEFAULT_USER": "u",
        "MAIL_IMAP_DEFAULT_PASS": "p",
        "MAIL_IMAP_DEFAULT_PORT": "not-a-port",
    }
    done = run_cli("serve", env=env)
    assert done.returncode == 2 and "MAIL_IMAP_DEFAULT_PORT" in done.stderr
    assert done.stdout == ""


def test_stdout_carries_only_protocol_messages(sandbox: Sandbox) -> None:
    """With debug logging on, every stdout line is a JSON-RPC message; logs go to stderr."""
    requests = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "list_folders", "arguments": {}},
        },
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "get_message", "arguments": {"message_id": "bad"}},
        },
    ]
    with subprocess.Popen(
        [*MAIL_MCP, "--log-level", "DEBUG"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": os.environ["PATH"], **sandbox.env()},
    ) as proc:
        assert proc.stdin and proc.stdout and proc.stderr
        lines = []
        for request in requests:
            proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
            if "id" in request:
                lines.append(json.loads(proc.stdout.readline()))
        proc.stdin.close()
        assert proc.wait(timeout=10) == 0
        rest, stderr = proc.stdout.read(), proc.stderr.read()
    assert rest == ""
    assert [line["id"] for line in lines] == [1, 2, 3] and all(line["jsonrpc"] == "2.0" for line in lines)
    assert lines[2]["result"]["isError"] is True
    assert "tool=list_folders" in stderr and "DEBUG" in stderr
