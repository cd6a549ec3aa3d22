"""How get_thread shows a conversation: each message once (a copy elsewhere named in also_in), oldest first,
linked to its parent (JWZ), its own words only (quoted history trimmed, not a forward's) and cut at a per-message
cap, with a hint for whatever was cut or left out. Pure functions over what the finding and fetching returned.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mail_mcp.ids import MessageId
from mail_mcp.imap.fetch import RawMessage
from mail_mcp.imap.folders import Role
from mail_mcp.imap.threads import Linked
from mail_mcp.mailbox.models import Address
from mail_mcp.mailbox.presenting import attachment_infos, readable_text, summary
from mail_mcp.mime import decode_header, pick_text_parts
from mail_mcp.mime.display import escape_hidden
from mail_mcp.mime.quotes import trim_quotes

Method = Literal["references", "x-gm-thrid"]
Copies = list[tuple[Linked, list[str]]]  # each message once, with the other folders holding a copy
MAX_LIMIT = 200
_FORWARD = re.compile(r"\s*(fwd?|fw|wg|tr|rv)\s*:", re.IGNORECASE)  # a forward's quoted part is its content
_PREFIX = re.compile(r"^\s*((re|aw|sv|antw|réf|fwd?|wg|tr)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_COPY_RANK: dict[Role | None, int] = {"inbox": 0, "sent": 0, None: 1, "flagged": 2, "drafts": 2, "archive": 3}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _omit_none(value: object) -> bool:
    return value is None


def _omit_empty(value: object) -> bool:
    return not value


class ThreadMessage(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    message_id: str = Field(description="Our id (imap:...): pass it to get_message for the whole message.")
    mailbox: str
    folder_role: Role | None = None
    also_in: list[str] | None = Field(
        None, description="Other folders holding a copy of this message.", exclude_if=_omit_empty
    )
    header_message_id: str | None = Field(None, description="Its Message-ID header.")
    parent: str | None = Field(
        None,
        description="header_message_id of the message in this thread it replies to (its nearest ancestor here).",
        exclude_if=_omit_none,
    )
    from_: Address | None = Field(None, alias="from")
    to: list[Address] = Field(default_factory=list)
    cc: list[Address] = Field(default_factory=list, exclude_if=_omit_empty)
    date: datetime | None = None
    subject: str | None = Field(
        None, description="Only when it differs from the thread's subject.", exclude_if=_omit_none
    )
    is_read: bool
    flags: list[str] = Field(default_factory=list, exclude_if=_omit_empty)
    attachments: list[str] = Field(
        default_factory=list, description="Attachment file names.", exclude_if=_omit_empty
    )
    text: str = Field(description="The message's own words (untrusted content), quoted history trimmed.")
    quoted_chars_trimmed: int = Field(
        0, description="Characters of quoted history left out of text.", exclude_if=_omit_empty
    )
    next_offset: int | None = Field(
        None,
        description="text was cut: get_message(message_id, offset=next_offset) reads on.",
        exclude_if=_omit_none,
    )


class Thread(BaseModel):
    account: str
    subject: str = Field(description="The conversation's subject (its first message's, without Re:/Fwd:).")
    count: int = Field(description="How many messages the conversation has (each counted once).")
    method: Method = Field(
        description="How it was found: references (Message-ID/In-Reply-To/References header searches in "
        "every folder but Trash and Junk), x-gm-thrid (Gmail's conversation id, in All Mail)."
    )
    folders: list[str] = Field(description="The folders its messages are in.")
    omitted: int = Field(0, description="Messages left out (see hint).", exclude_if=_omit_empty)
    hint: str | None = Field(None, description="How to read what was cut or left out.", exclude_if=_omit_none)
    messages: list[ThreadMessage] = Field(description="Oldest first.")


def _base_subject(subject: str) -> str:
    return " ".join(_PREFIX.sub("", subject).split()).casefold()


def _when(message: Linked) -> datetime:
    return message.date or _EPOCH


def once(found: list[Linked], seed: Linked, roles: dict[str, Role | None]) -> Copies:
    """Each message once, oldest first: of its copies the one in INBOX or Sent (else the seed's folder) is shown."""
    copies: dict[str, list[Linked]] = {}
    for message in found:
        key = message.header_message_id or f"{message.mailbox}\0{message.uid}"
        copies.setdefault(key, []).append(message)
    unique: Copies = []
    for group in copies.values():
        group.sort(key=lambda m: (_COPY_RANK.get(roles.get(m.mailbox), 4), m.mailbox != seed.mailbox))
        unique.append(
            (group[0], list(dict.fromkeys(m.mailbox for m in group[1:] if m.mailbox != group[0].mailbox)))
        )
    unique.sort(key=lambda pair: (_when(pair[0]), pair[0].mailbox, pair[0].uid))
    return unique


def choose(unique: Copies, seed: Linked, limit: int) -> Copies:
    """All when they fit; else the first message, the seed and the newest ones, `limit` in all."""
    if len(unique) <= limit:
        return unique
    keep: set[int] = set()
    for index, (message, _) in enumerate(unique):
        if same(message, seed):
            keep.add(index)
    if limit > len(keep):
        keep.add(0)
    for index in range(len(unique) - 1, -1, -1):
        if len(keep) >= limit:
            break
        keep.add(index)
    return [unique[i] for i in sorted(keep)]


def thread(
    account_id: str,
    unique: Copies,
    chosen: Copies,
    raws: dict[tuple[str, int], RawMessage],
    roles: dict[str, Role | None],
    method: Method,
    max_chars: int,
    limit: int,
) -> Thread:
    """The conversation as get_thread returns it, from the chosen messages' fetched texts."""
    present = {m.header_message_id for m, _ in unique if m.header_message_id}
    subject = escape_hidden(decode_header(unique[0][0].subject))
    messages: list[ThreadMessage] = []
    cut = trimmed = False
    for linked, also_in in chosen:
        raw = raws.get((linked.mailbox, linked.uid))
        if raw is None:
            continue
        shown = _message(
            account_id, raw, linked, also_in, roles.get(linked.mailbox), subject, present, max_chars
        )
        cut, trimmed = cut or shown.next_offset is not None, trimmed or shown.quoted_chars_trimmed > 0
        messages.append(shown)
    omitted = len(unique) - len(chosen)
    return Thread(
        account=account_id,
        subject=subject,
        count=len(unique),
        method=method,
        folders=list(dict.fromkeys(f for m, also in unique for f in [m.mailbox, *also])),
        omitted=omitted,
        hint=_hint(cut, trimmed, omitted, len(unique), limit),
        messages=messages,
    )


def _message(
    account_id: str,
    raw: RawMessage,
    linked: Linked,
    also_in: list[str],
    role: Role | None,
    subject: str,
    present: set[str],
    max_chars: int,
) -> ThreadMessage:
    mid = MessageId(account_id, linked.mailbox, linked.uidvalidity, linked.uid)
    row = summary(raw, mid, role)
    full = readable_text(raw)  # not escaped, like get_message's body, so offsets carry over to it
    own = trim_quotes(full, forwarded=bool(_FORWARD.match(row.subject or "")))
    text = own.text[:max_chars]
    next_offset = None
    if len(own.text) > max_chars or (_incomplete(raw) and not own.trimmed_chars):
        next_offset = len(text) if full.startswith(text) else 0
    own_subject = escape_hidden(decode_header(linked.subject))
    return ThreadMessage(
        message_id=str(mid),
        mailbox=linked.mailbox,
        folder_role=role,
        also_in=also_in or None,
        header_message_id=linked.header_message_id,
        parent=_parent(linked, present),
        from_=row.from_,
        to=row.to,
        cc=row.cc,
        date=linked.date or row.date,
        subject=own_subject if _base_subject(own_subject) != _base_subject(subject) else None,
        is_read=row.is_read,
        flags=[f for f in row.flags if f.lower() not in ("\\seen", "\\recent")],
        attachments=[a.filename or a.content_type for a in attachment_infos(raw.structure)],
        text=text,
        quoted_chars_trimmed=own.trimmed_chars,
        next_offset=next_offset,
    )


def _incomplete(raw: RawMessage) -> bool:
    """Only the start of the text part was fetched."""
    plain, html = pick_text_parts(raw.structure)
    part = plain or html
    return part is not None and len(raw.texts.get(part.part_id, b"")) < part.size


def _parent(message: Linked, present: set[str]) -> str | None:
    """JWZ: the message it replies to, else its nearest ancestor in References that is in the thread."""
    chain = [*message.references, *([message.in_reply_to] if message.in_reply_to else [])]
    for candidate in reversed(chain):
        if candidate in present and candidate != message.header_message_id:
            return candidate
    return None


def same(one: Linked, other: Linked) -> bool:
    """The same message: the same UID in one folder, or (a copy) the same Message-ID."""
    if (one.mailbox, one.uid) == (other.mailbox, other.uid):
        return True
    return one.header_message_id is not None and one.header_message_id == other.header_message_id


def _hint(cut: bool, trimmed: bool, omitted: int, count: int, limit: int) -> str | None:
    parts = []
    if trimmed:
        parts.append("quoted history was trimmed from text (quoted_chars_trimmed); get_message shows it")
    if cut:
        parts.append(
            "text was cut at max_chars where next_offset is set: get_message(message_id, offset=next_offset) "
            "reads on"
        )
    if omitted:
        left_out = f"{omitted} of {count} messages were left out (the first and the newest are shown)"
        if limit < MAX_LIMIT:
            left_out += f": call get_thread again with limit={min(count, MAX_LIMIT)}"
        left_out += f" ({MAX_LIMIT} is the most get_thread shows)" if count > MAX_LIMIT else ""
        parts.append(left_out)
    return "; ".join(parts) + "." if parts else None
