"""Every use of a private imapclient or imaplib name, in one place. imapclient is pinned below 5 for these;
tests/test_compat.py is the canary that fails first when an upgrade moves one of them."""

from __future__ import annotations

import imaplib
import socket
import ssl as ssl_lib
from collections.abc import Callable
from typing import Any

from imapclient import IMAPClient
from imapclient.imapclient import _normalise_search_criteria
from imapclient.response_parser import parse_response

from mail_mcp.net.proxy import ProxyConfig, open_socket

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


def uid_fetch_changed(
    client: IMAPClient, uid_set: str, items: str, modifiers: str = ""
) -> tuple[list[Any], list[Any]]:
    """`UID FETCH <set> <items> (<modifiers>)` (RFC 7162 CHANGEDSINCE, VANISHED): the raw untagged FETCH data and
    the raw `* VANISHED` data of this command only (older unsolicited ones are dropped first)."""
    imap = client._imap
    for name in ("FETCH", "VANISHED"):
        imap.untagged_responses.pop(name, None)
    args = ("UID", "FETCH", uid_set, items) + ((f"({modifiers})",) if modifiers else ())
    typ, data = imap._command_complete("FETCH", imap._command(*args))
    client._checkok("fetch", typ, data)
    _, fetched = imap._untagged_response(typ, data, "FETCH")
    vanished = imap.untagged_responses.pop("VANISHED", [])
    return [f for f in fetched if f is not None], list(vanished)


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


def notify_set(client: IMAPClient, spec: str) -> None:
    """`NOTIFY SET <spec>` (RFC 5465), a command neither imaplib nor imapclient knows."""
    imaplib.Commands.setdefault("NOTIFY", ("AUTH", "SELECTED"))
    typ, data = client._imap._simple_command("NOTIFY", "SET", spec)
    client._checkok("notify", typ, data)


def start_idle(client: IMAPClient, names: tuple[str, ...]) -> dict[str, list[Any]]:
    """IDLE, as imapclient's `idle()` does, except that untagged responses arriving before the server's `+` (a
    change pushed just then) are kept rather than raised on: returns those of `names`, by name, as imaplib's raw
    data. Older ones of `names` are dropped first."""
    imap = client._imap
    for name in names:
        imap.untagged_responses.pop(name, None)
    tag = imap._command("IDLE")
    client._idle_tag = tag
    while imap._get_response() is not None:
        if imap.tagged_commands.get(tag):  # a tagged answer instead of `+`: IDLE refused
            typ, data = imap.tagged_commands.pop(tag)
            raise client.Error(f"IDLE refused: {typ} {data!r}")
    return {name: imap.untagged_responses.pop(name) for name in names if name in imap.untagged_responses}


def status_name(raw: bytes) -> Any:
    """The folder name of an untagged STATUS response's raw data (`"Lists" (MESSAGES 3)`), as imapclient parses."""
    return parse_response([raw])[0]


def reread_capabilities(client: IMAPClient) -> tuple[bytes, ...]:
    """A fresh CAPABILITY command, replacing what imapclient cached from the login response."""
    caps: tuple[bytes, ...] = client._do_capabilites()
    client._cached_capabilities = caps
    return caps


# An IMAPClient over a socket opened through a proxy. imapclient has no public hook for a caller-made socket:
# `IMAPClient._create_IMAP4()` builds the imaplib object (host, port, ssl, ssl_context and the connect timeout are
# set before it runs) and `imaplib.IMAP4._create_socket(timeout)` gives it its connected socket, as imaplib's own
# IMAP4_SSL does to add TLS. STARTTLS needs nothing more (imaplib wraps `self.sock` with the mail server's name);
# for implicit TLS the proxied socket is wrapped here, so certificates are checked against the mail server's name.


class _ProxiedIMAP4(imaplib.IMAP4):
    """imaplib.IMAP4 whose socket comes from `open_socket`, optionally wrapped in TLS (implicit TLS)."""

    def __init__(
        self, host: str, port: int, proxy: ProxyConfig, tls: ssl_lib.SSLContext | None, timeout: float | None
    ) -> None:
        self._proxy = proxy
        self._tls = tls
        self._connect_timeout = timeout
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        limit = self._connect_timeout if timeout is None else timeout
        sock = open_socket(self._proxy, self.host, self.port, limit)
        if self._tls is None:
            return sock
        try:
            return self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


class ProxiedIMAPClient(IMAPClient):  # type: ignore[misc,unused-ignore]
    """``IMAPClient(host, port, ssl=..., ssl_context=..., timeout=...)`` tunnelled through `proxy`.

    With ``proxy=None`` it is exactly an IMAPClient. Proxy failures raise `ConnectionFailed`/`Timeout` from
    the constructor; TLS and IMAP failures raise what IMAPClient raises. For STARTTLS pass ``ssl=False`` and
    call ``starttls(context)`` as usual.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        proxy: ProxyConfig | None,
        ssl: bool = True,
        ssl_context: ssl_lib.SSLContext | None = None,
        timeout: float | None = None,
        use_uid: bool = True,
    ) -> None:
        self._proxy = proxy
        super().__init__(host, port=port, use_uid=use_uid, ssl=ssl, ssl_context=ssl_context, timeout=timeout)

    def _create_IMAP4(self) -> imaplib.IMAP4:
        if self._proxy is None:
            imap: imaplib.IMAP4 = super()._create_IMAP4()
            return imap
        tls = (self.ssl_context or ssl_lib.create_default_context()) if self.ssl else None
        connect_timeout: float | None = getattr(self._timeout, "connect", None)
        return _ProxiedIMAP4(self.host, self.port, self._proxy, tls, connect_timeout)
