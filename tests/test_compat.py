"""Canaries for the private names of imapclient, imaplib and the MCP SDK we rely on (imap/_compat.py and
server/_compat.py). When an upgrade moves one of them, this fails first, naming it."""

from __future__ import annotations

import imaplib
import inspect

import pytest
from imapclient import IMAPClient
from imapclient import imapclient as imapclient_module
from mcp.server import MCPServer

IMAPCLIENT_PRIVATE = [
    "_raw_command_untagged",
    "_proc_folder_list",
    "_checkok",
    "_do_capabilites",
    "_create_IMAP4",
]
IMAPLIB_PRIVATE = [
    "_simple_command",
    "_untagged_response",
    "_command",
    "_command_complete",
    "send",
    "_create_socket",
    "_get_response",
]


@pytest.mark.parametrize("name", IMAPCLIENT_PRIVATE)
def test_imapclient_private_methods_exist(name: str) -> None:
    assert callable(getattr(IMAPClient, name, None)), f"imapclient.IMAPClient.{name} is gone"


def test_imapclient_raw_command_takes_response_name() -> None:
    assert "response_name" in inspect.signature(IMAPClient._raw_command_untagged).parameters


def test_imapclient_search_criteria_normaliser_exists() -> None:
    normalise = imapclient_module._normalise_search_criteria
    assert normalise([b"UNSEEN"], None) == [b"UNSEEN"]


@pytest.mark.parametrize("name", IMAPLIB_PRIVATE)
def test_imaplib_private_methods_exist(name: str) -> None:
    assert callable(getattr(imaplib.IMAP4, name, None)), f"imaplib.IMAP4.{name} is gone"


def test_imaplib_keeps_untagged_responses_and_tag_prefix() -> None:
    source = inspect.getsource(imaplib.IMAP4)
    assert "self.untagged_responses" in source and "self.tagpre" in source
    assert "self.tagged_commands" in source
    assert isinstance(imaplib.Commands, dict) and "IDLE" in imaplib.Commands  # _compat.notify_set adds NOTIFY


def test_imapclient_idle_tag_attribute_is_what_idle_done_reads() -> None:
    """_compat.start_idle sets `_idle_tag` as imapclient's idle() does, for idle_check / idle_done."""
    assert "self._idle_tag" in inspect.getsource(IMAPClient.idle_done)
    assert "self._idle_tag" in inspect.getsource(IMAPClient.idle)


def test_sdk_tool_manager_lookup() -> None:
    server: MCPServer = MCPServer("canary")

    @server.tool()
    def ping() -> str:
        """Answer pong."""
        return "pong"

    from mail_mcp.server._compat import registered_tool

    tool = registered_tool(server, "ping")
    assert tool is not None and isinstance(tool.parameters, dict)
    assert registered_tool(server, "missing") is None


def test_imapclient_caches_capabilities_in_an_attribute() -> None:
    assert "_cached_capabilities" in IMAPClient.__init__.__code__.co_names


def test_sdk_subscription_bus_lowlevel_server_and_session_connection() -> None:
    from mcp.server.connection import Connection
    from mcp.server.lowlevel.server import Server
    from mcp.server.session import ServerSession
    from mcp.server.subscriptions import ListenHandler

    from mail_mcp.server._compat import lowlevel_server, session_connection, subscription_bus

    server: MCPServer = MCPServer("canary")
    bus = subscription_bus(server)
    assert callable(bus.publish) and callable(bus.subscribe)
    lowlevel = lowlevel_server(server)
    assert isinstance(lowlevel, Server)
    entry = lowlevel.get_request_handler("subscriptions/listen")
    assert entry is not None and isinstance(entry.handler, ListenHandler)
    assert "connection" in inspect.signature(ServerSession.__init__).parameters
    session = ServerSession.__new__(ServerSession)
    session._connection = Connection.__new__(Connection)
    assert isinstance(session_connection(session), Connection)
    assert "self._connection = connection" in inspect.getsource(ServerSession.__init__)
