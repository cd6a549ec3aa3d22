"""Where passwords, OAuth refresh tokens and client secrets are kept: the OS keyring, or a private file.

`SecretStore` uses the ``keyring`` package (macOS Keychain, Windows Credential Locker, Secret Service or
KWallet on Linux) under the service name ``mail-mcp``, one entry per ``<account>/<name>``. A machine without a
usable backend (a headless server: keyring falls back to its ``fail`` backend) gets a `NoKeyringBackend` error
that says so and names the alternatives; nothing ever falls back silently. `FileSecretStore` is the explicit
alternative: one JSON file, written with mode 0600, that is refused when group or others may read it.

Values come back as pydantic `SecretStr`, so they never show in reprs or logs by accident.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import keyring
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null
from keyring.errors import KeyringError, NoKeyringError, PasswordDeleteError
from pydantic import SecretStr

from mail_mcp.errors import ConfigError

__all__ = [
    "FILE_SETTING",
    "OAUTH_CLIENT_SECRET",
    "OAUTH_REFRESH_TOKEN",
    "PASSWORD",
    "SERVICE",
    "FileSecretStore",
    "NoKeyringBackend",
    "SecretBackend",
    "SecretStore",
    "SecretStoreError",
    "default_secrets_file",
    "keyring_problem",
    "open_secret_store",
]

SERVICE = "mail-mcp"
PASSWORD = "password"
OAUTH_REFRESH_TOKEN = "oauth_refresh_token"
OAUTH_CLIENT_SECRET = "oauth_client_secret"
FILE_SETTING = "MAIL_MCP_SECRETS_FILE"
FILE_FORMAT = 1

_ACCOUNT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


class SecretStoreError(ConfigError):
    """The secret store cannot be used (file unsafe or unreadable, keyring failing). Never holds a secret."""


class NoKeyringBackend(SecretStoreError):
    """No usable OS keyring backend on this machine; the message offers the file and command alternatives."""

    def __init__(self, reason: str, file_path: Path, setting: str = "keyring") -> None:
        self.reason = reason
        self.file_path = file_path
        super().__init__(
            setting,
            (
                f"no usable OS keyring backend ({reason}), so secrets cannot be kept in the keyring on this "
                f"machine. Either keep them in a private file: set {FILE_SETTING}={file_path} (written with mode "
                "0600), or give the account a command that prints the secret (MAIL_IMAP_<ID>_PASSWORD_COMMAND, "
                "MAIL_SMTP_<ID>_PASSWORD_COMMAND), or install a keyring backend (Secret Service or KWallet on a "
                "desktop)."
            ),
        )


class SecretBackend(Protocol):
    """What `SecretStore` and `FileSecretStore` both offer."""

    def get(self, account: str, name: str) -> SecretStr | None: ...

    def set(self, account: str, name: str, value: str | SecretStr) -> None: ...

    def delete(self, account: str, name: str) -> bool: ...


def default_secrets_file() -> Path:
    """``$XDG_CONFIG_HOME/mail-mcp/secrets.json`` (``~/.config/...`` by default)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "mail-mcp" / "secrets.json"


def keyring_problem(backend: KeyringBackend, *, recommended_only: bool = False) -> str | None:
    """Why `backend` cannot keep secrets, or None when it can.

    With `recommended_only`, a backend keyring itself rates as not recommended (priority below 1, such as
    keyrings.alt's plaintext file) is refused too: picking it without being asked would be a silent fallback.
    """
    if isinstance(backend, fail.Keyring):
        return "keyring found no recommended backend"
    if isinstance(backend, null.Keyring):
        return "the keyring is disabled (null backend)"
    if isinstance(backend, chainer.ChainerBackend) and not list(backend.backends):
        return "the keyring chainer has no backends"
    if recommended_only:
        try:
            priority = float(backend.priority)
        except (RuntimeError, ImportError, AttributeError, TypeError, ValueError):  # not viable here
            priority = 0.0
        if priority < 1:
            return f"only the non-recommended {type(backend).__name__} backend is available"
    return None


def _key(account: str, name: str) -> str:
    if not _ACCOUNT.fullmatch(account):
        raise ValueError("account id must be 1-64 letters, digits, '_', '.' or '-'")
    if not _NAME.fullmatch(name):
        raise ValueError("secret name must be lower-case letters, digits and '_'")
    return f"{account}/{name}"


def _value(value: str | SecretStr) -> str:
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    if not text:
        raise ValueError("refusing to store an empty secret")
    return text


