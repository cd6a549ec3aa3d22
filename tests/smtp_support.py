"""In-process SMTP servers for the sending tests: aiosmtpd on 127.0.0.1 that delivers into the sandbox Dovecot.

`SmtpSink` records every transaction (envelope and the exact bytes received), refuses RCPT for addresses that
start with "refuse", and hands messages for sandbox users to Dovecot over LMTP, as a real MTA would. With
`drop_after_data` it takes the whole message and then closes the connection instead of answering.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from mail_mcp.sandbox import Sandbox


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    mail_options: list[str] = field(default_factory=list)


class SmtpSink:
    def __init__(self, sandbox: Sandbox, drop_after_data: bool = False) -> None:
        self.sandbox = sandbox
        self.drop_after_data = drop_after_data
        self.received: list[Received] = []
        self.local = {user.address for user in sandbox.users.values()}

    @property
    def count(self) -> int:
        return len(self.received)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower().startswith("refuse"):
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = bytes(envelope.original_content)
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), content, list(envelope.mail_options))
        )
        for rcpt in envelope.rcpt_tos:
            if rcpt.lower() in self.local:
                await asyncio.to_thread(self.sandbox.deliver, rcpt.lower(), content, envelope.mail_from)
        if self.drop_after_data:
            server.transport.abort()
        return "250 2.0.0 queued"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_context(sandbox: Sandbox) -> ssl.SSLContext:
    assert sandbox.root is not None and sandbox.ca_cert_path is not None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(sandbox.ca_cert_path), str(sandbox.root / "key.pem"))
    return context


@contextmanager
def smtp_server(
    sandbox: Sandbox,
    *,
    drop_after_data: bool = False,
    security: Literal["plain", "starttls", "tls"] = "plain",
    auth: dict[str, str] | None = None,
) -> Iterator[tuple[int, SmtpSink]]:
    """Run a sink; yields (port, sink). `auth` maps user names to passwords and makes AUTH required."""
    sink = SmtpSink(sandbox, drop_after_data)
    kwargs: dict[str, Any] = {"enable_SMTPUTF8": True}
    if security == "tls":
        kwargs["ssl_context"] = _server_context(sandbox)
    elif security == "starttls":
        kwargs["tls_context"] = _server_context(sandbox)
        kwargs["require_starttls"] = True
    if auth is not None:

        def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and auth.get(data.login.decode()) == data.password.decode()
            return AuthResult(success=ok, handled=False)

        kwargs.update(
            authenticator=check, auth_required=True, auth_require_tls=security == "starttls"
        )  # implicit TLS is invisible to aiosmtpd
    controller = Controller(sink, hostname="127.0.0.1", port=_free_port(), **kwargs)
    controller.start()
    try:
        yield controller.port, sink
    finally:
        controller.stop()
