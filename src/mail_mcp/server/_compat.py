"""Every use of a private MCP SDK name, in one place; tests/test_compat.py is the canary for SDK upgrades."""

from __future__ import annotations

from typing import Any

from mcp.server import MCPServer
from mcp.server.connection import Connection
from mcp.server.lowlevel.server import Server
from mcp.server.session import ServerSession
from mcp.server.subscriptions import SubscriptionBus


def registered_tool(server: MCPServer[Any], name: str) -> Any | None:
    """The SDK's record of a registered tool (its parameters and output schema can be replaced), or None."""
    return server._tool_manager.get_tool(name)


def registered_prompt(server: MCPServer[Any], name: str) -> Any | None:
    """The SDK's record of a registered prompt (name, arguments with `required`), or None."""
    return server._prompt_manager.get_prompt(name)


def subscription_bus(server: MCPServer[Any]) -> SubscriptionBus:
    """The bus `subscriptions/listen` streams (2026-07-28) read their events from."""
    return server._subscriptions


def lowlevel_server(server: MCPServer[Any]) -> Server[Any]:
    """The low-level server MCPServer drives (its request handlers can be added or wrapped)."""
    return server._lowlevel_server


def session_connection(session: ServerSession) -> Connection:
    """The per-client connection behind a request's session: stable across the client's requests, with an
    exit stack unwound when the client goes away."""
    return session._connection
