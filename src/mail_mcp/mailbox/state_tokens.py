"""State tokens for list_changes, and what is kept in memory for them.

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

from mail_mcp.errors import InvalidInput
from mail_mcp.ids import ACCOUNT_ID_RE, MAX_U32
from mail_mcp.imap.changes import MailboxState, Snapshot

TOKEN_VERSION = 1
HANDLE_VERSION = 2
LONG_TOKEN = 1_000  # a token longer than this is kept here, and a handle to it handed out
KEPT_STATES = 1_024
KEPT_STATE_CHARS = 16 * 2**20
SNAPSHOT_ID_RE = re.compile(r"^[A-Za-z0-9_-]+$")
MAX_TOKEN_CHARS = 64 * 1024
MAX_MAILBOXES = 200
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


def keep_snapshots(account: str, taken: dict[str, tuple[MailboxState, Snapshot]]) -> str | None:
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


def kept_snapshot(snapshot_id: str | None, account: str, state: MailboxState) -> Snapshot | None:
    """The snapshot taken with exactly this state, if still kept."""
    entry = _snapshots.get(snapshot_id) if snapshot_id else None
    if entry is None or entry[0] != account or state.name not in entry[1]:
        return None
    taken, snapshot = entry[1][state.name]
    return snapshot if taken == state else None
