"""What archive, delete and labels mean on Gmail, where labels are folders (developers.google.com/gmail/imap).

- archive is leaving INBOX: a move to [Gmail]/All Mail (the folder with the \\All role);
- delete is a move to [Gmail]/Trash (the ordinary delete path, by role);
- \\Deleted + EXPUNGE in a label folder only removes that label: the message stays in All Mail (imapflow#69,
  courier#53 and #66, sweetrb PR #88), so such a "permanent delete" is reported as `label_removed`, never as
  deleted.
"""

from __future__ import annotations

from mail_mcp.errors import InvalidInput
from mail_mcp.mailbox.models import FlagOutcome, TransferOutcome
from mail_mcp.mailbox.service import MailService

REALLY_DELETING = ("trash", "junk")  # expunging there deletes the message on Gmail


async def destination(service: MailService, account_id: str, wanted: str) -> str:
    """`archive` on Gmail is [Gmail]/All Mail; anything else unchanged."""
    if wanted.lower() != "archive" or not (await service.profile(account_id)).gmail:
        return wanted
    folders = await service.folders.folders(account_id)
    return next((f.name for f in folders if f.role == "all" and f.selectable), wanted)


async def check_labels_allowed(service: MailService, account_id: str, wanted: bool) -> None:
    if wanted and not (await service.profile(account_id)).gmail:
        raise InvalidInput(
            f"labels exist only on Gmail accounts; {account_id!r} is not one: use flags (keywords) or "
            "copy_message to a folder instead. Nothing was changed",
            field="add_labels",
        )


def with_labels(
    outcome: FlagOutcome, labels: dict[int, list[str]] | None, uid: int, add: list[str], remove: list[str]
) -> FlagOutcome:
    """The labels read back, and `failed` when the server did not keep a requested change."""
    if labels is None or outcome.status != "ok":
        return outcome
    now = labels.get(uid, [])
    have = {label.casefold() for label in now}
    missing = [x for x in add if x.casefold() not in have] + [x for x in remove if x.casefold() in have]
    outcome.labels = now
    if missing:
        outcome.status, outcome.code = "failed", "server_error"
        outcome.reason = f"the server did not keep the label change for {', '.join(missing)}"
    return outcome


async def expunge_outcomes(
    service: MailService, account_id: str, outcomes: list[TransferOutcome]
) -> list[TransferOutcome]:
    """On Gmail, an expunge outside Trash and Spam removed a label, not the message: say so."""
    if not (await service.profile(account_id)).gmail:
        return outcomes
    folders = await service.folders.folders(account_id)
    roles = {f.name: f.role for f in folders}
    everything = next((f.name for f in folders if f.role == "all"), "[Gmail]/All Mail")
    for outcome in outcomes:
        if outcome.status == "ok" and roles.get(outcome.previous_folder) not in REALLY_DELETING:
            outcome.code, outcome.folder = "label_removed", everything
            outcome.reason = (
                f"Gmail only removed the label {outcome.previous_folder!r}: the message is still in "
                f"{everything} (and its other labels). To delete it, use delete_message without permanent "
                "(it moves to Trash)"
            )
    return outcomes
