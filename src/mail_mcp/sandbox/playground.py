"""`mail-mcp sandbox`: a private Dovecot plus SMTP sink where reading, writing and sending are all safe to try.

The account is ``alice@example.test`` (the address the sample mail is written to). Writes and sending are
on unless the environment turns them off (``MAIL_IMAP_WRITE_ENABLED=false``, ``MAIL_SMTP_SEND_ENABLED=false``):
nothing here is real. Mail to Alice arrives in her INBOX; mail to anyone else is kept in her ``Outbox``
folder (see `mail_mcp.sandbox.smtp_sink`). With ``data_dir`` the mailbox and its UIDVALIDITY outlive the
process, so message ids stay valid across runs; the sample is seeded only when the directory is new.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from mail_mcp.sandbox.dovecot import Sandbox
from mail_mcp.sandbox.smtp_sink import OUTBOX, SmtpSink

log = logging.getLogger(__name__)

USER = "alice"
#: Put in front of every tool result's summary when `serve` falls back to the sandbox.
SANDBOX_MARKER = "[sandbox: sample mail]"
#: Settings the environment may still set for the playground, and the playground's defaults.
PASSED_THROUGH: dict[str, str | None] = {
    "MAIL_IMAP_WRITE_ENABLED": "true",
    "MAIL_SMTP_SEND_ENABLED": "true",
    "MAIL_SMTP_CONFIRM": None,
    "MAIL_SMTP_ATTACHMENT_DIR": None,
    "MAIL_SMTP_MAX_ATTACHMENT_BYTES": None,
}


@contextmanager
def playground(
    data_dir: Path | None = None, environ: Mapping[str, str] | None = None
) -> Iterator[dict[str, str]]:
    """Start the sandbox and its SMTP sink; yield the ``MAIL_*`` settings of an account using both.

    Everything stops on exit; a temporary mailbox is removed, a ``data_dir`` is kept.
    """
    environ = os.environ if environ is None else environ
    with Sandbox(root=data_dir, users=(USER,)) as sandbox, SmtpSink(sandbox) as sink:
        seeded = sandbox.ensure_sample(USER)
        user = sandbox.users[USER]
        env = {
            **sandbox.env(USER),
            "MAIL_IMAP_DEFAULT_ADDRESS": user.address,
            **sink.env(),
            "MAIL_SMTP_DEFAULT_FROM_NAME": "Alice Example",
        }
        for name, default in PASSED_THROUGH.items():
            value = environ.get(name, default)
            if value is not None:
                env[name] = value
        log.info(
            "sandbox account %s (%s sample mail%s); mail to others is kept in %s",
            user.address,
            "seeded" if seeded else "kept",
            f" in {sandbox.root}" if data_dir is not None else "",
            OUTBOX,
        )
        yield env
