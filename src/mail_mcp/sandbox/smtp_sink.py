"""The sandbox's SMTP server: accepts every message, and nothing it accepts ever leaves the machine.

Mail for a sandbox user (``alice@example.test``, ``bob@example.test``) is handed to Dovecot over LMTP and
arrives in that user's INBOX. A copy for everyone else (the sample's correspondents such as
``carol@example.test``, or any real address) is kept in the sender's ``Outbox`` folder, so the playground
shows exactly what would have gone out. It listens on 127.0.0.1 without TLS or AUTH::

    with Sandbox() as sb, SmtpSink(sb) as sink:
        sink.port  # point MAIL_SMTP_<ID>_HOST/PORT here, SECURITY=plain
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import imapclient
from aiosmtpd.controller import Controller

from mail_mcp.sandbox.dovecot import Sandbox
from mail_mcp.sandbox.ports import HOST, free_ports
from mail_mcp.sandbox.processes import SandboxError

log = logging.getLogger(__name__)

OUTBOX = "Outbox"
HELD_HEADER = "X-Mail-MCP-Sandbox"


class _Handler:
    """aiosmtpd handler: LMTP for sandbox users, the sender's Outbox for every other recipient."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.local = {user.address: user.name for user in sandbox.users.values()}
        self.first_user = next(iter(sandbox.users))

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = bytes(envelope.original_content)
        sender = str(envelope.mail_from or "")
        rcpts = [str(r) for r in envelope.rcpt_tos]
        held = [r for r in rcpts if r.lower() not in self.local]
        try:
            for rcpt in rcpts:
                if rcpt.lower() in self.local:
                    await asyncio.to_thread(self.sandbox.deliver, rcpt.lower(), content, sender or "<>")
            if held:
                owner = self.local.get(sender.lower(), self.first_user)
                note = f"{HELD_HEADER}: kept here, not sent to {', '.join(held)}\r\n".encode()
                await asyncio.to_thread(self.sandbox.append, owner, OUTBOX, note + content, ("\\Seen",))
        except (
            OSError,
            SandboxError,
            imapclient.exceptions.IMAPClientError,
        ) as exc:  # smtplib's are OSErrors
            log.warning("sandbox SMTP could not deliver a message: %s", exc)
            return "451 4.3.0 the sandbox mailbox could not take the message; try again"
        log.info(
            "sandbox SMTP: %d delivered in the sandbox, %d kept in %s",
            len(rcpts) - len(held),
            len(held),
            OUTBOX,
        )
        return "250 2.0.0 kept in the sandbox; nothing leaves this machine"


class SmtpSink:
    """An in-process SMTP server (aiosmtpd, own thread) on a free loopback port, delivering into `sandbox`."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.port = 0
        self._controller: Controller | None = None

    def __enter__(self) -> SmtpSink:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if self._controller is not None:
            return
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every connection at INFO
        for attempt in range(3):  # a free port may be taken between probing and binding
            (self.port,) = free_ports(1)
            controller = Controller(
                _Handler(self.sandbox),
                hostname=HOST,
                port=self.port,
                server_hostname="sandbox.example.test",
                enable_SMTPUTF8=True,
            )
            try:
                controller.start()
            except (OSError, RuntimeError, TimeoutError) as exc:
                if attempt == 2:
                    raise SandboxError(f"the sandbox SMTP server did not start: {exc}") from exc
                continue
            self._controller = controller
            log.info("sandbox SMTP on %s:%s", HOST, self.port)
            return

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def env(self, account: str = "default") -> dict[str, str]:
        """``MAIL_SMTP_<ACCOUNT>_*`` variables sending through this server (plain SMTP to loopback)."""
        prefix = f"MAIL_SMTP_{account.upper()}_"
        return {prefix + "HOST": HOST, prefix + "PORT": str(self.port), prefix + "SECURITY": "plain"}
