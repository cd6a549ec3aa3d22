"""The Sent copy of a delivered message: found by the Message-ID we chose (so a retried send is recognised), and
saved by APPEND. An APPEND whose answer was lost is settled on another connection by that Message-ID: the copy
is reported saved (with its id), not saved, or unknown."""

from __future__ import annotations

from mail_mcp.audit import audit
from mail_mcp.config.models import AccountConfig, SmtpConfig
from mail_mcp.errors import MailError, OutcomeUnknown
from mail_mcp.ids import MessageId
from mail_mcp.imap import append as jobs
from mail_mcp.mailbox.locks import write_guard
from mail_mcp.mailbox.models import SentCopy
from mail_mcp.mailbox.service import MailService
from mail_mcp.mime.compose import Draft

LOST = ("connection_failed", "timeout", "bad_response")  # the reply was lost or unreadable, not a refusal


class SentCopies:
    def __init__(self, service: MailService) -> None:
        self.service = service

    async def find(self, account: AccountConfig, header_message_id: str) -> SentCopy | None:
        folder = await self.service.folders.by_role(account.id, "sent")
        if folder is None:
            return None
        validity, uids = await self.service.pools.get(account.id).run(
            lambda c: jobs.find_by_header_message_id(c, folder, header_message_id),
            action="searching Sent",
            mailbox=folder,
        )
        if not uids:
            return None
        return SentCopy(
            saved=True, mailbox=folder, message_id=str(MessageId(account.id, folder, validity, uids[-1]))
        )

    async def look_up(
        self, account: AccountConfig, folder: str, hmid: str, failure: MailError, action: str
    ) -> tuple[int, list[int]]:
        """After an APPEND whose answer was lost: (uidvalidity, UIDs) of the messages in `folder` with the
        Message-ID we chose, looked up on another connection; OutcomeUnknown when that fails too."""
        try:
            return await self.service.pools.get(account.id).run(
                lambda c: jobs.find_by_header_message_id(c, folder, hmid),
                action=f"looking for the message in {folder}",
                mailbox=folder,
            )
        except MailError as again:
            audit(action, account.id, status="unknown", code=again.code, header_message_id=hmid)
            raise OutcomeUnknown(
                f"{failure.message}; the APPEND had been sent and looking for it afterwards failed too "
                f"({again.message}), so {folder} may or may not hold it: look for Message-ID {hmid} there "
                "before retrying",
                header_message_id=hmid,
                folder=folder,
            ) from None

    async def _append_sent(self, account: AccountConfig, folder: str, draft: Draft) -> SentCopy:
        hmid = draft.header_message_id
        try:
            validity, uid = await self.service.pools.get(account.id).run(
                lambda c: jobs.append(c, folder, draft.copy_bytes(), [b"\\Seen"], hmid),
                action="saving to Sent",
                mailbox=folder,
                write=True,
            )
        except MailError as exc:
            if not (exc.write_sent and exc.code in LOST):
                raise
            try:
                validity, uids = await self.look_up(account, folder, hmid, exc, "save_sent")
            except OutcomeUnknown as unknown:
                return SentCopy(
                    saved=False,
                    status="unknown",
                    mailbox=folder,
                    reason=f"sent, but whether the copy was saved is unknown: {unknown.message}",
                )
            if not uids:
                return SentCopy(
                    saved=False,
                    status="failed",
                    reason=f"sent, but the copy was not saved: {exc.message} (checked on a new connection)",
                )
            uid = max(uids)
        return SentCopy(
            saved=True,
            status="ok",
            mailbox=folder,
            message_id=str(MessageId(account.id, folder, validity, uid)) if uid else None,
        )

    async def save(self, account: AccountConfig, cfg: SmtpConfig, draft: Draft) -> SentCopy:
        """Never raises: the message is already sent, so a failure here is reported in the result."""
        try:
            if cfg.save_sent == "never":
                return SentCopy(saved=False, reason="save_sent is never for this account")
            pool = self.service.pools.get(account.id)
            if cfg.save_sent == "auto" and "X-GM-EXT-1" in await pool.run(
                lambda c: c.capabilities, action="reading capabilities"
            ):
                return SentCopy(
                    saved=False, reason="the provider (Gmail) files sent mail in its Sent folder itself"
                )
            folder = await self.service.folders.by_role(account.id, "sent")
            if folder is None:
                return SentCopy(
                    saved=False, reason="no Sent folder was found (SPECIAL-USE \\Sent or a usual name)"
                )
            async with write_guard(
                self.service, account.id, [folder], "save_sent", header_message_id=draft.header_message_id
            ):
                return await self._append_sent(account, folder, draft)
        except MailError as exc:
            return SentCopy(
                saved=False, status="failed", reason=f"sent, but the copy could not be saved: {exc.message}"
            )
