"""Mail provider profiles: server addresses, how the provider wants you to sign in, and what it does differently.

Data only, plus the rule that picks an account's `Behaviour` (`resolve_behaviour`): the PROVIDER setting, else
Gmail's X-GM-EXT-1 capability, else the IMAP host, else the address domain. ``auth`` is the sign-in the provider
needs or suggests (``oauth2`` where passwords are not accepted); ``oauth_provider`` names the OAuth2 preset in
`mail_mcp.auth.providers` when OAuth2 is possible. The sources of each quirk are in README "Providers".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "GENERIC",
    "PROFILES",
    "PROVIDER_NAMES",
    "Behaviour",
    "ProviderProfile",
    "guess_profile",
    "resolve_behaviour",
]

Security = Literal["tls", "starttls", "plain"]


@dataclass(frozen=True, slots=True)
class Behaviour:
    """What a provider does differently: applied per connection by `imap/` and per operation by `mailbox/`."""

    name: str = "generic"
    # Labels are folders (one message in many), archive = [Gmail]/All Mail, an EXPUNGE in a label folder only
    # removes the label; X-GM-LABELS and X-GM-RAW exist (developers.google.com/gmail/imap/imap-extensions).
    gmail: bool = False
    # False: never send SEARCH CHARSET UTF-8 (Outlook answers NO [BADCHARSET (US-ASCII)], Wh1isper PR #178;
    # Yahoo answers BAD [CLIENTBUG] to any CHARSET, aioimaplib#126); non-ASCII strings are checked here instead.
    search_utf8: bool = True
    # iCloud's proxy rewrites the first CAPABILITY responses: ask again after login (Mailspring-Sync PR #91).
    recheck_capabilities: bool = False
    # Advertised but broken, so never used (iCloud: ESEARCH ignores RETURN, CONDSTORE/QRESYNC unreliable; horde
    # Imap_Client PR #17, Mailspring-Sync PR #91).
    ignore_capabilities: frozenset[str] = frozenset()
    # Proton Bridge: user folders live under Folders/, labels under Labels/ (excavador README).
    folder_prefixes: tuple[str, ...] = ()


GENERIC = Behaviour()


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
    behaviour: Behaviour = GENERIC


PROFILES: dict[str, ProviderProfile] = {
    p.name: p
    for p in (
        ProviderProfile(
            "gmail", "Gmail / Google Workspace",
            "imap.gmail.com", 993, "tls", "smtp.gmail.com", 465, "tls",
            oauth_provider="google", domains=("gmail.com", "googlemail.com"),
            password_hint="an app password (Google Account > Security > App passwords; needs 2-Step Verification)",
            behaviour=Behaviour("gmail", gmail=True),
        ),
        ProviderProfile(
            "microsoft", "Microsoft 365 / Outlook.com",
            "outlook.office365.com", 993, "tls", "smtp.office365.com", 587, "starttls",
            auth="oauth2", oauth_provider="microsoft",
            domains=("outlook.com", "hotmail.com", "live.com", "msn.com"),
            behaviour=Behaviour("microsoft", search_utf8=False),
        ),
        ProviderProfile(
            "icloud", "iCloud Mail",
            "imap.mail.me.com", 993, "tls", "smtp.mail.me.com", 587, "starttls",
            domains=("icloud.com", "me.com", "mac.com"),
            password_hint="an app-specific password (account.apple.com > Sign-In and Security)",
            behaviour=Behaviour(
                "icloud",
                recheck_capabilities=True,
                ignore_capabilities=frozenset({"ESEARCH", "CONDSTORE", "QRESYNC"}),
            ),
        ),
        ProviderProfile(
            "yahoo", "Yahoo Mail",
            "imap.mail.yahoo.com", 993, "tls", "smtp.mail.yahoo.com", 465, "tls",
            domains=("yahoo.com", "ymail.com"),
            password_hint="an app password (Yahoo Account security > Generate app password)",
            behaviour=Behaviour("yahoo", search_utf8=False),
        ),
        ProviderProfile(
            "fastmail", "Fastmail",
            "imap.fastmail.com", 993, "tls", "smtp.fastmail.com", 465, "tls",
            domains=("fastmail.com", "fastmail.fm"),
            password_hint="an app password (Settings > Privacy & Security > App passwords)",
            behaviour=Behaviour("fastmail"),
        ),
        ProviderProfile(
            "proton-bridge", "Proton Mail Bridge (running on this machine)",
            "127.0.0.1", 1143, "starttls", "127.0.0.1", 1025, "starttls",
            domains=("proton.me", "protonmail.com", "pm.me"),
            password_hint="the Bridge password shown in the Bridge app (not your Proton password)",
            behaviour=Behaviour("proton-bridge", folder_prefixes=("Folders/", "Labels/")),
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


PROVIDER_NAMES = (*PROFILES, "generic")


def resolve_behaviour(
    setting: str | None, host: str, address: str | None, capabilities: frozenset[str] = frozenset()
) -> Behaviour:
    """The account's behaviour: its PROVIDER setting, else Gmail when the server has X-GM-EXT-1, else the profile
    of its IMAP host, else of its address domain (Gmail only with X-GM-EXT-1: a gmail.com address may read its
    mail elsewhere), else generic."""
    if setting:
        return PROFILES[setting].behaviour if setting in PROFILES else GENERIC
    if "X-GM-EXT-1" in capabilities:
        return PROFILES["gmail"].behaviour
    host = host.lower().rstrip(".")
    for profile in PROFILES.values():
        if host == profile.imap_host and profile.imap_host != "127.0.0.1":
            return profile.behaviour
    guessed = guess_profile(address) if address else None
    if guessed is None or guessed.behaviour.gmail:
        return GENERIC
    return guessed.behaviour
