"""`mail-mcp check`: log in to each account, print capabilities and folders by role, fail with a reason."""

from __future__ import annotations

import sys

import anyio

from .config import Settings
from .errors import MailError
from .service import MailService


def run_check(settings: Settings, account_id: str | None) -> int:
    if not settings.accounts:
        print("mail-mcp check: no account configured (set MAIL_IMAP_<ACCOUNT>_HOST, _USER, _PASS…)", file=sys.stderr)
        return 2
    if account_id is not None and account_id not in settings.accounts:
        print(f"mail-mcp check: no account {account_id!r}; configured: {', '.join(settings.accounts)}",
              file=sys.stderr)
        return 2
    ids = [account_id] if account_id else list(settings.accounts)
    return anyio.run(_check, settings, ids)


async def _check(settings: Settings, ids: list[str]) -> int:
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
