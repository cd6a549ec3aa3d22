"""What changed since a listing: every listing's `meta.state` is a token for the state of its folders, and
`list_changes(state)` reports the new messages, the flag changes and the messages that went since then.

The token and the snapshots kept for it are in `state_tokens`.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from mail_mcp.errors import InvalidInput, NotFound
from mail_mcp.ids import MessageId
from mail_mcp.imap import changes as imap_changes
from mail_mcp.imap import order
from mail_mcp.imap.changes import MailboxState, RawChanges, Snapshot
from mail_mcp.imap.connection import Connection
from mail_mcp.mailbox.models import MessageSummary
from mail_mcp.mailbox.presenting import summary
from mail_mcp.mailbox.service import MailService
from mail_mcp.mailbox.state_tokens import (
    MAX_MAILBOXES,
    MAX_TOKEN_CHARS,
    decode_state,
    issue_state,
    keep_snapshots,
    kept_snapshot,
)

__all__ = ["MAX_LIMIT", "MAX_TOKEN_CHARS", "ChangeList", "ChangeTracker", "FlagChange", "Unknown"]

MAX_LIMIT = 50
MAX_LISTED = 200  # flag changes and vanished ids shown at most, each


class FlagChange(BaseModel):
    message_id: str
    flags: list[str] = Field(description="All its flags now.")
    is_read: bool
    is_flagged: bool


class Unknown(BaseModel):
    mailbox: str
    flags_unknown: bool = Field(
        description="Flag changes in this folder could not be told (none are listed)."
    )
    vanished_unknown: int = Field(0, description="This many messages went, but which ones could not be told.")


class ChangeList(BaseModel):
    account: str
    mailboxes: list[str]
    state: str = Field(description="Pass this to list_changes next time: it covers everything reported here.")
    changed: bool = Field(description="Whether anything at all is reported (false only when complete).")
    complete: bool = Field(
        description="false when some changes could not be told (see unknown) or not all are listed (see note): "
        "list the folder to be sure."
    )
    new_total: int = Field(description="How many messages arrived; new_messages shows the newest of them.")
    new_messages: list[MessageSummary] = Field(description="Newest first, at most `limit`.")
    flag_changes_total: int = 0
    flag_changes: list[FlagChange] = Field(description="Messages whose flags changed, with their flags now.")
    vanished_total: int = 0
    vanished: list[str] = Field(description="Ids of messages that were deleted or moved away.")
    unknown: list[Unknown] = Field(default_factory=list, exclude_if=lambda value: not value)
    note: str | None = Field(None, exclude_if=lambda value: value is None)


def _flag_change(mid: MessageId, flags: tuple[str, ...]) -> FlagChange:
    lowered = {f.lower() for f in flags}
    return FlagChange(
        message_id=str(mid), flags=list(flags), is_read="\\seen" in lowered, is_flagged="\\flagged" in lowered
    )


class ChangeTracker:
    def __init__(self, service: MailService) -> None:
        self.service = service

    async def state(self, account_id: str, mailboxes: list[str], *, skip_missing: bool = False) -> str:
        """The token for the current state of these mailboxes (server names, as in message ids). One pool job:
        a STATUS per folder, plus a UID (and, without CONDSTORE, flags) snapshot where QRESYNC is missing. A
        single folder is EXAMINEd first, on the connection the listing that follows will then reuse. NotFound
        when a folder no longer exists; with `skip_missing` such a folder is left out (NotFound when all are)."""
        account = self.service.account(account_id)
        names = list(dict.fromkeys(mailboxes))
        if not 0 < len(names) <= MAX_MAILBOXES:
            raise InvalidInput(f"a state covers 1 to {MAX_MAILBOXES} folders", field="mailboxes")

        def job(conn: Connection) -> list[tuple[MailboxState, Snapshot | None]]:
            taken = []
            for name in names:
                try:
                    taken.append(imap_changes.take_state(conn, name, examine=len(names) == 1))
                except NotFound:
                    if not skip_missing or len(names) == 1:
                        raise
            if not taken:
                raise NotFound("none of these folders exists any more; call list_folders", mailbox=names[0])
            return taken

        taken = await self.service.pools.get(account.id).run(
            job, action="reading the folder state", mailbox=names[0] if len(names) == 1 else None
        )
        kept = {state.name: (state, snap) for state, snap in taken if snap is not None}
        return issue_state(account.id, [state for state, _ in taken], keep_snapshots(account.id, kept))

    async def list_changes(self, state: str, limit: int = 50) -> ChangeList:
        """New messages (summaries, newest first, at most `limit`), flag changes and vanished ids since the
        state; StaleId when a folder was recreated, NotFound when the folder was deleted (of several, a deleted
        one is reported as gone and left out of the next state)."""
        account_id, states, snapshot_id = decode_state(state)
        if not 0 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be between 0 and {MAX_LIMIT}", field="limit")
        account = self.service.account(account_id)
        pool = self.service.pools.get(account.id)
        found: list[RawChanges] = []
        gone: list[MailboxState] = []
        for old in states:
            snapshot = kept_snapshot(snapshot_id, account.id, old)

            def job(
                conn: Connection, old: MailboxState = old, snapshot: Snapshot | None = snapshot
            ) -> RawChanges:
                return imap_changes.changes(conn, old, snapshot, limit)

            try:
                found.append(await pool.run(job, action="reading changes", mailbox=old.name))
            except NotFound:
                if len(states) == 1:
                    raise
                gone.append(old)
        if not found:
            raise NotFound(
                "none of the state's folders exists any more; list the folders again",
                mailboxes=[s.name for s in gone],
            )
        return await self._present(account.id, found, limit, gone)

    async def _present(
        self, account_id: str, found: list[RawChanges], limit: int, gone: list[MailboxState]
    ) -> ChangeList:
        rows: list[tuple[tuple[int, int], MessageSummary]] = []
        flags: list[FlagChange] = []
        vanished: list[str] = []
        unknown: list[Unknown] = []
        new_total = 0
        for raw in found:
            now = raw.state
            role = await self.service.folders.role_of(account_id, now.name) if raw.new_messages else None
            for message in raw.new_messages:
                row = summary(message, MessageId(account_id, now.name, now.uidvalidity, message.uid), role)
                rows.append(((order.arrival(message.data.get(b"INTERNALDATE")), message.uid), row))
            new_total += len(raw.new_uids)
            flags += [
                _flag_change(MessageId(account_id, now.name, now.uidvalidity, u), f)
                for u, f in raw.flags.items()
            ]
            vanished += [str(MessageId(account_id, now.name, now.uidvalidity, uid)) for uid in raw.vanished]
            if not raw.flags_known or raw.vanished_unknown:
                unknown.append(
                    Unknown(
                        mailbox=now.name,
                        flags_unknown=not raw.flags_known,
                        vanished_unknown=raw.vanished_unknown,
                    )
                )
        rows.sort(key=lambda item: item[0], reverse=True)
        kept = {raw.state.name: (raw.state, raw.snapshot) for raw in found if raw.snapshot is not None}
        notes = []
        if new_total > min(limit, len(rows)):
            notes.append(
                f"{new_total - min(limit, len(rows))} more new messages are not shown: list the folder"
            )
        unlisted = max(0, len(flags) - MAX_LISTED), max(0, len(vanished) - MAX_LISTED)
        if any(unlisted):
            notes.append(
                f"{unlisted[0]} flag changes and {unlisted[1]} vanished ids are not listed (at most {MAX_LISTED} "
                "of each are): list the folder to see them all"
            )
        for old in gone:
            unknown.append(Unknown(mailbox=old.name, flags_unknown=False, vanished_unknown=old.count))
            notes.append(f"the folder {old.name!r} no longer exists: its {old.count} messages went with it")
        if unknown:
            notes.append(
                "some changes could not be told (see unknown: the server lacks QRESYNC and this process holds no "
                "snapshot from then, or the server no longer knows which messages went): list the folder to be "
                "sure; the new state tracks from now on"
            )
        return ChangeList(
            account=account_id,
            mailboxes=[raw.state.name for raw in found],
            state=issue_state(account_id, [raw.state for raw in found], keep_snapshots(account_id, kept)),
            changed=bool(new_total or flags or vanished or unknown),
            complete=not unknown and not any(unlisted),
            new_total=new_total,
            new_messages=[row for _, row in rows[:limit]],
            flag_changes_total=len(flags),
            flag_changes=flags[:MAX_LISTED],
            vanished_total=len(vanished),
            vanished=vanished[:MAX_LISTED],
            unknown=unknown,
            note="; ".join(notes) or None,
        )
