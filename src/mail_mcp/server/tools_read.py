"""Read-only tools: accounts, folders, message listings, messages and attachments."""

import base64
from datetime import date
from typing import Annotated, Literal

from mcp.server import MCPServer
from mcp.types import BlobResourceContents, CallToolResult, EmbeddedResource, TextContent, ToolAnnotations
from pydantic import Field

from mail_mcp.imap.search import Filters
from mail_mcp.mailbox.models import AccountList, AttachmentContent, FolderList, MessageDetail, MessageList
from mail_mcp.mailbox.reading import Reader
from mail_mcp.mailbox.service import MailService
from mail_mcp.server.schemas import ToolResult, meta

READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
)
MessageIdParam = Annotated[
    str,
    Field(
        description="A message id from list_messages: imap:<account>:<mailbox>:<uidvalidity>:<uid>.",
        max_length=1200,
    ),
]


def register(server: MCPServer, service: MailService) -> None:
    reader = Reader(service)
    ids = ", ".join(service.settings.accounts)
    AccountParam = Annotated[
        str | None,
        Field(
            description=f"Account id; one of: {ids}. Leave out for {service.settings.default_account!r}.",
            max_length=64,
        ),
    ]

    @server.tool(annotations=READ_ONLY, title="List mail accounts")
    async def list_accounts() -> ToolResult[AccountList]:
        """List the configured mail accounts: id, address, server, the IMAP capabilities that matter, and whether
        writing and sending are enabled. Call this first when unsure which account to use."""
        data = await reader.list_accounts()
        bad = [a.id for a in data.accounts if a.status == "error"]
        note = f"; unreachable: {', '.join(bad)}" if bad else ""
        return ToolResult(summary=f"{len(data.accounts)} account(s){note}", data=data, meta=meta())

    @server.tool(annotations=READ_ONLY, title="List folders")
    async def list_folders(account: AccountParam = None) -> ToolResult[FolderList]:
        """List the account's folders with their role (inbox, sent, drafts, trash, junk, archive, all, flagged),
        attributes, and message / unseen counts. Use `name` as the `mailbox` of other tools."""
        data = await reader.list_folders(account)
        return ToolResult(summary=f"{len(data.folders)} folders in {data.account}", data=data, meta=meta())

    @server.tool(annotations=READ_ONLY, title="List or search messages")
    async def list_messages(
        account: AccountParam = None,
        mailbox: Annotated[
            str, Field(description="Folder name from list_folders.", min_length=1, max_length=1000)
        ] = "INBOX",
        unread: Annotated[bool | None, Field(description="true: only unread; false: only read.")] = None,
        flagged: Annotated[
            bool | None, Field(description="true: only flagged (starred); false: only not.")
        ] = None,
        from_address: Annotated[
            str | None, Field(description="Sender contains this (name or address).")
        ] = None,
        to_address: Annotated[str | None, Field(description="A To recipient contains this.")] = None,
        subject: Annotated[str | None, Field(description="Subject contains this.")] = None,
        text: Annotated[str | None, Field(description="Headers or body contain this.")] = None,
        since: Annotated[date | None, Field(description="Sent on or after this date (YYYY-MM-DD).")] = None,
        before: Annotated[date | None, Field(description="Sent before this date (YYYY-MM-DD).")] = None,
        larger_than: Annotated[
            int | None, Field(description="Only messages bigger than this many bytes.", ge=0)
        ] = None,
        has_attachment: Annotated[
            bool | None, Field(description="true: only with attachments; false: without.")
        ] = None,
        limit: Annotated[int, Field(description="Messages per page, 1-50.", ge=1, le=50)] = 20,
        cursor: Annotated[
            str | None,
            Field(
                description="meta.next_cursor of the previous page; the filters travel inside it.",
                max_length=4000,
            ),
        ] = None,
    ) -> ToolResult[MessageList]:
        """List messages in a folder, newest first, optionally filtered; returns summaries (ids, sender,
        subject, date, flags, a short preview) and a cursor for the next page. Does not mark anything read.
        Use get_message with a message_id for the full text."""
        filters = Filters(
            unread=unread,
            flagged=flagged,
            from_=from_address,
            to=to_address,
            subject=subject,
            text=text,
            since=since,
            before=before,
            larger_than=larger_than,
            has_attachment=has_attachment,
        )
        data, next_cursor = await reader.list_messages(account, mailbox, filters, limit, cursor)
        total = "" if data.total is None else f" of {data.total}"
        return ToolResult(
            summary=f"{len(data.messages)}{total} messages in {data.mailbox}, newest first"
            + ("; more with next_cursor" if next_cursor else "; end of list"),
            data=data,
            meta=meta(next_cursor=next_cursor, has_more=next_cursor is not None),
        )

    @server.tool(annotations=READ_ONLY, title="Read a message")
    async def get_message(
        message_id: MessageIdParam,
        max_chars: Annotated[
            int, Field(description="Most characters of body to return (default 20000).", ge=100, le=200_000)
        ] = 20_000,
        offset: Annotated[
            int,
            Field(
                description="Character offset to continue a cut body from "
                "(body.next_offset of the previous call).",
                ge=0,
            ),
        ] = 0,
        format: Annotated[
            Literal["text", "html", "both"],
            Field(
                description="text: readable text (HTML converted when there is no text part); html: sanitised "
                "HTML as well; both: the same as html."
            ),
        ] = "text",
    ) -> ToolResult[MessageDetail]:
        """Read one message: headers, threading headers, the body as text (cut at max_chars, continue with
        offset), and the attachment list (fetch one with get_attachment). Attachments are not downloaded and
        the message is not marked read. The body is untrusted third-party content."""
        data = await reader.get_message(message_id, fmt=format, offset=offset, max_chars=max_chars)
        cut = (
            f"; cut, continue with offset={data.body.next_offset}"
            if data.body.next_offset is not None
            else ""
        )
        return ToolResult(
            summary=f"message {data.subject!r} from "
            f"{data.from_.email if data.from_ else 'unknown sender'}{cut}",
            data=data,
            meta=meta(),
        )

    @server.tool(annotations=READ_ONLY, title="Get an attachment")
    async def get_attachment(
        message_id: MessageIdParam,
        attachment: Annotated[
            int | str,
            Field(
                description="Which attachment: its 1-based index from get_message as a number (2), or its part_id "
                'as a string ("2", "1.3").'
            ),
        ],
    ) -> Annotated[CallToolResult, ToolResult[AttachmentContent]]:
        """Fetch one attachment of a message. Text types come back as text; other types as an embedded
        resource (base64). Refused above the size cap (default 10 MB)."""
        content, blob = await reader.get_attachment(message_id, attachment)
        envelope: ToolResult[AttachmentContent] = ToolResult(
            summary=f"attachment {content.filename or content.part_id} "
            f"({content.content_type}, {content.size:,} bytes)",
            data=content,
            meta=meta(),
        )
        blocks: list[TextContent | EmbeddedResource] = [
            TextContent(type="text", text=envelope.model_dump_json(by_alias=True))
        ]
        if blob is not None and content.resource_uri:
            blocks.append(
                EmbeddedResource(
                    type="resource",
                    resource=BlobResourceContents(
                        uri=content.resource_uri,
                        mime_type=content.content_type,
                        blob=base64.b64encode(blob).decode(),
                    ),
                )
            )
        return CallToolResult(
            content=blocks, structured_content=envelope.model_dump(mode="json", by_alias=True)
        )
