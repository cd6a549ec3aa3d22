"""The messages a conversation shows: their summary items and the start of their readable text, in one folder.

Apart from imap/threads.py because imap/fetch.py (listings) uses that one, and this one uses imap/fetch.py.
EXAMINE and BODY.PEEK only: nothing here can set \\Seen.
"""

from __future__ import annotations

from mail_mcp.imap.connection import Connection
from mail_mcp.imap.fetch import SUMMARY_ITEMS, RawMessage
from mail_mcp.mime import parse_bodystructure, pick_text_parts


def read_compact(
    conn: Connection, mailbox: str, uidvalidity: int, uids: list[int], text_bytes: int
) -> list[RawMessage]:
    """Summary items and the start of each message's readable text part (`text_bytes` of text/plain, eight
    times that of HTML, which converts to far less text)."""
    conn.select(mailbox, readonly=True, expect_uidvalidity=uidvalidity)
    if not uids:
        return []
    fetched = conn.client.fetch(uids, SUMMARY_ITEMS)
    messages = [
        RawMessage(
            uid=int(uid), data=fetched[uid], structure=parse_bodystructure(fetched[uid][b"BODYSTRUCTURE"])
        )
        for uid in uids
        if uid in fetched
    ]
    wanted: dict[str, list[RawMessage]] = {}
    for message in messages:
        plain, html = pick_text_parts(message.structure)
        part = plain or html
        if part is not None:
            length = text_bytes if part is plain else 8 * text_bytes
            wanted.setdefault(f"BODY.PEEK[{part.part_id}]<0.{length}>", []).append(message)
    for item, group in wanted.items():
        part_id = item[len("BODY.PEEK[") : item.index("]")]
        key = f"BODY[{part_id}]<0>".encode()
        data = conn.client.fetch([m.uid for m in group], [item.encode()])
        for message in group:
            body = data.get(message.uid, {}).get(key)
            if body is not None:
                message.texts[part_id] = body
    return messages
