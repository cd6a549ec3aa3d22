"""Attachments a host can use: a `mail://` link to the bytes (resources/read), readable text for the model
(text parts, and the text of PDFs) cut and continued like bodies, and optionally a file in a download folder."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from urllib.parse import quote

from mail_mcp.errors import InvalidInput
from mail_mcp.ids import MessageId
from mail_mcp.imap import fetch as imap_messages
from mail_mcp.imap.connection import Connection
from mail_mcp.imap.fetch import decoded_size_estimate
from mail_mcp.mailbox.models import AttachmentContent
from mail_mcp.mailbox.service import MailService
from mail_mcp.mime import Part, decode_text, decode_transfer, slice_text
from mail_mcp.mime.pdf import pdf_text

URI_TEMPLATE = "mail://{account}/{mailbox}/{uidvalidity}/{uid}/{part}"
TEXT_TYPES = ("text/", "message/rfc822", "application/json", "application/xml")
PDF = "application/pdf"
_UNSAFE = re.compile(r"[^\w.+-]+")


def attachment_uri(mid: MessageId, part_id: str) -> str:
    return f"mail://{quote(mid.account, safe='')}/{quote(mid.mailbox, safe='')}/{mid.uidvalidity}/{mid.uid}/{part_id}"


def _readable(part: Part) -> bool:
    return part.content_type.startswith(TEXT_TYPES) or part.content_type == PDF


class Attachments:
    def __init__(self, service: MailService, download_dir: str | None = None) -> None:
        self.service = service
        self.download_dir = Path(download_dir) if download_dir else None

    async def _read(self, mid: MessageId, selector: int | str, with_body: bool) -> tuple[Part, bytes | None]:
        account = self.service.account_for(mid)
        cap = self.service.settings.max_attachment_bytes

        def job(conn: Connection) -> tuple[Part, bytes | None]:
            return imap_messages.read_attachment(conn, mid, selector, cap, with_body=with_body)

        part, raw = await self.service.pools.get(account.id).run(
            job, action="reading an attachment", mailbox=mid.mailbox
        )
        if raw is None:
            return part, None
        body = decode_transfer(raw, part.encoding)
        if len(body) > cap:
            raise InvalidInput(
                f"attachment is {len(body):,} bytes, above the {cap:,}-byte cap", size=len(body), cap=cap
            )
        return part, body

    async def get(
        self, message_id: str, selector: int | str, *, offset: int, max_chars: int
    ) -> AttachmentContent:
        mid = MessageId.parse(message_id)
        probe, _ = await self._read(mid, selector, with_body=False)
        wanted = _readable(probe) or self.download_dir is not None
        part, body = await self._read(mid, selector, with_body=True) if wanted else (probe, None)
        content = AttachmentContent(
            message_id=str(mid),
            part_id=part.part_id,
            filename=part.filename,
            content_type=part.content_type,
            size=len(body) if body is not None else decoded_size_estimate(part),
            delivered_as="link",
            resource_uri=attachment_uri(mid, part.part_id),
        )
        if body is not None and self.download_dir is not None:
            content.saved_path = str(self._save(mid, part, body))
        text = None
        if body is not None and part.content_type == PDF:
            text, content.text_source = pdf_text(body), "pdf"
        elif body is not None and part.content_type.startswith(TEXT_TYPES):
            text, content.text_source = decode_text(body, part.params.get("charset")), "text"
        if text is None:
            content.text_source = None
        else:
            content.text, content.next_offset = slice_text(text, offset, max_chars)
            content.delivered_as, content.offset, content.total_chars = "text", offset, len(text)
        return content

    async def read_bytes(self, account: str, mailbox: str, uidvalidity: str, uid: str, part: str) -> bytes:
        """resources/read of an attachment link."""
        if not (uidvalidity.isdigit() and uid.isdigit()):
            raise InvalidInput("not an attachment link of this server")
        mid = MessageId(account, mailbox, int(uidvalidity), int(uid))
        _, body = await self._read(mid, part, with_body=True)
        assert body is not None
        return body

    def _save(self, mid: MessageId, part: Part, body: bytes) -> Path:
        assert self.download_dir is not None
        name = (
            _UNSAFE.sub("_", Path(part.filename or f"part-{part.part_id}").name).strip("._") or "attachment"
        )
        # UIDs are unique only within one folder generation: the file name carries all of the message id, so
        # attachments of different messages (folders, accounts) never overwrite each other.
        where = hashlib.sha256(f"{mid.account}:{mid.mailbox}:{mid.uidvalidity}".encode()).hexdigest()[:10]
        target = self.download_dir / f"{where}-{mid.uid}-{part.part_id}-{name}"
        self.download_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(body)
        return target
