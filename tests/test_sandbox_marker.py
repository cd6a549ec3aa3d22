"""`serve` with no account falls back to the sandbox and marks every result as sample mail."""

from __future__ import annotations

import os
import sys

import pytest
from mcp import Client, StdioServerParameters

from mail_mcp.sandbox.playground import SANDBOX_MARKER

pytestmark = [pytest.mark.anyio, pytest.mark.dovecot]


def command(*args: str) -> StdioServerParameters:
    env = {"PATH": os.environ["PATH"], "MAIL_MCP_LOG_LEVEL": "WARNING"}
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return StdioServerParameters(command=sys.executable, args=["-m", "mail_mcp", *args], env=env)


async def test_fallback_marks_every_result_as_sample_mail() -> None:
    async with Client(command("serve")) as client:
        for tool, args in (("list_accounts", {}), ("list_messages", {"limit": 1}), ("list_folders", {})):
            result = await client.call_tool(tool, args)
            assert not result.is_error
            assert result.structured_content["summary"].startswith(SANDBOX_MARKER + " ")  # type: ignore[index]
            assert result.content[0].text.startswith(SANDBOX_MARKER + " ")  # type: ignore[union-attr]


async def test_the_explicit_sandbox_command_is_not_marked() -> None:
    async with Client(command("sandbox")) as client:
        result = await client.call_tool("list_accounts", {})
        assert not result.structured_content["summary"].startswith(SANDBOX_MARKER)  # type: ignore[index]
