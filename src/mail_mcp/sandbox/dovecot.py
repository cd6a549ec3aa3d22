"""A private, throwaway Dovecot for ``mail-mcp sandbox`` and for the test suite.

`Sandbox` writes its own ``dovecot.conf`` into a temporary directory (never the
system one), runs ``dovecot -F`` as a child process listening on random loopback
ports, and removes everything again on `Sandbox.stop`::

    with Sandbox() as sb:
        sb.seed_sample("alice")
        client = sb.connect("alice")             # logged in, STARTTLS, cert verified
        sb.deliver("alice@example.test", raw)    # via LMTP into alice's INBOX

With ``root`` the mailboxes live in that directory and survive `Sandbox.stop` (UIDVALIDITY included), so
message ids stay valid from one run to the next; `Sandbox.ensure_sample` seeds the sample only once there.

It works as root (mail is owned by ``nobody``; Dovecot's ``dovecot``/``dovenull``
system users run its internal and login processes) and as an ordinary user
(everything runs as that user, no chroot).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import smtplib
import ssl
import subprocess
import time
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import imapclient

from mail_mcp.sandbox import rootdir
from mail_mcp.sandbox import seed as _seed
from mail_mcp.sandbox.certs import make_cert
from mail_mcp.sandbox.dovecot_conf import HOST, render_config
from mail_mcp.sandbox.ports import free_ports, greets
from mail_mcp.sandbox.processes import (
    SandboxError,
    cleanup,
    descendants,
    ensure_folder,
    kill_group,
    mail_ids,
)

__all__ = [
    "Sandbox",
    "SandboxError",
    "SandboxUser",
    "Security",
]

log = logging.getLogger(__name__)

Security = Literal["tls", "starttls", "plain"]
DOMAIN = "example.test"
START_TIMEOUT = 10.0
INSTALL_HINT = (
    "Dovecot not found: install it with `sudo apt-get install dovecot-imapd dovecot-lmtpd` "
    "(or pass dovecot_binary=/path/to/dovecot)"
)


@dataclass(frozen=True, slots=True)
class SandboxUser:
    """A mailbox user of the sandbox; log in with `name` (or `address`) and `password`."""

    name: str
    password: str
    address: str


class Sandbox:
    """A throwaway Dovecot (IMAP + IMAPS + LMTP on 127.0.0.1) with its own config, users and certs.

    ``imap_capability`` is written verbatim as Dovecot's ``imap_capability`` setting: either
    ``"+EXTRA TOKENS"`` (appended to the default list) or a full list replacing it, e.g.
    ``"IMAP4rev1 LITERAL+ SASL-IR ... UIDPLUS"`` without ``MOVE`` to hide MOVE.
    ``extra_config`` is appended verbatim to the generated ``dovecot.conf`` (a later setting overrides an
    earlier one; extra ``passdb`` blocks are tried after the password file).
    """

    host: str = HOST

    def __init__(
        self,
        root: Path | None = None,
        imap_capability: str | None = None,
        users: Sequence[str] = ("alice", "bob"),
        *,
        dovecot_binary: str | None = None,
        extra_config: str = "",
    ) -> None:
        if not users:
            raise SandboxError("a sandbox needs at least one user")
        for name in users:
            if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", name):
                raise SandboxError(f"invalid sandbox user name {name!r}: use lower-case letters/digits")
        self._root_arg = Path(root) if root is not None else None
        self.imap_capability = imap_capability
        self.extra_config = extra_config
        self._binary_arg = dovecot_binary
        self.users: dict[str, SandboxUser] = {
            n: SandboxUser(n, secrets.token_urlsafe(12), f"{n}@{DOMAIN}") for n in users
        }
        self.root: Path | None = None
        self.imap_port = self.imaps_port = self.lmtp_port = 0
        self.log_path: Path | None = None
        self.ca_cert_path: Path | None = None
        self.config_path: Path | None = None
        self.master_pid: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._created: list[Path] = []
        self._lock: int | None = None
        self._finalizer: weakref.finalize | None = None  # type: ignore[type-arg]

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Create the files, start Dovecot and wait until all three ports accept connections."""
        if self._proc is not None:
            return
        binary = self._find_binary()
        try:
            self._prepare_files()
            for attempt in range(3):  # a free port may be taken between probing and binding
                self.imap_port, self.imaps_port, self.lmtp_port = free_ports(3)
                self._write_config()
                self._spawn(binary)
                try:
                    self._wait_ready()
                    break
                except SandboxError:
                    in_use = "Address already in use" in self.log_tail()
                    self._terminate()
                    if not in_use or attempt == 2:
                        raise
                    log.warning("sandbox port collision, retrying")
        except BaseException:
            self.stop()
            raise
        log.info(
            "sandbox Dovecot pid %s: imap %s, imaps %s, lmtp %s, root %s",
            self.master_pid,
            self.imap_port,
            self.imaps_port,
            self.lmtp_port,
            self.root,
        )

    def stop(self) -> None:
        """Stop Dovecot (only the processes this sandbox started) and remove a temp root. Idempotent."""
        self._terminate()
        for path in reversed(self._created):
            shutil.rmtree(path, ignore_errors=True)
        self._created.clear()
        rootdir.release(self._lock)
        self._lock = None

    def _find_binary(self) -> str:
        if self._binary_arg is not None:
            found = self._binary_arg if os.access(self._binary_arg, os.X_OK) else None
        else:
            found = shutil.which("dovecot") or next(
                (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if os.access(p, os.X_OK)), None
            )
        if found is None or not Path(found).is_file():
            raise SandboxError(INSTALL_HINT)
        return found

    def _prepare_files(self) -> None:
        if self._root_arg is None:
            self.root = rootdir.temporary_root()
            self._created.append(self.root)
        else:
            self.root = self._root_arg.resolve()
        self._lock = rootdir.claim(self.root)
        self.log_path = self.root / "dovecot.log"
        self.log_path.write_bytes(b"")  # this run's log only: start() looks for errors in it
        self.ca_cert_path = self.root / "cert.pem"
        make_cert(self.ca_cert_path, self.root / "key.pem")
        uid, gid = mail_ids()
        lines = []
        for user in self.users.values():
            home = self.root / "home" / user.name
            home.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                os.chown(home, uid, gid)
            lines.append(f"{user.name}:{{PLAIN}}{user.password}:{uid}:{gid}::{home}::\n")
        passwd = self.root / "passwd"
        passwd.write_text("".join(lines))
        passwd.chmod(0o644)

    def _write_config(self) -> None:
        assert self.root is not None and self.log_path is not None and self.ca_cert_path is not None
        self.config_path = self.root / "dovecot.conf"
        self.config_path.write_text(
            render_config(
                self.root,
                log_path=self.log_path,
                ca_cert_path=self.ca_cert_path,
                imap_port=self.imap_port,
                imaps_port=self.imaps_port,
                lmtp_port=self.lmtp_port,
                imap_capability=self.imap_capability,
                extra_config=self.extra_config,
                created=self._created,
            )
        )

    def _spawn(self, binary: str) -> None:
        assert self.config_path is not None and self.log_path is not None
        # Dovecot's log process inherits stderr: send it to a file, never to a pipe nobody reads.
        with open(self.log_path, "ab") as out:
            self._proc = subprocess.Popen(
                [binary, "-F", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,  # own process group: stop() can sweep it without touching others
            )
        self.master_pid = self._proc.pid
        # If the owner forgets stop(), still stop Dovecot and remove our temp dirs at interpreter exit.
        self._finalizer = weakref.finalize(self, cleanup, self._proc, self._created)

    def _wait_ready(self) -> None:
        """Wait for a greeting on every port (a bare TCP accept only proves the master is listening)."""
        assert self._proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        pending = {self.imap_port: b"* OK", self.imaps_port: b"* OK", self.lmtp_port: b"220"}
        while pending:
            if self._proc.poll() is not None:
                raise SandboxError(f"Dovecot exited with status {self._proc.returncode}:\n{self.log_tail()}")
            for port, greeting in list(pending.items()):
                if greets(port, greeting, self.ssl_context() if port == self.imaps_port else None):
                    del pending[port]
            if pending and time.monotonic() > deadline:
                raise SandboxError(
                    f"Dovecot did not greet on ports {sorted(pending)} within "
                    f"{START_TIMEOUT:.0f}s:\n{self.log_tail()}"
                )
            if pending:
                time.sleep(0.05)

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        kill_group(proc)

    def process_ids(self) -> list[int]:
        """Live pids of the Dovecot master this sandbox started and all its descendants."""
        if self.master_pid is None:
            return []
        return descendants(self.master_pid, include_self=True)

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the Dovecot log (for error messages)."""
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    # ------------------------------------------------------------------ clients

    def _user(self, user: str) -> SandboxUser:
        try:
            return self.users[user.split("@", 1)[0].lower()]
        except KeyError:
            raise SandboxError(f"no sandbox user {user!r}; users: {sorted(self.users)}") from None

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts exactly the sandbox certificate."""
        if self.ca_cert_path is None:
            raise SandboxError("sandbox is not started")
        return ssl.create_default_context(cafile=str(self.ca_cert_path))

    def connect(self, user: str = "alice", *, tls: Security = "starttls") -> imapclient.IMAPClient:
        """A logged-in IMAPClient verifying `ca_cert_path`.

        ``tls`` is ``"starttls"`` (port `imap_port`), ``"tls"`` (implicit TLS, `imaps_port`) or ``"plain"``.
        """
        if not self.running:
            raise SandboxError("sandbox is not running")
        account = self._user(user)
        if tls == "tls":
            client = imapclient.IMAPClient(
                self.host, self.imaps_port, ssl=True, ssl_context=self.ssl_context(), timeout=30
            )
        elif tls in ("starttls", "plain"):
            client = imapclient.IMAPClient(self.host, self.imap_port, ssl=False, timeout=30)
            if tls == "starttls":
                client.starttls(self.ssl_context())
        else:
            raise SandboxError(f"tls must be 'tls', 'starttls' or 'plain', not {tls!r}")
        client.login(account.name, account.password)
        return client

    def deliver(self, rcpt: str, raw: bytes, mail_from: str = f"sender@{DOMAIN}") -> None:
        """Deliver ``raw`` to ``rcpt`` (e.g. ``alice@example.test``) over LMTP, as an MTA would."""
        with smtplib.LMTP(self.host, self.lmtp_port, timeout=30) as lmtp:
            lmtp.sendmail(mail_from, [rcpt], raw)

    def append(
        self,
        user: str,
        folder: str,
        raw: bytes,
        flags: Iterable[str | bytes] = (),
        when: datetime | None = None,
    ) -> None:
        """APPEND one message to ``folder`` of ``user`` (creating the folder if needed)."""
        client = self.connect(user)
        try:
            ensure_folder(client, folder)
            client.append(folder, raw, tuple(flags), when)
        finally:
            client.logout()

    def seed_bulk(
        self, user: str, folder: str, count: int, *, size_hint: int = 2048, batch: int = 500, seed: int = 0
    ) -> int:
        """APPEND ``count`` generated, varied messages with MULTIAPPEND in batches; returns ``count``.

        ``size_hint`` is the average body size in bytes (actual sizes vary by about ±60 %).
        """
        with self.connect(user) as client:
            return _seed.seed_bulk(client, folder, count, size_hint=size_hint, batch=batch, seed=seed)

    def seed_sample(self, user: str = "alice") -> dict[str, int]:
        """Seed the realistic sample mailbox (`SAMPLE_FOLDERS`, `SAMPLE_SUBJECTS`); returns `SAMPLE_COUNTS`.

        Call it once per user: a second call appends the same messages again (see `ensure_sample`).
        """
        address = self._user(user).address
        with self.connect(user) as client:
            return _seed.seed_sample(client, address)

    def ensure_sample(self, user: str = "alice") -> bool:
        """Seed the sample mailbox unless this sandbox's root already holds it; True when it seeded now."""
        assert self.root is not None
        done = self.root / f"seeded-{self._user(user).name}"
        if done.exists():
            return False
        self.seed_sample(user)
        done.touch()
        return True

    def env(
        self, user: str = "alice", account: str = "default", security: Security = "starttls"
    ) -> dict[str, str]:
        """``MAIL_IMAP_<ACCOUNT>_*`` variables pointing our server at this sandbox."""
        if security not in ("tls", "starttls", "plain"):
            raise SandboxError(f"security must be 'tls', 'starttls' or 'plain', not {security!r}")
        creds = self._user(user)
        prefix = f"MAIL_IMAP_{account.upper()}_"
        return {
            prefix + "HOST": self.host,
            prefix + "PORT": str(self.imaps_port if security == "tls" else self.imap_port),
            prefix + "USER": creds.name,
            prefix + "PASS": creds.password,
            prefix + "SECURITY": security,
            prefix + "CA_FILE": str(self.ca_cert_path),
            prefix + "ADDRESS": creds.address,
        }
