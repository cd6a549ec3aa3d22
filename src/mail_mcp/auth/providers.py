"""OAuth2 endpoint and scope presets for mail providers (``MAIL_IMAP_<ID>_OAUTH_PROVIDER``).

The values are the providers' documented ones:

- Google: "OAuth 2.0 for Mobile & Desktop Apps" (loopback redirect with PKCE) and the Gmail IMAP/SMTP
  XOAUTH2 page (scope ``https://mail.google.com/``; Google's device flow does not allow that scope).
- Microsoft: "Authenticate an IMAP, POP or SMTP connection using OAuth" (Outlook resource scopes; Graph scopes
  do not work for IMAP/SMTP) with the identity platform's v2.0 endpoints and the device authorization grant.

A preset only names endpoints and scopes; the OAuth client (its id, and a secret if it has one) is always the
user's own registration.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Literal
from urllib.parse import urlsplit

from mail_mcp.errors import ConfigError

__all__ = [
    "GOOGLE",
    "MICROSOFT",
    "PROVIDER_NAMES",
    "LoginFlow",
    "OAuthProvider",
    "check_endpoint_url",
    "microsoft",
    "resolve_provider",
]

LoginFlow = Literal["device_code", "loopback"]
PROVIDER_NAMES = ("google", "microsoft", "custom")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True, slots=True)
class OAuthProvider:
    """Endpoints, scopes and the interactive login flow of one OAuth2 authorization server.

    ``scopes`` cover both IMAP and SMTP (one access token serves both); ``authorization_params`` are extra
    query parameters for the authorization request (Google needs ``access_type=offline`` to return a refresh
    token at all, and ``prompt=consent`` to return one again on a repeated sign-in).
    """

    name: str
    token_url: str
    scopes: tuple[str, ...]
    login_flow: LoginFlow | None
    authorization_url: str | None = None
    device_authorization_url: str | None = None
    authorization_params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def scope(self) -> str:
        """The scopes as one space-separated ``scope`` parameter."""
        return " ".join(self.scopes)


GOOGLE = OAuthProvider(
    name="google",
    token_url="https://oauth2.googleapis.com/token",
    authorization_url="https://accounts.google.com/o/oauth2/v2/auth",
    scopes=("https://mail.google.com/",),
    login_flow="loopback",
    authorization_params=MappingProxyType({"access_type": "offline", "prompt": "consent"}),
)

MICROSOFT_IMAP_SCOPE = "https://outlook.office.com/IMAP.AccessAsUser.All"
MICROSOFT_SMTP_SCOPE = "https://outlook.office.com/SMTP.Send"
_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*")


def microsoft(tenant: str = "common") -> OAuthProvider:
    """The Microsoft identity platform (v2.0) preset for ``tenant``.

    ``tenant`` is ``common`` (work/school and personal accounts), ``organizations``, ``consumers``, a tenant id
    or a verified domain.
    """
    if not _TENANT.fullmatch(tenant):
        raise ValueError(f"invalid Microsoft tenant {tenant!r}")
    base = f"https://login.microsoftonline.com/{tenant}/oauth2/v2.0"
    return OAuthProvider(
        name="microsoft",
        token_url=f"{base}/token",
        authorization_url=f"{base}/authorize",
        device_authorization_url=f"{base}/devicecode",
        scopes=(MICROSOFT_IMAP_SCOPE, MICROSOFT_SMTP_SCOPE, "offline_access"),
        login_flow="device_code",
    )


MICROSOFT = microsoft()


def check_endpoint_url(url: str, setting: str) -> str:
    """Return ``url`` if it is an absolute https URL (plain http only to a loopback host), else ConfigError.

    Refresh tokens and client secrets travel in the request body, so they must never cross a network in clear.
    """
    parts = urlsplit(url)
    if not parts.netloc or parts.scheme not in ("https", "http"):
        raise ConfigError(setting, f"not an absolute http(s) URL: {url!r}")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise ConfigError(setting, "must use https (plain http is allowed only to 127.0.0.1/localhost)")
    return url


def resolve_provider(
    name: str,
    *,
    token_url: str | None = None,
    scope: str | None = None,
    authorization_url: str | None = None,
    device_authorization_url: str | None = None,
    tenant: str | None = None,
    setting_prefix: str = "",
) -> OAuthProvider:
    """The preset ``name`` (``google``, ``microsoft`` or ``custom``) with the given overrides applied.

    ``custom`` needs ``token_url`` and ``scope``; its login flow is the device code flow when a device
    authorization URL is given, else the loopback flow when an authorization URL is given, else none (the
    refresh token or token command must then come from elsewhere). ``setting_prefix`` (e.g.
    ``MAIL_IMAP_WORK_``) names the offending setting in a ConfigError.
    """
    key = name.strip().lower()
    if key not in PROVIDER_NAMES:
        raise ConfigError(
            f"{setting_prefix}OAUTH_PROVIDER",
            f"unknown provider {name!r}; use one of {', '.join(PROVIDER_NAMES)}",
        )
    if tenant is not None and key != "microsoft":
        raise ConfigError(f"{setting_prefix}OAUTH_TENANT", "only the microsoft provider has a tenant")
    if key == "custom":
        if not token_url:
            raise ConfigError(f"{setting_prefix}OAUTH_TOKEN_URL", "required for OAUTH_PROVIDER=custom")
        if not scope or not scope.split():
            raise ConfigError(f"{setting_prefix}OAUTH_SCOPE", "required for OAUTH_PROVIDER=custom")
        flow: LoginFlow | None = (
            "device_code" if device_authorization_url else "loopback" if authorization_url else None
        )
        provider = OAuthProvider(
            name="custom", token_url=token_url, scopes=tuple(scope.split()), login_flow=flow
        )
    elif key == "google":
        provider = GOOGLE
    else:
        try:
            provider = microsoft(tenant or "common")
        except ValueError as exc:
            raise ConfigError(f"{setting_prefix}OAUTH_TENANT", str(exc)) from None
    provider = replace(
        provider,
        token_url=token_url or provider.token_url,
        scopes=tuple(scope.split()) if scope else provider.scopes,
        authorization_url=authorization_url or provider.authorization_url,
        device_authorization_url=device_authorization_url or provider.device_authorization_url,
    )
    check_endpoint_url(provider.token_url, f"{setting_prefix}OAUTH_TOKEN_URL")
    if provider.authorization_url:
        check_endpoint_url(provider.authorization_url, f"{setting_prefix}OAUTH_AUTHORIZATION_URL")
    if provider.device_authorization_url:
        check_endpoint_url(
            provider.device_authorization_url, f"{setting_prefix}OAUTH_DEVICE_AUTHORIZATION_URL"
        )
    return provider
