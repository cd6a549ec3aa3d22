"""Pydantic models at the boundary of the sending tools (inputs that are objects, and the results)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

SendStatus = Literal["sent", "unknown", "declined", "already_sent"]


class AttachmentSpec(BaseModel):
    """One attachment: a file inside the server's attachment directory, or inline base64 content."""

    path: str | None = Field(None, max_length=1024, description=(
        "A file on the server's machine, relative to the attachment directory the owner configured "
        "(MAIL_SMTP_ATTACHMENT_DIR). Files outside it are refused."))
    content_base64: str | None = Field(None, description="The file's bytes, base64-encoded (instead of path).")
    filename: str | None = Field(None, max_length=255, description="File name shown to recipients; required with "
                                 "content_base64, defaults to the file's name with path.")
    content_type: str | None = Field(None, max_length=200, description="MIME type such as application/pdf; guessed "
                                     "from the file name when left out.")


class Refused(BaseModel):
    address: str
    code: int = Field(description="The SMTP reply code for this recipient, e.g. 550.")
    reply: str = Field(description="The SMTP server's text for this recipient.")


class SentCopy(BaseModel):
    saved: bool = Field(description="Whether a copy is in the Sent folder.")
    mailbox: str | None = None
    message_id: str | None = Field(None, description="Our id of the copy (imap:...), for get_message.")
    reason: str | None = Field(None, description="Why no copy was saved, when saved is false.")


class SendResult(BaseModel):
    status: SendStatus = Field(description=(
        "sent: the SMTP server accepted it (see refused for recipients it did not take); unknown: the connection "
        "broke while handing it over, it may or may not have gone out, and it is never retried automatically; "
        "declined: the person said no, nothing was sent; already_sent: a message with this Message-ID is already "
        "in Sent (an earlier call with the same idempotency_key), nothing was sent now."))
    account: str
    header_message_id: str | None = Field(None, description="The Message-ID header of the message.")
    subject: str = ""
    to: list[str] = Field(default_factory=list)
    cc: list[str] = Field(default_factory=list)
    bcc: list[str] = Field(default_factory=list, description="Blind copies: not in the transmitted headers.")
    accepted: list[str] = Field(default_factory=list, description="Recipients the SMTP server accepted.")
    refused: list[Refused] = Field(default_factory=list, description="Recipients it refused, with its reply.")
    sent_copy: SentCopy | None = None
    in_reply_to: str | None = Field(None, description="In-Reply-To header used (replies).")
    references: list[str] = Field(default_factory=list, description="References header used (replies).")
    original_answered: bool | None = Field(None, description="Replies: whether the original now has \\Answered "
                                           "(null when IMAP writes are disabled).")
    draft_removed: bool | None = Field(None, description="send_draft: whether the draft was removed from Drafts.")
    replayed: bool = Field(False, description="True when this is the stored result of an earlier call with the same "
                           "idempotency_key (or draft): nothing was sent by this call.")
    confirmed_by: Literal["person", "host", "policy"] | None = Field(None, description=(
        "person: confirmed in an elicitation dialog; host: left to the host's own tool approval; policy: the owner "
        "set MAIL_SMTP_CONFIRM=never."))
    smtp_reply: str | None = Field(None, description="The SMTP server's final reply.")
    note: str | None = None


class DraftResult(BaseModel):
    draft_id: str | None = Field(description="Id of the draft (imap:...): pass it to update_draft or send_draft.")
    mailbox: str
    header_message_id: str = Field(description="The Message-ID header of the draft.")
    subject: str
    to: list[str]
    cc: list[str]
    bcc: list[str]
    attachments: list[str] = Field(description="Attachment file names, including an original's when forwarding.")
    in_reply_to: str | None = None
    references: list[str] = Field(default_factory=list)
    replaced: str | None = Field(None, description="update_draft: the id of the draft this one replaced (deleted).")
