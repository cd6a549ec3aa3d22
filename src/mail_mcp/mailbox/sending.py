"""Sending and drafts over MailService: the gates, composition with originals and attachments, idempotency, rate
limits, Sent copies, \\Answered, and the audit log.

Sends of one account are serialised (one lock), which makes the idempotency map and the rate limit exact. Nothing
is retried after the message data was handed to the SMTP server.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import time
from collections import deque
from dataclasses import dataclass, field
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import anyio
import anyio.to_thread

from mail_mcp.mime import compose
from mail_mcp.smtp import client as smtp
from mail_mcp.audit import audit
from mail_mcp.mime.compose import Attachment, Draft, Mailbox
from mail_mcp.config.models import AccountConfig, SmtpConfig
from mail_mcp.errors import InvalidInput, MailError, NotFound, WriteDisabled
from mail_mcp.ids import MessageId
from mail_mcp.imap import append as jobs
from mail_mcp.imap.fetch import decoded_size_estimate
from mail_mcp.mime import decode_header
from mail_mcp.imap.folders import Role
from mail_mcp.mailbox import originals
from mail_mcp.mailbox.models import AttachmentSpec, Refused, SendResult, SentCopy
from mail_mcp.mailbox.service import MailService

HOUR = 3600.0
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
        return compose.build(sender=self.sender, to=self.to, cc=self.cc, bcc=self.bcc, subject=self.subject,
                             text=self.text, html=self.html, attachments=self.files, header_message_id=header_message_id,
                             in_reply_to=self.in_reply_to, references=self.references)


def _kb(size: int) -> str:
    return f"{size / 1024:,.0f} KB" if size >= 1024 else f"{size} bytes"


def question(sender: Mailbox, to: list[Mailbox], cc: list[Mailbox], bcc: list[Mailbox], subject: str, text: str,
             attachments: list[str], context: str = "") -> str:
    """What the person is asked before sending: sender, every recipient, subject, attachments, first lines."""
    lines = [f"Send this e-mail from {sender}?"]
    lines += [f"{label}: {', '.join(map(str, boxes))}" for label, boxes in (("To", to), ("Cc", cc), ("Bcc", bcc))
              if boxes]
    lines.append(f"Subject: {subject}")
    if attachments:
        lines.append("Attachments: " + ", ".join(attachments))
    if context:
        lines.append(context)
    body = [line for line in text.splitlines()]
    shown = "\n".join(body[:PREVIEW_LINES])[:600]
    return "\n".join(lines) + "\n\n" + shown + ("\n…" if len(body) > PREVIEW_LINES or len(shown) == 600 else "")


class SendingService:
    def __init__(self, service: MailService) -> None:
        self.service = service
        self.settings = service.settings
        self._results: dict[tuple[str, str], SendResult] = {}
        self._locks: dict[str, anyio.Lock] = {}
        self._sent_at: dict[str, deque[float]] = {}

    # ------------------------------------------------------------------ gates and look-ups

    def smtp_for(self, account: AccountConfig) -> SmtpConfig:
        if not self.settings.send_enabled:
            raise WriteDisabled("sending is disabled; the owner can enable it with MAIL_SMTP_SEND_ENABLED=true. "
                                "save_draft leaves a draft for a person to send instead.",
                                setting="MAIL_SMTP_SEND_ENABLED")
        cfg = self.settings.smtp.get(account.id)
        if cfg is None:
            raise WriteDisabled(f"account {account.id!r} has no SMTP settings, so it cannot send; the owner can set "
                                f"MAIL_SMTP_{account.id.upper()}_HOST", setting=f"MAIL_SMTP_{account.id.upper()}_HOST")
        return cfg

    def require_writes(self, account: AccountConfig) -> None:
        if not account.write_enabled:
            raise WriteDisabled(f"drafts are IMAP writes, which are disabled for account {account.id!r}; the owner "
                                "can enable them with MAIL_IMAP_WRITE_ENABLED=true", setting="MAIL_IMAP_WRITE_ENABLED")

    def sender(self, account: AccountConfig) -> Mailbox:
        cfg = self.settings.smtp.get(account.id)
        return Mailbox(cfg.from_address, cfg.from_name) if cfg else Mailbox(account.email)

    def _lock(self, account_id: str) -> anyio.Lock:
        return self._locks.setdefault(account_id, anyio.Lock())

    async def folder(self, account: AccountConfig, role: Role) -> str | None:
        return await self.service.folders.by_role(account.id, role)

    def resolve_account(self, req_account: str | None, *ids: str | None) -> tuple[AccountConfig, list[MessageId | None]]:
        parsed = [MessageId.parse(i) if i else None for i in ids]
        owners = {m.account for m in parsed if m is not None}
        if len(owners) > 1 or (owners and req_account not in (None, *owners)):
            raise InvalidInput("the message ids belong to another account than `account`; leave `account` out")
        return self.service.account(req_account or next(iter(owners), None)), parsed

    # ------------------------------------------------------------------ composition

    async def _files(self, specs: list[AttachmentSpec], budget: int) -> list[Attachment]:
        files: list[Attachment] = []
        used = 0
        for index, spec in enumerate(specs, 1):
            where = f"attachments[{index}]"
            if (spec.path is None) == (spec.content_base64 is None):
                raise InvalidInput(f"{where}: give either path or content_base64 (with filename)", field=where)
            if spec.path is not None:
                data, name = await anyio.to_thread.run_sync(self._read_file, spec.path, budget - used, where)
            else:
                if not spec.filename:
                    raise InvalidInput(f"{where}: inline content needs a filename", field=where)
                text = "".join((spec.content_base64 or "").split())
                if len(text) * 3 // 4 > budget - used + 2:
                    raise InvalidInput(f"{where} is above the {budget:,}-byte attachment limit "
                                       "(MAIL_SMTP_MAX_ATTACHMENT_BYTES); nothing was sent", field=where, cap=budget)
                try:
                    data, name = base64.b64decode(text, validate=True), spec.filename
                except (binascii.Error, ValueError):
                    raise InvalidInput(f"{where}.content_base64 is not valid base64", field=where) from None
            used += len(data)
            if used > budget:
                raise InvalidInput(f"attachments total {used:,} bytes, above the {budget:,}-byte limit "
                                   "(MAIL_SMTP_MAX_ATTACHMENT_BYTES); nothing was sent", size=used, cap=budget)
            name = spec.filename or name
            ctype = spec.content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
            files.append(Attachment(*compose.check_attachment(name, ctype, where), data))
        return files

    def _read_file(self, path: str, left: int, where: str) -> tuple[bytes, str]:
        root = self.settings.attachment_dir
        if root is None:
            raise InvalidInput(f"{where}: file attachments are switched off (MAIL_SMTP_ATTACHMENT_DIR is not set); "
                               "send the content as content_base64 with a filename instead", field=where)
        compose.check_header(path, f"{where}.path")
        resolved = (root / path).resolve()  # follows symlinks, so a link pointing outside is caught below
        if not resolved.is_relative_to(root):
            raise InvalidInput(f"{where}: {path!r} is outside the attachment directory; only files inside "
                               "MAIL_SMTP_ATTACHMENT_DIR can be attached. Nothing was sent.", field=where)
        if not resolved.is_file():
            raise NotFound(f"{where}: no file {path!r} in the attachment directory", field=where)
        size = resolved.stat().st_size
        if size > left:
            raise InvalidInput(f"{where}: {path!r} is {size:,} bytes, above what is left of the attachment limit "
                               f"({left:,} bytes, MAIL_SMTP_MAX_ATTACHMENT_BYTES); nothing was sent", size=size)
        return resolved.read_bytes(), resolved.name

    async def plan(self, req: Request, *, full: bool, sending: bool) -> Plan:
        """Validate everything and gather what the message needs; `full=False` skips downloading a forwarded
        original's text and attachments (enough to ask the person)."""
        if req.reply_to_id and req.forward_id:
            raise InvalidInput("give reply_to_id or forward_id, not both")
        account, (source,) = self.resolve_account(req.account, req.reply_to_id or req.forward_id)
        if sending:
            self.smtp_for(account)
        to, cc, bcc = (compose.parse_mailboxes(req.to, "to"), compose.parse_mailboxes(req.cc, "cc"),
                       compose.parse_mailboxes(req.bcc, "bcc"))
        subject = compose.check_header(req.subject, "subject") if req.subject is not None else None
        text = compose.check_body(req.body_text, "body_text")
        html = compose.check_body(req.body_html, "body_html") if req.body_html is not None else None
        budget = self.settings.max_send_attachment_bytes
        files = await self._files(req.attachments, budget)
        sender = self.sender(account)
        plan = Plan(account, sender, to, cc, bcc, subject or "", text, html, files)
        if source is not None:
            pool = self.service.pools.get(account.id)
            if req.forward_id and full:  # envelope, text, then just the attachment parts
                left = budget - sum(len(f.data) for f in files)
                original = await pool.run(lambda c: originals.read_for_forward(c, source, left),
                                          action="reading the original", mailbox=source.mailbox)
                parts: list[Any] = []
            elif req.reply_to_id and full:  # envelope and text, to quote
                original = await pool.run(lambda c: originals.read_for_reply(c, source),
                                          action="reading the original", mailbox=source.mailbox)
                parts = []
            else:
                original, parts = await pool.run(lambda c: originals.read_headers(c, source),
                                                 action="reading the original", mailbox=source.mailbox)
            plan.source, plan.source_subject = source, compose.clean_header(original.subject)
            if req.reply_to_id:
                plan.kind = "reply"
                default_to, default_cc = compose.reply_recipients(original, sender.email, req.reply_all)
                plan.to = to or default_to
                plan.cc = compose.dedupe(cc + default_cc, exclude=[b.email for b in plan.to])
                plan.subject = subject or compose.reply_subject(original.subject)
                plan.in_reply_to, plan.references = compose.threading(original)
                plan.text = compose.reply_text(text, original) if full else text
            else:
                plan.kind = "forward"
                plan.subject = subject or compose.forward_subject(original.subject)
                plan.forwarded = [f"{p.filename or 'part ' + p.part_id} (forwarded)" for p in parts]
                estimate = sum(len(f.data) for f in files) + sum(decoded_size_estimate(p) for p in parts)
                if estimate > budget:  # known from the structure alone: refuse before anyone is asked
                    raise InvalidInput(f"with the original's attachments this is about {estimate:,} bytes, above the "
                                       f"{budget:,}-byte limit (MAIL_SMTP_MAX_ATTACHMENT_BYTES); nothing was sent",
                                       size=estimate, cap=budget)
                plan.files = files + list(original.attachments)
                plan.text = compose.forward_text(text, original) if full else text
        if sending:
            if not plan.to + plan.cc + plan.bcc:
                raise InvalidInput("no recipients: give to (or reply_to_id, whose sender is the default)")
            self._check_allowed(account, plan.to + plan.cc + plan.bcc)
        return plan

    def _check_allowed(self, account: AccountConfig, recipients: list[Mailbox]) -> None:
        cfg = self.settings.smtp[account.id]
        blocked = compose.not_allowed(recipients, cfg.allowed_recipients)
        if blocked:
            raise InvalidInput(f"not allowed to send to {', '.join(blocked)}: the owner restricts recipients of account "
                               f"{account.id!r} (MAIL_SMTP_{account.id.upper()}_ALLOWED_RECIPIENTS). Nothing was sent; "
                               "remove them, or save_draft for a person to send.", not_allowed=blocked)

    def plan_question(self, plan: Plan) -> str:
        names = [f"{f.filename} ({_kb(len(f.data))})" for f in plan.files] + plan.forwarded
        context = {"reply": f"In reply to: {plan.source_subject}", "forward": f"Forwarding: {plan.source_subject}",
                   "new": ""}[plan.kind]
        return question(plan.sender, plan.to, plan.cc, plan.bcc, plan.subject, plan.text, names, context)

    def replay(self, account: str | None, key: str | None, *ids: str | None) -> SendResult | None:
        """The stored result of an earlier send with this idempotency key, if any."""
        if not key:
            return None
        account_id = self.resolve_account(account, *ids)[0].id
        found = self._results.get((account_id, key))
        return found.model_copy(update={"replayed": True}) if found else None

    # ------------------------------------------------------------------ sending

    async def send(self, req: Request, confirmed_by: str) -> SendResult:
        account, _ = self.resolve_account(req.account, req.reply_to_id or req.forward_id)
        key = (account.id, req.idempotency_key) if req.idempotency_key else None
        try:
            cfg = self.smtp_for(account)
            async with self._lock(account.id):
                if key and key in self._results:
                    return self._results[key].model_copy(update={"replayed": True})
                plan = await self.plan(req, full=True, sending=True)
                header_message_id = compose.derive_header_message_id(plan.sender.email.rpartition("@")[2], account.id,
                                                       req.idempotency_key)
                result = await self._deliver(account, cfg, plan.build(header_message_id), confirmed_by,
                                             check_sent=key is not None,
                                             reply_to=plan.source if plan.kind == "reply" else None)
                if key:
                    self._results[key] = result
        except MailError as exc:
            self.audit_refusal(req, exc)
            raise
        self.audit_result("send", result, reply_to_id=req.reply_to_id, forward_id=req.forward_id,
                    idempotency_key=req.idempotency_key)
        return result

    async def deliver_once(self, account: AccountConfig, key: str, draft: Draft, confirmed_by: str,
                           on_sent: Callable[[SendResult], Awaitable[None]]) -> SendResult:
        """Deliver an already built message at most once per key (a replay returns the stored result);
        `on_sent` runs, under the account's send lock, only after a new delivery that went out."""
        cfg = self.smtp_for(account)
        async with self._lock(account.id):
            if (account.id, key) in self._results:
                return self._results[(account.id, key)].model_copy(update={"replayed": True})
            result = await self._deliver(account, cfg, draft, confirmed_by, check_sent=True, reply_to=None)
            self._results[(account.id, key)] = result
            if result.status in ("sent", "already_sent"):
                await on_sent(result)
        return result

    def audit_refusal(self, req: Request, exc: MailError) -> None:
        """Refused attempts are audited too (with the recipients as given): they may be exfiltration attempts."""
        try:
            account_id = self.resolve_account(req.account, req.reply_to_id or req.forward_id)[0].id
        except MailError:
            account_id = req.account or "-"
        audit("send", account_id, status="refused", code=exc.code, to=req.to, cc=req.cc, bcc=req.bcc,
              reply_to_id=req.reply_to_id, forward_id=req.forward_id)

    def declined(self, req_account: str | None, what: dict[str, Any]) -> SendResult:
        account = self.service.account(req_account)
        audit("send", account.id, status="declined", **what)
        return SendResult(status="declined", account=account.id, subject=what.get("subject") or "",
                          confirmed_by="person", note="The person declined: nothing was sent. Do not retry unless "
                          "they ask; save_draft leaves it for them to edit and send.")

    def audit_result(self, action: str, result: SendResult, **extra: Any) -> None:
        audit(action, result.account, status=result.status, header_message_id=result.header_message_id, to=result.to,
              cc=result.cc, bcc=result.bcc, accepted=result.accepted, refused=[r.address for r in result.refused],
              sent_copy=result.sent_copy.message_id if result.sent_copy else None, confirmed_by=result.confirmed_by,
              **extra)

    async def _deliver(self, account: AccountConfig, cfg: SmtpConfig, draft: Draft, confirmed_by: str, *,
                       check_sent: bool, reply_to: MessageId | None) -> SendResult:
        self._check_allowed(account, draft.recipients)
        self._check_rate(account.id, cfg)
        base: dict[str, Any] = dict(
            account=account.id, header_message_id=draft.header_message_id, subject=decode_header(draft.message["Subject"] or ""),
            to=[str(b) for b in draft.to], cc=[str(b) for b in draft.cc], bcc=[str(b) for b in draft.bcc],
            in_reply_to=draft.in_reply_to, references=draft.references, confirmed_by=confirmed_by)
        if check_sent and (copy := await self._find_sent(account, draft.header_message_id)) is not None:
            return SendResult(status="already_sent", sent_copy=copy, **base,
                              note="A message with this Message-ID is already in Sent: it was not sent again.")
        submission = await smtp.submit(cfg, sender=draft.sender.email, recipients=[b.email for b in draft.recipients],
                                       data=draft.wire_bytes(), smtputf8=draft.needs_smtputf8)
        self._sent_at.setdefault(account.id, deque()).append(time.monotonic())
        refused = [Refused(address=r.address, code=r.code, reply=r.reply) for r in submission.refused]
        if submission.status == "unknown":
            return SendResult(
                status="unknown", accepted=submission.accepted, refused=refused, **base,
                sent_copy=SentCopy(saved=False, reason="the outcome is unknown, so no copy was saved"),
                note="The connection broke while the message was being handed over: it may or may not have gone "
                     "out. It will not be sent again automatically; ask the person before trying again.")
        copy = await self._save_sent(account, cfg, draft)
        answered = await self._mark_answered(account, reply_to) if reply_to is not None else None
        return SendResult(status="sent", accepted=submission.accepted, refused=refused, sent_copy=copy,
                          original_answered=answered, smtp_reply=submission.reply, **base)

    def _check_rate(self, account_id: str, cfg: SmtpConfig) -> None:
        times = self._sent_at.setdefault(account_id, deque())
        now = time.monotonic()
        while times and now - times[0] >= HOUR:
            times.popleft()
        if cfg.rate_limit is not None and len(times) >= cfg.rate_limit:
            wait = int(HOUR - (now - times[0])) + 1
            raise WriteDisabled(f"account {account_id!r} has sent {len(times)} messages in the last hour, its limit "
                                f"(MAIL_SMTP_{account_id.upper()}_RATE_LIMIT); nothing was sent. Try again in about "
                                f"{wait // 60 + 1} minutes, or save_draft for a person to send.",
                                retry_after_seconds=wait, limit=cfg.rate_limit)

    async def _find_sent(self, account: AccountConfig, header_message_id: str) -> SentCopy | None:
        folder = await self.folder(account, "sent")
        if folder is None:
            return None
        validity, uids = await self.service.pools.get(account.id).run(
            lambda c: jobs.find_by_header_message_id(c, folder, header_message_id), action="searching Sent", mailbox=folder)
        if not uids:
            return None
        return SentCopy(saved=True, mailbox=folder, message_id=str(MessageId(account.id, folder, validity, uids[-1])))

    async def _save_sent(self, account: AccountConfig, cfg: SmtpConfig, draft: Draft) -> SentCopy:
        """Never raises: the message is already sent, so a failure here is reported in the result."""
        try:
            if cfg.save_sent == "never":
                return SentCopy(saved=False, reason="save_sent is never for this account")
            pool = self.service.pools.get(account.id)
            if cfg.save_sent == "auto" and "X-GM-EXT-1" in await pool.run(lambda c: c.capabilities,
                                                                          action="reading capabilities"):
                return SentCopy(saved=False, reason="the provider (Gmail) files sent mail in its Sent folder itself")
            folder = await self.folder(account, "sent")
            if folder is None:
                return SentCopy(saved=False, reason="no Sent folder was found (SPECIAL-USE \\Sent or a usual name)")
            validity, uid = await pool.run(
                lambda c: jobs.append(c, folder, draft.copy_bytes(), [b"\\Seen"], draft.header_message_id),
                action="saving to Sent", mailbox=folder, write=True)
        except MailError as exc:
            return SentCopy(saved=False, reason=f"sent, but the copy could not be saved: {exc.message}")
        return SentCopy(saved=True, mailbox=folder,
                        message_id=str(MessageId(account.id, folder, validity, uid)) if uid else None)

    async def _mark_answered(self, account: AccountConfig, mid: MessageId) -> bool | None:
        if not account.write_enabled:
            return None
        try:
            return await self.service.pools.get(account.id).run(
                lambda c: jobs.mark_answered(c, mid), action="setting \\Answered", mailbox=mid.mailbox, write=True)
        except MailError:
            return False
