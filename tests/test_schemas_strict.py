"""Tool schemas load in strict clients: openai-agents' strict mode converts every input schema without falling
back to non-strict, and every input schema is closed (`additionalProperties: false`)."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from agents.mcp import MCPServerStdio, MCPUtil
from mcp import Client

from mail_mcp.config.sources import load_settings
from mail_mcp.mailbox.service import MailService
from mail_mcp.sandbox import Sandbox
from mail_mcp.server.app import build_server

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
async def every_tool(sandbox: Sandbox) -> AsyncIterator[Client]:
    """All fourteen tools: writes, and sending to an SMTP server that is never contacted."""
    env = {
        **sandbox.env(),
        "MAIL_IMAP_WRITE_ENABLED": "true",
        "MAIL_SMTP_SEND_ENABLED": "true",
        "MAIL_SMTP_DEFAULT_HOST": "127.0.0.1",
        "MAIL_SMTP_DEFAULT_PORT": "2525",
        "MAIL_SMTP_DEFAULT_SECURITY": "plain",
        "MAIL_SMTP_DEFAULT_FROM": "alice@example.test",
    }
    service = MailService(load_settings(env=env))
    try:
        async with Client(build_server(service)) as client:
            yield client
    finally:
        await service.close()


def _objects(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if node.get("type") == "object" or "properties" in node:
            found.append(node)
        for value in node.values():
            found += _objects(value)
    elif isinstance(node, list):
        for value in node:
            found += _objects(value)
    return found


async def test_openai_agents_strict_mode_takes_every_schema(
    every_tool: Client, caplog: pytest.LogCaptureFixture
) -> None:
    tools = (await every_tool.list_tools()).tools
    assert len(tools) == 16
    agents_server = MCPServerStdio({"command": sys.executable, "args": ["-m", "mail_mcp"]})
    with caplog.at_level(logging.DEBUG, logger="openai.agents"):
        converted = {t.name: MCPUtil.to_function_tool(t, agents_server, True) for t in tools}
    fallbacks = [r.getMessage() for r in caplog.records if "strict mode" in r.getMessage()]
    assert fallbacks == []
    assert {name for name, tool in converted.items() if not tool.strict_json_schema} == set()


async def test_every_input_object_is_closed(every_tool: Client) -> None:
    for tool in (await every_tool.list_tools()).tools:
        for node in _objects(tool.input_schema):
            assert node.get("additionalProperties") is False, (tool.name, node)
