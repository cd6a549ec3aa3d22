"""Conversations and changes: get_thread (a whole conversation across folders) and list_changes (what changed
since a listing's state token). Both read only."""

from typing import Annotated

from mcp.server import MCPServer
from pydantic import Field

from mail_mcp.mailbox.changes import MAX_TOKEN_CHARS, ChangeList, ChangeTracker
from mail_mcp.mailbox.service import MailService
from mail_mcp.mailbox.threads import Thread, Threads
from mail_mcp.server.schemas import PageResult, ToolResult, meta, page_meta
from mail_mcp.server.tools_read import READ_ONLY, MessageIdParam


def register(server: MCPServer, service: MailService, changes: ChangeTracker) -> None:
    threads = Threads(service)

    @server.tool(annotations=READ_ONLY, title="Read a conversation")
    async def get_thread(
        message_id: MessageIdParam,
        max_chars: Annotated[
            int,
            Field(description="Most body characters per message, quoted history removed.", ge=100, le=20_000),
        ] = 1500,
        limit: Annotated[int, Field(description="Most messages to show, 1-200.", ge=1, le=200)] = 30,
    ) -> ToolResult[Thread]:
        """The whole conversation of a message, across folders (my replies in Sent too), oldest first: sender,
        date and the new text of each. get_message reads a cut one in full. Fenced as in list_messages."""
        data = await threads.get_thread(message_id, max_chars=max_chars, limit=limit)
        return ToolResult(
            summary=f"{len(data.messages)} message(s) in the conversation {data.subject!r}",
            data=data,
            meta=meta(),
        )

    @server.tool(annotations=READ_ONLY, title="What changed since")
    async def list_changes(
        state: Annotated[
            str,
            Field(
                description="meta.state of list_messages or of an earlier list_changes.",
                max_length=MAX_TOKEN_CHARS,
            ),
        ],
        limit: Annotated[int, Field(description="Most new messages to show, 1-50.", ge=1, le=50)] = 20,
    ) -> PageResult[ChangeList]:
        """What changed in the folders of a listing since its state: new messages (newest first), flag changes
        and messages gone. Pass the returned meta.state next time. Never marks anything read."""
        data = await changes.list_changes(state, limit=limit)
        return PageResult(summary=_changes_summary(data), data=data, meta=page_meta(None, data.state))


def _changes_summary(data: ChangeList) -> str:
    parts = [
        f"{data.new_total} new" if data.new_total else "",
        f"{data.flag_changes_total} with changed flags" if data.flag_changes_total else "",
        f"{data.vanished_total} gone" if data.vanished_total else "",
    ]
    said = ", ".join(p for p in parts if p)
    if data.complete:
        return said or "no changes"
    return (
        said or "nothing that could be told"
    ) + "; some changes could not be told (see unknown): list the folder"
