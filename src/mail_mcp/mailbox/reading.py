"""Reading: accounts, folders, a page of message summaries, one message, one attachment. Never sets \\Seen."""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Literal

from mail_mcp.errors import InvalidInput, MailError
from mail_mcp.ids import MessageId
from mail_mcp.imap import fetch as imap_messages
from mail_mcp.imap import folders as imap_folders
from mail_mcp.imap.connection import Connection
from mail_mcp.imap.search import Cursor, Filters
from mail_mcp.mailbox.changes import ChangeTracker
from mail_mcp.mailbox.models import (
    AccountInfo,
    AccountList,
    FolderInfo,
    FolderList,
    MessageDetail,
    MessageList,
)
from mail_mcp.mailbox.presenting import detail, summary
from mail_mcp.mailbox.raw_detail import detail_from_bytes
from mail_mcp.mailbox.service import MailService

CAPABILITIES_SHOWN = (
    "MOVE",
    "UIDPLUS",
    "SPECIAL-USE",
    "CONDSTORE",
    "QRESYNC",
    "SORT",
    "THREAD=REFERENCES",
    "ESEARCH",
    "LIST-STATUS",
    "IDLE",
    "X-GM-EXT-1",
)
MAX_TEXT_PART_BYTES = 4 * 1024 * 1024


class Reader:
    def __init__(self, service: MailService, changes: ChangeTracker | None = None) -> None:
        self.service = service
        self.changes = changes or ChangeTracker(service)

    async def list_accounts(self) -> AccountList:
        infos = []
        for account in self.service.settings.accounts.values():
            info = AccountInfo(
                id=account.id,
                address=account.login_address,
                server=f"{account.host}:{account.effective_port} ({account.security})",
                status="ok",
                write_enabled=account.write_enabled,
                send_enabled=self.service.settings.can_send(account.id),
            )
            try:
                caps = await self.service.pools.get(account.id).run(
                    lambda c: c.capabilities, action="reading capabilities"
                )
                info.capabilities = [c for c in CAPABILITIES_SHOWN if c in caps]
            except MailError as exc:
                info.status, info.error = "error", f"{exc.code}: {exc.message}"
            infos.append(info)
        return AccountList(default_account=self.service.settings.default_account, accounts=infos)

    async def list_folders(self, account_id: str | None) -> FolderList:
        account = self.service.account(account_id)
        found = await self.service.pools.get(account.id).run(
            imap_folders.list_folders, action="listing folders"
        )
        self.service.folders.remember(account.id, found)
        return FolderList(account=account.id, folders=[FolderInfo(**asdict(f)) for f in found])

    async def list_messages(
        self,
        account_id: str | None,
        mailbox: str,
        filters: Filters,
        limit: int,
        cursor_text: str | None,
        offset: int = 0,
    ) -> tuple[MessageList, str | None, str]:
        """A page of one folder newest first, the cursor of the next page, and the folder's state token taken
        before the listing (a change racing the listing is reported again by list_changes, never missed)."""
        cursor = Cursor.decode(cursor_text) if cursor_text else None
        if cursor is not None and offset:
            raise InvalidInput("give cursor or offset, not both: offset starts a new listing", field="offset")
        if cursor is not None:
            if account_id not in (None, cursor.account) or mailbox not in ("INBOX", cursor.mailbox):
                raise InvalidInput("the cursor belongs to another account or mailbox; drop it to start over")
            if filters.as_json() and filters.as_json() != cursor.filters:
                raise InvalidInput(
                    "filters differ from the ones the cursor was made with; drop the cursor to "
                    "start a new listing, or repeat the same filters"
                )
            account_id, mailbox, filters = cursor.account, cursor.mailbox, Filters.from_json(cursor.filters)
        account = self.service.account(account_id)
        if mailbox.upper() == "INBOX":
            mailbox = "INBOX"
        elif cursor is None:  # "Sent" is INBOX.Sent on Courier and Cyrus' INBOX. mode
            mailbox = await self.service.folders.server_name(account.id, mailbox)
        # a listing's state is its first page's: mail that arrives between pages is reported by list_changes
        state = cursor.state if cursor and cursor.state else await self.changes.state(account.id, [mailbox])

        def job(conn: Connection) -> imap_messages.RawPage:
            return imap_messages.list_page(conn, mailbox, filters, cursor, limit, account.id, offset)

        page = await self.service.pools.get(account.id).run(job, action="listing messages", mailbox=mailbox)
        role = await self.service.folders.role_of(account.id, mailbox)
        uidvalidity = page.selected.uidvalidity
        summaries = []
        for message in page.messages:
            row = summary(message, MessageId(account.id, mailbox, uidvalidity, message.uid), role)
            if page.thread_counts is not None:
                row.thread_count = page.thread_counts.get(message.uid, 1)
            summaries.append(row)
        listing = MessageList(
            account=account.id, mailbox=mailbox, folder_role=role, total=page.total, messages=summaries
        )
        next_cursor = replace(page.next_cursor, state=state).encode() if page.next_cursor else None
        return listing, next_cursor, state

    async def get_message(
        self, message_id: str, *, fmt: Literal["text", "html", "both"], offset: int, max_chars: int
    ) -> MessageDetail:
        mid = MessageId.parse(message_id)
        account = self.service.account_for(mid)

        def job(conn: Connection) -> imap_messages.RawMessage:
            return imap_messages.read_message(conn, mid, MAX_TEXT_PART_BYTES, want_html=fmt != "text")

        raw = await self.service.pools.get(account.id).run(
            job, action="reading a message", mailbox=mid.mailbox
        )
        role = await self.service.folders.role_of(account.id, mid.mailbox)
        if raw.raw is not None:
            return detail_from_bytes(raw, mid, role, fmt=fmt, offset=offset, max_chars=max_chars)
        return detail(raw, mid, role, fmt=fmt, offset=offset, max_chars=max_chars)
