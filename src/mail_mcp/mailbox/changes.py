"""What changed since a listing: every listing's `meta.state` is a token for the state of its folders, and
`list_changes(state)` reports the new messages, the flag changes and the messages that went since then.

The token is a short text (version, account, per folder: name, UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ or empty,
message count, and the id of an in-memory snapshot where one is kept; see `encode_state`). It is not signed:
it grants nothing an account id and folder names do not, and every field is checked. With CONDSTORE and
QRESYNC it is all the server needs, so it survives a restart of this process. Without QRESYNC the snapshot
(UIDs, and without CONDSTORE each message's flags) is kept here, bounded; when it is gone the result says
which part could not be known rather than claiming nothing changed.

A token longer than LONG_TOKEN characters (many folders, long or non-ASCII names) is kept here instead and handed
out as a handle `2;<account>;h<id>` (bounded, least recently used dropped first): such a state does not survive a
restart of this process, and a handle no longer kept is refused with a request to list again.
"""

from __future__ import annotations

import re
import secrets
from collections import OrderedDict
from urllib.parse import quote, unquote

from pydantic import BaseModel, Field

from mail_mcp.errors import InvalidInput, NotFound
from mail_mcp.ids import ACCOUNT_ID_RE, MAX_U32, MessageId
from mail_mcp.imap import changes as imap_changes
from mail_mcp.imap import order
from mail_mcp.imap.changes import MailboxState, RawChanges, Snapshot
from mail_mcp.imap.connection import Connection
from mail_mcp.mailbox.models import MessageSummary
from mail_mcp.mailbox.presenting import summary
from mail_mcp.mailbox.service import MailService

TOKEN_VERSION = 1
HANDLE_VERSION = 2
LONG_TOKEN = 1_000  # a token longer than this is kept here, and a handle to it handed out
KEPT_STATES = 1_024
KEPT_STATE_CHARS = 16 * 2**20
SNAPSHOT_ID_RE = re.compile(r"^[A-Za-z0-9_-]+$")
MAX_TOKEN_CHARS = 64 * 1024
MAX_MAILBOXES = 200
MAX_LIMIT = 50
MAX_LISTED = 200  # flag changes and vanished ids shown at most, each
KEPT_SNAPSHOTS = 64
KEPT_MESSAGES = 500_000  # UIDs across all kept snapshots
BAD_STATE = (
    "the state token is not one this server issued or is damaged; list the folder again for a new state"
)
GONE_STATE = (
    "this state covers too many folders for a token, so this server kept it in memory, and it is gone (the "
    "server restarted or the state is too old): list the folder again for a new state"
)
_snapshots: OrderedDict[str, tuple[str, dict[str, tuple[MailboxState, Snapshot]]]] = OrderedDict()


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


def encode_state(account: str, states: list[MailboxState], snapshot_id: str | None) -> str:
    """`1;<account>;<folder>,<uidvalidity>,<uidnext>,<modseq>,<count>;…[;s<snapshot id>]`, folder names
    percent-encoded, an unknown modseq empty: short, and cheap in tokens (base64 would cost three times as many)."""
    rows = [
        f"{quote(s.name, safe='')},{s.uidvalidity},{s.uidnext},{'' if s.modseq is None else s.modseq},{s.count}"
        for s in states
    ]
    tail = [f"s{snapshot_id}"] if snapshot_id else []
    return ";".join([str(TOKEN_VERSION), account, *rows, *tail])


class _KeptStates:
    """Tokens too long to hand out, by a random id; the least recently used go first."""

    def __init__(self) -> None:
        self.by_id: OrderedDict[str, str] = OrderedDict()
        self.by_text: dict[str, str] = {}
        self.chars = 0

    def put(self, text: str) -> str:
        handle = self.by_text.get(text)
        if handle is None:
            handle = secrets.token_urlsafe(12)
            self.by_id[handle], self.by_text[text] = text, handle
            self.chars += len(text)
        self.by_id.move_to_end(handle)
        while len(self.by_id) > KEPT_STATES or (len(self.by_id) > 1 and self.chars > KEPT_STATE_CHARS):
            _, dropped = self.by_id.popitem(last=False)
            del self.by_text[dropped]
            self.chars -= len(dropped)
        return handle

    def get(self, handle: str) -> str | None:
        text = self.by_id.get(handle)
        if text is not None:
            self.by_id.move_to_end(handle)
        return text


_long_states = _KeptStates()


