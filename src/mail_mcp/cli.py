"""Command line: `mail-mcp [serve]`, `mail-mcp sandbox`, `mail-mcp check`, `mail-mcp account ...`
(account/commands.py). Logs go to stderr only.

`serve` and `sandbox` take the transport options (`--transport stdio|sse|http`, `--host`, `--port`,
`--token-file`, `--allowed-host`, `--allowed-origin`); `transports.py` does the serving and the clean exit.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from mail_mcp.config.models import Settings
from mail_mcp.errors import ConfigError, MailError
from mail_mcp.serve.http import (
    ALLOWED_HOSTS_ENV,
    ALLOWED_ORIGINS_ENV,
    DEFAULT_HOST,
    DEFAULT_PORT,
    TOKEN_ENV,
    TOKEN_FILE_ENV,
    TRANSPORTS,
    HttpOptions,
    TransportError,
    http_options,
    read_token,
    split_list,
)

log = logging.getLogger("mail_mcp")
LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"]


def _setup_logging(level: str, trace: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)
    if logging.getLevelName(level) > logging.DEBUG:
        logging.getLogger("httpx2").setLevel(logging.WARNING)  # one INFO line per OAuth token refresh
    if not trace:
        # imapclient's DEBUG output is the IMAP wire trace: subjects, addresses, bodies. Opt in explicitly.
        logging.getLogger("imapclient").setLevel(max(logging.INFO, logging.getLevelName(level)))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mail-mcp", description="MCP server for IMAP mailboxes. With no command: `serve` over stdio."
    )
    common = argparse.ArgumentParser(add_help=False)  # accepted before or after the command
    common.add_argument(
        "--config",
        default=argparse.SUPPRESS,
        help="TOML file with accounts (else MAIL_MCP_CONFIG, else environment)",
    )
    common.add_argument(
        "--log-level",
        type=str.upper,
        choices=LEVELS,
        default=argparse.SUPPRESS,
        help="DEBUG, INFO, WARNING or ERROR (else MAIL_MCP_LOG_LEVEL, else INFO); logs go to stderr",
    )
    parser.add_argument("--config", help="TOML file with accounts (else MAIL_MCP_CONFIG, else environment)")
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LEVELS,
        help="DEBUG, INFO, WARNING or ERROR (else MAIL_MCP_LOG_LEVEL, else INFO); logs go to stderr",
    )

    transport = argparse.ArgumentParser(add_help=False)
    group = transport.add_argument_group("transport")
    group.add_argument(
        "--transport",
        choices=TRANSPORTS,
        default="stdio",
        help="stdio (default; what MCP hosts launch), http (streamable HTTP at /mcp) or sse "
        "(legacy hosts: GET /sse, POST /messages/)",
    )
    group.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help="address to bind for http/sse (default 127.0.0.1); anything that is not loopback "
        f"needs a bearer token ({TOKEN_ENV} or a token file) and --allowed-host",
    )
    group.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port for http/sse (default {DEFAULT_PORT}; 0 picks a free one and logs it)",
    )
    group.add_argument(
        "--token-file",
        help=f"file holding the bearer token (else {TOKEN_FILE_ENV}, else {TOKEN_ENV}); "
        "required off loopback, enforced whenever set",
    )
    group.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="HOST[:PORT|:*]",
        help=f"Host header value clients use (repeatable; also {ALLOWED_HOSTS_ENV}, comma-separated); "
        "loopback names are always allowed on a loopback bind",
    )
    group.add_argument(
        "--allowed-origin",
        action="append",
        default=[],
        metavar="SCHEME://HOST[:PORT|:*]",
        help=f"browser Origin to accept (repeatable; also {ALLOWED_ORIGINS_ENV}); requests with any "
        "other Origin get 403, requests without one are fine",
    )

    sub = parser.add_subparsers(dest="command")
    sub.add_parser(
        "serve", parents=[common, transport], help="serve MCP (the default command; stdio unless --transport)"
    )
    sandbox = sub.add_parser(
        "sandbox",
        parents=[common, transport],
        help="serve a private playground mailbox (alice@example.test, sample mail; writes and sending on, "
        "and nothing leaves this machine); stopped on exit",
    )
    sandbox.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="keep the playground mailbox in DIR between runs, so message ids stay valid "
        "(the sample mail is added when DIR is new; default: a temporary directory removed on exit)",
    )
    check = sub.add_parser(
        "check",
        parents=[common],
        help="log in, print capabilities and folders by role, exit non-zero on failure",
    )
    check.add_argument("--account", help="account id (default: all)")
    from mail_mcp.account.commands import add_parser as add_account_parser

    add_account_parser(sub, [common])
    return parser


def _http_options(args: argparse.Namespace) -> HttpOptions | None:
    if getattr(args, "transport", "stdio") == "stdio":
        return None
    env = os.environ
    return http_options(
        args.transport,
        args.host,
        args.port,
        read_token(env, args.token_file),
        [*args.allowed_host, *split_list(env.get(ALLOWED_HOSTS_ENV))],
        [*args.allowed_origin, *split_list(env.get(ALLOWED_ORIGINS_ENV))],
    )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM while starting: unwind like Ctrl-C so `with Sandbox()` stops its Dovecot


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command or "serve"
    if command != "check":
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        return _main(args, command)
    except KeyboardInterrupt:  # SIGINT/SIGTERM before serving began; `with Sandbox()` has cleaned up
        log.info("interrupted while starting; stopped")
        return 0


def _main(args: argparse.Namespace, command: str) -> int:
    level = args.log_level or os.environ.get("MAIL_MCP_LOG_LEVEL", "INFO").upper()
    if level not in LEVELS:
        print(
            f"mail-mcp: configuration error: MAIL_MCP_LOG_LEVEL: expected one of {', '.join(LEVELS)}, "
            f"got {level!r}",
            file=sys.stderr,
        )
        return 2
    from mail_mcp.config.values import env_bool

    try:
        trace = env_bool(os.environ, "MAIL_MCP_IMAP_TRACE")
    except ConfigError as exc:
        print(f"mail-mcp: configuration error: {exc.setting}: {exc.problem}", file=sys.stderr)
        return 2
    _setup_logging(level, bool(trace))
    if command == "account":
        from mail_mcp.account.commands import run as run_account

        return run_account(args, check=run_check)
    from mail_mcp import audit
    from mail_mcp.config.accounts_file import default_config_path
    from mail_mcp.config.sources import load_settings

    config = args.config
    if config is None and not os.environ.get("MAIL_MCP_CONFIG") and default_config_path().is_file():
        config = default_config_path()  # where `mail-mcp account add` writes accounts
    try:
        settings = load_settings(config_path=config)
        audit.open_log()
    except ConfigError as exc:
        print(f"mail-mcp: configuration error: {exc.setting}: {exc.problem}", file=sys.stderr)
        return 2
    if command == "check":
        return run_check(settings, args.account)
    try:
        http = _http_options(args)
        if command == "sandbox" or not settings.accounts:
            if command != "sandbox":
                log.warning(
                    "no account configured (MAIL_IMAP_<ACCOUNT>_HOST…): serving the local sandbox mailbox"
                )
            data_dir = getattr(args, "data_dir", None)
            return _serve_sandbox(
                settings.max_attachment_bytes, http, data_dir, fallback=command != "sandbox"
            )
        return _serve(settings, http)
    except TransportError as exc:
        print(f"mail-mcp: {exc}", file=sys.stderr)
        return 2


def _serve(settings: Settings, http: HttpOptions | None, sandbox_marker: str = "") -> int:
    from mail_mcp.mailbox.service import MailService
    from mail_mcp.serve.lifecycle import run
    from mail_mcp.server.app import build_server

    service = MailService(settings)
    server = build_server(service)
    server.sandbox_marker = sandbox_marker
    return run(server, service, http)


def _serve_sandbox(
    max_attachment_bytes: int, http: HttpOptions | None, data_dir: Path | None, *, fallback: bool
) -> int:
    """Serve the sandbox playground; `fallback` (no account configured) marks every result as sample mail."""
    from mail_mcp.config.sources import load_settings
    from mail_mcp.sandbox import SandboxError
    from mail_mcp.sandbox.playground import SANDBOX_MARKER, playground

    try:
        with playground(data_dir) as env:
            env["MAIL_MCP_MAX_ATTACHMENT_BYTES"] = str(max_attachment_bytes)
            return _serve(load_settings(env=env), http, SANDBOX_MARKER if fallback else "")
    except SandboxError as exc:
        print(f"mail-mcp: {exc}", file=sys.stderr)
        return 2


def run_check(settings: Settings, account_id: str | None) -> int:
    if not settings.accounts:
        print(
            "mail-mcp check: no account configured (set MAIL_IMAP_<ACCOUNT>_HOST, _USER, _PASS…)",
            file=sys.stderr,
        )
        return 2
    if account_id is not None and account_id not in settings.accounts:
        print(
            f"mail-mcp check: no account {account_id!r}; configured: {', '.join(settings.accounts)}",
            file=sys.stderr,
        )
        return 2
    import anyio

    ids = [account_id] if account_id else list(settings.accounts)
    return anyio.run(_check, settings, ids)


async def _check(settings: Settings, ids: list[str]) -> int:
    from mail_mcp.mailbox.reading import Reader
    from mail_mcp.mailbox.service import MailService

    service = MailService(settings)
    failed = 0
    try:
        for account_id in ids:
            account = settings.accounts[account_id]
            where = f"{account.host}:{account.effective_port} ({account.security})"
            try:
                caps = await service.pools.get(account_id).run(
                    lambda c: sorted(c.capabilities), action="reading capabilities"
                )
                folders = await Reader(service).list_folders(account_id)
            except MailError as exc:
                failed += 1
                print(f"[{account_id}] FAILED {where}: {exc.code}: {exc.message}", file=sys.stderr)
                continue
            print(f"[{account_id}] OK {where} as {account.user}")
            print(f"  capabilities: {' '.join(caps)}")
            for folder in folders.folders:
                if folder.role:
                    print(
                        f"  {folder.role:8} {folder.name} ({folder.messages} messages, {folder.unseen} unseen)"
                    )
            print(f"  writes: {'enabled' if account.write_enabled else 'disabled'}")
    finally:
        await service.close()
    return 1 if failed else 0
