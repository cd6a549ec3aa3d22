"""Write tools: flags, move, copy, delete, create_folder. Registered only when some account enables writes."""

from typing import Annotated

from mcp.server import MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field

from mail_mcp.imap.flags import MAX_FLAGS_PER_LIST
from mail_mcp.mailbox.folders import DESTINATION_ROLES
from mail_mcp.mailbox.models import CreatedFolder, FlagChangeResult, TransferResult, WriteCounts
from mail_mcp.mailbox.organizing import Organizer
from mail_mcp.mailbox.service import MailService
from mail_mcp.server.schemas import ToolResult, meta

WRITE_TOOLS = frozenset({"modify_flags", "move_message", "copy_message", "delete_message", "create_folder"})
MAX_IDS = 250
FLAGS_DOC = (
    "read, flagged (starred), answered, draft, important, junk, notjunk, \\Deleted, or keywords such as "
    "$Forwarded or project-x (no spaces)."
)


def _hints(*, destructive: bool, idempotent: bool) -> ToolAnnotations:
    return ToolAnnotations(
        read_only_hint=False, destructive_hint=destructive, idempotent_hint=idempotent, open_world_hint=True
    )


MessageIds = Annotated[
    list[Annotated[str, Field(max_length=1200)]],
    Field(
        description=f"1-{MAX_IDS} message ids (imap:...) of one account, any mix of folders.",
        min_length=1,
        max_length=MAX_IDS,
    ),
]
AddFlags = Annotated[
    list[Annotated[str, Field(max_length=1000)]] | None,
    Field(description=f"Up to {MAX_FLAGS_PER_LIST} flags to set: {FLAGS_DOC}", max_length=MAX_FLAGS_PER_LIST),
]
RemoveFlags = Annotated[
    list[Annotated[str, Field(max_length=1000)]] | None,
    Field(description="Flags to clear, as in add_flags.", max_length=MAX_FLAGS_PER_LIST),
]
Labels = Annotated[
    list[Annotated[str, Field(max_length=255)]] | None,
    Field(description="Gmail only: label names, as list_folders shows them.", max_length=20),
]
Destination = Annotated[
    str,
    Field(
        description=f"An existing folder's exact name, or a role: {', '.join(DESTINATION_ROLES)}.",
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
        message_ids: MessageIds,
        add_flags: AddFlags = None,
        remove_flags: RemoveFlags = None,
        add_labels: Labels = None,
        remove_labels: Labels = None,
    ) -> ToolResult[FlagChangeResult]:
        """Mark messages read/unread, flagged (starred), answered, junk, or set any keyword. To mark unread,
        remove `read`. An invalid flag refuses the whole call. Per message: ok (with its flags now), failed
        (nothing changed) or unknown (connection lost after sending: check before retrying)."""
        data = await writes.modify_flags(message_ids, add_flags, remove_flags, add_labels, remove_labels)
        return ToolResult(summary=_summary("changed flags on", data.counts), data=data, meta=meta())

    @server.tool(annotations=_hints(destructive=True, idempotent=True), title="Move messages to a folder")
    async def move_message(message_ids: MessageIds, destination: Destination) -> ToolResult[TransferResult]:
        """Move messages into a folder. Each result gives new_message_id and previous_folder: move the new ids
        back to undo. Per message: ok, failed (nothing changed) or unknown (check both folders first)."""
        data = await writes.transfer(message_ids, destination, operation="move")
        return ToolResult(summary=_summary(f"moved to {data.folder}", data.counts), data=data, meta=meta())

    @server.tool(annotations=_hints(destructive=False, idempotent=False), title="Copy messages to a folder")
    async def copy_message(message_ids: MessageIds, destination: Destination) -> ToolResult[TransferResult]:
        """Copy messages into a folder; the originals stay. Each result gives the copy's new_message_id.
        Calling it twice makes two copies."""
        data = await writes.transfer(message_ids, destination, operation="copy")
        return ToolResult(summary=_summary(f"copied to {data.folder}", data.counts), data=data, meta=meta())

    @server.tool(annotations=_hints(destructive=True, idempotent=True), title="Delete messages")
    async def delete_message(
        message_ids: MessageIds,
        permanent: Annotated[
            bool,
            Field(description="Expunge for good (no undo); only in Trash unless the owner allows it."),
        ] = False,
    ) -> ToolResult[TransferResult]:
        """Delete messages: move them to Trash (undo with move_message and each new_message_id), or with
        permanent=true expunge exactly these messages for good."""
        if permanent:
            data = await writes.delete_permanently(message_ids)
            kept = [m for m in data.messages if m.code == "label_removed"]
            note = (
                f"; {len(kept)} of them only lost a label (Gmail): still in {kept[0].folder}" if kept else ""
            )
            verb = "expunged" if kept else "permanently deleted"
            return ToolResult(summary=_summary(verb, data.counts) + note, data=data, meta=meta())
        data = await writes.transfer(message_ids, None, operation="delete")
        return ToolResult(summary=_summary(f"moved to {data.folder}", data.counts), data=data, meta=meta())

    @server.tool(annotations=_hints(destructive=False, idempotent=True), title="Create a folder")
    async def create_folder(
        name: Annotated[
            str,
            Field(
                description='Path below your own folders, levels separated by "/" ("Projects/2024"); the '
                "result gives the server's full name.",
                min_length=1,
                max_length=1000,
            ),
        ],
        account: Annotated[
            str | None,
            Field(description=f"One of: {ids}. Default: the default account.", max_length=64),
        ] = None,
    ) -> ToolResult[CreatedFolder]:
        """Create a folder (and missing parents). Does nothing and says so when it already exists."""
        data = await writes.create_folder(account, name)
        verb = "created" if data.created else "already existed:"
        return ToolResult(summary=f"{verb} {data.name} in {data.account}", data=data, meta=meta())
