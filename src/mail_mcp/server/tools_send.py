"""Sending tools: send_message and send_draft (gate MAIL_SMTP_SEND_ENABLED), save_draft and update_draft (gate
MAIL_IMAP_WRITE_ENABLED). A tool whose gate is off is not registered; server.py refuses a call to it by name.

Before sending, the person is asked to confirm through elicitation when the client supports it (declining sends
nothing). Otherwise MAIL_SMTP_CONFIRM decides: `always` refuses and suggests save_draft, `auto` leaves it to the
host's own tool approval, `never` sends without asking (and never elicits).
"""

from typing import Annotated, Any, Literal

from mcp.server import MCPServer
from mcp.server.elicitation import AcceptedElicitation
from mcp.server.mcpserver import Context, Elicit, ElicitationResult, Resolve
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from mail_mcp.audit import audit
from mail_mcp.errors import MailError, Unsupported
from mail_mcp.ids import MessageId
from mail_mcp.mailbox.drafts import DraftService
from mail_mcp.mailbox.models import AttachmentSpec, DraftResult, SendResult
from mail_mcp.mailbox.outgoing import Request
from mail_mcp.mailbox.sending import SendingService
from mail_mcp.mailbox.service import MailService
from mail_mcp.server import _compat
from mail_mcp.server.schemas import ToolResult, meta

SEND = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True
)
DRAFT = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False
)
REPLACE_DRAFT = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False
)
SEND_TOOLS = ("send_message", "send_draft")
DRAFT_TOOLS = ("save_draft", "update_draft")

