"""Write tools: flags, move, copy, delete, create_folder. Registered only when some account enables writes."""

from typing import Annotated

from mcp.server import MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field

from mail_mcp.imap.flags import FLAG_GRAMMAR_DOC, MAX_FLAGS_PER_LIST
from mail_mcp.mailbox.folders import DESTINATION_ROLES
from mail_mcp.mailbox.models import CreatedFolder, FlagChangeResult, TransferResult, WriteCounts
from mail_mcp.mailbox.organizing import Organizer
from mail_mcp.mailbox.service import MailService
from mail_mcp.server.schemas import ToolResult, meta

WRITE_TOOLS = frozenset({"modify_flags", "move_message", "copy_message", "delete_message", "create_folder"})
MAX_IDS = 250


def _hints(*, destructive: bool, idempotent: bool) -> ToolAnnotations:
    return ToolAnnotations(
        read_only_hint=False, destructive_hint=destructive, idempotent_hint=idempotent, open_world_hint=True
    )


MessageIds = Annotated[
    list[Annotated[str, Field(max_length=1200)]],
    Field(
        description=f"1-{MAX_IDS} message ids from list_messages (imap:<account>:<mailbox>:<uidvalidity>:<uid>), "
        "one account, any mix of folders.",
        min_length=1,
        max_length=MAX_IDS,
    ),
]
FlagList = Annotated[
    list[Annotated[str, Field(max_length=1000)]] | None,
    Field(
        description=f"Up to {MAX_FLAGS_PER_LIST} flags (give add_flags, remove_flags or both). {FLAG_GRAMMAR_DOC}",
        max_length=MAX_FLAGS_PER_LIST,
    ),
]
Destination = Annotated[
    str,
    Field(
        description='Destination folder: a name from list_folders (exact, e.g. "Projects/2024"), or a role: '
        f"{', '.join(DESTINATION_ROLES)} (resolved through SPECIAL-USE). An existing folder with "
        "exactly this name wins over a role. It must exist (see create_folder).",
        min_length=1,
        max_length=1000,
    ),
]


def _summary(verb: str, counts: WriteCounts) -> str:
    text = f"{verb} {counts.ok} message(s)"
    if counts.failed:
        text += f"; {counts.failed} failed"
    if counts.unknown:
        text += f"; {counts.unknown} unknown (connection lost after sending: check before retrying)"
    return text


def register(server: MCPServer, service: MailService) -> None:
    if not service.settings.any_write_enabled:
        return
    writes = Organizer(service)
    ids = ", ".join(a.id for a in service.settings.accounts.values() if a.write_enabled)

    @server.tool(annotations=_hints(destructive=False, idempotent=True), title="Add or remove flags")
    async def modify_flags(
        message_ids: MessageIds, add_flags: FlagList = None, remove_flags: FlagList = None
    ) -> ToolResult[FlagChangeResult]:
        """Mark messages read/unread, flagged (starred), answered, junk, or set any keyword, on up to 250
        messages at once. To mark unread, remove `read`; to unstar, remove `flagged`. Any invalid flag refuses
        the whole call and nothing is written. Each message gets status ok (with its flags now), failed (stale
        or gone id: nothing changed) or unknown (connection lost after sending: check before retrying)."""
        data = await writes.modify_flags(message_ids, add_flags, remove_flags)
        return ToolResult(summary=_summary("changed flags on", data.counts), data=data, meta=meta())

    @server.tool(annotations=_hints(destructive=True, idempotent=True), title="Move messages to a folder")
    async def move_message(message_ids: MessageIds, destination: Destination) -> ToolResult[TransferResult]:
        """Move up to 250 messages into a folder (by name or role). Each result gives the new message id in
        the destination (new_message_id) and previous_folder, so a move can be undone by moving the new ids
        back. Messages already in the destination are left alone (code already_there)."""
        data = await writes.transfer(message_ids, destination, operation="move")
        return ToolResult(summary=_summary(f"moved to {data.folder}", data.counts), data=data, meta=meta())

    @server.tool(annotations=_hints(destructive=False, idempotent=False), title="Copy messages to a folder")
    async def copy_message(message_ids: MessageIds, destination: Destination) -> ToolResult[TransferResult]:
        """Copy up to 250 messages into a folder (by name or role); the originals stay. Each result gives the
        copy's id (new_message_id). Calling it twice makes two copies."""
        data = await writes.transfer(message_ids, destination, operation="copy")
        return ToolResult(summary=_summary(f"copied to {data.folder}", data.counts), data=data, meta=meta())

    @server.tool(annotations=_hints(destructive=True, idempotent=True), title="Delete messages")
    async def delete_message(
        message_ids: MessageIds,
        permanent: Annotated[
            bool,
            Field(
                description="false (default): move to the Trash folder, undoable with move_message and the returned "
                "new_message_id. true: expunge for good (cannot be undone); only for messages already in "
                "Trash, unless the owner set ALLOW_PERMANENT_DELETE for the account."
            ),
        ] = False,
    ) -> ToolResult[TransferResult]:
        """Delete up to 250 messages: by default move them to Trash (soft delete; the result gives each new id
        for undo). With permanent=true, remove messages that are in Trash for good (\\Deleted + UID EXPUNGE of
        exactly those messages; other messages are never expunged)."""
        if permanent:
            data = await writes.delete_permanently(message_ids)
            return ToolResult(summary=_summary("permanently deleted", data.counts), data=data, meta=meta())
        data = await writes.transfer(message_ids, None, operation="delete")
        return ToolResult(summary=_summary(f"moved to {data.folder}", data.counts), data=data, meta=meta())

    @server.tool(annotations=_hints(destructive=False, idempotent=True), title="Create a folder")
    async def create_folder(
        name: Annotated[
            str,
            Field(
                description="Full folder name; use the delimiter list_folders shows for "
                'sub-folders (e.g. "Projects/2024"). Missing parents are created.',
                min_length=1,
                max_length=1000,
            ),
        ],
        account: Annotated[
            str | None,
            Field(
                description=f"Account id; one of: {ids}. Leave out for the default account.", max_length=64
            ),
        ] = None,
    ) -> ToolResult[CreatedFolder]:
        """Create a folder (to move messages into). Does nothing and says so when it already exists."""
        data = await writes.create_folder(account, name)
        verb = "created" if data.created else "already existed:"
        return ToolResult(summary=f"{verb} {data.name} in {data.account}", data=data, meta=meta())
