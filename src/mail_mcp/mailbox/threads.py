"""Conversations: get_thread gathers one conversation from every folder (Sent included), oldest first, each
message compact: its own words with quoted history trimmed (not a forward's) and cut at a per-message cap.
Candidates are found by HEADER searches for the known Message-IDs in each folder, never by reading a folder:
round after round for the ids not searched yet, each round one reply further (one round in all when References
are complete), until no new id turns up or a cap stops it (the hint then says so); on Gmail by X-GM-THRID in
All Mail. Messages are linked by their Message-ID, In-Reply-To and References (JWZ parent pointers).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from mail_mcp.errors import InvalidInput, MailError, NotFound
from mail_mcp.ids import MessageId
from mail_mcp.imap import threads as imap_threads
from mail_mcp.imap.connection import Connection
from mail_mcp.imap.fetch import RawMessage, read_texts
from mail_mcp.imap.folders import Folder
from mail_mcp.imap.threads import FolderHits, Linked
from mail_mcp.mailbox import thread_view
from mail_mcp.mailbox.concurrent import gather
from mail_mcp.mailbox.scope import folders_in_scope
from mail_mcp.mailbox.service import MailService
from mail_mcp.mailbox.thread_view import MAX_LIMIT, Method, Thread, ThreadMessage, same

__all__ = ["MAX_CHARS_LIMIT", "MAX_LIMIT", "MAX_ROUNDS", "Thread", "ThreadMessage", "Threads"]

T = TypeVar("T")
MAX_ROUNDS = 12  # header-search rounds, each one reply further (In-Reply-To-only chains need one a hop)
MAX_IDS_PER_ROUND = 200
MAX_MESSAGES = 1000
MAX_CHARS_LIMIT = 20_000


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
        if not any(same(m, seed) for m in found):
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

    async def _present(
        self, account_id: str, seed: Linked, found: list[Linked], method: Method, max_chars: int, limit: int
    ) -> Thread:
        roles = {f.name: f.role for f in await self.service.folders.folders(account_id)}
        unique = thread_view.once(found, seed, roles)
        chosen = thread_view.choose(unique, seed, limit)
        raws = await self._read(account_id, [linked for linked, _ in chosen], max_chars)
        return thread_view.thread(account_id, unique, chosen, raws, roles, method, max_chars, limit)

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
