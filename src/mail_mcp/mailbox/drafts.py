"""Drafts: save (APPEND with \\Draft \\Seen), update (append new, delete old by UID), and send a saved draft.

A connection that breaks after an APPEND went out is settled on a new one by the Message-ID we chose: the
draft is reported saved (with its id), not saved, or `outcome_unknown`, and update_draft never leaves two drafts.

Drafts need only the IMAP write gate; sending one needs the send gate too and goes through the same checks and
delivery as send_message (allow-list, rate limit, Sent copy, idempotency by the draft's Message-ID).
"""

from __future__ import annotations

from email import message_from_bytes
from email.utils import format_datetime, localtime

from mail_mcp.audit import audit
from mail_mcp.config.models import AccountConfig
from mail_mcp.errors import ConnectionFailed, InvalidInput, MailError, NotFound, OutcomeUnknown, Unsupported
from mail_mcp.ids import MessageId
from mail_mcp.imap import append as jobs
from mail_mcp.mailbox.locks import write_guard
from mail_mcp.mailbox.models import DraftResult, SendResult
from mail_mcp.mailbox.outgoing import Request, question
from mail_mcp.mailbox.sending import SendingService
from mail_mcp.mime import compose
from mail_mcp.mime.compose import Draft, Mailbox

LOST = ("connection_failed", "timeout", "bad_response")


