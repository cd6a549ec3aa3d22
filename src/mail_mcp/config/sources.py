"""Configuration: accounts from MAIL_IMAP_<ACCOUNT>_* variables and an optional TOML file, validated once.

Environment variables for an account `work` (the id is the upper-cased part between the prefix and the key):
MAIL_IMAP_WORK_HOST, _PORT, _USER, _PASS or _PASSWORD_COMMAND, _SECURITY (tls|starttls|plain), _CA_FILE,
_ALLOW_PLAIN (allow `plain` to a non-loopback host), _ADDRESS, _POOL_SIZE, _TIMEOUT, _WRITE_ENABLED,
_ALLOW_PERMANENT_DELETE (let delete_message expunge messages outside Trash), _PROVIDER (gmail, microsoft, icloud,
yahoo, fastmail, proton-bridge or generic: supplies HOST, PORT and SECURITY defaults and the provider's behaviour;
without it the behaviour is detected), _TLS_FINGERPRINT (pin the server certificate by its SHA-256, e.g. Proton
Bridge's self-signed one; the alternative to CA_FILE), _WATCH (comma-separated folders clients may subscribe to for
new mail; default INBOX, `none` disables).
Signing in (AUTH, OAUTH_*, PROXY, SECRETS_FILE): see `config.signin`.
Globals: MAIL_IMAP_WRITE_ENABLED, MAIL_IMAP_TIMEOUT, MAIL_MCP_CONFIG, MAIL_MCP_MAX_ATTACHMENT_BYTES.
Sending (see `load_smtp_settings`): MAIL_SMTP_<ID>_HOST, _PORT, _USER, _PASS or _PASSWORD_COMMAND, _SECURITY, _CA_FILE,
_FROM, _FROM_NAME, _ALLOWED_RECIPIENTS, _RATE_LIMIT, _SAVE_SENT, _TIMEOUT (or TOML [accounts.<id>.smtp]);
globals MAIL_SMTP_SEND_ENABLED, MAIL_SMTP_CONFIRM, MAIL_SMTP_ATTACHMENT_DIR, MAIL_SMTP_MAX_ATTACHMENT_BYTES.

Precedence, the same for every setting: the environment beats the TOML file (an account's own variable, then
the global one, then the account's TOML key, then the global TOML key). Booleans are true/false, 1/0 or yes/no;
anything else, and any size, rate or timeout below 1, is refused naming the setting. An empty variable is unset.
When an account sends and its login is not an e-mail address, its ADDRESS (or the SMTP FROM) is required.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mail_mcp.config.models import AccountConfig, Settings, SmtpConfig, is_loopback
from mail_mcp.config.providers import PROFILES
from mail_mcp.config.secrets import run_password_command
from mail_mcp.config.signin import SIGNIN_KEYS, prepare_account, prepare_smtp
from mail_mcp.config.values import BOOL_FIELDS, check_fields, env_bool, parse_bool, positive_int
from mail_mcp.errors import ConfigError

ACCOUNT_KEYS = {
    "HOST": "host",
    "PORT": "port",
    "USER": "user",
    "PASS": "password",
    "PASSWORD": "password",
    "PASSWORD_COMMAND": "password_command",
    "SECURITY": "security",
    "CA_FILE": "ca_file",
    "ALLOW_PLAIN": "allow_plain",
    "ADDRESS": "address",
    "POOL_SIZE": "pool_size",
    "TIMEOUT": "timeout",
    "WRITE_ENABLED": "write_enabled",
    "ALLOW_PERMANENT_DELETE": "allow_permanent_delete",
    "PROVIDER": "provider",
    "TLS_FINGERPRINT": "tls_fingerprint",
    "WATCH": "watch",
    **SIGNIN_KEYS,
}
GLOBAL_KEYS = {"WRITE_ENABLED", "TIMEOUT"}
FILE_KEYS = {  # the top level of the TOML file
    "accounts",
    "write_enabled",
    "timeout",
    "max_attachment_bytes",
    "send_enabled",
    "smtp_confirm",
    "smtp_attachment_dir",
    "smtp_max_attachment_bytes",
}


def _env_accounts(env: Mapping[str, str], file_ids: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    """Collect MAIL_IMAP_<ID>_<KEY> variables for every id that has a _HOST or a _PROVIDER (a name ending in
    _OAUTH_PROVIDER is that key of another account, never the PROVIDER of an id ending in _OAUTH), and for every
    account of the file (`[accounts.Work]` is MAIL_IMAP_WORK_*), keyed like the file names it. An empty
    variable is an unset one."""
    from_env = [
        name[len("MAIL_IMAP_") : -len(suffix)]
        for name in env
        for suffix in ("_HOST", "_PROVIDER")
        if name.startswith("MAIL_IMAP_")
        and name.endswith(suffix)
        and len(name) > len("MAIL_IMAP_" + suffix)
        and not (suffix == "_PROVIDER" and name.endswith("_OAUTH_PROVIDER"))
    ]
    by_upper = {account_id.upper(): account_id for account_id in file_ids}
    accounts: dict[str, dict[str, Any]] = {}
    for raw_id in dict.fromkeys([*from_env, *by_upper]):
        fields: dict[str, Any] = {}
        for key, field in ACCOUNT_KEYS.items():
            var = f"MAIL_IMAP_{raw_id.upper()}_{key}"
            if env.get(var, "").strip():
                fields[field] = (var, env[var])
        if fields or raw_id in from_env:
            accounts[by_upper.get(raw_id.upper(), raw_id.lower())] = fields
    return accounts


def _coerce(field: str, var: str, value: str) -> Any:
    if field in BOOL_FIELDS:
        return parse_bool(value, var)
    if field == "security":
        return value.strip().lower()
    return value


def _provider_defaults(fields: dict[str, Any]) -> None:
    """PROVIDER fills in HOST, and PORT and SECURITY where they are not given, when HOST is unset; for a provider that
    takes no passwords (Microsoft), AUTH=oauth2 with its OAuth preset when no password is configured."""
    name = str(fields.get("provider") or "").strip().lower()
    profile = PROFILES.get(name)
    if profile is None:
        return
    if not fields.get("host"):  # the provider's server; a PORT or SECURITY given explicitly still wins
        fields["host"] = profile.imap_host
        fields.setdefault("port", profile.imap_port)
        fields.setdefault("security", profile.imap_security)
    no_password = not fields.get("password") and not fields.get("password_command")
    if profile.auth == "oauth2" and no_password and not fields.get("auth"):
        fields["auth"] = "oauth2"
    if str(fields.get("auth") or "").lower() == "oauth2" and profile.oauth_provider:
        fields.setdefault("oauth_provider", profile.oauth_provider)


def _build_account(account_id: str, fields: dict[str, Any], origin: dict[str, str]) -> AccountConfig:
    _provider_defaults(fields)
    fields = prepare_account(account_id, fields, origin)
    if fields.get("password_command") and not fields.get("password"):
        fields["password"] = run_password_command(
            fields["password_command"], origin.get("password_command", "password_command")
        )
    try:
        account = AccountConfig(id=account_id, **fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "account"
        raise ConfigError(origin.get(field, f"account {account_id}.{field}"), err["msg"]) from None
    if account.password is None and account.auth == "password":
        raise ConfigError(
            origin.get("password", f"account {account_id}"), "no password or password_command set"
        )
    if account.ca_file is not None and not account.ca_file.is_file():
        raise ConfigError(origin.get("ca_file", f"account {account_id}.ca_file"), "file not found")
    if account.security == "plain" and not is_loopback(account.host) and not account.allow_plain:
        raise ConfigError(
            origin.get("security", f"account {account_id}.security"),
            "plain (unencrypted) IMAP is refused for a non-loopback host; use tls or starttls, "
            "or set ALLOW_PLAIN=true if you really mean it",
        )
    if account.tls_fingerprint and account.security == "plain":
        raise ConfigError(
            origin.get("tls_fingerprint", f"account {account_id}.tls_fingerprint"),
            "a certificate pin needs TLS: set SECURITY to tls or starttls (plain would send the password in clear)",
        )
    return account


def _apply_globals(
    env: Mapping[str, str],
    file_settings: Mapping[str, Any],
    path: Any,
    fields: dict[str, Any],
    origin: dict[str, str],
) -> None:
    """One precedence for every setting: the account's variable, then the global variable, then the account's
    TOML key, then the global TOML key, then the default. The environment always beats the file."""
    for field, var in (("write_enabled", "MAIL_IMAP_WRITE_ENABLED"), ("timeout", "MAIL_IMAP_TIMEOUT")):
        if origin.get(field, "").startswith("MAIL_IMAP_"):
            continue
        if env.get(var, "").strip():
            fields[field] = env_bool(env, var) if field == "write_enabled" else env[var]
            origin[field] = var
        elif field not in fields and file_settings.get(field) is not None:
            fields[field] = file_settings[field]
            origin[field] = f"{path}: {field}"
            check_fields(fields, origin, f"{path}")


def load_settings(env: Mapping[str, str] | None = None, config_path: str | Path | None = None) -> Settings:
    """Read and validate everything once. Raises ConfigError naming the offending setting."""
    env = os.environ if env is None else env
    raw: dict[str, dict[str, Any]] = {}
    origins: dict[str, dict[str, str]] = {}

    path = config_path or env.get("MAIL_MCP_CONFIG")
    file_settings: dict[str, Any] = {}
    if path:
        try:
            file_settings = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(str(path), f"cannot read config file ({exc.strerror})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(str(path), f"invalid TOML: {exc}") from None
        unknown = sorted(set(file_settings) - FILE_KEYS)
        if unknown:  # a typo such as `write_enable = true` must not be silently ignored
            raise ConfigError(
                f"{path}: {unknown[0]}",
                f"unknown setting; the file's top level takes {', '.join(sorted(FILE_KEYS))}",
            )
        check_fields(
            {k: v for k, v in file_settings.items() if k in BOOL_FIELDS},
            {k: f"{path}: {k}" for k in file_settings},
            str(path),
        )
        tables = file_settings.get("accounts") or {}
        if not isinstance(tables, dict):
            raise ConfigError(f"{path}: accounts", "must be a table of [accounts.<id>] tables")
        for account_id, table in tables.items():
            if not isinstance(table, dict):
                raise ConfigError(f"{path}: accounts.{account_id}", "must be a table")
            raw[account_id] = {k: v for k, v in table.items() if k != "smtp"}  # smtp: load_smtp_settings
            origins[account_id] = {k: f"{path}: accounts.{account_id}.{k}" for k in table}
            check_fields(raw[account_id], origins[account_id], f"{path}: accounts.{account_id}")

    for account_id, fields in _env_accounts(env, raw).items():
        entry = raw.setdefault(account_id, {})
        origin = origins.setdefault(account_id, {})
        for field, (var, value) in fields.items():
            entry[field] = _coerce(field, var, value)
            origin[field] = var

    accounts: dict[str, AccountConfig] = {}
    for account_id, fields in raw.items():
        _apply_globals(env, file_settings, path, fields, origins[account_id])
        accounts[account_id] = _build_account(account_id, fields, origins[account_id])

    if env.get("MAIL_MCP_MAX_ATTACHMENT_BYTES", "").strip():
        max_attachment = positive_int(env["MAIL_MCP_MAX_ATTACHMENT_BYTES"], "MAIL_MCP_MAX_ATTACHMENT_BYTES")
    elif file_settings.get("max_attachment_bytes") is not None:
        max_attachment = positive_int(file_settings["max_attachment_bytes"], f"{path}: max_attachment_bytes")
    else:
        max_attachment = 10 * 1024 * 1024
    return Settings(
        accounts=accounts,
        max_attachment_bytes=max_attachment,
        **load_smtp_settings(env, file_settings, path, accounts),
    )


SMTP_KEYS = {
    "HOST": "host",
    "PORT": "port",
    "USER": "user",
    "PASS": "password",
    "PASSWORD": "password",
    "PASSWORD_COMMAND": "password_command",
    "SECURITY": "security",
    "CA_FILE": "ca_file",
    "FROM": "from_address",
    "FROM_NAME": "from_name",
    "ALLOWED_RECIPIENTS": "allowed_recipients",
    "RATE_LIMIT": "rate_limit",
    "SAVE_SENT": "save_sent",
    "TIMEOUT": "timeout",
    "PROXY": "proxy",
}
SMTP_GLOBALS = {  # field: (variable, TOML key)
    "send_enabled": ("MAIL_SMTP_SEND_ENABLED", "send_enabled"),
    "smtp_confirm": ("MAIL_SMTP_CONFIRM", "smtp_confirm"),
    "attachment_dir": ("MAIL_SMTP_ATTACHMENT_DIR", "smtp_attachment_dir"),
    "max_send_attachment_bytes": ("MAIL_SMTP_MAX_ATTACHMENT_BYTES", "smtp_max_attachment_bytes"),
}


def _smtp_account(account: AccountConfig, fields: dict[str, Any], origin: dict[str, str]) -> SmtpConfig:
    where = f"SMTP of account {account.id}"
    fields = prepare_smtp(account, fields, origin)
    if fields.get("password_command") and not fields.get("password"):
        fields["password"] = run_password_command(fields["password_command"], origin["password_command"])
    fields.pop("password_command", None)
    check_fields(fields, origin, where)
    fields.setdefault("user", account.user)
    fields.setdefault("password", account.password)
    if "from_address" not in fields:
        if account.login_address is None:
            raise ConfigError(
                f"MAIL_IMAP_{account.id.upper()}_ADDRESS",
                f"the login {account.user!r} is not an e-mail address, so sending needs the From address: set "
                f"MAIL_IMAP_{account.id.upper()}_ADDRESS (or address in [accounts.{account.id}], or the SMTP FROM)",
            )
        fields["from_address"] = account.login_address
    if "security" in fields:
        fields["security"] = str(fields["security"]).strip().lower()
    elif str(fields.get("port", "")).strip() == "587":
        fields["security"] = "starttls"
    try:
        smtp = SmtpConfig(**fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "smtp"
        raise ConfigError(origin.get(field, f"{where}: {field}"), err["msg"]) from None
    if smtp.ca_file is not None and not smtp.ca_file.is_file():
        raise ConfigError(origin.get("ca_file", f"{where}: ca_file"), "file not found")
    if smtp.security == "plain" and not is_loopback(smtp.host):
        raise ConfigError(
            origin.get("security", f"{where}: security"),
            "plain (unencrypted) SMTP is only allowed to a loopback host; use tls (465) or starttls (587)",
        )
    return smtp


def load_smtp_settings(
    env: Mapping[str, str], file_settings: Mapping[str, Any], path: Any, accounts: dict[str, AccountConfig]
) -> dict[str, Any]:
    """SMTP per account from MAIL_SMTP_<ID>_* (over TOML [accounts.<id>.smtp]) plus the sending globals."""
    raw: dict[str, dict[str, Any]] = {}
    origins: dict[str, dict[str, str]] = {}
    for account_id, table in (file_settings.get("accounts") or {}).items():
        table_smtp = table.get("smtp") if isinstance(table, dict) else None
        if table_smtp is None:
            continue
        if not isinstance(table_smtp, dict):
            raise ConfigError(f"{path}: accounts.{account_id}.smtp", "must be a table")
        renamed = {("from_address" if k == "from" else k): v for k, v in table_smtp.items()}
        raw[account_id] = renamed
        origins[account_id] = {k: f"{path}: accounts.{account_id}.smtp.{k}" for k in renamed}
    ids = [
        name[len("MAIL_SMTP_") : -len("_HOST")]
        for name in env
        if name.startswith("MAIL_SMTP_") and name.endswith("_HOST") and len(name) > len("MAIL_SMTP__HOST")
    ]
    by_upper = {account_id.upper(): account_id for account_id in accounts}
    for raw_id in dict.fromkeys(
        [*ids, *by_upper]
    ):  # the environment also amends a file's [accounts.<id>.smtp]
        account_id = by_upper.get(raw_id.upper(), raw_id.lower())
        found = {
            field: f"MAIL_SMTP_{raw_id.upper()}_{key}"
            for key, field in SMTP_KEYS.items()
            if env.get(f"MAIL_SMTP_{raw_id.upper()}_{key}", "").strip()
        }
        if not found or (account_id not in raw and "host" not in found):
            continue  # no SMTP for this account: a lone _ALLOWED_RECIPIENTS does not make one
        entry, origin = raw.setdefault(account_id, {}), origins.setdefault(account_id, {})
        for field, var in found.items():
            entry[field], origin[field] = env[var], var
    smtp: dict[str, SmtpConfig] = {}
    for account_id, fields in raw.items():
        if account_id not in accounts:
            raise ConfigError(
                origins[account_id].get("host", f"{path}: accounts.{account_id}.smtp"),
                f"there is no IMAP account {account_id!r} for these SMTP settings; "
                f"define it with MAIL_IMAP_{account_id.upper()}_HOST or [accounts.{account_id}]",
            )
        smtp[account_id] = _smtp_account(accounts[account_id], fields, origins[account_id])

    values: dict[str, Any] = {}
    for field, (var, key) in SMTP_GLOBALS.items():
        value: Any
        if env.get(var, "").strip():  # an empty variable is an unset one: the file's value stands
            value, setting = env[var], var
        else:
            value, setting = file_settings.get(key), f"{path}: {key}"
        if value is None or value == "":
            continue
        if field == "send_enabled":
            values[field] = parse_bool(value, setting)
        elif field == "smtp_confirm":
            if str(value).strip().lower() not in ("auto", "always", "never"):
                raise ConfigError(setting, f"expected auto, always or never, got {value!r}")
            values[field] = str(value).strip().lower()
        elif field == "attachment_dir":
            folder = Path(str(value)).expanduser().resolve()
            if not folder.is_dir():
                raise ConfigError(setting, f"{folder} is not a directory")
            values[field] = folder
        else:
            values[field] = positive_int(value, setting)
    return {"smtp": smtp, **values}
