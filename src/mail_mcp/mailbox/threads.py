"""Conversations: get_thread gathers one conversation from every folder (Sent included), oldest first, each
message compact: its own words with quoted history trimmed (not a forward's) and cut at a per-message cap.
Candidates are found by HEADER searches for the known Message-IDs in each folder, never by reading a folder:
round after round for the ids not searched yet, each round one reply further (one round in all when References
are complete), until no new id turns up or a cap stops it (the hint then says so); on Gmail by X-GM-THRID in
All Mail. Messages are linked by their Message-ID, In-Reply-To and References (JWZ parent pointers).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from mail_mcp.errors import InvalidInput, MailError, NotFound
from mail_mcp.ids import MessageId
from mail_mcp.imap import threads as imap_threads
from mail_mcp.imap.connection import Connection
from mail_mcp.imap.fetch import RawMessage, read_texts
from mail_mcp.imap.folders import Folder, Role
from mail_mcp.imap.threads import FolderHits, Linked
from mail_mcp.mailbox.concurrent import gather
from mail_mcp.mailbox.models import Address
from mail_mcp.mailbox.presenting import attachment_infos, readable_text, summary
from mail_mcp.mailbox.scope import folders_in_scope
from mail_mcp.mailbox.service import MailService
from mail_mcp.mime import decode_header, pick_text_parts
from mail_mcp.mime.display import escape_hidden
from mail_mcp.mime.quotes import trim_quotes

T = TypeVar("T")
Method = Literal["references", "x-gm-thrid"]
_FORWARD = re.compile(r"\s*(fwd?|fw|wg|tr|rv)\s*:", re.IGNORECASE)  # a forward's quoted part is its content
MAX_ROUNDS = 12  # header-search rounds, each one reply further (In-Reply-To-only chains need one a hop)
MAX_IDS_PER_ROUND = 200
MAX_MESSAGES = 1000
MAX_CHARS_LIMIT = 20_000
MAX_LIMIT = 200
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


class Threads:
    def __init__(self, service: MailService) -> None:
        self.service = service

    async def get_thread(self, message_id: str, max_chars: int = 1500, limit: int = 30) -> Thread:
        if not 1 <= max_chars <= MAX_CHARS_LIMIT:
            raise InvalidInput(f"max_chars must be 1 to {MAX_CHARS_LIMIT}", field="max_chars")
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be 1 to {MAX_LIMIT}", field="limit")
        mid = MessageId.parse(message_id)
        account = self.service.account_for(mid)
        pool = self.service.pools.get(account.id)
        seed = await pool.run(
            lambda c: imap_threads.read_seed(c, mid), action="reading a message", mailbox=mid.mailbox
        )
        method: Method = "x-gm-thrid"
        found, capped = await self._gmail(account.id, seed)
        unfinished: str | None = None
        if found is None:
            method = "references"
            found, capped, unfinished = await self._by_references(account.id, seed)
        if not any(_same(m, seed) for m in found):
            found.append(seed)
        thread = await self._present(account.id, seed, found, method, max_chars, limit)
        many = f"more than {imap_threads.MAX_FOUND_PER_FOLDER} messages in one folder matched"
        notes = (thread.hint, unfinished, f"{many}: only the newest of them were taken." if capped else None)
        thread.hint = " ".join(note for note in notes if note) or None
        return thread

    # ------------------------------------------------------------ finding

    async def _gmail(self, account_id: str, seed: Linked) -> tuple[list[Linked] | None, bool]:
        if seed.thrid is None or not (await self.service.profile(account_id)).gmail:
            return None, False
        everything = [f.name for f in await self.service.folders.folders(account_id) if f.role == "all"]
        if not everything:
            return None, False
        all_mail = everything[0]
        thrid = seed.thrid
        hits = await self.service.pools.get(account_id).run(
            lambda c: imap_threads.find_by_thrid(c, all_mail, thrid),
            action="finding a conversation",
            mailbox=all_mail,
        )
        return hits.found, hits.capped

    async def _scope(self, account_id: str, seed_mailbox: str) -> list[Folder]:
        try:
            folders = await folders_in_scope(self.service, account_id, None)
        except InvalidInput:  # too many folders for a search: the ones a conversation usually lives in
            everything = await self.service.folders.folders(account_id)
            folders = [f for f in everything if f.selectable and f.role in ("inbox", "sent", "archive")]
            folders += [f for f in everything if f.name.upper() == "INBOX" and f not in folders]
        if all(f.name != seed_mailbox for f in folders):
            folders.append(await self.service.folders.resolve(account_id, seed_mailbox))
        return folders

    async def _by_references(self, account_id: str, seed: Linked) -> tuple[list[Linked], bool, str | None]:
        """The linked messages, whether a folder had too many, and a note if a cap stopped the search."""
        if not seed.ids:
            return [seed], False, None
        folders = await self._scope(account_id, seed.mailbox)
        known: dict[str, set[int]] = {f.name: set() for f in folders}
        found: dict[tuple[str, int], Linked] = {}
        searched: set[str] = set()
        waiting = dict.fromkeys(imap_threads.searchable(seed.ids))  # named, not searched yet, in order
        capped = False
        rounds = 0
        while waiting and rounds < MAX_ROUNDS and len(found) < MAX_MESSAGES:
            rounds += 1
            queue = list(waiting)
            ids, waiting = queue[:MAX_IDS_PER_ROUND], dict.fromkeys(queue[MAX_IDS_PER_ROUND:])
            searched.update(ids)

            def job(name: str, ids: list[str] = ids) -> Callable[[Connection], FolderHits]:
                seen = set(known[name])
                return lambda c: imap_threads.find_linked(c, name, ids, seen)

            for hits in await self._each_folder(account_id, [f.name for f in folders], job):
                capped = capped or hits.capped
                for message in hits.found:
                    found[(message.mailbox, message.uid)] = message
                    known[message.mailbox].add(message.uid)
                    waiting.update(
                        dict.fromkeys(i for i in imap_threads.searchable(message.ids) if i not in searched)
                    )
        if not waiting:
            return list(found.values()), capped, None
        cap = (
            f"it was followed {rounds} replies away"
            if rounds >= MAX_ROUNDS
            else f"it stopped at {len(found)}"
        )
        note = (
            f"the conversation may go on: {cap}; get_thread on its first or newest message reaches further."
        )
        return list(found.values()), capped, note

    async def _each_folder(
        self, account_id: str, names: Sequence[str], job: Callable[[str], Callable[[Connection], T]]
    ) -> list[T]:
        """`job(name)` in each folder, concurrently through the pool; a folder that vanished is skipped."""
        pool = self.service.pools.get(account_id)

        def call(name: str) -> Callable[[], Awaitable[T]]:
            return lambda: pool.run(job(name), action="finding a conversation", mailbox=name)

        results = await gather([call(name) for name in names])
        errors = [r for r in results if isinstance(r, MailError) and not isinstance(r, NotFound)]
        if errors:
            raise errors[0]
        return [r for r in results if not isinstance(r, MailError)]

    # ------------------------------------------------------------ presenting

    async def _roles(self, account_id: str) -> dict[str, Role | None]:
        return {f.name: f.role for f in await self.service.folders.folders(account_id)}

    async def _present(
        self, account_id: str, seed: Linked, found: list[Linked], method: Method, max_chars: int, limit: int
    ) -> Thread:
        roles = await self._roles(account_id)
        copies: dict[str, list[Linked]] = {}
        for message in found:
            key = message.header_message_id or f"{message.mailbox}\0{message.uid}"
            copies.setdefault(key, []).append(message)
        unique: list[tuple[Linked, list[str]]] = []
        for group in copies.values():
            group.sort(key=lambda m: (_COPY_RANK.get(roles.get(m.mailbox), 4), m.mailbox != seed.mailbox))
            unique.append(
                (group[0], list(dict.fromkeys(m.mailbox for m in group[1:] if m.mailbox != group[0].mailbox)))
            )
        unique.sort(key=lambda pair: (_when(pair[0]), pair[0].mailbox, pair[0].uid))
        chosen = self._choose(unique, seed, limit)
        raws = await self._read(account_id, [pair[0] for pair in chosen], max_chars)
        present = {m.header_message_id for m, _ in unique if m.header_message_id}
        root = unique[0][0]
        subject = escape_hidden(decode_header(root.subject))
        messages: list[ThreadMessage] = []
        cut = trimmed = False
        for linked, also_in in chosen:
            raw = raws.get((linked.mailbox, linked.uid))
            if raw is None:
                continue
            shown = self._message(
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

    @staticmethod
    def _choose(
        unique: list[tuple[Linked, list[str]]], seed: Linked, limit: int
    ) -> list[tuple[Linked, list[str]]]:
        """All when they fit; else the first message, the seed and the newest ones, `limit` in all."""
        if len(unique) <= limit:
            return unique
        keep: set[int] = set()
        for index, (message, _) in enumerate(unique):
            if _same(message, seed):
                keep.add(index)
        if limit > len(keep):
            keep.add(0)
        for index in range(len(unique) - 1, -1, -1):
            if len(keep) >= limit:
                break
            keep.add(index)
        return [unique[i] for i in sorted(keep)]

    async def _read(
        self, account_id: str, chosen: list[Linked], max_chars: int
    ) -> dict[tuple[str, int], RawMessage]:
        text_bytes = min(max(8 * max_chars, 8192), 1 << 20)
        by_folder: dict[str, tuple[int, list[int]]] = {}
        for message in chosen:
            by_folder.setdefault(message.mailbox, (message.uidvalidity, []))[1].append(message.uid)

        def job(name: str) -> Callable[[Connection], tuple[str, list[RawMessage]]]:
            uidvalidity, uids = by_folder[name]
            return lambda c: (name, read_texts(c, name, uidvalidity, uids, text_bytes))

        out: dict[tuple[str, int], RawMessage] = {}
        for name, raws in await self._each_folder(account_id, list(by_folder), job):
            out.update({(name, raw.uid): raw for raw in raws})
        return out

    @staticmethod
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


def _same(one: Linked, other: Linked) -> bool:
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
