"""Command line: `mail-mcp [serve]`, `mail-mcp sandbox`, `mail-mcp check`. Logs go to stderr only."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from .config import Settings
from .errors import ConfigError, MailError

log = logging.getLogger("mail_mcp")
LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"]


def _setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mail-mcp", description="MCP server for IMAP mailboxes.")
    parser.add_argument("--config", help="TOML file with accounts (else MAIL_MCP_CONFIG, else environment)")
    parser.add_argument("--log-level", choices=LEVELS, default=os.environ.get("MAIL_MCP_LOG_LEVEL", "INFO").upper())
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="serve MCP over stdio (the default command)")
    serve.add_argument("--transport", choices=["stdio"], default="stdio")
    sub.add_parser("sandbox", help="start a private Dovecot with sample mail and serve MCP over stdio against it")
    check = sub.add_parser("check", help="log in, print capabilities and folders by role, exit non-zero on failure")
    check.add_argument("--account", help="account id (default: all)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _setup_logging(args.log_level)
    from .config import load_settings

    try:
        settings = load_settings(config_path=args.config)
    except ConfigError as exc:
        print(f"mail-mcp: configuration error: {exc.setting}: {exc.problem}", file=sys.stderr)
        return 2
    command = args.command or "serve"
    if command == "check":
        return run_check(settings, args.account)
    if command == "sandbox" or not settings.accounts:
        if command != "sandbox":
            log.warning("no account configured (MAIL_IMAP_<ACCOUNT>_HOST…): serving the local sandbox mailbox")
        return _serve_sandbox(settings.max_attachment_bytes)
    return _serve(settings)


def _serve(settings: Settings) -> int:
    import anyio

    from .server import build_server
    from .service import MailService

    service = MailService(settings)
    server = build_server(service)

    async def run() -> None:
        try:
            await server.run_stdio_async()
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(2):
                await service.close()

    try:
        anyio.run(run)
    except KeyboardInterrupt:
        pass
    return 0


def _serve_sandbox(max_attachment_bytes: int) -> int:
    from .config import load_settings
    from .sandbox import Sandbox, SandboxError

    try:
        with Sandbox() as sandbox:
            sandbox.seed_sample()
            env = sandbox.env()
            log.info("sandbox Dovecot on 127.0.0.1:%s (user alice); stops when this server exits", sandbox.imap_port)
            env["MAIL_MCP_MAX_ATTACHMENT_BYTES"] = str(max_attachment_bytes)
            env["MAIL_IMAP_WRITE_ENABLED"] = os.environ.get("MAIL_IMAP_WRITE_ENABLED", "false")
            return _serve(load_settings(env=env))
    except SandboxError as exc:
        print(f"mail-mcp: {exc}", file=sys.stderr)
        return 2


def run_check(settings: Settings, account_id: str | None) -> int:
    if not settings.accounts:
        print("mail-mcp check: no account configured (set MAIL_IMAP_<ACCOUNT>_HOST, _USER, _PASS…)", file=sys.stderr)
        return 2
    if account_id is not None and account_id not in settings.accounts:
        print(f"mail-mcp check: no account {account_id!r}; configured: {', '.join(settings.accounts)}",
              file=sys.stderr)
        return 2
    import anyio

    ids = [account_id] if account_id else list(settings.accounts)
    return anyio.run(_check, settings, ids)


async def _check(settings: Settings, ids: list[str]) -> int:
    from .service import MailService

    service = MailService(settings)
    failed = 0
    try:
        for account_id in ids:
            account = settings.accounts[account_id]
            where = f"{account.host}:{account.effective_port} ({account.security})"
            try:
                caps = await service.pools.get(account_id).run(lambda c: sorted(c.capabilities),
                                                                 action="reading capabilities")
                folders = await service.list_folders(account_id)
            except MailError as exc:
                failed += 1
                print(f"[{account_id}] FAILED {where}: {exc.code}: {exc.message}", file=sys.stderr)
                continue
            print(f"[{account_id}] OK {where} as {account.user}")
            print(f"  capabilities: {' '.join(caps)}")
            for folder in folders.folders:
                if folder.role:
                    print(f"  {folder.role:8} {folder.name} ({folder.messages} messages, {folder.unseen} unseen)")
            print(f"  writes: {'enabled' if account.write_enabled else 'disabled'}")
    finally:
        await service.close()
    return 1 if failed else 0