Addresses = Annotated[
    list[Annotated[str, Field(max_length=500)]],
    Field(description='One address per item: "a@example.com" or "Name <a@example.com>".', max_length=100),
]
MoreAddresses = Annotated[
    list[Annotated[str, Field(max_length=500)]], Field(description="As to.", max_length=100)
]
Subject = Annotated[
    str | None,
    Field(
        description="Replies and forwards default to the original's, with Re: / Fwd:.",
        max_length=998,
    ),
]
BodyText = Annotated[
    str,
    Field(
        description="Plain text; a reply or forward quotes the original below it.",
        max_length=2_000_000,
    ),
]
BodyHtml = Annotated[str | None, Field(description="HTML version of the same text.", max_length=4_000_000)]
Attachments = Annotated[
    list[AttachmentSpec],
    Field(
        description="Files to attach (total capped by MAIL_SMTP_MAX_ATTACHMENT_BYTES).",
        max_length=50,
    ),
]
ReplyTo = Annotated[
    str | None,
    Field(
        description="Message id to reply to (threaded; `to` defaults to its Reply-To or From).",
        max_length=1200,
    ),
]
ReplyAll = Annotated[bool, Field(description="With reply_to_id: also to the original's To and Cc.")]
ForwardId = Annotated[
    str | None,
    Field(
        description="Message id to forward, with its attachments.",
        max_length=1200,
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Field(
        description="Any unique string: a retry with the same key returns the first result instead of sending "
        "again (across restarts too).",
        min_length=1,
        max_length=200,
    ),
]
DraftId = Annotated[
    str,
    Field(description="A draft id (imap:...) from save_draft or update_draft.", max_length=1200),
]


class Confirm(BaseModel):
    """What the person is asked (flat primitives only, as elicitation requires)."""

    send: bool = Field(
        True, title="Send it", description="Leave checked and accept to send; decline to keep it unsent."
    )


def gated_tool_error(name: str) -> dict[str, Any] | None:
    """The `write_disabled` error for a call to a sending or draft tool that is not registered, else None."""
    if name in SEND_TOOLS:
        return {
            "code": "write_disabled",
            "message": f"{name} is not available: sending needs "
            "MAIL_SMTP_SEND_ENABLED=true and an account with SMTP settings (MAIL_SMTP_<ACCOUNT>_HOST), which the "
            "owner has not set. save_draft may be available to leave a draft for a person to send.",
            "details": {"tool": name, "setting": "MAIL_SMTP_SEND_ENABLED"},
        }
    if name in DRAFT_TOOLS:
        return {
            "code": "write_disabled",
            "message": f"{name} is not available: drafts are IMAP writes, which are "
            "disabled; the owner can enable them with MAIL_IMAP_WRITE_ENABLED=true",
            "details": {"tool": name, "setting": "MAIL_IMAP_WRITE_ENABLED"},
        }
    return None


def _owner(draft_id: str) -> str | None:
    try:
        return MessageId.parse(draft_id).account
    except MailError:
        return None


def _summary(result: SendResult) -> str:
    if result.replayed:
        return f"already handled by an earlier call with the same key ({result.status}); nothing was sent now"
    if result.status == "declined":
        return "the person declined; nothing was sent"
    if result.status == "already_sent":
        return "a message with this Message-ID is already in Sent; nothing was sent again"
    if result.status == "unknown":
        return "outcome unknown: the connection broke while handing the message over; it was not retried"
    text = f"sent to {', '.join(result.accepted)}"
    if result.refused:
        text += f"; refused: {', '.join(r.address for r in result.refused)}"
    copy = result.sent_copy
    if copy is not None:
        if copy.saved:
            text += f"; copy saved in {copy.mailbox}"
        elif copy.status == "unknown":
            text += f"; a copy may be in Sent: look for header_message_id before saving one ({copy.reason})"
        else:
            text += f"; no copy in Sent ({copy.reason})"
    return text


def register(server: MCPServer, service: MailService) -> None:
    settings = service.settings
    sending = SendingService(service)
    drafts = DraftService(sending)
    can_send = settings.send_enabled and bool(settings.smtp)
    ids = ", ".join(settings.accounts)
    AccountParam = Annotated[
        str | None,
        Field(
            description=f"One of: {ids}. Default: that of reply_to_id / forward_id, else {settings.default_account!r}.",
            max_length=64,
        ),
    ]

    def confirmation(ctx: Context) -> Literal["person", "host", "policy"]:
        if settings.smtp_confirm == "never":
            return "policy"
        caps = ctx.client_capabilities
        elicitation = caps.elicitation if caps is not None else None
        if elicitation is not None and (elicitation.form is not None or elicitation.url is None):
            return "person"
        if settings.smtp_confirm == "always":
            raise Unsupported(
                "this client cannot ask the person to confirm, and the owner requires confirmation "
                "(MAIL_SMTP_CONFIRM=always): nothing was sent. Use save_draft so the person can review "
                "and send it from their mail program.",
                setting="MAIL_SMTP_CONFIRM",
            )
        return "host"

    def request(**given: Any) -> Request:
        return Request(**{k: v for k, v in given.items() if k in Request.__dataclass_fields__})

    async def confirm_send(
        account: str | None,
        to: list[str],
        cc: list[str],
        bcc: list[str],
        subject: str | None,
        body_text: str,
        body_html: str | None,
        attachments: list[AttachmentSpec],
        reply_to_id: str | None,
        reply_all: bool,
        forward_id: str | None,
        idempotency_key: str | None,
        ctx: Context,
    ) -> Confirm | Elicit[Confirm]:
        if sending.replay(account, idempotency_key, reply_to_id or forward_id) is not None:
            return Confirm(send=True)  # nothing will be sent: the stored result is returned
        req = request(**locals())
        try:
            plan = await sending.plan(req, full=False, sending=True)  # refusals come before anyone is asked
            who = confirmation(ctx)
        except MailError as exc:
            sending.audit_refusal(req, exc)
            raise
        return Confirm(send=True) if who != "person" else Elicit(sending.plan_question(plan), Confirm)

    async def confirm_draft(draft_id: str, ctx: Context) -> Confirm | Elicit[Confirm]:
        try:
            account, _, draft = await drafts.load_draft(draft_id)
            sending.smtp_for(account)
            sending.check_allowed(account, draft.recipients)
            who = confirmation(ctx)
        except MailError as exc:
            audit("send_draft", _owner(draft_id) or "-", status="refused", code=exc.code, draft_id=draft_id)
            raise
        return Confirm(send=True) if who != "person" else Elicit(drafts.draft_question(draft), Confirm)

    def accepted(answer: ElicitationResult[Confirm]) -> bool:
        return isinstance(answer, AcceptedElicitation) and bool(answer.data.send)

    if can_send:

        @server.tool(annotations=SEND, title="Send an e-mail")
        async def send_message(
            *,
            account: AccountParam = None,
            to: Addresses = [],  # noqa: B006 - pydantic copies defaults
            cc: MoreAddresses = [],  # noqa: B006
            bcc: MoreAddresses = [],  # noqa: B006
            subject: Subject = None,
            body_text: BodyText = "",
            body_html: BodyHtml = None,
            attachments: Attachments = [],  # noqa: B006
            reply_to_id: ReplyTo = None,
            reply_all: ReplyAll = False,
            forward_id: ForwardId = None,
            idempotency_key: IdempotencyKey = None,
            ctx: Context,
            confirm: Annotated[ElicitationResult[Confirm], Resolve(confirm_send)],
        ) -> ToolResult[SendResult]:
            """Send an e-mail now: new, a reply (reply_to_id) or a forward (forward_id). The person may be asked
            to confirm; declined sends nothing. Status unknown: the connection broke mid-send, do not resend
            without asking. Use save_draft to let a person review it first."""
            req = request(**locals())
            if not accepted(confirm):
                result = sending.declined(account, {"subject": subject, "to": to, "cc": cc, "bcc": bcc})
            else:
                result = await sending.send(req, confirmation(ctx))
            return ToolResult(summary=_summary(result), data=result, meta=meta())

        @server.tool(annotations=SEND, title="Send a saved draft")
        async def send_draft(
            draft_id: DraftId,
            ctx: Context,
            confirm: Annotated[ElicitationResult[Confirm], Resolve(confirm_draft)],
        ) -> ToolResult[SendResult]:
            """Send a draft as it is now, then remove it from Drafts. The person may be asked to confirm.
            Sending the same draft twice sends it once."""
            if not accepted(confirm):
                result = sending.declined(_owner(draft_id), {"draft_id": draft_id})
            else:
                result = await drafts.send_draft(draft_id, confirmation(ctx))
            return ToolResult(summary=_summary(result), data=result, meta=meta())

    if settings.any_write_enabled:

        @server.tool(annotations=DRAFT, title="Save a draft")
        async def save_draft(
            account: AccountParam = None,
            to: Addresses = [],  # noqa: B006
            cc: MoreAddresses = [],  # noqa: B006
            bcc: MoreAddresses = [],  # noqa: B006
            subject: Subject = None,
            body_text: BodyText = "",
            body_html: BodyHtml = None,
            attachments: Attachments = [],  # noqa: B006
            reply_to_id: ReplyTo = None,
            reply_all: ReplyAll = False,
            forward_id: ForwardId = None,
        ) -> ToolResult[DraftResult]:
            """Save a message in Drafts for a person to review and send (or for send_draft). Composed like
            send_message, with the same parameters; nothing is sent."""
            result = await drafts.save_draft(request(**locals()))
            return ToolResult(summary=f"draft saved in {result.mailbox}", data=result, meta=meta())

        @server.tool(annotations=REPLACE_DRAFT, title="Replace a draft")
        async def update_draft(
            draft_id: DraftId,
            account: AccountParam = None,
            to: Addresses = [],  # noqa: B006
            cc: MoreAddresses = [],  # noqa: B006
            bcc: MoreAddresses = [],  # noqa: B006
            subject: Subject = None,
            body_text: BodyText = "",
            body_html: BodyHtml = None,
            attachments: Attachments = [],  # noqa: B006
            reply_to_id: ReplyTo = None,
            reply_all: ReplyAll = False,
            forward_id: ForwardId = None,
        ) -> ToolResult[DraftResult]:
            """Replace a draft: give the whole message again, composed like send_message (fields left out are not
            kept). The new draft is saved, then the old one deleted; use the returned draft_id from now on."""
            result = await drafts.save_draft(request(**locals()), replaces=draft_id)
            return ToolResult(summary="draft replaced", data=result, meta=meta())

        if can_send:  # the composition parameters are described once, in send_message
            for name in DRAFT_TOOLS:
                _described_elsewhere(server, name)


COMPOSITION = (
    "to",
    "cc",
    "bcc",
    "subject",
    "body_text",
    "body_html",
    "attachments",
    "reply_to_id",
    "reply_all",
    "forward_id",
)


def _described_elsewhere(server: MCPServer, name: str) -> None:
    tool = _compat.registered_tool(server, name)
    if tool is not None:
        properties = tool.parameters.get("properties", {})
        for key in COMPOSITION:
            if key in properties:
                properties[key] = _undescribed(properties[key])


def _undescribed(node: Any) -> Any:
    if isinstance(node, list):
        return [_undescribed(item) for item in node]
    if not isinstance(node, dict):
        return node
    return {
        key: (
            {name: _undescribed(sub) for name, sub in value.items()}
            if key == "properties" and isinstance(value, dict)
            else _undescribed(value)
        )
        for key, value in node.items()
        if not (key == "description" and isinstance(value, str))
    }