class SecretStore:
    """Secrets in the OS keyring: service ``mail-mcp``, user name ``<account>/<name>``.

    Without `backend`, uses the one keyring selects (``keyring.get_keyring()``) if keyring recommends it.
    Raises `NoKeyringBackend` at construction when the keyring cannot keep secrets here, and
    `SecretStoreError` when the backend fails later (locked, no D-Bus session, ...).
    """

    def __init__(self, backend: KeyringBackend | None = None, *, file_hint: Path | None = None) -> None:
        self.backend = backend if backend is not None else keyring.get_keyring()
        self._file_hint = file_hint if file_hint is not None else default_secrets_file()
        problem = keyring_problem(self.backend, recommended_only=backend is None)
        if problem is not None:
            raise NoKeyringBackend(problem, self._file_hint)

    def __repr__(self) -> str:
        return f"SecretStore(backend={type(self.backend).__module__}.{type(self.backend).__name__})"

    def get(self, account: str, name: str) -> SecretStr | None:
        """The secret, or None when none is stored."""
        key = _key(account, name)
        with self._mapped("reading"):
            value = self.backend.get_password(SERVICE, key)
        return SecretStr(value) if value else None

    def set(self, account: str, name: str, value: str | SecretStr) -> None:
        """Store (or replace) a secret."""
        key = _key(account, name)
        text = _value(value)
        with self._mapped("storing"):
            self.backend.set_password(SERVICE, key, text)

    def delete(self, account: str, name: str) -> bool:
        """Remove a secret; False when there was none."""
        key = _key(account, name)
        with self._mapped("deleting"):
            if self.backend.get_password(SERVICE, key) is None:
                return False
            try:
                self.backend.delete_password(SERVICE, key)
            except PasswordDeleteError:
                return False
        return True

    @contextlib.contextmanager
    def _mapped(self, action: str) -> Iterator[None]:
        try:
            yield
        except NoKeyringError:
            raise NoKeyringBackend("keyring found no recommended backend", self._file_hint) from None
        except KeyringError as exc:
            problem = (
                f"the OS keyring ({type(self.backend).__name__}) failed while {action} a secret "
                f"({type(exc).__name__}); unlock it, or use {FILE_SETTING}={self._file_hint} instead"
            )
            raise SecretStoreError("keyring", problem) from None


class FileSecretStore:
    """Secrets in one JSON file that only its owner may read (mode 0600), for machines without a keyring.

    A missing file is an empty store; `set` creates it (and its directory, mode 0700). Reading a file that
    group or others may access, or that belongs to another user, raises `SecretStoreError`. POSIX only.
    """

    def __init__(self, path: Path, setting: str = FILE_SETTING) -> None:
        self.path = Path(path).expanduser()
        self.setting = setting
        if os.name != "posix":
            raise self._error(
                "a secrets file needs POSIX file permissions; on this system keep secrets in the OS keyring"
            )

    def __repr__(self) -> str:
        return f"FileSecretStore({str(self.path)!r})"

    def get(self, account: str, name: str) -> SecretStr | None:
        """The secret, or None when none is stored."""
        value = self._load().get(_key(account, name))
        return SecretStr(value) if value else None

    def set(self, account: str, name: str, value: str | SecretStr) -> None:
        """Store (or replace) a secret, rewriting the file atomically with mode 0600."""
        key = _key(account, name)
        text = _value(value)
        with self._locked():
            secrets = self._load()
            secrets[key] = text
            self._save(secrets)

    def delete(self, account: str, name: str) -> bool:
        """Remove a secret; False when there was none."""
        key = _key(account, name)
        with self._locked():
            secrets = self._load()
            if key not in secrets:
                return False
            del secrets[key]
            self._save(secrets)
        return True

    def _error(self, problem: str) -> SecretStoreError:
        return SecretStoreError(self.setting, problem)

    def _load(self) -> dict[str, str]:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise self._error(f"cannot open the secrets file {self.path} ({exc.strerror})") from None
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            self._check_private(info)
            raw = handle.read()
        try:
            data: Any = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            where = f" (line {exc.lineno})" if isinstance(exc, json.JSONDecodeError) else ""
            raise self._error(f"the secrets file {self.path} is not valid JSON{where}") from None
        secrets = data.get("secrets") if isinstance(data, dict) else None
        if not isinstance(secrets, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in secrets.items()
        ):
            raise self._error(
                f"the secrets file {self.path} is not a mail-mcp secrets file "
                '(expected {"version": 1, "secrets": {"<account>/<name>": "..."}})'
            )
        return dict(secrets)

    def _check_private(self, info: os.stat_result) -> None:
        if not stat.S_ISREG(info.st_mode):
            raise self._error(f"the secrets file {self.path} is not a regular file")
        if info.st_uid != os.geteuid():
            raise self._error(
                f"the secrets file {self.path} belongs to another user (uid {info.st_uid}); "
                "it must belong to the user running mail-mcp"
            )
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise self._error(
                f"the secrets file {self.path} may be read or changed by group or others "
                f"(mode {mode:04o}); run `chmod 600 {self.path}`, and change the secrets in it "
                "if others could have read them"
            )

    def _save(self, secrets: dict[str, str]) -> None:
        payload = json.dumps({"version": FILE_FORMAT, "secrets": dict(sorted(secrets.items()))}, indent=2)
        fd, tmp = tempfile.mkstemp(prefix=".secrets-", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:  # mkstemp creates it with mode 0600
                handle.write(payload + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise writers (a CLI login and a running server) with a lock file beside the secrets file."""
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(
                self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
            )
        except OSError as exc:
            raise self._error(f"cannot write the secrets file {self.path} ({exc.strerror})") from None
        import fcntl  # POSIX only, like the whole file store

        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def open_secret_store(file: Path | None = None) -> SecretStore | FileSecretStore:
    """The file store when `file` is given (from ``MAIL_MCP_SECRETS_FILE``), else the OS keyring.

    Raises `NoKeyringBackend` when `file` is None and there is no usable keyring: never falls back silently.
    """
    if file is not None:
        return FileSecretStore(file)
    return SecretStore()
