"""``mail-mcp account add``: write ``[accounts.<id>]`` from a provider profile, asking for what is missing.

The password or OAuth client secret goes to the OS keyring; without one, the user is told so and offered a 0600
file or (for passwords) a command. The entry is validated as the server would read it before anything is written.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import Any

from mail_mcp.account.console import Abort, Console, ask
from mail_mcp.auth.secrets import (
    OAUTH_CLIENT_SECRET,
    PASSWORD,
    FileSecretStore,
    NoKeyringBackend,
    SecretStore,
    default_secrets_file,
)
from mail_mcp.auth.store import describe_store, open_store
from mail_mcp.config.accounts_file import add_account, read_accounts
from mail_mcp.config.providers import PROFILES, ProviderProfile, guess_profile

__all__ = ["add"]

Store = SecretStore | FileSecretStore


def _suggest_id(address: str, profile: ProviderProfile | None, taken: dict[str, Any]) -> str:
    base = profile.name if profile else address.rpartition("@")[2].split(".")[0]
    base = re.sub(r"[^A-Za-z0-9_-]", "-", base)[:60] or "mail"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def _profile(args: argparse.Namespace, io: Console) -> ProviderProfile | None:
    if args.provider == "other":
        return None
    if args.provider:
        return PROFILES[args.provider]
    guessed = guess_profile(args.address)
    if guessed is not None:
        io.say(f"Provider: {guessed.title} (from the address; use --provider to choose another)")
    return guessed


def _servers(
    args: argparse.Namespace, profile: ProviderProfile | None, io: Console
) -> tuple[dict[str, Any], ...]:
    imap = {
        "host": args.imap_host or (profile.imap_host if profile else None) or ask(io, "IMAP server host"),
        "port": args.imap_port or (profile.imap_port if profile else int(ask(io, "IMAP port", "993"))),
        "security": args.imap_security or (profile.imap_security if profile else "tls"),
    }
    smtp_host = args.smtp_host if args.smtp_host is not None else (profile.smtp_host if profile else None)
    if smtp_host is None:
        smtp_host = ask(io, "SMTP server host (Enter: no sending)", required=False)
    if not smtp_host:
        return imap, {}
    smtp = {
        "host": smtp_host,
        "port": args.smtp_port or (profile.smtp_port if profile else int(ask(io, "SMTP port", "465"))),
        "security": args.smtp_security or (profile.smtp_security if profile else None),
        "ca_file": args.ca_file,
    }
    if smtp["security"] is None:
        smtp["security"] = "starttls" if smtp["port"] == 587 else "tls"
    return imap, smtp


def _auth(args: argparse.Namespace, profile: ProviderProfile | None, io: Console) -> str:
    if args.auth:
        return str(args.auth)
    if profile is None:
        return "password"
    if profile.auth == "password" and profile.oauth_provider:
        return ask(
            io, f"Sign in to {profile.title} with an app password or OAuth2? (password/oauth2)", "password"
        )
    return profile.auth


def _oauth_entry(args: argparse.Namespace, profile: ProviderProfile | None, io: Console) -> dict[str, Any]:
    provider = args.oauth_provider or (profile.oauth_provider if profile else None)
    provider = provider or ask(io, "OAuth2 provider (google/microsoft/custom)", "custom")
    entry: dict[str, Any] = {"oauth_provider": provider}
    entry["oauth_client_id"] = args.client_id or ask(io, "OAuth2 client id (your app registration)")
    if provider == "custom":
        entry["oauth_token_url"] = args.oauth_token_url or ask(io, "Token endpoint URL")
        entry["oauth_scope"] = args.oauth_scope or ask(io, "Scopes (space-separated)")
    else:
        entry["oauth_token_url"], entry["oauth_scope"] = args.oauth_token_url, args.oauth_scope
    entry["oauth_authorization_url"] = args.oauth_authorization_url
    entry["oauth_device_authorization_url"] = args.oauth_device_authorization_url
    entry["oauth_tenant"] = args.oauth_tenant
    return entry


def _store(args: argparse.Namespace, io: Console, entry: dict[str, Any], *, command_ok: bool) -> Store | None:
    """The keyring, or what the user picks when there is none; None when a command will supply the secret."""
    try:
        return open_store(args.secrets_file)
    except NoKeyringBackend as exc:
        io.say(f"Note: {exc.problem}")
    choices = "[f]ile" + (", [c]ommand" if command_ok else "") + " or [q]uit"
    choice = ask(
        io, f"Keep the secret in a private file, or {'use a command, ' if command_ok else ''}{choices}", "f"
    )
    if choice.lower().startswith("f"):
        path = Path(ask(io, "Secrets file", str(default_secrets_file()))).expanduser()
        entry["secrets_file"] = str(path)
        return FileSecretStore(path)
    if command_ok and choice.lower().startswith("c"):
        entry["password_command"] = ask(io, "Command that prints the password")
        return None
    raise Abort("nothing was written")


def add(args: argparse.Namespace, path: Path, io: Console) -> int:
    address = args.address.strip()
    if "@" not in address:
        raise Abort(f"{address!r} is not an e-mail address")
    taken = read_accounts(path)
    profile = _profile(args, io)
    account_id = args.account_id or ask(io, "Account id", _suggest_id(address, profile, taken))
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", account_id):
        raise Abort("an account id is 1-64 letters, digits, '_' or '-'")
    if account_id in taken:
        raise Abort(
            f"account {account_id!r} already exists in {path}; `mail-mcp account remove {account_id}` first"
        )
    imap, smtp = _servers(args, profile, io)
    auth = _auth(args, profile, io)
    entry: dict[str, Any] = {"address": address, "user": args.user or address, **imap, "auth": auth}
    entry["provider"] = profile.name if profile else None  # its behaviour is then never guessed
    entry["ca_file"] = args.ca_file
    if auth == "oauth2":
        entry.update(_oauth_entry(args, profile, io))
    entry["proxy"] = args.proxy
    secrets: dict[str, str] = {}
    if auth == "oauth2":
        secret = io.secret("OAuth2 client secret (Enter if your app registration has none): ")
        if secret.strip():
            secrets[OAUTH_CLIENT_SECRET] = secret.strip()
    elif args.password_command:
        entry["password_command"] = args.password_command
    else:
        hint = profile.password_hint if profile else "the account password"
        password = io.secret(f"Password for {address} ({hint}): ")
        if not password:
            raise Abort("no password given; nothing was written")
        secrets[PASSWORD] = password
    _check_entry(account_id, entry, smtp)
    store = _store(args, io, entry, command_ok=auth == "password") if secrets else None
    if store is not None:
        for name, value in secrets.items():
            store.set(account_id, name, value)
    try:
        add_account(path, account_id, entry, smtp)
    except BaseException:
        if store is not None:
            for name in secrets:
                store.delete(account_id, name)
        raise
    io.say(f"Added account '{account_id}' ({address}, {imap['host']}:{imap['port']}) to {path}.")
    if store is not None:
        io.say(f"Stored the {' and '.join(n.replace('_', ' ') for n in secrets)} in {describe_store(store)}.")
    if not os.environ.get("MAIL_MCP_CONFIG") and not getattr(args, "config", None):
        io.say(f"Start the server with --config {path} (or MAIL_MCP_CONFIG={path}).")
    io.say(f"Next: mail-mcp account {'login' if auth == 'oauth2' else 'test'} {account_id}")
    return 0


def _check_entry(account_id: str, entry: dict[str, Any], smtp: dict[str, Any]) -> None:
    """Validate the new entry as the server will (with a stand-in password) before writing anything."""
    from mail_mcp.config.sources import load_settings

    fields = {k: v for k, v in entry.items() if v is not None}
    if fields.get("auth") == "password" and "password_command" not in fields:
        fields["password"] = "placeholder"
    env = {f"MAIL_IMAP_{account_id.upper()}_{k.upper()}": str(v) for k, v in fields.items()}
    env.update(
        {f"MAIL_SMTP_{account_id.upper()}_{k.upper()}": str(v) for k, v in smtp.items() if v is not None}
    )
    if "password_command" in fields:
        env[f"MAIL_IMAP_{account_id.upper()}_PASSWORD_COMMAND"] = "echo placeholder"
    load_settings(env=env)
