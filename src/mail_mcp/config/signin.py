"""How an account signs in: password (configured, a command, or the secret store) or OAuth2, and its proxy.

Keys (environment ``MAIL_IMAP_<ID>_<KEY>``, or lower-case under ``[accounts.<id>]`` in the TOML file):
AUTH (password | oauth2), OAUTH_PROVIDER (google | microsoft | custom), OAUTH_TENANT (microsoft),
OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET (else one stored by ``mail-mcp account add``; none for public clients),
OAUTH_TOKEN_URL, OAUTH_SCOPE, OAUTH_AUTHORIZATION_URL, OAUTH_DEVICE_AUTHORIZATION_URL (override the preset;
token URL and scope are required for custom), OAUTH_REFRESH_TOKEN or OAUTH_REFRESH_TOKEN_COMMAND (else the one
``mail-mcp account login`` stored), OAUTH_TOKEN_COMMAND (prints a current access token instead), PROXY
(socks5://[user:pass@]host:port, socks5h://…, http://host:port; every IMAP and SMTP connection of the account;
``MAIL_SMTP_<ID>_PROXY`` overrides it for SMTP), SECRETS_FILE (a 0600 file instead of the OS keyring; the
environment's MAIL_MCP_SECRETS_FILE wins).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from mail_mcp.auth.providers import resolve_provider
from mail_mcp.auth.tokens import AccountTokens
from mail_mcp.config.models import AccountConfig
from mail_mcp.errors import ConfigError
from mail_mcp.net.proxy import ProxyConfig, parse_proxy

__all__ = ["SIGNIN_KEYS", "prepare_account", "prepare_smtp", "secrets_file"]

SIGNIN_KEYS = {
    "AUTH": "auth",
    "OAUTH_PROVIDER": "oauth_provider",
    "OAUTH_TENANT": "oauth_tenant",
    "OAUTH_CLIENT_ID": "oauth_client_id",
    "OAUTH_CLIENT_SECRET": "oauth_client_secret",
    "OAUTH_TOKEN_URL": "oauth_token_url",
    "OAUTH_SCOPE": "oauth_scope",
    "OAUTH_AUTHORIZATION_URL": "oauth_authorization_url",
    "OAUTH_DEVICE_AUTHORIZATION_URL": "oauth_device_authorization_url",
    "OAUTH_REFRESH_TOKEN": "oauth_refresh_token",
    "OAUTH_REFRESH_TOKEN_COMMAND": "oauth_refresh_token_command",
    "OAUTH_TOKEN_COMMAND": "oauth_token_command",
    "PROXY": "proxy",
    "SECRETS_FILE": "secrets_file",
}
OAUTH_FIELDS = [field for field in SIGNIN_KEYS.values() if field.startswith("oauth_")]
TOKEN_SOURCES = ("oauth_refresh_token", "oauth_refresh_token_command", "oauth_token_command")


def _text(fields: dict[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _where(origin: dict[str, str], account_id: str, name: str) -> str:
    return origin.get(name, f"account {account_id}.{name}")


def secrets_file(fields: dict[str, Any]) -> Path | None:
    """The account's secrets file: MAIL_MCP_SECRETS_FILE, else its SECRETS_FILE, else None (the OS keyring)."""
    from_env = os.environ.get("MAIL_MCP_SECRETS_FILE", "").strip()
    if from_env:
        return Path(from_env).expanduser()
    text = _text(fields, "secrets_file")
    return Path(text).expanduser() if text else None


def _proxy(fields: dict[str, Any], setting: str) -> ProxyConfig | None:
    value = fields.get("proxy")
    if value is None or isinstance(value, ProxyConfig):
        return value
    text = _text(fields, "proxy")
    return parse_proxy(text, setting) if text else None


