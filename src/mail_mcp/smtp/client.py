"""SMTP submission over aiosmtplib (the only module that imports it).

One connection per message: connect with implicit TLS or STARTTLS (certificates always verified; `plain` only
to a loopback host, enforced by the configuration), AUTH when the server offers it, MAIL FROM, one RCPT per
recipient (each refusal kept with its reply), DATA. A failure before DATA is an error and nothing was sent.
Once DATA has begun, only a well-formed 4xx/5xx refusal means nothing was sent; anything else (a reset, a
timeout, a malformed reply) is `unknown`: the server may have accepted the message, so it is reported as such
and never retried here.
"""

from __future__ import annotations

import functools
import logging
import socket
import ssl
from dataclasses import dataclass, field
from typing import Literal

import aiosmtplib
import anyio.to_thread

from mail_mcp.config.models import SmtpConfig
from mail_mcp.errors import AuthFailed, ConnectionFailed, MailError, ServerError, Timeout, Unsupported
from mail_mcp.net.proxy import open_socket_async
from mail_mcp.smtp.login import authenticate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refusal:
    address: str
    code: int
    reply: str


@dataclass
class Submission:
    """`sent`: the server took responsibility for `accepted`; `unknown`: the connection failed during DATA."""

    status: Literal["sent", "unknown"]
    accepted: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    reply: str = ""


@functools.cache
def _local_hostname() -> str:
    return socket.getfqdn() or "localhost"


def _tls_context(cfg: SmtpConfig) -> ssl.SSLContext | None:
    if cfg.security == "plain":
        return None
    context = ssl.create_default_context()
    if cfg.ca_file is not None:
        context.load_verify_locations(cafile=str(cfg.ca_file))
    return context


def _where(cfg: SmtpConfig) -> str:
    return f"{cfg.host}:{cfg.effective_port}"


def _connect_error(cfg: SmtpConfig, exc: BaseException) -> MailError:
    cause = exc if isinstance(exc, ssl.SSLError) else exc.__cause__ or exc.__context__
    if isinstance(cause, ssl.SSLCertVerificationError):
        return ConnectionFailed(
            f"TLS certificate of the SMTP server {_where(cfg)} could not be verified "
            f"({cause.verify_message}); set MAIL_SMTP_<ID>_CA_FILE for a private CA. Nothing was "
            "sent."
        )
    if isinstance(exc, (aiosmtplib.SMTPTimeoutError, TimeoutError)):
        return Timeout(
            f"the SMTP server {_where(cfg)} did not answer within {cfg.timeout:g} s; nothing was sent"
        )
    return ConnectionFailed(
        f"cannot reach the SMTP server {_where(cfg)} ({type(exc).__name__}: {str(exc)[:200]}); "
        "check host, port and security. Nothing was sent."
    )


async def _open(cfg: SmtpConfig) -> aiosmtplib.SMTP:
    hostname = await anyio.to_thread.run_sync(_local_hostname)
    sock = None  # through the account's proxy, when it has one (ConnectionFailed/Timeout name the proxy)
    if cfg.proxy is not None:
        sock = await open_socket_async(cfg.proxy, cfg.host, cfg.effective_port, cfg.timeout)
    client = aiosmtplib.SMTP(
        hostname=cfg.host,
        port=None if sock is not None else cfg.effective_port,
        sock=sock,
        timeout=cfg.timeout,
        use_tls=cfg.security == "tls",
        start_tls=cfg.security == "starttls",
        tls_context=_tls_context(cfg),
        local_hostname=hostname,
    )
    try:
        await client.connect()
    except aiosmtplib.SMTPException as exc:
        if "STARTTLS" in str(exc).upper():
            raise ConnectionFailed(
                f"the SMTP server {_where(cfg)} does not offer STARTTLS; refusing to send "
                "unencrypted. Nothing was sent."
            ) from None
        raise _connect_error(cfg, exc) from None
    except (OSError, ssl.SSLError, TimeoutError) as exc:
        raise _connect_error(cfg, exc) from None
    try:
        if client.is_ehlo_or_helo_needed:  # extensions are known only after EHLO (STARTTLS did one already)
            await client.ehlo()
        await authenticate(client, cfg)
    except MailError:
        client.close()
        raise
    except aiosmtplib.SMTPAuthenticationError as exc:
        client.close()
        raise AuthFailed(
            f"the SMTP server {_where(cfg)} refused the login of {cfg.user!r} ({exc.code}); check "
            "MAIL_SMTP_<ID>_USER/_PASS (many providers need an app password). Nothing was sent."
        ) from None
    except (aiosmtplib.SMTPException, OSError) as exc:
        client.close()
        raise _connect_error(cfg, exc) from None
    return client


