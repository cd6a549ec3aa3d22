"""The data of tool results: what each mail job returns, as pydantic models (their JSON Schema is the `data` part
of each tool's output schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mail_mcp.imap.folders import Role


class Address(BaseModel):
    name: str | None = None
    email: str = Field(description="The real address; empty when the header could not be read.")
    warning: str | None = Field(
        None,
        description="Only present when this sender may not be who it seems: a display name showing a "
        "different address, or a header the server could not parse.",
        exclude_if=lambda value: value is None,
    )


class AccountInfo(BaseModel):
    id: str
    address: str | None = Field(description="The account's e-mail address; null when none is configured.")
    server: str = Field(description="host:port and security (tls|starttls|plain).")
    status: Literal["ok", "error"]
    error: str | None = Field(None, description="Why the account could not be reached, when status is error.")
    capabilities: list[str] = Field(
        default_factory=list,
        description="Those that matter: MOVE, UIDPLUS, SPECIAL-USE, CONDSTORE, SORT, THREAD…",
    )
    write_enabled: bool
    send_enabled: bool


class AccountList(BaseModel):
    default_account: str
    accounts: list[AccountInfo]


class FolderInfo(BaseModel):
    name: str = Field(description="Full folder name, as message ids and `mailbox` parameters use it.")
    delimiter: str | None
    role: Role | None = Field(None, description="Special use, from SPECIAL-USE or the well-known name.")
    attributes: list[str]
    selectable: bool
    messages: int | None = None
    unseen: int | None = None


class FolderList(BaseModel):
    account: str
    folders: list[FolderInfo]


class MessageSummary(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    message_id: str = Field(
        description="Our id, imap:<account>:<mailbox>:<uidvalidity>:<uid>; use it with other tools."
    )
    header_message_id: str | None = Field(None, description="The Message-ID header.")
    mailbox: str
    folder_role: Role | None = None
    subject: str
    from_: Address | None = Field(None, alias="from")
    to: list[Address] = Field(default_factory=list)
    cc: list[Address] = Field(default_factory=list)
    date: datetime | None = Field(None, description="The Date header, else the arrival time.")
    flags: list[str]
    is_read: bool
    is_flagged: bool
    is_answered: bool
    has_attachment: bool
    size: int = Field(description="Size in bytes on the server.")
    in_reply_to: str | None = None
    preview: str = Field("", description="The first words of the body (untrusted content).")
    thread_count: int | None = Field(
        None,
        description="With group_by_thread: how many messages the conversation has (this is its newest).",
        exclude_if=lambda value: value is None,
    )


class MessageList(BaseModel):
    account: str
    mailbox: str
    folder_role: Role | None = None
    total: int | None = Field(
        description="How many messages match the filters; null with has_attachment, "
        "which is checked message by message."
    )
    order: str = "newest first"
    mailboxes: list[str] | None = Field(
        None,
        description="The folders searched, when a listing covers more than one.",
        exclude_if=lambda value: value is None,
    )
    messages: list[MessageSummary]


class AttachmentInfo(BaseModel):
    index: int = Field(
        description="1-based position; pass it to get_attachment as a number, or part_id as a string."
    )
    part_id: str = Field(description="IMAP body section, e.g. 2 or 1.3.")
    filename: str | None
    content_type: str
    size: int = Field(description="Decoded size in bytes, estimated from the encoded size (within a few %).")
    inline: bool
    content_id: str | None = None


class Body(BaseModel):
    format: Literal["text", "html", "both"]
    text: str = Field(
        description="Readable text (from text/plain, else converted from HTML), sliced by offset."
    )
    html: str | None = Field(
        None, description="Sanitised HTML when format is html or both (sliced like text)."
    )
    text_source: Literal["text/plain", "text/html", "none"]
    offset: int
    next_offset: int | None = Field(
        None, description="When set, the body was cut: call again with this offset."
    )
    total_chars: int


class MessageDetail(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    message_id: str
    header_message_id: str | None = None
    mailbox: str
    folder_role: Role | None = None
    subject: str
    from_: Address | None = Field(None, alias="from")
    sender: Address | None = None
    reply_to: list[Address] = Field(default_factory=list)
    to: list[Address] = Field(default_factory=list)
    cc: list[Address] = Field(default_factory=list)
    bcc: list[Address] = Field(default_factory=list)
    date: datetime | None = None
    flags: list[str]
    is_read: bool
    is_flagged: bool
    is_answered: bool
    size: int
    in_reply_to: str | None = None
    references: list[str] = Field(default_factory=list)
    body: Body
    attachments: list[AttachmentInfo]


class AttachmentContent(BaseModel):
    message_id: str
    part_id: str
    filename: str | None
    content_type: str
    size: int = Field(description="Decoded size in bytes (estimated when the bytes were not fetched).")
    delivered_as: Literal["text", "link"] = Field(
        description="text: readable text in `text` (and the link); link: the bytes only behind resource_uri."
    )
    resource_uri: str = Field(description="mail:// URI; resources/read returns the bytes.")
    saved_path: str | None = Field(None, description="Where the file was written (MAIL_MCP_DOWNLOAD_DIR).")
    text: str | None = Field(
        None, description="Text of text/* parts, or extracted from a PDF, sliced by offset."
    )
    text_source: Literal["text", "pdf"] | None = None
    offset: int = 0
    next_offset: int | None = Field(
        None, description="When set, the text was cut: call again with this offset."
    )
    total_chars: int | None = None


WriteStatus = Literal["ok", "failed", "unknown"]


class WriteCounts(BaseModel):
    ok: int = 0
    failed: int = 0
    unknown: int = 0


class FlagOutcome(BaseModel):
    message_id: str
    status: WriteStatus = Field(
        description="ok: done (flags shows the result); failed: nothing was changed for "
        "this message; unknown: the connection broke after the command was sent, so it "
        "may or may not have been applied: check with get_message before retrying."
    )
    code: str | None = Field(
        None,
        description="Why it failed or is unknown: stale_id, not_found, "
        "connection_failed, timeout, server_error.",
    )
    reason: str | None = None
    flags: list[str] | None = Field(
        None, description="The message's flags now, as read back from the server."
    )
    labels: list[str] | None = Field(None, description="Gmail: its labels now.")


class FlagChangeResult(BaseModel):
    account: str
    requested_add_flags: list[str] = Field(description="add_flags as given.")
    requested_remove_flags: list[str] = Field(description="remove_flags as given.")
    applied_add_flags: list[str] = Field(
        description="The IMAP flags actually sent to be added (aliases resolved); "
        "empty when nothing was sent."
    )
    applied_remove_flags: list[str] = Field(description="The IMAP flags actually sent to be removed.")
    counts: WriteCounts
    messages: list[FlagOutcome]


class TransferOutcome(BaseModel):
    message_id: str = Field(description="The id the caller gave.")
    status: WriteStatus = Field(
        description="ok: done (or nothing to do, see code); failed: nothing was changed for "
        "this message; unknown: the connection broke after the command was sent: list "
        "both folders before retrying."
    )
    code: str | None = Field(
        None,
        description="For failed/unknown: stale_id, not_found, connection_failed, timeout, "
        "server_error. For ok: already_there (nothing to do), new_id_unknown, or label_removed "
        "(Gmail: only the label went, the message is still in All Mail).",
    )
    reason: str | None = None
    previous_folder: str = Field(description="Where the message was.")
    folder: str | None = Field(None, description="Where it is now (null after a permanent delete).")
    new_message_id: str | None = Field(
        None,
        description="Its id in `folder` (from COPYUID). Pass it to "
        "move_message with previous_folder as destination to undo a move.",
    )


class TransferResult(BaseModel):
    account: str
    operation: Literal["move", "copy", "delete", "permanent_delete"]
    folder: str | None = Field(None, description="The destination folder (null for a permanent delete).")
    folder_role: Role | None = None
    counts: WriteCounts
    messages: list[TransferOutcome]


class CreatedFolder(BaseModel):
    account: str
    name: str = Field(description="Full name on the server, as list_folders and message ids show it.")
    delimiter: str | None = Field(None, description="The server's hierarchy delimiter.")
    created: bool = Field(description="false when the folder already existed (nothing was changed).")


# ---------------------------------------------------------------- sending and drafts

SendStatus = Literal["sent", "unknown", "declined", "already_sent"]


class AttachmentSpec(BaseModel):
    """One attachment: `path` or `content_base64`."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(
        None,
        max_length=1024,
        description="Relative to the owner's MAIL_SMTP_ATTACHMENT_DIR; nothing outside it.",
    )
    content_base64: str | None = Field(None, description="The bytes, base64.")
    filename: str | None = Field(None, max_length=255, description="Required with content_base64.")
    content_type: str | None = Field(None, max_length=200, description="Guessed from the name when left out.")