class DraftService:
    def __init__(self, sending: SendingService) -> None:
        self.sending = sending
        self.service = sending.service

    async def _draft_folder(self, account: AccountConfig) -> str:
        folder = await self.sending.folder(account, "drafts")
        if folder is None:
            raise NotFound(
                f"account {account.id!r} has no Drafts folder (SPECIAL-USE \\Drafts or a usual name)"
            )
        return folder

    async def _existing_draft(self, draft_id: str) -> tuple[AccountConfig, MessageId]:
        mid = MessageId.parse(draft_id)
        account = self.service.account(mid.account)
        if await self.service.folders.role_of(account.id, mid.mailbox) != "drafts":
            raise InvalidInput(
                f"{draft_id} is not in the Drafts folder; pass a draft_id from save_draft, or a "
                "message id from the Drafts folder",
                message_id=draft_id,
            )
        return account, mid

    async def save_draft(self, req: Request, replaces: str | None = None) -> DraftResult:
        old = None
        if replaces is not None:
            _, old = await self._existing_draft(replaces)
        account, _ = self.sending.resolve_account(
            req.account or (old.account if old else None), req.reply_to_id or req.forward_id
        )
        self.sending.require_writes(account)
        if old is not None and old.account != account.id:
            raise InvalidInput("the draft belongs to another account than `account`; leave `account` out")
        plan = await self.sending.plan(req, full=True, sending=False)
        draft = plan.build(
            compose.derive_header_message_id(plan.sender.email.rpartition("@")[2], account.id, None)
        )
        folder = old.mailbox if old is not None else await self._draft_folder(account)
        raw = draft.copy_bytes()
        action = "update_draft" if replaces else "save_draft"
        hmid = draft.header_message_id
        async with write_guard(
            self.service, account.id, [folder], action, header_message_id=hmid, replaced=replaces
        ):
            if old is not None:
                validity, uid = await self._replace(account, old, raw, hmid)
            else:
                validity, uid = await self._append(account, folder, raw, hmid)
        result = DraftResult(
            draft_id=str(MessageId(account.id, folder, validity, uid)) if uid else None,
            mailbox=folder,
            header_message_id=draft.header_message_id,
            subject=plan.subject,
            to=[str(b) for b in draft.to],
            cc=[str(b) for b in draft.cc],
            bcc=[str(b) for b in draft.bcc],
            attachments=[f.filename for f in plan.files],
            in_reply_to=draft.in_reply_to,
            references=draft.references,
            replaced=replaces,
        )
        audit(
            "update_draft" if replaces else "save_draft",
            account.id,
            draft_id=result.draft_id,
            replaced=replaces,
            header_message_id=draft.header_message_id,
            to=result.to,
            cc=result.cc,
            bcc=result.bcc,
            status="ok",
        )
        return result

    async def _append(
        self, account: AccountConfig, folder: str, raw: bytes, hmid: str
    ) -> tuple[int, int | None]:
        try:
            return await self.service.pools.get(account.id).run(
                lambda c: jobs.append(c, folder, raw, [b"\\Draft", b"\\Seen"], hmid),
                action="saving a draft",
                mailbox=folder,
                write=True,
            )
        except MailError as exc:
            if not (exc.write_sent and exc.code in LOST):
                raise
            # The APPEND went out but its answer was lost: the Message-ID we chose says whether it is there.
            validity, uids = await self.sending.copies.look_up(account, folder, hmid, exc, "save_draft")
            if not uids:
                raise ConnectionFailed(
                    f"{exc.message}. The draft was not saved (checked on a new connection); it is safe to "
                    "try again",
                    header_message_id=hmid,
                ) from None
            return validity, max(uids)

    async def _replace(
        self, account: AccountConfig, old: MessageId, raw: bytes, hmid: str
    ) -> tuple[int, int | None]:
        pool = self.service.pools.get(account.id)
        try:
            return await pool.run(
                lambda c: jobs.replace(c, old, raw, hmid),
                action="replacing a draft",
                mailbox=old.mailbox,
                write=True,
            )
        except Unsupported:
            raise Unsupported(
                "the server lacks UIDPLUS, so the old draft could not be removed on its own; nothing was "
                "changed. save_draft a new draft instead, and delete_message the old one if wanted",
                message_id=str(old),
            ) from None
        except MailError as exc:
            if not exc.write_sent:
                raise
            failure = exc
        # The new draft may be in Drafts beside the old one: finish the job (or find it was not saved).
        try:
            settled = await pool.run(
                lambda c: jobs.settle_replace(c, old, hmid),
                action="finishing the draft replacement",
                mailbox=old.mailbox,
                write=True,
            )
        except MailError as again:
            audit("update_draft", account.id, status="unknown", code=again.code, header_message_id=hmid)
            raise OutcomeUnknown(
                f"{failure.message}; finishing the replacement on a new connection failed too "
                f"({again.message}). Drafts may hold the old draft, the new one (Message-ID {hmid}) or "
                "both: list the Drafts folder before retrying",
                header_message_id=hmid,
                old_draft_id=str(old),
            ) from None
        if settled is None:
            if failure.code in LOST:
                raise ConnectionFailed(
                    f"{failure.message}. The draft was not replaced (checked on a new connection): the old "
                    "draft is unchanged; it is safe to try again",
                    draft_id=str(old),
                ) from None
            raise failure
        return settled

    async def load_draft(self, draft_id: str) -> tuple[AccountConfig, MessageId, Draft]:
        """Read a draft back and check it is sendable as-is: our From, valid recipients, a Message-ID."""
        account, mid = await self._existing_draft(draft_id)
        raw = await self.service.pools.get(account.id).run(
            lambda c: jobs.read_raw(c, mid), action="reading a draft", mailbox=mid.mailbox
        )
        msg = message_from_bytes(raw, policy=compose.POLICY)
        sender = self.sending.sender(account)
        senders = [a.addr_spec.lower() for a in getattr(msg["From"], "addresses", ())]
        if senders != [sender.email.lower()]:
            raise InvalidInput(
                f"the draft's From ({', '.join(senders) or 'none'}) is not this account's sender "
                f"{sender.email}; fix it in the draft or save a new one",
                message_id=draft_id,
            )

        def boxes(name: str) -> list[Mailbox]:
            addresses = [a for header in msg.get_all(name) or () for a in getattr(header, "addresses", ())]
            return compose.dedupe(compose.parse_mailbox(a.addr_spec, name.lower()) for a in addresses)

        header_message_id = compose.first_id(str(msg["Message-ID"] or ""))
        if header_message_id is None:
            header_message_id = compose.derive_header_message_id(
                sender.email.rpartition("@")[2], account.id, None
            )
            msg["Message-ID"] = header_message_id
        del msg["Date"]
        msg["Date"] = format_datetime(localtime())
        in_reply_to = compose.first_id(str(msg["In-Reply-To"] or ""))
        draft = Draft(
            msg,
            sender,
            boxes("To"),
            boxes("Cc"),
            boxes("Bcc"),
            header_message_id,
            in_reply_to,
            compose.message_ids([str(msg["References"] or "")]),
        )
        return account, mid, draft

    def draft_question(self, draft: Draft) -> str:
        msg = draft.message
        names = [
            part.get_filename() or part.get_content_type()
            for part in msg.walk()
            if part.get_content_disposition() == "attachment"
        ]
        body = msg.get_body(preferencelist=("plain", "html")) if hasattr(msg, "get_body") else None
        text = body.get_content() if body is not None else ""
        return question(
            draft.sender,
            draft.to,
            draft.cc,
            draft.bcc,
            str(msg["Subject"] or ""),
            text,
            names,
            "(a saved draft)",
        )

    async def send_draft(self, draft_id: str, confirmed_by: str) -> SendResult:
        account, mid, draft = await self.load_draft(draft_id)

        async def remove_draft(result: SendResult) -> None:
            result.draft_removed = await self._remove_draft(account, mid)

        try:
            self.sending.smtp_for(account)
            if not draft.recipients:
                raise InvalidInput("the draft has no recipients; update_draft with to, then send it")
            result = await self.sending.deliver_once(
                account, "draft:" + draft.header_message_id, draft, confirmed_by, on_sent=remove_draft
            )
        except MailError as exc:
            audit("send_draft", account.id, status="refused", code=exc.code, draft_id=draft_id)
            raise
        if not result.replayed:
            self.sending.audit_result("send_draft", result, draft_id=draft_id)
        return result

    async def _remove_draft(self, account: AccountConfig, mid: MessageId) -> bool:
        if not account.write_enabled:
            return False
        try:
            async with write_guard(
                self.service, account.id, [mid.mailbox], "remove_draft", draft_id=str(mid)
            ):
                await self.service.pools.get(account.id).run(
                    lambda c: jobs.remove(c, mid),
                    action="removing the draft",
                    mailbox=mid.mailbox,
                    write=True,
                )
        except MailError:
            return False
        return True
