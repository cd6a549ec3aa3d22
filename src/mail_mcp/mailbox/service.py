"""The core every mail job shares: the settings, the process-wide connection pools and the one folder cache."""

from __future__ import annotations

from mail_mcp.config.models import AccountConfig, Settings
from mail_mcp.config.providers import Behaviour
from mail_mcp.errors import NotFound
from mail_mcp.ids import MessageId
from mail_mcp.imap.pool import Pools
from mail_mcp.mailbox.folders import FolderCache
from mail_mcp.mailbox.locks import WriteLocks


class MailService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pools = Pools(settings.accounts)
        self.folders = FolderCache(self.pools)
        self.write_locks = WriteLocks()
        self._profiles: dict[str, Behaviour] = {}

    async def profile(self, account_id: str) -> Behaviour:
        """What the account's provider does differently (from its PROVIDER setting, host, address and
        capabilities; see config.providers), read once from a connection."""
        found = self._profiles.get(account_id)
        if found is None:
            found = await self.pools.get(account_id).run(lambda c: c.profile, action="reading capabilities")
            self._profiles[account_id] = found
        return found

    def account(self, account_id: str | None) -> AccountConfig:
        account_id = account_id or self.settings.default_account
        try:
            return self.settings.accounts[account_id]
        except KeyError:
            raise NotFound(
                f"no account {account_id!r}; configured accounts: {', '.join(self.settings.accounts)}",
                account=account_id,
            ) from None

    def account_for(self, mid: MessageId) -> AccountConfig:
        return self.account(mid.account)

    async def close(self) -> None:
        await self.pools.close()
