"""Reading: accounts, folders, a page of message summaries, one message, one attachment. Never sets \\Seen."""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal

from mail_mcp.errors import InvalidInput, MailError
from mail_mcp.ids import MessageId
from mail_mcp.imap import fetch as imap_messages
from mail_mcp.imap import folders as imap_folders
from mail_mcp.imap.connection import Connection
from mail_mcp.imap.search import Cursor, Filters
from mail_mcp.mailbox.models import (
    AccountInfo,
    AccountList,
    AttachmentContent,
    FolderInfo,
    FolderList,
    MessageDetail,
    MessageList,
)
from mail_mcp.mailbox.presenting import detail, summary
from mail_mcp.mailbox.service import MailService
from mail_mcp.mime import Part, decode_text, decode_transfer

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
TEXT_TYPES = ("text/", "message/rfc822", "application/json", "application/xml")


class Reader:
    def __init__(self, service: MailService) -> None:
        self.service = service

    async def list_accounts(self) -> AccountList:
        infos = []
        for account in self.service.settings.accounts.values():
            info = AccountInfo(
                id=account.id,
                address=account.email,
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
        self, account_id: str | None, mailbox: str, filters: Filters, limit: int, cursor_text: str | None
    ) -> tuple[MessageList, str | None]:
        cursor = Cursor.decode(cursor_text) if cursor_text else None
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

        def job(conn: Connection) -> imap_messages.RawPage:
            return imap_messages.list_page(conn, mailbox, filters, cursor, limit, account.id)

        page = await self.service.pools.get(account.id).run(job, action="listing messages", mailbox=mailbox)
        role = await self.service.folders.role_of(account.id, mailbox)
        uidvalidity = page.selected.uidvalidity
        summaries = [
            summary(m, MessageId(account.id, mailbox, uidvalidity, m.uid), role) for m in page.messages
        ]
        listing = MessageList(
            account=account.id, mailbox=mailbox, folder_role=role, total=page.total, messages=summaries
        )
        return listing, page.next_cursor.encode() if page.next_cursor else None

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
        return detail(raw, mid, role, fmt=fmt, offset=offset, max_chars=max_chars)

    async def get_attachment(
        self, message_id: str, attachment: int | str
    ) -> tuple[AttachmentContent, bytes | None]:
        mid = MessageId.parse(message_id)
        account = self.service.account_for(mid)
        cap = self.service.settings.max_attachment_bytes

        def job(conn: Connection) -> tuple[Part, bytes]:
            return imap_messages.read_attachment(conn, mid, attachment, cap)

        part, raw = await self.service.pools.get(account.id).run(
            job, action="reading an attachment", mailbox=mid.mailbox
        )
        body = decode_transfer(raw, part.encoding)
        if len(body) > cap:
            raise InvalidInput(
                f"attachment is {len(body):,} bytes, above the {cap:,}-byte cap", size=len(body), cap=cap
            )
        is_text = part.content_type.startswith(TEXT_TYPES)
        content = AttachmentContent(
            message_id=str(mid),
            part_id=part.part_id,
            filename=part.filename,
            content_type=part.content_type,
            size=len(body),
            delivered_as="text" if is_text else "resource",
            text=decode_text(body, part.params.get("charset")) if is_text else None,
            resource_uri=None
            if is_text
            else f"mail://{mid.account}/attachment/{mid.uidvalidity}/{mid.uid}/{part.part_id}",
        )
        return content, None if is_text else body
