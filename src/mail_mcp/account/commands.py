"""``mail-mcp account add|login|list|test|remove``: set accounts up the way their providers require.

``add`` writes ``[accounts.<id>]`` into the TOML file from a provider profile and asks for what is missing; the
password or OAuth client secret goes to the OS keyring (or, when there is none and the user agrees, a 0600 file,
or a command). ``login`` runs the provider's OAuth2 sign-in (device code for Microsoft, loopback + PKCE with a
copy-paste fallback for Google) and stores the refresh token. Prompts go through `Console`, replaceable in tests.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mail_mcp.account.console import Abort, Console, ask
from mail_mcp.auth.providers import PROVIDER_NAMES
from mail_mcp.auth.secrets import OAUTH_CLIENT_SECRET, OAUTH_REFRESH_TOKEN, PASSWORD, SecretStoreError
from mail_mcp.auth.store import describe_store, open_store
from mail_mcp.config.accounts_file import default_config_path, read_accounts, remove_account
from mail_mcp.config.models import AccountConfig, Settings
from mail_mcp.config.providers import PROFILES
from mail_mcp.config.signin import secrets_file
from mail_mcp.errors import ConfigError, MailError

if TYPE_CHECKING:
    from mail_mcp.auth.flows import DeviceCode

__all__ = ["Console", "add_parser", "console", "run"]

Check = Callable[[Settings, str | None], int]


console = Console()


# ------------------------------------------------------------------------------------------------- parsing


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """The ``account`` command and its sub-commands, on ``sub`` (the top-level subparsers)."""
    account = sub.add_parser("account", parents=parents, help="add, sign in, list, test or remove accounts")
    commands = account.add_subparsers(dest="account_command", required=True)
    add = commands.add_parser("add", parents=parents, help="add an account to the TOML file from a provider")
    add.add_argument("address", help="the e-mail address")
    add.add_argument(
        "--provider", choices=[*PROFILES, "other"], help="provider profile (default: from the domain)"
    )
    add.add_argument(
        "--id", dest="account_id", help="account id (default: asked, suggested from the provider)"
    )
    add.add_argument("--auth", choices=["password", "oauth2"], help="sign-in (default: the provider's)")
    add.add_argument("--user", help="login name (default: the address)")
    add.add_argument("--imap-host", help="IMAP server (provider 'other')")
    add.add_argument("--imap-port", type=int)
    add.add_argument("--imap-security", choices=["tls", "starttls", "plain"])
    add.add_argument("--ca-file", help="CA certificate for a private mail server (PEM)")
    add.add_argument("--smtp-host", help="SMTP server (empty: no sending)")
    add.add_argument("--smtp-port", type=int)
    add.add_argument("--smtp-security", choices=["tls", "starttls", "plain"])
    add.add_argument("--password-command", help="a command printing the password, instead of storing it")
    add.add_argument(
        "--oauth-provider", choices=PROVIDER_NAMES, help="OAuth2 preset (default: the provider's)"
    )
    add.add_argument("--client-id", help="OAuth2 client id of your app registration")
    for option in ("token-url", "scope", "authorization-url", "device-authorization-url", "tenant"):
        add.add_argument(
            f"--oauth-{option}", help=f"OAuth2 {option.replace('-', ' ')} (overrides the preset)"
        )
    add.add_argument("--proxy", help="socks5://[user:pass@]host:port or http://host:port for IMAP and SMTP")
    add.add_argument(
        "--secrets-file", type=Path, help="keep secrets in this 0600 file instead of the keyring"
    )
    for name, text in (
        ("login", "sign in with OAuth2 and store the refresh token"),
        ("test", "log in and show capabilities and folders (like `check`)"),
        ("remove", "remove the account from the TOML file and delete its stored secrets"),
    ):
        command = commands.add_parser(name, parents=parents, help=text)
        command.add_argument("account_id", metavar="ID")
        if name == "remove":
            command.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    commands.add_parser("list", parents=parents, help="list the configured accounts and their sign-in")


def config_path(args: argparse.Namespace) -> Path:
    given = getattr(args, "config", None) or os.environ.get("MAIL_MCP_CONFIG")
    return Path(given).expanduser() if given else default_config_path()


def run(args: argparse.Namespace, *, check: Check, io: Console | None = None) -> int:
    """Run ``mail-mcp account <command>``; returns the exit status."""
    io = io or console
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("httpx2").setLevel(logging.WARNING)  # one INFO line per token request
    path = config_path(args)
    command: str = args.account_command
    try:
        if command == "add":
            from mail_mcp.account.add import add

            return add(args, path, io)
        if command == "remove":  # works even when some account of the file no longer loads
            return _remove(args, path, io)
        from mail_mcp.config.sources import load_settings

        settings = load_settings(config_path=path if path.exists() else None)
        if command == "list":
            return _list(settings, io)
        account = _account(settings, args.account_id)
        if command == "login":
            return _login(account, io)
        return check(settings, account.id)
    except ConfigError as exc:
        io.say(f"mail-mcp account {command}: {exc.setting}: {exc.problem}")
    except MailError as exc:
        io.say(f"mail-mcp account {command}: {exc.code}: {exc.message}")
    except (Abort, EOFError, KeyboardInterrupt) as exc:
        io.say(f"mail-mcp account {command}: {exc or 'cancelled'}")
    return 2


def _account(settings: Settings, account_id: str) -> AccountConfig:
    if account_id not in settings.accounts:
        known = ", ".join(settings.accounts) or "none"
        raise Abort(f"no account {account_id!r} (configured: {known}); add one with `mail-mcp account add`")
    return settings.accounts[account_id]


# --------------------------------------------------------------------------------------------- login etc.


def _login(account: AccountConfig, io: Console) -> int:
    from mail_mcp.auth.flows import device_code_login
    from mail_mcp.auth.loopback import loopback_login

    tokens = account.oauth
    if account.auth != "oauth2" or tokens is None:
        raise Abort(f"account '{account.id}' signs in with a password (AUTH=oauth2 is needed for `login`)")
    provider = tokens.provider
    store = tokens.store()
    common: dict[str, Any] = {
        "client_id": tokens.client_id,
        "client_secret": tokens.client_secret(),
        "token_url": provider.token_url,
        "scope": provider.scope,
        "account_id": account.id,
    }
    if provider.login_flow == "device_code":
        assert provider.device_authorization_url is not None

        def show(code: DeviceCode) -> None:
            io.say(code.message or f"Open {code.verification_uri} and enter the code {code.user_code}.")
            io.say(f"Code: {code.user_code}   URL: {code.verification_uri}   (waiting for you to approve...)")

        result = device_code_login(
            device_authorization_url=provider.device_authorization_url, show=show, **common
        )
    elif provider.login_flow == "loopback":
        assert provider.authorization_url is not None
        result = loopback_login(
            authorization_url=provider.authorization_url,
            authorization_params=provider.authorization_params,
            notify=io.say,
            prompt=io.ask,
            open_browser=io.open_browser,
            **common,
        )
    else:
        raise Abort(
            f"the {provider.name} provider of '{account.id}' has no interactive sign-in; set "
            "OAUTH_DEVICE_AUTHORIZATION_URL or OAUTH_AUTHORIZATION_URL, or OAUTH_REFRESH_TOKEN_COMMAND"
        )
    store.set(account.id, OAUTH_REFRESH_TOKEN, result.refresh_token)
    io.say(f"Signed in. Stored the refresh token of '{account.id}' in {describe_store(store)}.")
    if tokens.configured_refresh:
        io.say(
            "Note: the configuration also sets OAUTH_REFRESH_TOKEN(_COMMAND) or OAUTH_TOKEN_COMMAND, which wins."
        )
    io.say(f"Test it: mail-mcp account test {account.id}")
    return 0


def _stored(account: AccountConfig) -> str:
    name = OAUTH_REFRESH_TOKEN if account.auth == "oauth2" else PASSWORD
    if account.auth == "password" and account.password_command:
        return "password command"
    try:
        store = (
            account.oauth.store()
            if account.oauth is not None
            else open_store(secrets_file({"secrets_file": account.secrets_file}))
        )
        found = store.get(account.id, name) is not None
    except (SecretStoreError, MailError):
        return "no secret store"
    return f"{name.replace('_', ' ')} {'stored' if found else 'not stored'}"


def _list(settings: Settings, io: Console) -> int:
    if not settings.accounts:
        io.say("No accounts configured. Add one with `mail-mcp account add ADDRESS`.")
        return 0
    for account in settings.accounts.values():
        method = f"oauth2 ({account.oauth_provider})" if account.auth == "oauth2" else "password"
        via = f" via {account.proxy.display}" if account.proxy is not None else ""
        sending = " + SMTP" if account.id in settings.smtp else ""
        address = account.login_address or account.user
        server = f"{account.host}:{account.effective_port} {account.security}"
        io.say(f"{account.id}: {address}  {server}{sending}{via}  sign-in: {method}, {_stored(account)}")
    return 0


def _remove(args: argparse.Namespace, path: Path, io: Console) -> int:
    account_id: str = args.account_id
    table = read_accounts(path).get(account_id)
    in_file = isinstance(table, dict)
    in_env = any(name.startswith(f"MAIL_IMAP_{account_id.upper()}_") for name in os.environ)
    if not in_file and not in_env:
        raise Abort(f"no account {account_id!r}")
    if (
        not args.yes
        and ask(io, f"Remove account '{account_id}' and its stored secrets? (y/N)", "n").lower() != "y"
    ):
        raise Abort("nothing was removed")
    if in_file:
        remove_account(path, account_id)
        io.say(f"Removed [accounts.{account_id}] from {path}.")
    else:
        io.say(f"'{account_id}' is set by MAIL_IMAP_{account_id.upper()}_* variables; unset them too.")
    try:
        store = open_store(
            secrets_file(table if isinstance(table, dict) else {})
        )  # MAIL_MCP_SECRETS_FILE first
        deleted = [
            n for n in (PASSWORD, OAUTH_REFRESH_TOKEN, OAUTH_CLIENT_SECRET) if store.delete(account_id, n)
        ]
    except SecretStoreError as exc:
        io.say(f"Could not delete stored secrets: {exc.problem}")
        return 1
    io.say(f"Deleted from {describe_store(store)}: {', '.join(deleted) or 'nothing was stored'}.")
    return 0
