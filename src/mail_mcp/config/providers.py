"""Mail provider profiles for ``mail-mcp account add``: server addresses and how the provider wants you to sign in.

Data only. ``auth`` is the sign-in the provider needs or suggests (``oauth2`` where passwords are not accepted);
``oauth_provider`` names the OAuth2 preset in `mail_mcp.auth.providers` when OAuth2 is possible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["PROFILES", "ProviderProfile", "guess_profile"]

Security = Literal["tls", "starttls", "plain"]


@dataclass(frozen=True, slots=True)
class ProviderProfile:
    name: str
    title: str
    imap_host: str
    imap_port: int
    imap_security: Security
    smtp_host: str
    smtp_port: int
    smtp_security: Security
    auth: Literal["password", "oauth2"] = "password"
    oauth_provider: str | None = None
    domains: tuple[str, ...] = ()
    password_hint: str = "the account password"


PROFILES: dict[str, ProviderProfile] = {
    p.name: p
    for p in (
        ProviderProfile(
            "gmail", "Gmail / Google Workspace",
            "imap.gmail.com", 993, "tls", "smtp.gmail.com", 465, "tls",
            oauth_provider="google", domains=("gmail.com", "googlemail.com"),
            password_hint="an app password (Google Account > Security > App passwords; needs 2-Step Verification)",
        ),
        ProviderProfile(
            "microsoft", "Microsoft 365 / Outlook.com",
            "outlook.office365.com", 993, "tls", "smtp.office365.com", 587, "starttls",
            auth="oauth2", oauth_provider="microsoft",
            domains=("outlook.com", "hotmail.com", "live.com", "msn.com"),
        ),
        ProviderProfile(
            "icloud", "iCloud Mail",
            "imap.mail.me.com", 993, "tls", "smtp.mail.me.com", 587, "starttls",
            domains=("icloud.com", "me.com", "mac.com"),
            password_hint="an app-specific password (account.apple.com > Sign-In and Security)",
        ),
        ProviderProfile(
            "yahoo", "Yahoo Mail",
            "imap.mail.yahoo.com", 993, "tls", "smtp.mail.yahoo.com", 465, "tls",
            domains=("yahoo.com", "ymail.com"),
            password_hint="an app password (Yahoo Account security > Generate app password)",
        ),
        ProviderProfile(
            "fastmail", "Fastmail",
            "imap.fastmail.com", 993, "tls", "smtp.fastmail.com", 465, "tls",
            domains=("fastmail.com", "fastmail.fm"),
            password_hint="an app password (Settings > Privacy & Security > App passwords)",
        ),
        ProviderProfile(
            "proton-bridge", "Proton Mail Bridge (running on this machine)",
            "127.0.0.1", 1143, "starttls", "127.0.0.1", 1025, "starttls",
            domains=("proton.me", "protonmail.com", "pm.me"),
            password_hint="the Bridge password shown in the Bridge app (not your Proton password)",
        ),
    )
}  # fmt: skip


def guess_profile(address: str) -> ProviderProfile | None:
    """The profile whose domains include the address's domain, if any."""
    domain = address.rpartition("@")[2].lower()
    for profile in PROFILES.values():
        if domain in profile.domains:
            return profile
    return None