def issue_state(account: str, states: list[MailboxState], snapshot_id: str | None) -> str:
    """The token to hand out: `encode_state`'s, or a handle to it kept here when longer than LONG_TOKEN."""
    text = encode_state(account, states, snapshot_id)
    if len(text) <= LONG_TOKEN:
        return text
    return f"{HANDLE_VERSION};{account};h{_long_states.put(text)}"


def _number(value: str, low: int, high: int) -> int:
    if not value.isascii() or not value.isdigit() or len(value) > 20 or not low <= int(value) <= high:
        raise ValueError("number")
    return int(value)


def _folder_name(value: str) -> bool:
    return 0 < len(value) <= 1000 and all(c >= " " and c != "\x7f" for c in value)


def decode_state(text: str) -> tuple[str, list[MailboxState], str | None]:
    """Strict: the exact shape, numbers in range, no duplicate folders; InvalidInput(field="state") else. A
    handle is looked up (InvalidInput saying the state is gone when no longer kept) and its token decoded."""
    try:
        if not isinstance(text, str) or not 0 < len(text) <= MAX_TOKEN_CHARS or not text.isascii():
            raise ValueError("size")
        version, account, *rows = text.split(";")
        if not ACCOUNT_ID_RE.match(account):
            raise ValueError("account")
        if version == str(HANDLE_VERSION) and len(rows) == 1 and rows[0].startswith("h"):
            if not (16 <= len(rows[0]) - 1 <= 64 and SNAPSHOT_ID_RE.match(rows[0][1:])):
                raise ValueError("handle")
            text = _long_states.get(rows[0][1:]) or ""
            if not text:
                raise InvalidInput(GONE_STATE, field="state")
            version, kept_account, *rows = text.split(";")
            if kept_account != account:
                raise ValueError("account")
        if version != str(TOKEN_VERSION):
            raise ValueError("shape")
        snapshot_id = None
        if rows and rows[-1].startswith("s") and "," not in rows[-1]:  # a folder row always has commas
            snapshot_id = rows.pop()[1:]
            if not (16 <= len(snapshot_id) <= 64 and SNAPSHOT_ID_RE.match(snapshot_id)):
                raise ValueError("snapshot")
        if not 0 < len(rows) <= MAX_MAILBOXES:
            raise ValueError("mailboxes")
        states: list[MailboxState] = []
        for row in rows:
            fields = row.split(",")
            if len(fields) != 5:
                raise ValueError("row")
            name = unquote(fields[0], errors="strict")
            if not _folder_name(name):
                raise ValueError("name")
            states.append(
                MailboxState(
                    name,
                    _number(fields[1], 1, MAX_U32),
                    _number(fields[2], 1, MAX_U32 + 1),
                    None if fields[3] == "" else _number(fields[3], 0, 2**63 - 1),
                    _number(fields[4], 0, MAX_U32),
                )
            )
        if len({s.name for s in states}) != len(states):
            raise ValueError("duplicate")
        return account, states, snapshot_id
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput(BAD_STATE, field="state") from None


def _keep(account: str, taken: dict[str, tuple[MailboxState, Snapshot]]) -> str | None:
    """Keeps the snapshots that fit in KEPT_MESSAGES together (the others are not kept: their changes are then
    told as far as possible without); older ones are dropped to make room."""
    fitting: dict[str, tuple[MailboxState, Snapshot]] = {}
    room = KEPT_MESSAGES
    for name, (state, snapshot) in taken.items():
        if len(snapshot.uids) <= room:
            fitting[name] = (state, snapshot)
            room -= len(snapshot.uids)
    if not fitting:
        return None
    snapshot_id = secrets.token_urlsafe(16)
    _snapshots[snapshot_id] = (account, fitting)
    while len(_snapshots) > KEPT_SNAPSHOTS or (
        len(_snapshots) > 1
        and sum(len(s.uids) for _, kept in _snapshots.values() for _, s in kept.values()) > KEPT_MESSAGES
    ):
        _snapshots.popitem(last=False)
    return snapshot_id


def _kept(snapshot_id: str | None, account: str, state: MailboxState) -> Snapshot | None:
    """The snapshot taken with exactly this state, if still kept."""
    entry = _snapshots.get(snapshot_id) if snapshot_id else None
    if entry is None or entry[0] != account or state.name not in entry[1]:
        return None
    taken, snapshot = entry[1][state.name]
    return snapshot if taken == state else None


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
        return issue_state(account.id, [state for state, _ in taken], _keep(account.id, kept))

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
            snapshot = _kept(snapshot_id, account.id, old)

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
            state=issue_state(account_id, [raw.state for raw in found], _keep(account_id, kept)),
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