async def submit(
    cfg: SmtpConfig, *, sender: str, recipients: list[str], data: bytes, smtputf8: bool = False
) -> Submission:
    """Send `data` to `recipients`; raises a MailError when nothing was sent."""
    client = await _open(cfg)
    polite = False
    try:
        submission = await _transaction(cfg, client, sender, recipients, data, smtputf8)
        polite = submission.status == "sent"
        return submission
    finally:
        if client.is_connected:
            if polite:  # after an unknown outcome the conversation is out of step: just hang up
                try:
                    await client.quit()
                except (aiosmtplib.SMTPException, OSError, TimeoutError):
                    client.close()
            else:
                client.close()


async def _transaction(
    cfg: SmtpConfig, client: aiosmtplib.SMTP, sender: str, recipients: list[str], data: bytes, smtputf8: bool
) -> Submission:
    options: list[str] = []
    if smtputf8:
        if not client.supports_extension("smtputf8"):
            raise Unsupported(
                f"an address needs SMTPUTF8 (non-ASCII local part), which the SMTP server "
                f"{_where(cfg)} does not support; nothing was sent"
            )
        options = ["SMTPUTF8"] + (["BODY=8BITMIME"] if client.supports_extension("8bitmime") else [])
    encoding = "utf-8" if smtputf8 else "ascii"
    try:
        await client.mail(sender, options=options, encoding=encoding)
    except aiosmtplib.SMTPSenderRefused as exc:
        if exc.code == 530:
            raise AuthFailed(
                f"the SMTP server {_where(cfg)} requires a login it did not offer over this connection "
                f"({exc.message[:200]}); check MAIL_SMTP_<ID>_SECURITY. Nothing was sent."
            ) from None
        raise ServerError(
            f"the SMTP server refused the sender {sender} ({exc.code} {exc.message[:200]}); nothing was sent",
            code=exc.code,
        ) from None
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise ServerError(
            f"the SMTP conversation with {_where(cfg)} failed before sending ({type(exc).__name__}); "
            "nothing was sent"
        ) from None
    accepted: list[str] = []
    refused: list[Refusal] = []
    for rcpt in recipients:
        try:
            await client.rcpt(rcpt, encoding=encoding)
            accepted.append(rcpt)
        except aiosmtplib.SMTPRecipientRefused as exc:
            refused.append(Refusal(rcpt, exc.code, exc.message[:300]))
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise ServerError(
                f"the SMTP connection to {_where(cfg)} failed while naming recipients "
                f"({type(exc).__name__}); nothing was sent"
            ) from None
    if not accepted:
        raise ServerError(
            "the SMTP server refused every recipient; nothing was sent",
            refused=[{"address": r.address, "code": r.code, "reply": r.reply} for r in refused],
        )
    try:
        response = await client.data(data)
    except aiosmtplib.SMTPDataError as exc:
        if 400 <= exc.code < 600:  # a well-formed refusal: the server did not take the message
            raise ServerError(
                f"the SMTP server rejected the message ({exc.code} {exc.message[:200]}); nothing was sent",
                code=exc.code,
            ) from None
        return _unknown(cfg, accepted, refused, f"unexpected reply {exc.code} {exc.message[:100]}")
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        # A reset, a timeout, a malformed or missing reply: the server may have taken the message.
        return _unknown(cfg, accepted, refused, f"{type(exc).__name__}: {str(exc)[:100]}")
    return Submission("sent", accepted, refused, f"{response.code} {response.message[:200]}")


def _unknown(cfg: SmtpConfig, accepted: list[str], refused: list[Refusal], what: str) -> Submission:
    log.warning("SMTP %s: DATA failed (%s); outcome unknown", _where(cfg), what)
    return Submission("unknown", accepted, refused, f"no clear answer once DATA had begun ({what})")
