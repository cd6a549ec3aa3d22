"""What an outgoing message is made of before it is built: the request as given, the validated plan, the
attachments read from the attachment directory or inline base64, and the question a person is asked."""

from __future__ import annotations

import base64
import binascii
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import anyio
import anyio.to_thread

from mail_mcp.config.models import AccountConfig
from mail_mcp.errors import InvalidInput, NotFound
from mail_mcp.ids import MessageId
from mail_mcp.mailbox.models import AttachmentSpec
from mail_mcp.mime import compose
from mail_mcp.mime.compose import Attachment, Draft, Mailbox

PREVIEW_LINES = 8


@dataclass
class Request:
    """What send_message / save_draft / update_draft were given."""

    account: str | None = None
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    subject: str | None = None
    body_text: str = ""
    body_html: str | None = None
    attachments: list[AttachmentSpec] = field(default_factory=list)
    reply_to_id: str | None = None
    reply_all: bool = False
    forward_id: str | None = None
    idempotency_key: str | None = None


@dataclass
class Plan:
    """A validated message before it is built; `forwarded` names the original's attachments for a preview."""

    account: AccountConfig
    sender: Mailbox
    to: list[Mailbox]
    cc: list[Mailbox]
    bcc: list[Mailbox]
    subject: str
    text: str
    html: str | None
    files: list[Attachment]
    kind: Literal["new", "reply", "forward"] = "new"
    source: MessageId | None = None
    source_subject: str = ""
    forwarded: list[str] = field(default_factory=list)
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)

    def build(self, header_message_id: str) -> Draft:
        return compose.build(
            sender=self.sender,
            to=self.to,
            cc=self.cc,
            bcc=self.bcc,
            subject=self.subject,
            text=self.text,
            html=self.html,
            attachments=self.files,
            header_message_id=header_message_id,
            in_reply_to=self.in_reply_to,
            references=self.references,
        )


def kb(size: int) -> str:
    return f"{size / 1024:,.0f} KB" if size >= 1024 else f"{size} bytes"


def question(
    sender: Mailbox,
    to: list[Mailbox],
    cc: list[Mailbox],
    bcc: list[Mailbox],
    subject: str,
    text: str,
    attachments: list[str],
    context: str = "",
) -> str:
    """What the person is asked before sending: sender, every recipient, subject, attachments, first lines."""
    lines = [f"Send this e-mail from {sender}?"]
    lines += [
        f"{label}: {', '.join(map(str, boxes))}"
        for label, boxes in (("To", to), ("Cc", cc), ("Bcc", bcc))
        if boxes
    ]
    lines.append(f"Subject: {subject}")
    if attachments:
        lines.append("Attachments: " + ", ".join(attachments))
    if context:
        lines.append(context)
    body = list(text.splitlines())
    shown = "\n".join(body[:PREVIEW_LINES])[:600]
    return (
        "\n".join(lines) + "\n\n" + shown + ("\n…" if len(body) > PREVIEW_LINES or len(shown) == 600 else "")
    )


async def load_attachments(specs: list[AttachmentSpec], root: Path | None, budget: int) -> list[Attachment]:
    """The attachments of a message, read and checked against the size budget; nothing is sent on a problem."""
    files: list[Attachment] = []
    used = 0
    for index, spec in enumerate(specs, 1):
        where = f"attachments[{index}]"
        if (spec.path is None) == (spec.content_base64 is None):
            raise InvalidInput(f"{where}: give either path or content_base64 (with filename)", field=where)
        if spec.path is not None:
            data, name = await anyio.to_thread.run_sync(_read_file, root, spec.path, budget - used, where)
        else:
            if not spec.filename:
                raise InvalidInput(f"{where}: inline content needs a filename", field=where)
            text = "".join((spec.content_base64 or "").split())
            if len(text) * 3 // 4 > budget - used + 2:
                raise InvalidInput(
                    f"{where} is above the {budget:,}-byte attachment limit "
                    "(MAIL_SMTP_MAX_ATTACHMENT_BYTES); nothing was sent",
                    field=where,
                    cap=budget,
                )
            try:
                data, name = base64.b64decode(text, validate=True), spec.filename
            except (binascii.Error, ValueError):
                raise InvalidInput(f"{where}.content_base64 is not valid base64", field=where) from None
        used += len(data)
        if used > budget:
            raise InvalidInput(
                f"attachments total {used:,} bytes, above the {budget:,}-byte limit "
                "(MAIL_SMTP_MAX_ATTACHMENT_BYTES); nothing was sent",
                size=used,
                cap=budget,
            )
        name = spec.filename or name
        ctype = spec.content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        files.append(Attachment(*compose.check_attachment(name, ctype, where), data))
    return files


def _read_file(root: Path | None, path: str, left: int, where: str) -> tuple[bytes, str]:
    if root is None:
        raise InvalidInput(
            f"{where}: file attachments are switched off (MAIL_SMTP_ATTACHMENT_DIR is not set); "
            "send the content as content_base64 with a filename instead",
            field=where,
        )
    compose.check_header(path, f"{where}.path")
    resolved = (root / path).resolve()  # follows symlinks, so a link pointing outside is caught below
    if not resolved.is_relative_to(root):
        raise InvalidInput(
            f"{where}: {path!r} is outside the attachment directory; only files inside "
            "MAIL_SMTP_ATTACHMENT_DIR can be attached. Nothing was sent.",
            field=where,
        )
    if not resolved.is_file():
        raise NotFound(f"{where}: no file {path!r} in the attachment directory", field=where)
    size = resolved.stat().st_size
    if size > left:
        raise InvalidInput(
            f"{where}: {path!r} is {size:,} bytes, above what is left of the attachment limit "
            f"({left:,} bytes, MAIL_SMTP_MAX_ATTACHMENT_BYTES); nothing was sent",
            size=size,
        )
    return resolved.read_bytes(), resolved.name
