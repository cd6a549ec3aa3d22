"""Folder listing with roles and counts: one LIST-STATUS round trip where supported, else LIST + STATUS."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from imapclient.imap_utf7 import decode as decode_utf7
from imapclient.response_parser import parse_response

from mail_mcp.imap import _compat
from mail_mcp.imap.connection import Connection

Role = Literal["inbox", "sent", "drafts", "trash", "junk", "archive", "all", "flagged"]


@dataclass(slots=True)
class Folder:
    """One LIST entry: the real name (decoded from modified UTF-7), its attributes, role and counts."""

    name: str
    delimiter: str | None
    role: Role | None
    attributes: list[str]
    selectable: bool
    messages: int | None = None
    unseen: int | None = None


ROLE_ATTRIBUTES: dict[str, Role] = {
    "\\SENT": "sent",
    "\\DRAFTS": "drafts",
    "\\TRASH": "trash",
    "\\JUNK": "junk",
    "\\ARCHIVE": "archive",
    "\\ALL": "all",
    "\\FLAGGED": "flagged",
}
WELL_KNOWN_NAMES: dict[str, Role] = {
    **dict.fromkeys(["sent", "sent items", "sent mail", "sent messages", "gesendet", "envoyés"], "sent"),
    **dict.fromkeys(["drafts", "draft", "entwürfe", "brouillons"], "drafts"),
    **dict.fromkeys(
        ["trash", "deleted items", "deleted messages", "bin", "papierkorb", "corbeille"], "trash"
    ),
    **dict.fromkeys(["junk", "spam", "junk e-mail", "junk email", "bulk mail"], "junk"),
    **dict.fromkeys(["archive", "archives", "archiv"], "archive"),
    "all mail": "all",
}


def role_of(name: str, delimiter: str | None, attributes: list[str]) -> Role | None:
    for attribute in attributes:
        role = ROLE_ATTRIBUTES.get(attribute.upper())
        if role:
            return role
    if name.upper() == "INBOX":
        return "inbox"
    leaf = name.rsplit(delimiter, 1)[-1] if delimiter else name
    return WELL_KNOWN_NAMES.get(leaf.strip().lower())


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _folder(flags: tuple[bytes, ...], delimiter: bytes | None, name: str) -> Folder:
    attributes = [_text(flag) for flag in flags]
    delim = _text(delimiter) if delimiter else None
    return Folder(
        name=name,
        delimiter=delim,
        role=role_of(name, delim, attributes),
        attributes=attributes,
        selectable=not any(a.upper() in {"\\NOSELECT", "\\NONEXISTENT"} for a in attributes),
    )


def list_folders(conn: Connection, *, counts: bool = True) -> list[Folder]:
    if counts and conn.has("LIST-STATUS"):
        return _list_status(conn)
    folders = [_folder(flags, delim, name) for flags, delim, name in conn.client.list_folders()]
    if counts:
        for folder in folders:
            if folder.selectable:
                status = conn.client.folder_status(folder.name, [b"MESSAGES", b"UNSEEN"])
                folder.messages = int(status[b"MESSAGES"])
                folder.unseen = int(status[b"UNSEEN"])
    return folders


def _list_status(conn: Connection) -> list[Folder]:
    returns = (
        "(SPECIAL-USE STATUS (MESSAGES UNSEEN))" if conn.has("SPECIAL-USE") else "(STATUS (MESSAGES UNSEEN))"
    )
    listed, statuses = _compat.list_with_returns(conn.client, returns)
    folders = [_folder(flags, delim, name) for flags, delim, name in listed]
    by_name = {folder.name: folder for folder in folders}
    for item in statuses:
        if item is None:
            continue
        parsed = parse_response([item] if isinstance(item, bytes) else list(item))
        name, values = parsed[0], parsed[1]
        name = decode_utf7(name) if isinstance(name, bytes) else str(name)
        pairs = dict(zip(values[::2], values[1::2], strict=False))
        folder = by_name.get(name)
        if folder is not None:
            folder.messages = int(pairs.get(b"MESSAGES", 0))
            folder.unseen = int(pairs.get(b"UNSEEN", 0))
    return folders
