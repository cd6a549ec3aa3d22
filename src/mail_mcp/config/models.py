"""The validated settings: accounts, their SMTP, and the global switches. Built once by `config.sources`."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, InstanceOf, SecretStr, field_validator

from mail_mcp.auth.tokens import AccountTokens
from mail_mcp.config.providers import PROVIDER_NAMES
from mail_mcp.ids import ACCOUNT_ID_RE
from mail_mcp.mime.addresses import ADDRESS_RE, HEADER_UNSAFE, ascii_domain
from mail_mcp.net.proxy import ProxyConfig

Security = Literal["tls", "starttls", "plain"]
AuthMethod = Literal["password", "oauth2"]


def is_loopback(host: str) -> bool:
    if host.lower() in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class AccountConfig(BaseModel):
    """One IMAP account. Secrets are SecretStr and never printed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    host: str = Field(min_length=1)
    port: int = Field(0, ge=0, le=65535)
    user: str = Field(min_length=1)
    password: SecretStr | None = None
    password_command: str | None = Field(None, repr=False)
    security: Security = "tls"
    ca_file: Path | None = None
    tls_fingerprint: str | None = None
    allow_plain: bool = False
    address: str | None = None
    provider: str | None = None
    pool_size: int = Field(2, ge=1, le=10)
    timeout: float = Field(30.0, gt=0, le=600)
    write_enabled: bool = False
    allow_permanent_delete: bool = False
    watch: tuple[str, ...] = Field(("INBOX",), description="Folders whose changes may be pushed; () = none.")
    # Signing in (config/signin.py builds `oauth` and `proxy` from these; see there for the rules).
    auth: AuthMethod = "password"
    oauth_provider: str | None = None
    oauth_tenant: str | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: SecretStr | None = None
    oauth_token_url: str | None = None
    oauth_scope: str | None = None
    oauth_authorization_url: str | None = None
    oauth_device_authorization_url: str | None = None
    oauth_refresh_token: SecretStr | None = None
    oauth_refresh_token_command: str | None = Field(None, repr=False)
    oauth_token_command: str | None = Field(None, repr=False)
    secrets_file: Path | None = None
    proxy: InstanceOf[ProxyConfig] | None = None
    oauth: InstanceOf[AccountTokens] | None = Field(None, repr=False, exclude=True)

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not ACCOUNT_ID_RE.match(value):
            raise ValueError("account id must match ^[A-Za-z0-9_-]{1,64}$")
        return value

    @property
    def effective_port(self) -> int:
        return self.port or (993 if self.security == "tls" else 143)

    @field_validator("watch", mode="before")
    @classmethod
    def _check_watch(cls, value: Any) -> Any:
        """WATCH: comma-separated folder names (or a TOML list); "none" or empty watches nothing."""
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise ValueError("expected comma-separated folder names, a list of them, or none")
        names = tuple(dict.fromkeys(str(item).strip() for item in items if str(item).strip()))
        if any(name.lower() == "none" for name in names):
            if len(names) > 1:
                raise ValueError("none cannot be combined with folder names")
            return ()
        return tuple("INBOX" if name.upper() == "INBOX" else name for name in names)

    def may_watch(self, mailbox: str) -> bool:
        """Whether WATCH lets clients subscribe to changes of `mailbox` (INBOX in any case)."""
        return ("INBOX" if mailbox.upper() == "INBOX" else mailbox) in self.watch

    @field_validator("provider")
    @classmethod
    def _check_provider(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        name = value.strip().lower()
        if name not in PROVIDER_NAMES:
            raise ValueError(f"unknown provider {value!r}; one of: {', '.join(PROVIDER_NAMES)}")
        return name

    @field_validator("tls_fingerprint")
    @classmethod
    def _check_fingerprint(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        digits = value.strip().lower().removeprefix("sha256:").replace(":", "")
        if not re.fullmatch(r"[0-9a-f]{64}", digits):
            raise ValueError("expected the SHA-256 fingerprint of the server certificate: 64 hex digits")
        return digits

    @field_validator("address")
    @classmethod
    def _check_address(cls, value: str | None) -> str | None:
        if value is not None and (HEADER_UNSAFE.search(value) or not ADDRESS_RE.match(value.strip())):
            raise ValueError(f"not a plain e-mail address: {value!r}")
        return value.strip() if value else None

    @property
    def login_address(self) -> str | None:
        """ADDRESS, else the login when it is an e-mail address; never one made up from the host."""
        if self.address:
            return self.address
        return self.user if ADDRESS_RE.match(self.user) else None


SaveSent = Literal["auto", "always", "never"]
ConfirmPolicy = Literal["auto", "always", "never"]
SMTP_PORTS = {"tls": 465, "starttls": 587, "plain": 25}


def _ascii_pattern(item: str) -> str:
    """An allow-list entry with its domain as recipients are compared: IDNA-encoded when the local part is ASCII."""
    local, _, domain = item.rpartition("@")
    if not local.isascii() and local:
        return item
    try:
        return f"{local}@{ascii_domain(domain)}"
    except ValueError as exc:
        raise ValueError(f"{item!r}: the domain is not a valid host name ({exc})") from None


class SmtpConfig(BaseModel):
    """SMTP for one account; user and password default to the IMAP ones, from_address to the account's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1)
    port: int = Field(0, ge=0, le=65535)
    user: str = Field(min_length=1)
    password: SecretStr | None = None
    security: Security = "tls"
    ca_file: Path | None = None
    from_address: str = Field(min_length=3, max_length=254)
    from_name: str | None = Field(None, max_length=200)
    allowed_recipients: tuple[str, ...] | None = Field(None, description="Addresses and @domain patterns.")
    rate_limit: int | None = Field(None, ge=1, le=100_000, description="Messages per hour.")
    save_sent: SaveSent = "auto"
    timeout: float = Field(30.0, gt=0, le=600)
    auth: AuthMethod = "password"
    proxy: InstanceOf[ProxyConfig] | None = None
    oauth: InstanceOf[AccountTokens] | None = Field(None, repr=False, exclude=True)

    @field_validator("from_address")
    @classmethod
    def _check_from(cls, value: str) -> str:
        if HEADER_UNSAFE.search(value) or not ADDRESS_RE.match(value):
            raise ValueError(f"not a plain e-mail address: {value!r}")
        return value

    @field_validator("from_name")
    @classmethod
    def _check_name(cls, value: str | None) -> str | None:
        if value is not None and HEADER_UNSAFE.search(value):
            raise ValueError("must not contain control characters or line breaks")
        return value or None

    @field_validator("allowed_recipients", mode="before")
    @classmethod
    def _check_allowed(cls, value: Any) -> Any:
        items = re.split(r"[\s,;]+", value) if isinstance(value, str) else value
        if items is None:
            return None
        cleaned = tuple(str(item).strip().lower() for item in items if str(item).strip())
        for item in cleaned:
            if not ADDRESS_RE.match(item if not item.startswith("@") else "x" + item):
                raise ValueError(f"{item!r} is neither an address nor an @domain pattern")
        return tuple(_ascii_pattern(item) for item in cleaned)

    @property
    def effective_port(self) -> int:
        return self.port or SMTP_PORTS[self.security]


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    accounts: dict[str, AccountConfig]
    max_attachment_bytes: int = 10 * 1024 * 1024
    smtp: dict[str, SmtpConfig] = Field(default_factory=dict)
    send_enabled: bool = False
    smtp_confirm: ConfirmPolicy = "auto"
    attachment_dir: Path | None = None
    max_send_attachment_bytes: int = 20 * 1024 * 1024

    def can_send(self, account_id: str) -> bool:
        """MAIL_SMTP_SEND_ENABLED is on and the account has SMTP settings."""
        return self.send_enabled and account_id in self.smtp

    @property
    def default_account(self) -> str:
        return "default" if "default" in self.accounts else next(iter(self.accounts))

    @property
    def any_write_enabled(self) -> bool:
        return any(a.write_enabled for a in self.accounts.values())
