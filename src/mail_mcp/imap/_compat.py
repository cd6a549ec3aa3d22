"""Every use of a private imapclient or imaplib name, in one place. imapclient is pinned below 5 for these;
tests/test_compat.py is the canary that fails first when an upgrade moves one of them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from imapclient import IMAPClient
from imapclient.imapclient import _normalise_search_criteria

normalise_search_criteria = _normalise_search_criteria


def raw_untagged(client: IMAPClient, command: bytes, args: list[bytes], response_name: str) -> list[Any]:
    """Send a command imapclient has no method for (ESEARCH's `SEARCH RETURN`) and collect its untagged replies."""
    result: list[Any] = client._raw_command_untagged(command, args, response_name=response_name)
    return result


def list_with_returns(client: IMAPClient, returns: str) -> tuple[list[Any], list[Any]]:
    """`LIST "" "*" RETURN (...)` (RFC 5819 LIST-STATUS): the parsed LIST entries and the raw STATUS replies."""
    imap = client._imap
    typ, data = imap._simple_command("LIST", '""', '"*"', "RETURN", returns)
    if typ != "OK":
        raise client.Error(f"LIST failed: {data!r}")
    _, listed = imap._untagged_response(typ, data, "LIST")
    _, statuses = imap._untagged_response("OK", [None], "STATUS")
    entries: list[Any] = client._proc_folder_list(listed)
    return entries, list(statuses)


def uid_fetch_raw(client: IMAPClient, uid_set: str, items: str) -> list[Any]:
    """`UID FETCH` returning the raw untagged FETCH data, unsolicited responses for other UIDs included."""
    imap = client._imap
    typ, data = imap._command_complete("FETCH", imap._command("UID", "FETCH", uid_set, items))
    client._checkok("fetch", typ, data)
    _, fetched = imap._untagged_response(typ, data, "FETCH")
    return list(fetched)


def untagged_responses(client: IMAPClient) -> dict[str, list[Any]]:
    """imaplib's store of untagged responses seen since they were last taken."""
    responses: dict[str, list[Any]] = client._imap.untagged_responses
    return responses


def wrap_send(client: IMAPClient, wrapper: Callable[[Callable[[bytes], None], bytes], None]) -> bytes:
    """Route every line imaplib sends through `wrapper(send, data)`; returns the command tag prefix."""
    imap = client._imap
    send = imap.send

    def wrapped(data: bytes) -> None:
        wrapper(send, data)

    imap.send = wrapped
    tag: bytes = imap.tagpre
    return tag


def reread_capabilities(client: IMAPClient) -> tuple[bytes, ...]:
    """A fresh CAPABILITY command, replacing what imapclient cached from the login response."""
    caps: tuple[bytes, ...] = client._do_capabilites()
    client._cached_capabilities = caps
    return caps
