"""One logged-in IMAP connection: TLS set-up, login, RFC 2971 ID, mailbox selection and error mapping.

Everything here is blocking; `pool.py` runs it in worker threads.
"""

from __future__ import annotations

import hashlib
import imaplib
import logging
import math
import socket
import ssl
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from imapclient import exceptions as imap_exc

from mail_mcp import __version__
from mail_mcp.config.models import AccountConfig
from mail_mcp.config.providers import Behaviour, resolve_behaviour
from mail_mcp.errors import (
    AuthFailed,
    BadResponse,
    ConnectionFailed,
    MailError,
    NotFound,
    ServerError,
    StaleId,
    Throttled,
    Timeout,
)
from mail_mcp.imap import _compat
from mail_mcp.imap._compat import ProxiedIMAPClient
from mail_mcp.imap.login import login
from mail_mcp.imap.quirks import mailbox_missing, throttle_delay

log = logging.getLogger(__name__)

# Commands that change the mailbox. One counts as sent once its last byte left (for APPEND, the literal).
MUTATING = frozenset(
    {
        "APPEND",
        "STORE",
        "UID STORE",
        "COPY",
        "UID COPY",
        "MOVE",
        "UID MOVE",
        "EXPUNGE",
        "UID EXPUNGE",
        "CREATE",
        "DELETE",
        "RENAME",
    }
)


class BrokenConnection(MailError):
    """The socket may hold stale bytes: the connection must be discarded, never reused."""

    code = "connection_failed"


def ssl_context(account: AccountConfig) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if account.tls_fingerprint is not None:  # pinned: the certificate itself is checked after the handshake
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif account.ca_file is not None:
        context.load_verify_locations(cafile=str(account.ca_file))
    return context


def check_pinned(account: AccountConfig, sock: object) -> None:
    """With TLS_FINGERPRINT: the server's certificate must have exactly that SHA-256, before any password."""
    if account.tls_fingerprint is None or not isinstance(sock, ssl.SSLSocket):
        return
    der = sock.getpeercert(binary_form=True) or b""
    found = hashlib.sha256(der).hexdigest()
    if found != account.tls_fingerprint:
        raise ConnectionFailed(
            f"the TLS certificate of {account.host}:{account.effective_port} has SHA-256 {found}, not the pinned "
            "TLS_FINGERPRINT; nothing was sent. If the server's certificate changed on purpose (Proton Bridge "
            "makes a new one when reinstalled), pin the new one",
            account=account.id,
        )


@contextmanager
def mapped_errors(account: AccountConfig, action: str) -> Iterator[None]:
    """Translate socket/TLS/IMAP failures into our typed errors, never echoing secrets."""
    where = f"{account.host}:{account.effective_port}"
    try:
        yield
    except MailError:
        raise
    except TimeoutError:
        raise Timeout(
            f"the IMAP server {where} did not answer within {account.timeout:g} s while {action}; "
            "try again, or narrow the request",
            account=account.id,
        ) from None
    except ssl.SSLCertVerificationError as exc:
        raise ConnectionFailed(
            f"TLS certificate of {where} could not be verified ({exc.verify_message}); "
            "set CA_FILE for a private CA, and check the host name",
            account=account.id,
        ) from None
    except ssl.SSLError as exc:
        raise BrokenConnection(
            f"TLS failure with {where} while {action}: {exc.reason}", account=account.id
        ) from None
    except imap_exc.LoginError:
        raise AuthFailed(
            f"login to {where} as {account.user!r} was refused; check the user name and password "
            "(many providers need an app password)",
            account=account.id,
        ) from None
    except (imap_exc.IMAPClientAbortError, imaplib.IMAP4.abort, ConnectionError, EOFError) as exc:
        raise BrokenConnection(
            f"the connection to {where} broke while {action} ({type(exc).__name__})", account=account.id
        ) from None
    except OSError as exc:
        raise ConnectionFailed(
            f"cannot reach the IMAP server {where} ({exc.strerror or type(exc).__name__}); "
            "check host, port and security",
            account=account.id,
        ) from None
    except imap_exc.ProtocolError as exc:
        raise BadResponse(
            f"the IMAP server's answer could not be parsed while {action} ({str(exc)[:200]}); "
            "the request may work for other messages",
            account=account.id,
        ) from None
    except (imap_exc.IMAPClientError, imaplib.IMAP4.error) as exc:
        text = str(exc)
        delay = throttle_delay(text)
        if delay is not None:
            raise Throttled(
                f"{where} is throttling this account and asks to wait {delay:.0f} s before the next request; "
                f"nothing was done while {action}. Try again after that",
                account=account.id,
                retry_after_seconds=math.ceil(delay),
            ) from None
        raise ServerError(
            f"the IMAP server refused the request while {action}: {text[:300]}", account=account.id
        ) from None


