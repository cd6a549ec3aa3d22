"""Resources: the bytes behind the `mail://` attachment links that get_attachment returns."""

from __future__ import annotations

import os

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError

from mail_mcp.errors import MailError
from mail_mcp.mailbox.attachments import URI_TEMPLATE, Attachments
from mail_mcp.mailbox.service import MailService


def register(server: MCPServer, service: MailService) -> None:
    attachments = Attachments(service, os.environ.get("MAIL_MCP_DOWNLOAD_DIR") or None)

    @server.resource(
        URI_TEMPLATE,
        name="attachment",
        title="Mail attachment",
        description="The bytes of one attachment; get_attachment returns these links.",
        mime_type="application/octet-stream",
    )
    async def attachment(account: str, mailbox: str, uidvalidity: str, uid: str, part: str) -> bytes:
        try:
            return await attachments.read_bytes(account, mailbox, uidvalidity, uid, part)
        except MailError as exc:
            kind = (
                ResourceNotFoundError
                if exc.code in ("not_found", "stale_id", "invalid_input")
                else ResourceError
            )
            raise kind(f"{exc.code}: {exc.message}") from exc
