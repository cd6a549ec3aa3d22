"""One listing over several folders: every folder but Trash and Junk, or the folders and roles a caller names,
merged newest first by arrival with one cursor.

Cost grows with the folders searched, not their sizes: per folder one job finds the matching UIDs in order and
the arrival times of only its next `offset + limit` (as the single-folder listing does), and only the folders
that contribute to the page are asked for summaries. Jobs run concurrently, as many at a time as the account's
pool has connections. On Gmail a message sits in every label folder it has: across several folders each one is
shown once (by X-GM-MSGID), in its first folder in merged order, All Mail last.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from mail_mcp.errors import InvalidInput, MailError, NotFound, StaleId
from mail_mcp.ids import MessageId
from mail_mcp.imap import everywhere as jobs
from mail_mcp.imap.connection import Connection
from mail_mcp.imap.everywhere import Candidates, FolderMark, Resume, SpanCursor
from mail_mcp.imap.fetch import RawMessage
from mail_mcp.imap.folders import Folder, Role
from mail_mcp.imap.search import Filters
from mail_mcp.mailbox.concurrent import gather
from mail_mcp.mailbox.models import MessageList, MessageSummary
from mail_mcp.mailbox.presenting import summary
from mail_mcp.mailbox.scope import folders_in_scope
from mail_mcp.mailbox.service import MailService

MAX_OFFSET = 1000
MAX_ROUNDS = 4
T = TypeVar("T")
Key = tuple[int, int, int]  # (arrival, folder index, UID)


def _order(key: Key) -> tuple[int, int, int]:
    """Sort key for newest first: later arrival first; on a tie the earlier folder, then the higher UID."""
    return (-key[0], key[1], -key[2])


class Everywhere:
    def __init__(self, service: MailService) -> None:
        self.service = service

    @staticmethod
    def owns_cursor(cursor_text: str) -> bool:
        """Whether a cursor comes from a search over several folders (route it here, not to Reader)."""
        return SpanCursor.owns(cursor_text)

    @staticmethod
    def cursor_state(cursor_text: str) -> str:
        """The state token of the listing a search-everywhere cursor continues (its first page's)."""
        return SpanCursor.decode(cursor_text).listing_state

    async def list_messages(
        self,
        account_id: str | None,
        mailboxes: list[str] | None,
        filters: Filters,
        limit: int,
        cursor_text: str | None,
        offset: int = 0,
        listing_state: str = "",
    ) -> tuple[MessageList, str | None]:
        """mailboxes None = every folder but Trash and Junk (All Mail alone on Gmail); else folder names or
        roles. The page newest first by arrival across folders, and the next cursor or None."""
        cursor = SpanCursor.decode(cursor_text) if cursor_text else None
        if cursor is not None and offset:
            raise InvalidInput("give cursor or offset, not both: offset starts a new listing", field="offset")
        if offset > MAX_OFFSET:
            raise InvalidInput(
                f"offset {offset} is beyond what a search over several folders skips ({MAX_OFFSET}); page "
                "with the cursor, or narrow the search with arrived_before",
                field="offset",
            )
        if limit < 1:
            raise InvalidInput("limit must be at least 1", field="limit")
        if cursor is not None:
            if account_id not in (None, cursor.account) or mailboxes not in (None, cursor.scope):
                raise InvalidInput("the cursor belongs to another account or folders; drop it to start over")
            if filters.as_json() and filters.as_json() != cursor.filters:
                raise InvalidInput(
                    "filters differ from the ones the cursor was made with; drop the cursor to "
                    "start a new listing, or repeat the same filters"
                )
            account_id, mailboxes = cursor.account, cursor.scope
            filters = Filters.from_json(cursor.filters)
        account = self.service.account(account_id)
        gmail = (await self.service.profile(account.id)).gmail
        if filters.gmail_query is not None and not gmail:
            raise InvalidInput(
                f"gmail_query (Gmail search syntax) works only on Gmail accounts; {account.id!r} is not one: "
                "use the other filters",
                field="gmail_query",
            )
        if cursor is not None:
            marks = cursor.folders
        else:
            found = await folders_in_scope(self.service, account.id, mailboxes)
            if gmail and len(found) > 1:
                found.sort(key=lambda f: f.role == "all")  # a message's copy in a label folder wins
            marks = [FolderMark(f.name, 0) for f in found]
        dedup = gmail and len(marks) > 1
        state, skip = cursor, offset
        chosen: list[Key] = []
        uidvalidities: dict[int, int] = {}
        first: dict[int, Candidates] | None = None
        for _ in range(MAX_ROUNDS):  # more than one only when Gmail copies left a page short
            searched = await self._search(
                account.id,
                marks,
                state,
                filters,
                skip + limit - len(chosen),
                dedup=dedup,
                every=mailboxes is None,
            )
            if first is None:
                first = searched
            uidvalidities |= {i: c.uidvalidity for i, c in searched.items()}
            picked, last, seen, skipped, rest = self._merge(searched, state, skip, limit - len(chosen), dedup)
            chosen += picked
            skip -= skipped
            remaining = rest or any(c.more for c in searched.values())
            if last is None or not remaining:
                state = None
                break
            state = SpanCursor(
                account=account.id,
                scope=mailboxes,
                filters=filters.as_json(),
                folders=self._marks(marks, searched, state, last),
                last=last,
                seen=seen,
                listing_state=cursor.listing_state if cursor is not None else listing_state,
            )
            marks = state.folders
            if not dedup or len(chosen) >= limit:
                break
        assert first is not None
        rows = await self._rows(account.id, marks, uidvalidities, chosen)
        total = None
        if not filters.needs_structure_check and not dedup:
            total = sum(c.total for c in first.values())
        listing = MessageList(
            account=account.id,
            mailbox="*" if mailboxes is None else ", ".join(mailboxes),
            total=total,
            mailboxes=[marks[i].name for i in sorted(first)],
            messages=rows,
        )
        return listing, state.encode() if state is not None else None

    async def _search(
        self,
        account_id: str,
        marks: list[FolderMark],
        cursor: SpanCursor | None,
        filters: Filters,
        want: int,
        *,
        dedup: bool,
        every: bool,
    ) -> dict[int, Candidates]:
        """Each folder's next `want` candidates after the cursor, concurrently. A folder deleted since is left
        out of a search of every folder; else its error is raised (a recreated one: StaleId)."""
        pool = self.service.pools.get(account_id)

        def finder(index: int) -> Callable[[], Awaitable[Candidates]]:
            mark = marks[index]
            resume = cursor.resume(index) if cursor is not None else Resume()

            def job(conn: Connection) -> Candidates:
                return jobs.candidates(
                    conn,
                    account_id,
                    mark.name,
                    filters,
                    resume,
                    want,
                    uidvalidity=mark.uidvalidity or None,
                    msgids=dedup,
                )

            return lambda: pool.run(job, action="searching folders", mailbox=mark.name)

        results = await gather([finder(i) for i in range(len(marks))])
        searched: dict[int, Candidates] = {}
        for index, result in enumerate(results):
            if isinstance(result, StaleId) and cursor is not None:
                raise StaleId(
                    f"folder {marks[index].name!r} was recreated since this cursor was made (its UIDVALIDITY "
                    "changed); start the search again without the cursor",
                    mailbox=marks[index].name,
                )
            if isinstance(result, NotFound) and every:
                continue  # deleted since the folder list was read: left out of `mailboxes`
            if isinstance(result, MailError):
                raise result
            searched[index] = result
        return searched

    @staticmethod
    def _merge(
        searched: dict[int, Candidates], cursor: SpanCursor | None, offset: int, limit: int, dedup: bool
    ) -> tuple[list[Key], Key | None, list[int], int, bool]:
        """The page's keys, the key of the last message consumed, the Gmail ids consumed at its arrival time,
        how many `offset` skipped, and whether candidates not shown yet (nor copies of shown ones) remain.
        A folder with more beyond its candidates bounds how far the merge may go (its next message may come
        before another folder's)."""
        merged = sorted(
            ((d, i, u) for i, c in searched.items() for d, u in c.keys),
            key=_order,
        )
        horizon = min(
            (_order((c.keys[-1][0], i, c.keys[-1][1])) for i, c in searched.items() if c.more and c.keys),
            default=None,
        )
        seen: dict[int, int] = dict.fromkeys(cursor.seen, cursor.last[0]) if cursor is not None else {}
        chosen: list[Key] = []
        last: Key | None = None
        skipped = 0
        for key in merged:
            if horizon is not None and _order(key) > horizon:
                break
            last = key
            msgid = searched[key[1]].msgids.get(key[2]) if dedup else None
            if msgid is not None:
                if msgid in seen:
                    continue
                seen[msgid] = key[0]
            if skipped < offset:
                skipped += 1
                continue
            chosen.append(key)
            if len(chosen) == limit:
                break
        at_last = [m for m, d in seen.items() if last is not None and d == last[0]]
        unconsumed = [k for k in merged if last is None or _order(k) > _order(last)]
        rest = any(searched[k[1]].msgids.get(k[2]) not in seen for k in unconsumed)
        return chosen, last, at_last, skipped, rest

    @staticmethod
    def _marks(
        marks: list[FolderMark], searched: dict[int, Candidates], cursor: SpanCursor | None, last: Key
    ) -> list[FolderMark]:
        """Each folder's UIDVALIDITY and shortcuts for the next page: its last message consumed (else the
        previous cursor's), or when none was ever consumed its first one not yet shown."""
        out = []
        for index, mark in enumerate(marks):
            found = searched.get(index)
            if found is None:
                out.append(FolderMark(mark.name, mark.uidvalidity, mark.last_uid, mark.head_uid))
                continue
            consumed = [u for d, u in found.keys if _order((d, index, u)) <= _order(last)]
            last_uid = consumed[-1] if consumed else (cursor.folders[index].last_uid if cursor else 0)
            rest = [u for d, u in found.keys if _order((d, index, u)) > _order(last)]
            head_uid = rest[0] if not last_uid and rest else 0
            out.append(FolderMark(mark.name, found.uidvalidity, last_uid, head_uid))
        return out

    async def _rows(
        self, account_id: str, marks: list[FolderMark], uidvalidities: dict[int, int], chosen: list[Key]
    ) -> list[MessageSummary]:
        """Summaries of the chosen messages, one job per folder that has any, in merged order."""
        by_folder: dict[int, list[int]] = {}
        for _, index, uid in chosen:
            by_folder.setdefault(index, []).append(uid)
        pool = self.service.pools.get(account_id)
        folders = list(by_folder)

        def reader(index: int) -> Callable[[], Awaitable[list[RawMessage]]]:
            name, uidvalidity, uids = marks[index].name, uidvalidities[index], by_folder[index]
            return lambda: pool.run(
                lambda conn: jobs.summaries(conn, name, uidvalidity, uids),
                action="reading summaries",
                mailbox=name,
            )

        results = await gather([reader(i) for i in folders])
        fetched: dict[tuple[int, int], RawMessage] = {}
        for index, result in zip(folders, results, strict=True):
            if isinstance(result, NotFound):
                continue  # the folder went away since the search: its messages are left out
            if isinstance(result, MailError):
                raise result
            fetched |= {(index, m.uid): m for m in result}
        roles: dict[str, Role | None] = {f.name: f.role for f in await self._folders(account_id)}
        rows = []
        for _, index, uid in chosen:
            message = fetched.get((index, uid))
            if message is None:
                continue
            name = marks[index].name
            mid = MessageId(account_id, name, uidvalidities[index], uid)
            row = summary(message, mid, roles.get(name))
            rows.append(row)
        return rows

    async def _folders(self, account_id: str) -> list[Folder]:
        return await self.service.folders.folders(account_id)