def prepare_account(account_id: str, fields: dict[str, Any], origin: dict[str, str]) -> dict[str, Any]:
    """Validate the sign-in keys of one account and add what they imply: `proxy`, `oauth`, a stored password."""
    auth = (_text(fields, "auth") or "password").lower()
    if auth not in ("password", "oauth2"):
        raise ConfigError(_where(origin, account_id, "auth"), f"expected password or oauth2, got {auth!r}")
    fields["auth"] = auth
    fields["proxy"] = _proxy(fields, _where(origin, account_id, "proxy"))
    if auth == "oauth2":
        fields["oauth"] = _tokens(account_id, fields, origin)
        return fields
    stray = [name for name in OAUTH_FIELDS if fields.get(name) not in (None, "")]
    if stray:
        raise ConfigError(
            _where(origin, account_id, stray[0]), "OAuth settings need AUTH=oauth2 on the account"
        )
    if not fields.get("password") and not fields.get("password_command"):
        fields["password"] = _stored_password(account_id, fields, origin)
    return fields


def _stored_password(account_id: str, fields: dict[str, Any], origin: dict[str, str]) -> SecretStr:
    from mail_mcp.auth.secrets import PASSWORD, SecretStoreError  # keyring loads only when it is needed
    from mail_mcp.auth.store import open_store

    where = _where(origin, account_id, "password")
    try:
        value = open_store(secrets_file(fields)).get(account_id, PASSWORD)
    except SecretStoreError as exc:
        raise ConfigError(
            where, f"no password or password_command set, and no stored password: {exc.problem}"
        ) from None
    except ValueError as exc:  # an account id the store cannot key
        raise ConfigError(where, f"no password or password_command set ({exc})") from None
    if value is None:
        raise ConfigError(
            where,
            "no password or password_command set, and none stored "
            "(`mail-mcp account add` stores one in the OS keyring)",
        )
    return value


def _tokens(account_id: str, fields: dict[str, Any], origin: dict[str, str]) -> AccountTokens:
    prefix = f"MAIL_IMAP_{account_id.upper()}_"
    provider_name = _text(fields, "oauth_provider")
    if provider_name is None:
        raise ConfigError(
            _where(origin, account_id, "oauth_provider"),
            "required with AUTH=oauth2 (google, microsoft or custom)",
        )
    provider = resolve_provider(
        provider_name,
        token_url=_text(fields, "oauth_token_url"),
        scope=_text(fields, "oauth_scope"),
        authorization_url=_text(fields, "oauth_authorization_url"),
        device_authorization_url=_text(fields, "oauth_device_authorization_url"),
        tenant=_text(fields, "oauth_tenant"),
        setting_prefix=prefix,
    )
    client_id = _text(fields, "oauth_client_id")
    given = [name for name in TOKEN_SOURCES if _text(fields, name)]
    if len(given) > 1:
        raise ConfigError(
            _where(origin, account_id, given[1]),
            f"set only one of OAUTH_REFRESH_TOKEN, OAUTH_REFRESH_TOKEN_COMMAND and OAUTH_TOKEN_COMMAND "
            f"(also set: {given[0]})",
        )
    if client_id is None and given != ["oauth_token_command"]:
        raise ConfigError(
            _where(origin, account_id, "oauth_client_id"),
            "required with AUTH=oauth2: the client id of your app registration with the provider",
        )
    secret = _text(fields, "oauth_client_secret")
    refresh = _text(fields, "oauth_refresh_token")
    return AccountTokens(
        account_id,
        provider,
        client_id=client_id or "",
        client_secret=SecretStr(secret) if secret else None,
        refresh_token=SecretStr(refresh) if refresh else None,
        refresh_token_command=_text(fields, "oauth_refresh_token_command"),
        token_command=_text(fields, "oauth_token_command"),
        secrets_file=secrets_file(fields),
        setting_prefix=prefix,
    )


def prepare_smtp(account: AccountConfig, fields: dict[str, Any], origin: dict[str, str]) -> dict[str, Any]:
    """SMTP signs in like its account (the same OAuth tokens) unless it has its own password; proxy likewise."""
    setting = origin.get("proxy", f"SMTP of account {account.id}: proxy")
    fields["proxy"] = _proxy(fields, setting) if fields.get("proxy") else account.proxy
    own_password = fields.get("password") or fields.get("password_command")
    if account.auth == "oauth2" and not own_password:
        fields["auth"], fields["oauth"] = "oauth2", account.oauth
    else:
        fields["auth"] = "password"
    return fields