@dataclass
class Selected:
    mailbox: str
    readonly: bool
    uidvalidity: int
    exists: int


class Connection:
    """An authenticated IMAPClient plus what we know about its state."""

    writes_sent = 0
    qresync = False  # ENABLE QRESYNC succeeded on this connection

    def __init__(self, account: AccountConfig) -> None:
        self.account = account
        self.selected: Selected | None = None
        self.commands: Counter[str] = Counter()
        with mapped_errors(account, "connecting"):
            use_tls = account.security == "tls"
            context = ssl_context(account) if account.security != "plain" else None
            self.client = ProxiedIMAPClient(
                account.host,
                port=account.effective_port,
                proxy=account.proxy,
                ssl=use_tls,
                ssl_context=context,
                timeout=account.timeout,
            )
            self.client.normalise_times = False
            self._count_commands()
            try:
                if account.security == "starttls":
                    self.client.starttls(context)
                if account.security != "plain":
                    check_pinned(account, self.client.socket())
                login(self.client, account, account.effective_port)
                self.capabilities = self._read_capabilities()
                if "ID" in self.capabilities:
                    self.client.id_({"name": "mail-mcp", "version": __version__})
                if self.has("QRESYNC") and self.has("ENABLE"):
                    self.qresync = self._enable_qresync()
            except BaseException:
                self.close()
                raise

    def _enable_qresync(self) -> bool:
        """ENABLE QRESYNC (RFC 7162), before any SELECT as it must be: `UID FETCH ... (CHANGEDSINCE m VANISHED)`
        then names the UIDs expunged since m without listing the mailbox. From now on the server reports
        expunges as `* VANISHED <uids>`, never `* n EXPUNGE`, and FETCH answers carry MODSEQ. A refusal only
        means changes are found the slower way."""
        try:
            enabled = self.client.enable("QRESYNC")
        except imap_exc.IMAPClientError as exc:
            if isinstance(exc, imap_exc.IMAPClientAbortError):
                raise
            log.info("account %s: ENABLE QRESYNC refused (%s)", self.account.id, str(exc)[:200])
            return False
        return any(c.upper() == b"QRESYNC" for c in enabled)

    def _read_capabilities(self) -> frozenset[str]:
        """The capabilities after login, read again where the provider garbles the first answer (iCloud), less
        the ones it advertises but breaks. Sets `profile` and `search_utf8` (cleared when SEARCH refuses UTF-8)."""
        account = self.account
        address = account.login_address

        def words(raw: tuple[bytes, ...]) -> frozenset[str]:
            return frozenset(c.decode().upper() for c in raw)

        found = words(self.client.capabilities())
        self.profile: Behaviour = resolve_behaviour(account.provider, account.host, address, found)
        if self.profile.recheck_capabilities:
            found = words(_compat.reread_capabilities(self.client))
            self.profile = resolve_behaviour(account.provider, account.host, address, found)
        self.search_utf8 = self.profile.search_utf8
        return found - self.profile.ignore_capabilities

    def _count_commands(self) -> None:
        """Count the commands sent (e.g. "UID STORE": 1) so tests can assert on IMAP traffic, not timing, and
        the mailbox-changing commands whose last byte was handed to the socket (`writes_sent`): until then
        the server cannot have executed one (a command waiting for its literal's continuation is incomplete)."""
        tag_prefix = b""
        awaiting_literal = False

        def counting_send(send: Callable[[bytes], None], data: bytes) -> None:
            nonlocal awaiting_literal
            mutating = False
            if data.startswith(tag_prefix):
                words = data.split(b" ", 3)
                if len(words) > 1:
                    name = words[1].rstrip(b"\r\n").upper()
                    if name == b"UID" and len(words) > 2:
                        name += b" " + words[2].rstrip(b"\r\n").upper()
                    text = name.decode("ascii", "replace")
                    self.commands[text] += 1
                    mutating = text in MUTATING
                    awaiting_literal = mutating and data.rstrip(b"\r\n").endswith(b"}")
                    mutating = mutating and not awaiting_literal
            elif awaiting_literal and data != b"\r\n":
                awaiting_literal, mutating = False, True
            send(data)
            if mutating:
                self.writes_sent += 1

        tag_prefix = _compat.wrap_send(self.client, counting_send)

    def has(self, capability: str) -> bool:
        return capability.upper() in self.capabilities

    def select(
        self, mailbox: str, *, readonly: bool = True, expect_uidvalidity: int | None = None
    ) -> Selected:
        """Select (EXAMINE when readonly) and sync: a re-used selection is refreshed with NOOP so mail
        that other clients added is seen. Raises StaleId when UIDVALIDITY differs from the expected one."""
        current = self.selected
        if current and current.mailbox == mailbox and current.readonly == readonly and self._noop():
            return self._check(current, expect_uidvalidity)
        self.selected = None
        try:
            info = self.client.select_folder(mailbox, readonly=readonly)
        except imap_exc.IMAPClientError as exc:
            if mailbox_missing(self.client, mailbox, exc):
                raise NotFound(
                    f"mailbox {mailbox!r} does not exist; call list_folders for the names", mailbox=mailbox
                ) from None
            raise
        self.selected = Selected(
            mailbox=mailbox,
            readonly=readonly,
            uidvalidity=int(info[b"UIDVALIDITY"]),
            exists=int(info.get(b"EXISTS", 0)),
        )
        return self._check(self.selected, expect_uidvalidity)

    def _noop(self) -> bool:
        """Sync the selected mailbox. False when the server signals trouble with it (Dovecot answers an
        untagged NO when the folder was deleted and recreated under us, and keeps serving the old view):
        the caller must select again, which reveals the new UIDVALIDITY."""
        _, responses = self.client.noop()
        assert self.selected is not None
        for response in responses:
            if len(response) == 2 and response[1] == b"EXISTS":
                self.selected.exists = int(response[0])
            elif response and response[0] in (b"NO", b"BAD", b"BYE"):
                return False
        return True

    @staticmethod
    def _check(selected: Selected, expect_uidvalidity: int | None) -> Selected:
        if expect_uidvalidity is not None and expect_uidvalidity != selected.uidvalidity:
            raise StaleId(
                f"mailbox {selected.mailbox!r} was recreated (UIDVALIDITY is now {selected.uidvalidity}, "
                f"the id has {expect_uidvalidity}); the id no longer names a message: list the folder again",
                mailbox=selected.mailbox,
                uidvalidity=selected.uidvalidity,
            )
        return selected

    def abort(self) -> None:
        """Shut the socket down from any thread: a job blocked reading it ends at once (with an abort)."""
        try:
            self.client.socket().shutdown(socket.SHUT_RDWR)
        except (OSError, AttributeError):
            pass

    def close(self) -> None:
        """Log out politely; fall back to closing the socket."""
        client = getattr(self, "client", None)
        if client is None:
            return
        try:
            client.logout()
        except Exception:  # noqa: BLE001 - closing a dead connection must not raise
            try:
                client.shutdown()
            except Exception:  # noqa: BLE001
                pass