class Refused(BaseModel):
    address: str
    code: int = Field(description="The SMTP reply code for this recipient, e.g. 550.")
    reply: str = Field(description="The SMTP server's text for this recipient.")


class SentCopy(BaseModel):
    saved: bool = Field(description="Whether a copy is in the Sent folder.")
    mailbox: str | None = None
    message_id: str | None = Field(None, description="Our id of the copy (imap:...), for get_message.")
    reason: str | None = Field(None, description="Why no copy was saved, when saved is false.")
    status: WriteStatus | None = Field(
        None,
        description="ok: the copy is in Sent; failed: it is not; unknown: saving it was interrupted and "
        "checking failed too, so it may be there: look for header_message_id in Sent before saving another.",
    )


class SendResult(BaseModel):
    status: SendStatus = Field(
        description=(
            "sent: the SMTP server accepted it (see refused for recipients it did not take); unknown: the connection "
            "broke while handing it over, it may or may not have gone out, and it is never retried automatically; "
            "declined: the person said no, nothing was sent; already_sent: a message with this Message-ID is already "
            "in Sent (an earlier call with the same idempotency_key), nothing was sent now."
        )
    )
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
    original_answered: bool | None = Field(
        None,
        description="Replies: whether the original now has \\Answered (null when IMAP writes are disabled).",
    )
    draft_removed: bool | None = Field(
        None, description="send_draft: whether the draft was removed from Drafts."
    )
    replayed: bool = Field(
        False,
        description="True when this is the stored result of an earlier call with the same "
        "idempotency_key (or draft): nothing was sent by this call.",
    )
    confirmed_by: Literal["person", "host", "policy"] | None = Field(
        None,
        description=(
            "person: confirmed in an elicitation dialog; host: left to the host's own tool approval; policy: the owner "
            "set MAIL_SMTP_CONFIRM=never."
        ),
    )
    smtp_reply: str | None = Field(None, description="The SMTP server's final reply.")
    note: str | None = None


class DraftResult(BaseModel):
    draft_id: str | None = Field(
        description="Id of the draft (imap:...): pass it to update_draft or send_draft."
    )
    mailbox: str
    header_message_id: str = Field(description="The Message-ID header of the draft.")
    subject: str
    to: list[str]
    cc: list[str]
    bcc: list[str]
    attachments: list[str] = Field(
        description="Attachment file names, including an original's when forwarding."
    )
    in_reply_to: str | None = None
    references: list[str] = Field(default_factory=list)
    replaced: str | None = Field(
        None, description="update_draft: the id of the draft this one replaced (deleted)."
    )
