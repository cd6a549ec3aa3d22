"""Which listing a list_messages call is: one folder (Reader) or many ("*" or a list of folders and roles,
Everywhere), each with the state token of the folders it covers."""

from __future__ import annotations

from mail_mcp.errors import InvalidInput
from mail_mcp.imap.search import Filters
from mail_mcp.mailbox.everywhere import Everywhere
from mail_mcp.mailbox.models import MessageList
from mail_mcp.mailbox.reading import Reader
from mail_mcp.mailbox.scope import folders_in_scope


class Listings:
    def __init__(self, reader: Reader, everywhere: Everywhere) -> None:
        self.reader = reader
        self.everywhere = everywhere

    async def list_messages(
        self,
        account_id: str | None,
        mailbox: str | list[str],
        filters: Filters,
        limit: int,
        cursor_text: str | None,
        offset: int = 0,
    ) -> tuple[MessageList, str | None, str]:
        many = isinstance(mailbox, list) or mailbox == "*"
        if cursor_text and Everywhere.owns_cursor(cursor_text):
            many = True  # the next page of a listing over several folders
        if not many:
            assert isinstance(mailbox, str)
            return await self.reader.list_messages(account_id, mailbox, filters, limit, cursor_text, offset)
        if filters.group_by_thread:
            raise InvalidInput(
                "group_by_thread works within one folder; for one conversation across folders use get_thread",
                field="group_by_thread",
            )
        if cursor_text is not None:  # a listing's state is its first page's
            page, next_cursor = await self.everywhere.list_messages(
                account_id, None, filters, limit, cursor_text, offset
            )
            return page, next_cursor, Everywhere.cursor_state(cursor_text)
        # taken before the listing, so nothing racing it is missed; a folder deleted meanwhile is left out
        wanted = list(mailbox) if isinstance(mailbox, list) else None
        account_id = self.reader.service.account(account_id).id
        names = [f.name for f in await folders_in_scope(self.reader.service, account_id, wanted)]
        state = await self.reader.changes.state(account_id, names, skip_missing=True)
        page, next_cursor = await self.everywhere.list_messages(
            account_id, wanted, filters, limit, None, offset, listing_state=state
        )
        return page, next_cursor, state
