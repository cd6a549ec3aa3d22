"""Sending and drafts over MailService: the gates, composition with originals and attachments, idempotency, rate
limits, Sent copies, \\Answered, and the audit log.

Sends of one account are serialised (one lock), which makes the idempotency map and the rate limit exact. Nothing
is retried after the message data was handed to the SMTP server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.to_thread

from mail_mcp.audit import audit
from mail_mcp.config.models import AccountConfig, SmtpConfig
from mail_mcp.errors import InvalidInput, MailError, WriteDisabled
from mail_mcp.ids import MessageId
from mail_mcp.imap import append as jobs
from mail_mcp.imap.fetch import decoded_size_estimate
from mail_mcp.imap.folders import Role
from mail_mcp.mailbox import originals
from mail_mcp.mailbox.locks import audit_if_cancelled, write_guard
from mail_mcp.mailbox.models import Refused, SendResult, SentCopy
from mail_mcp.mailbox.outgoing import Plan, Request, kb, load_attachments, question
from mail_mcp.mailbox.send_rate import SendRate
from mail_mcp.mailbox.sent_copies import SentCopies
from mail_mcp.mailbox.service import MailService
from mail_mcp.mime import compose, decode_header
from mail_mcp.mime.compose import Draft, Mailbox
from mail_mcp.smtp import client as smtp


class SendingService:
    def __init__(self, service: MailService) -> None:
        self.service = service
        self.settings = service.settings
        self._results: dict[tuple[str, str], SendResult] = {}
        self._locks: dict[str, anyio.Lock] = {}
        self._rate = SendRate()
        self.copies = SentCopies(service)

    # ------------------------------------------------------------------ gates and look-ups

    def smtp_for(self, account: AccountConfig) -> SmtpConfig:
        if not self.settings.send_enabled:
            raise WriteDisabled(
                "sending is disabled; the owner can enable it with MAIL_SMTP_SEND_ENABLED=true. "
                "save_draft leaves a draft for a person to send instead.",
                setting="MAIL_SMTP_SEND_ENABLED",
            )
        cfg = self.settings.smtp.get(account.id)
        if cfg is None:
            raise WriteDisabled(
                f"account {account.id!r} has no SMTP settings, so it cannot send; the owner can set "
                f"MAIL_SMTP_{account.id.upper()}_HOST",
                setting=f"MAIL_SMTP_{account.id.upper()}_HOST",
            )
        return cfg

    def require_writes(self, account: AccountConfig) -> None:
        if not account.write_enabled:
            raise WriteDisabled(
                f"drafts are IMAP writes, which are disabled for account {account.id!r}; the owner "
                "can enable them with MAIL_IMAP_WRITE_ENABLED=true",
                setting="MAIL_IMAP_WRITE_ENABLED",
            )

    def sender(self, account: AccountConfig) -> Mailbox:
        cfg = self.settings.smtp.get(account.id)
        if cfg is not None:
            return Mailbox(cfg.from_address, cfg.from_name)
        if account.login_address is None:
            raise InvalidInput(
                f"account {account.id!r} has no e-mail address to put in From (its login is not one); the owner "
                f"can set MAIL_IMAP_{account.id.upper()}_ADDRESS. Nothing was saved",
                setting=f"MAIL_IMAP_{account.id.upper()}_ADDRESS",
            )
        return Mailbox(account.login_address)

    def _lock(self, account_id: str) -> anyio.Lock:
        return self._locks.setdefault(account_id, anyio.Lock())

    async def folder(self, account: AccountConfig, role: Role) -> str | None:
        return await self.service.folders.by_role(account.id, role)

    def resolve_account(
        self, req_account: str | None, *ids: str | None
    ) -> tuple[AccountConfig, list[MessageId | None]]:
        parsed = [MessageId.parse(i) if i else None for i in ids]
        owners = {m.account for m in parsed if m is not None}
        if len(owners) > 1 or (owners and req_account not in (None, *owners)):
            raise InvalidInput(
                "the message ids belong to another account than `account`; leave `account` out"
            )
        return self.service.account(req_account or next(iter(owners), None)), parsed

    # ------------------------------------------------------------------ composition

    async def plan(self, req: Request, *, full: bool, sending: bool) -> Plan:
        """Validate everything and gather what the message needs; `full=False` skips downloading a forwarded
        original's text and attachments (enough to ask the person)."""
        if req.reply_to_id and req.forward_id:
            raise InvalidInput("give reply_to_id or forward_id, not both")
        account, (source,) = self.resolve_account(req.account, req.reply_to_id or req.forward_id)
        if sending:
            self.smtp_for(account)
        to, cc, bcc = (
            compose.parse_mailboxes(req.to, "to"),
            compose.parse_mailboxes(req.cc, "cc"),
            compose.parse_mailboxes(req.bcc, "bcc"),
        )
        subject = compose.check_header(req.subject, "subject") if req.subject is not None else None
        text = compose.check_body(req.body_text, "body_text")
        html = compose.check_body(req.body_html, "body_html") if req.body_html is not None else None
        budget = self.settings.max_send_attachment_bytes
        files = await load_attachments(req.attachments, self.settings.attachment_dir, budget)
        sender = self.sender(account)
        plan = Plan(account, sender, to, cc, bcc, subject or "", text, html, files)
        if source is not None:
            pool = self.service.pools.get(account.id)
            if req.forward_id and full:  # envelope, text, then just the attachment parts
                left = budget - sum(len(f.data) for f in files)
                original = await pool.run(
                    lambda c: originals.read_for_forward(c, source, left),
                    action="reading the original",
                    mailbox=source.mailbox,
                )
                parts: list[Any] = []
            elif req.reply_to_id and full:  # envelope and text, to quote
                original = await pool.run(
                    lambda c: originals.read_for_reply(c, source),
                    action="reading the original",
                    mailbox=source.mailbox,
                )
                parts = []
            else:
                original, parts = await pool.run(
                    lambda c: originals.read_headers(c, source),
                    action="reading the original",
                    mailbox=source.mailbox,
                )
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
                    raise InvalidInput(
                        f"with the original's attachments this is about {estimate:,} bytes, above the "
                        f"{budget:,}-byte limit (MAIL_SMTP_MAX_ATTACHMENT_BYTES); nothing was sent",
                        size=estimate,
                        cap=budget,
                    )
                plan.files = files + list(original.attachments)
                plan.text = compose.forward_text(text, original) if full else text
        if sending:
            if not plan.to + plan.cc + plan.bcc:
                raise InvalidInput("no recipients: give to (or reply_to_id, whose sender is the default)")
            self.check_allowed(account, plan.to + plan.cc + plan.bcc)
        return plan

    def check_allowed(self, account: AccountConfig, recipients: list[Mailbox]) -> None:
        cfg = self.settings.smtp[account.id]
        blocked = compose.not_allowed(recipients, cfg.allowed_recipients)
        if blocked:
            raise InvalidInput(
                f"not allowed to send to {', '.join(blocked)}: the owner restricts recipients of account "
                f"{account.id!r} (MAIL_SMTP_{account.id.upper()}_ALLOWED_RECIPIENTS). Nothing was sent; "
                "remove them, or save_draft for a person to send.",
                not_allowed=blocked,
            )

    def plan_question(self, plan: Plan) -> str:
        names = [f"{f.filename} ({kb(len(f.data))})" for f in plan.files] + plan.forwarded
        context = {
            "reply": f"In reply to: {plan.source_subject}",
            "forward": f"Forwarding: {plan.source_subject}",
            "new": "",
        }[plan.kind]
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
                header_message_id = compose.derive_header_message_id(
                    plan.sender.email.rpartition("@")[2], account.id, req.idempotency_key
                )
                result = await self._deliver(
                    account,
                    cfg,
                    plan.build(header_message_id),
                    confirmed_by,
                    check_sent=key is not None,
                    reply_to=plan.source if plan.kind == "reply" else None,
                )
                if key:
                    self._results[key] = result
        except MailError as exc:
            self.audit_refusal(req, exc)
            raise
        self.audit_result(
            "send",
            result,
            reply_to_id=req.reply_to_id,
            forward_id=req.forward_id,
            idempotency_key=req.idempotency_key,
        )
        return result

    async def deliver_once(
        self,
        account: AccountConfig,
        key: str,
        draft: Draft,
        confirmed_by: str,
        on_sent: Callable[[SendResult], Awaitable[None]],
    ) -> SendResult:
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
        audit(
            "send",
            account_id,
            status="refused",
            code=exc.code,
            to=req.to,
            cc=req.cc,
            bcc=req.bcc,
            reply_to_id=req.reply_to_id,
            forward_id=req.forward_id,
        )

    def declined(self, req_account: str | None, what: dict[str, Any]) -> SendResult:
        account = self.service.account(req_account)
        audit("send", account.id, status="declined", **{k: v for k, v in what.items() if k != "subject"})
        return SendResult(
            status="declined",
            account=account.id,
            subject=what.get("subject") or "",
            confirmed_by="person",
            note="The person declined: nothing was sent. Do not retry unless "
            "they ask; save_draft leaves it for them to edit and send.",
        )

    def audit_result(self, action: str, result: SendResult, **extra: Any) -> None:
        audit(
            action,
            result.account,
            status=result.status,
            header_message_id=result.header_message_id,
            to=result.to,
            cc=result.cc,
            bcc=result.bcc,
            accepted=result.accepted,
            refused=[r.address for r in result.refused],
            sent_copy=result.sent_copy.message_id if result.sent_copy else None,
            confirmed_by=result.confirmed_by,
            **extra,
        )

    async def _deliver(
        self,
        account: AccountConfig,
        cfg: SmtpConfig,
        draft: Draft,
        confirmed_by: str,
        *,
        check_sent: bool,
        reply_to: MessageId | None,
    ) -> SendResult:
        self.check_allowed(account, draft.recipients)
        self._rate.check(account.id, cfg.rate_limit)
        base: dict[str, Any] = {
            "account": account.id,
            "header_message_id": draft.header_message_id,
            "subject": decode_header(draft.message["Subject"] or ""),
            "to": [str(b) for b in draft.to],
            "cc": [str(b) for b in draft.cc],
            "bcc": [str(b) for b in draft.bcc],
            "in_reply_to": draft.in_reply_to,
            "references": draft.references,
            "confirmed_by": confirmed_by,
        }
        if check_sent and (copy := await self.copies.find(account, draft.header_message_id)) is not None:
            return SendResult(
                status="already_sent",
                sent_copy=copy,
                **base,
                note="A message with this Message-ID is already in Sent: it was not sent again.",
            )
        with audit_if_cancelled(
            "send", account.id, header_message_id=draft.header_message_id, to=base["to"], cc=base["cc"]
        ):
            submission = await smtp.submit(
                cfg,
                sender=draft.sender.email,
                recipients=[b.email for b in draft.recipients],
                data=draft.wire_bytes(),
                smtputf8=draft.needs_smtputf8,
            )
        self._rate.record(account.id)
        refused = [Refused(address=r.address, code=r.code, reply=r.reply) for r in submission.refused]
        if submission.status == "unknown":
            return SendResult(
                status="unknown",
                accepted=submission.accepted,
                refused=refused,
                **base,
                sent_copy=SentCopy(
                    saved=False, status="failed", reason="the outcome is unknown, so no copy was saved"
                ),
                smtp_reply=submission.reply,
                note="No clear answer came once the message was being handed over (the connection broke, timed "
                "out or the reply was unreadable): it may or may not have gone out. It will not be sent again "
                "automatically (a retry with the same idempotency_key returns this result); ask the person "
                "before trying again.",
            )
        copy = await self.copies.save(account, cfg, draft)
        answered = await self._mark_answered(account, reply_to) if reply_to is not None else None
        return SendResult(
            status="sent",
            accepted=submission.accepted,
            refused=refused,
            sent_copy=copy,
            original_answered=answered,
            smtp_reply=submission.reply,
            **base,
        )

    async def _mark_answered(self, account: AccountConfig, mid: MessageId) -> bool | None:
        if not account.write_enabled:
            return None
        try:
            async with write_guard(
                self.service, account.id, [mid.mailbox], "mark_answered", message_id=str(mid)
            ):
                return await self.service.pools.get(account.id).run(
                    lambda c: jobs.mark_answered(c, mid),
                    action="setting \\Answered",
                    mailbox=mid.mailbox,
                    write=True,
                )
        except MailError:
            return False
