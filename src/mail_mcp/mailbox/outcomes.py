"""The per-message outcomes of organizing writes: ok, failed or unknown, never optimistic."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Literal

from mail_mcp.errors import MailError
from mail_mcp.ids import MessageId
from mail_mcp.imap import store as imap_writes
from mail_mcp.mailbox.models import FlagOutcome, TransferOutcome, WriteCounts

LOST = ("connection_failed", "timeout", "bad_response")  # the reply was lost or unreadable, not a refusal


def counts(outcomes: Iterable[FlagOutcome | TransferOutcome]) -> WriteCounts:
    tally = Counter(outcome.status for outcome in outcomes)
    return WriteCounts(ok=tally["ok"], failed=tally["failed"], unknown=tally["unknown"])


def failure(exc: MailError, progress: imap_writes.Progress) -> tuple[Literal["failed", "unknown"], str]:
    if progress.applied or (progress.sent and exc.code in LOST):
        return "unknown", (
            f"{exc.message}. A write command had been sent, so the change may be partly or fully "
            "applied; check the messages before retrying"
        )
    return "failed", f"{exc.message}. Nothing was changed for this message"


def transfer_outcome(
    account: str,
    mid: MessageId,
    dest: str | None,
    done: imap_writes.Transfer | None,
    error: MailError | None,
    progress: imap_writes.Progress,
) -> TransferOutcome:
    base = {"message_id": str(mid), "previous_folder": mid.mailbox}
    if error is not None:
        if progress.copy_done and dest is not None:
            new_uid, validity = progress.copied.get(mid.uid), progress.dest_uidvalidity
            return TransferOutcome(
                **base,
                status="unknown",
                code=error.code,
                folder=None,
                new_message_id=str(MessageId(account, dest, validity, new_uid))
                if new_uid and validity
                else None,
                reason=f"{error.message}. It was copied to {dest}, but removing the original may not have "
                "finished: list both folders before retrying",
            )
        status, reason = failure(error, progress)
        return TransferOutcome(
            **base,
            status=status,
            code=error.code,
            reason=reason,
            folder=mid.mailbox if status == "failed" else None,
        )
    assert done is not None
    if mid.uid in done.missing:
        return TransferOutcome(
            **base,
            status="failed",
            code="not_found",
            folder=None,
            reason="the message is gone (moved or deleted by someone else); nothing was done",
        )
    if dest is None:
        return TransferOutcome(**base, status="ok", folder=None, reason="expunged")
    new_uid = done.new_uids.get(mid.uid)
    if new_uid is None or done.dest_uidvalidity is None:
        return TransferOutcome(
            **base,
            status="ok",
            code="new_id_unknown",
            folder=dest,
            reason=f"the server did not report the new UID (no UIDPLUS); find the message "
            f"with list_messages in {dest}",
        )
    return TransferOutcome(
        **base,
        status="ok",
        folder=dest,
        new_message_id=str(MessageId(account, dest, done.dest_uidvalidity, new_uid)),
    )
