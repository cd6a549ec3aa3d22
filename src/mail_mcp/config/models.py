"""The validated settings: accounts, their SMTP, and the global switches. Built once by `config.sources`."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from mail_mcp.ids import ACCOUNT_ID_RE
from mail_mcp.mime.addresses import ADDRESS_RE, HEADER_UNSAFE

Security = Literal["tls", "starttls", "plain"]


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
    allow_plain: bool = False
    address: str | None = None
    pool_size: int = Field(2, ge=1, le=10)
    timeout: float = Field(30.0, gt=0, le=600)
    write_enabled: bool = False
    allow_permanent_delete: bool = False

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not ACCOUNT_ID_RE.match(value):
            raise ValueError("account id must match ^[A-Za-z0-9_-]{1,64}$")
        return value

    @property
    def effective_port(self) -> int:
        return self.port or (993 if self.security == "tls" else 143)

    @property
    def email(self) -> str:
        return self.address or (self.user if "@" in self.user else f"{self.user}@{self.host}")


SaveSent = Literal["auto", "always", "never"]
ConfirmPolicy = Literal["auto", "always", "never"]
SMTP_PORTS = {"tls": 465, "starttls": 587, "plain": 25}


class SmtpConfig(BaseModel):
    """SMTP for one account; user and password default to the IMAP ones, from_address to the account's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1)
    port: int = Field(0, ge=0, le=65535)
    user: str = Field(min_length=1)
    password: SecretStr
    security: Security = "tls"
    ca_file: Path | None = None
    from_address: str = Field(min_length=3, max_length=254)
    from_name: str | None = Field(None, max_length=200)
    allowed_recipients: tuple[str, ...] | None = Field(None, description="Addresses and @domain patterns.")
    rate_limit: int | None = Field(None, ge=1, le=100_000, description="Messages per hour.")
    save_sent: SaveSent = "auto"
    timeout: float = Field(30.0, gt=0, le=600)

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
        return cleaned

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
