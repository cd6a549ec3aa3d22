"""Shared fixtures: one real Dovecot sandbox per session (the same code `mail-mcp sandbox` runs)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from mcp import Client

from mail_mcp.config.models import Settings
from mail_mcp.config.sources import load_settings
from mail_mcp.mailbox.service import MailService
from mail_mcp.sandbox import Sandbox
from mail_mcp.server.app import build_server


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Async tests (marked `pytest.mark.anyio`, as in the MCP SDK's own suite) share one session event loop."""
    return "asyncio"


@pytest.fixture(autouse=True)
def root_logging() -> Iterator[None]:
    """The CLI replaces the root logger's handlers with one on stderr: put pytest's back after each test, so no
    later log line goes to a closed capture stream."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """Fails (never skips) with an install hint when Dovecot is missing."""
    with Sandbox() as sb:
        sb.seed_sample()
        yield sb


@pytest.fixture(scope="session")
def settings(sandbox: Sandbox) -> Settings:
    return load_settings(env=sandbox.env())


@pytest.fixture(scope="session")
async def service(settings: Settings) -> AsyncIterator[MailService]:
    svc = MailService(settings)
    yield svc
    await svc.close()


@pytest.fixture(scope="session")
async def client(service: MailService) -> AsyncIterator[Client]:
    async with Client(build_server(service), raise_exceptions=True) as c:
        yield c


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """Call a tool and return its structured envelope; fail with the error text if it errored."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content[0].text  # type: ignore[union-attr]
    assert result.structured_content is not None
    return result.structured_content


async def call_error(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """Call a tool that must fail; return the parsed `{error, meta}` payload."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error, f"expected an error from {tool}"
    return json.loads(result.content[0].text)  # type: ignore[union-attr]
