"""Every use of a private MCP SDK name, in one place; tests/test_compat.py is the canary for SDK upgrades."""

from __future__ import annotations

from typing import Any

from mcp.server import MCPServer


def registered_tool(server: MCPServer[Any], name: str) -> Any | None:
    """The SDK's record of a registered tool (its parameters and output schema can be replaced), or None."""
    return server._tool_manager.get_tool(name)


def registered_prompt(server: MCPServer[Any], name: str) -> Any | None:
    """The SDK's record of a registered prompt (name, arguments with `required`), or None."""
    return server._prompt_manager.get_prompt(name)
