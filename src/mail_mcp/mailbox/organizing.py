"""Organizing: flags, move, copy, delete and create_folder. The gate, id grouping, destination resolution and
honest outcomes.

Ids are grouped by (mailbox, uidvalidity); each group is one pool job (never retried) sending one command per
step for the whole group. A group that fails before anything was sent is `failed`; after, `unknown`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

from mail_mcp.audit import audit
from mail_mcp.config.models import AccountConfig
from mail_mcp.errors import (
    ConnectionFailed,
    InvalidInput,
    MailError,
    OutcomeUnknown,
    Unsupported,
    WriteDisabled,
)
from mail_mcp.ids import MessageId
from mail_mcp.imap import gmail as imap_gmail
from mail_mcp.imap import store as imap_writes
from mail_mcp.imap.flags import FlagChange, parse_change
from mail_mcp.imap.folders import Folder
from mail_mcp.mailbox import gmail
from mail_mcp.mailbox.locks import write_guard
from mail_mcp.mailbox.models import (
    CreatedFolder,
    FlagChangeResult,
    FlagOutcome,
    TransferOutcome,
    TransferResult,
)
from mail_mcp.mailbox.outcomes import LOST, counts, failure, transfer_outcome
from mail_mcp.mailbox.service import MailService

T = TypeVar("T")
Group = tuple[str, int]


class Organizer:
    def __init__(self, service: MailService) -> None:
        self.service = service

    # ---------------------------------------------------------------- common steps

    def writable_account(self, account_id: str | None) -> AccountConfig:
        account = self.service.account(account_id)
        if not account.write_enabled:
            raise WriteDisabled(
                f"writing is disabled for account {account.id!r}; the owner can enable it with "
                f"MAIL_IMAP_WRITE_ENABLED=true (or MAIL_IMAP_{account.id.upper()}_WRITE_ENABLED=true)",
                account=account.id,
            )
        return account

    def _parse_ids(self, message_ids: list[str]) -> tuple[AccountConfig, dict[Group, list[MessageId]]]:
        mids = list(dict.fromkeys(MessageId.parse(text) for text in message_ids))
        accounts = {mid.account for mid in mids}
        if len(accounts) != 1:
            raise InvalidInput(
                f"message ids from several accounts ({', '.join(sorted(accounts))}); "
                "send one call per account",
                accounts=sorted(accounts),
            )
        account = self.writable_account(mids[0].account)
        groups: dict[Group, list[MessageId]] = {}
        for mid in mids:
            groups.setdefault((mid.mailbox, mid.uidvalidity), []).append(mid)
        return account, groups

    async def _run(
        self, account: AccountConfig, action: str, fn: Callable[..., T], mailbox: str, *args: Any
    ) -> tuple[T | None, MailError | None, imap_writes.Progress]:
        """Run `fn(conn, mailbox, *args, progress=...)` once (never retried); a MailError becomes part of the result,
        except Unsupported, which is the same for every group and raised before anything is sent."""
        progress = imap_writes.Progress()
        try:
            result = await self.service.pools.get(account.id).run(
                lambda conn: fn(conn, mailbox, *args, progress=progress),
                action=action,
                mailbox=mailbox,
                write=True,
            )
        except Unsupported:
            raise
        except MailError as exc:
            if exc.code == "not_found" and ("folder" in exc.details or "mailbox" in exc.details):
                self.service.folders.forget(account.id)
            progress.sent = exc.write_sent
            return None, exc, progress
        return result, None, progress

    # ---------------------------------------------------------------- folders

    async def resolve_folder(self, account: AccountConfig, destination: str) -> Folder:
        destination = await gmail.destination(self.service, account.id, destination)
        return await self.service.folders.resolve(account.id, destination)

    async def create_folder(self, account_id: str | None, name: str) -> CreatedFolder:
        account = self.writable_account(account_id)
        if not name.strip() or any(ord(ch) < 0x20 or ch == "\x7f" for ch in name):
            raise InvalidInput(
                "folder names must not be empty or contain control characters", folder=name[:200]
            )
        name = await self.service.folders.server_name(account.id, name)
        pool = self.service.pools.get(account.id)
        async with write_guard(self.service, account.id, [name], "create_folder", folder=name):
            try:
                created = await pool.run(
                    lambda c: imap_writes.create_folder(c, name), action="creating a folder", write=True
                )
            except MailError as exc:
                if not (exc.write_sent and exc.code in LOST):
                    raise
                created = await self._settle_create(account, name, exc)
            finally:
                self.service.folders.forget(account.id)
        audit("create_folder", account.id, folder=name, created=created)
        delimiter = (await self.service.folders.namespace(account.id)).delimiter
        return CreatedFolder(account=account.id, name=name, delimiter=delimiter, created=created)

    async def _settle_create(self, account: AccountConfig, name: str, exc: MailError) -> bool:
        """CREATE went out but its reply was lost: the answer is whether the folder exists now."""
        try:
            exists = await self.service.pools.get(account.id).run(
                lambda c: bool(c.client.folder_exists(name)), action="checking the new folder"
            )
        except MailError as again:
            audit("create_folder", account.id, folder=name, status="unknown", code=again.code)
            raise OutcomeUnknown(
                f"{exc.message}; the CREATE had been sent and checking afterwards failed too "
                f"({again.message}), so {name!r} may or may not exist: call list_folders before retrying",
                folder=name,
            ) from None
        if not exists:
            raise ConnectionFailed(
                f"{exc.message}. The folder was not created (checked on a new connection); it is safe to "
                "try again",
                folder=name,
            ) from None
        return True

    # ---------------------------------------------------------------- flags

    async def modify_flags(
        self,
        message_ids: list[str],
        add: list[str] | None,
        remove: list[str] | None,
        add_labels: list[str] | None = None,
        remove_labels: list[str] | None = None,
    ) -> FlagChangeResult:
        labels = (
            imap_gmail.check_labels(add_labels, "add_labels"),
            imap_gmail.check_labels(remove_labels, "remove_labels"),
        )
        change = parse_change(add, remove) if add or remove or not any(labels) else FlagChange((), ())
        account, groups = self._parse_ids(message_ids)
        await gmail.check_labels_allowed(self.service, account.id, any(labels))
        outcomes: dict[MessageId, FlagOutcome] = {}
        sent_any = False
        async with write_guard(
            self.service, account.id, [mailbox for mailbox, _ in groups], "modify_flags", ids=message_ids
        ):
            for (mailbox, validity), mids in groups.items():
                both, error, progress = await self._run(
                    account,
                    "changing flags",
                    imap_gmail.store_flags_and_labels,
                    mailbox,
                    validity,
                    [m.uid for m in mids],
                    list(change.add),
                    list(change.remove),
                    *labels,
                )
                sent_any = sent_any or progress.sent
                now, labels_now = both or (None, None)
                for mid in mids:
                    outcome = self._flag_outcome(mid, change.add, change.remove, now, error, progress)
                    outcomes[mid] = gmail.with_labels(outcome, labels_now, mid.uid, *labels)
        result = FlagChangeResult(
            account=account.id,
            requested_add_flags=list(add or []),
            requested_remove_flags=list(remove or []),
            applied_add_flags=list(change.add) if sent_any else [],
            applied_remove_flags=list(change.remove) if sent_any else [],
            counts=counts(outcomes.values()),
            messages=list(outcomes.values()),
        )
        audit(
            "modify_flags",
            account.id,
            add=list(change.add),
            remove=list(change.remove),
            add_labels=list(labels[0] or []),
            remove_labels=list(labels[1] or []),
            outcomes={o.message_id: o.code or o.status for o in result.messages},
        )
        return result

    def _flag_outcome(
        self,
        mid: MessageId,
        add: tuple[str, ...],
        remove: tuple[str, ...],
        now: dict[int, list[str]] | None,
        error: MailError | None,
        progress: imap_writes.Progress,
    ) -> FlagOutcome:
        if error is not None:
            status, reason = failure(error, progress)
            return FlagOutcome(message_id=str(mid), status=status, code=error.code, reason=reason)
        assert now is not None
        flags = now.get(mid.uid)
        if flags is None:
            return FlagOutcome(
                message_id=str(mid),
                status="failed",
                code="not_found",
                reason="the message is gone (moved or deleted); nothing was changed",
            )
        have = {f.lower() for f in flags}
        missing = [f for f in add if f.lower() not in have] + [f for f in remove if f.lower() in have]
        if missing:
            return FlagOutcome(
                message_id=str(mid),
                status="failed",
                code="server_error",
                flags=flags,
                reason=f"the server did not keep the change for {', '.join(missing)} (the folder "
                "may not allow keywords)",
            )
        return FlagOutcome(message_id=str(mid), status="ok", flags=flags)

    # ---------------------------------------------------------------- move, copy, delete

    async def transfer(
        self, message_ids: list[str], destination: str | None, *, operation: Literal["move", "copy", "delete"]
    ) -> TransferResult:
        account, groups = self._parse_ids(message_ids)
        folder = await self.resolve_folder(account, destination or "trash")
        async with write_guard(
            self.service, account.id, [mailbox for mailbox, _ in groups], operation, ids=message_ids
        ):
            outcomes = await self._transfer_groups(account, groups, folder, operation)
        result = TransferResult(
            account=account.id,
            operation=operation,
            folder=folder.name,
            folder_role=folder.role,
            counts=counts(outcomes),
            messages=outcomes,
        )
        audit(
            operation,
            account.id,
            folder=folder.name,
            outcomes={o.message_id: [o.code or o.status, o.new_message_id] for o in outcomes},
        )
        return result

    async def _transfer_groups(
        self,
        account: AccountConfig,
        groups: dict[Group, list[MessageId]],
        folder: Folder,
        operation: Literal["move", "copy", "delete"],
    ) -> list[TransferOutcome]:
        outcomes: list[TransferOutcome] = []
        for (mailbox, validity), mids in groups.items():
            if operation != "copy" and mailbox == folder.name:
                outcomes += [
                    TransferOutcome(
                        message_id=str(m),
                        status="ok",
                        code="already_there",
                        reason=f"already in {folder.name}; nothing was done",
                        previous_folder=mailbox,
                        folder=mailbox,
                        new_message_id=str(m),
                    )
                    for m in mids
                ]
                continue
            fn = imap_writes.copy_uids if operation == "copy" else imap_writes.move_uids
            done, error, progress = await self._run(
                account,
                f"{operation} to {folder.name}",
                fn,
                mailbox,
                validity,
                [m.uid for m in mids],
                folder.name,
            )
            outcomes += [transfer_outcome(account.id, m, folder.name, done, error, progress) for m in mids]
        return outcomes

    async def delete_permanently(self, message_ids: list[str]) -> TransferResult:
        account, groups = self._parse_ids(message_ids)
        if not account.allow_permanent_delete:
            trash = await self.resolve_folder(account, "trash")
            outside = sorted({mailbox for mailbox, _ in groups if mailbox != trash.name})
            if outside:
                raise WriteDisabled(
                    f"permanent delete is only allowed in {trash.name} for account {account.id!r}; messages in "
                    f"{', '.join(outside)} must be moved to Trash first (delete_message without permanent), unless "
                    f"the owner sets MAIL_IMAP_{account.id.upper()}_ALLOW_PERMANENT_DELETE=true. Nothing was deleted",
                    folders=outside,
                )
        outcomes: list[TransferOutcome] = []
        async with write_guard(
            self.service, account.id, [mailbox for mailbox, _ in groups], "permanent_delete", ids=message_ids
        ):
            for (mailbox, validity), mids in groups.items():
                done, error, progress = await self._run(
                    account,
                    "deleting permanently",
                    imap_writes.expunge_present,
                    mailbox,
                    validity,
                    [m.uid for m in mids],
                )
                outcomes += [transfer_outcome(account.id, m, None, done, error, progress) for m in mids]
        outcomes = await gmail.expunge_outcomes(self.service, account.id, outcomes)
        result = TransferResult(
            account=account.id, operation="permanent_delete", counts=counts(outcomes), messages=outcomes
        )
        audit("permanent_delete", account.id, outcomes={o.message_id: o.code or o.status for o in outcomes})
        return result
