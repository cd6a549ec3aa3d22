"""Folder listing with roles and counts: one LIST-STATUS round trip where supported, else LIST + STATUS."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

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
_NAMES_BY_ROLE: dict[Role, str] = {
    "sent": "sent|sent items|sent mail|sent messages|sent-mail|gesendet|gesendete elemente|gesendete objekte"
    "|gesendete nachrichten|envoyés|éléments envoyés|messages envoyés|elements envoyes|messages envoyes"
    "|enviados|elementos enviados|posta inviata|inviati|verzonden|verzonden items",
    "drafts": "drafts|draft|entwürfe|brouillons|borradores|bozze|concepten",
    "trash": "trash|deleted items|deleted messages|deleted|bin|papierkorb|gelöschte elemente|gelöschte objekte"
    "|corbeille|éléments supprimés|elements supprimes|papelera|elementos eliminados|cestino|prullenbak"
    "|verwijderde items",
    "junk": "junk|spam|junk e-mail|junk email|junk mail|bulk mail|bulk|junk-e-mail|spamverdacht"
    "|courrier indésirable|courrier indesirable|indésirables|correo no deseado|posta indesiderata"
    "|ongewenste e-mail",
    "archive": "archive|archives|archiv|archivo|archivio|archief",
    "all": "all mail|alle nachrichten|tous les messages",
    "flagged": "starred|markiert|suivis",
}
# The names providers give these folders (Outlook, Gmail, iCloud, Yahoo, GMX, Orange ...), compared casefolded.
WELL_KNOWN_NAMES: dict[str, Role] = {
    name: role for role, names in _NAMES_BY_ROLE.items() for name in names.split("|")
}
# Well-known names count at the top level and directly below these parents (the INBOX. personal namespace of
# Courier and Cyrus, Gmail's virtual folders); "Projekte/Archiv" is an ordinary folder.
ROLE_PARENTS = frozenset({"inbox", "[gmail]", "[google mail]"})


def _fold(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def role_of(name: str, delimiter: str | None, attributes: list[str]) -> Role | None:
    """SPECIAL-USE attributes first; else INBOX, or a name providers use for the role (any case)."""
    for attribute in attributes:
        role = ROLE_ATTRIBUTES.get(attribute.upper())
        if role:
            return role
    if name.upper() == "INBOX":
        return "inbox"
    parent, _, leaf = name.rpartition(delimiter) if delimiter else ("", "", name)
    if parent and _fold(parent) not in ROLE_PARENTS:
        return None
    return WELL_KNOWN_NAMES.get(_fold(leaf))


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def folder_name(raw: object) -> str:
    """A LIST or STATUS name decoded from modified UTF-7. A name that is not valid mUTF-7 (or decodes to lone
    surrogates) is shown escaped, as the server sent it, instead of failing the whole listing."""
    if not isinstance(raw, bytes):
        return str(raw)
    try:
        name: str = decode_utf7(raw)
    except (UnicodeError, ValueError):
        return raw.decode("ascii", "backslashreplace")
    if any("\ud800" <= ch <= "\udfff" for ch in name):
        return raw.decode("ascii", "backslashreplace")
    return name


def _raw_names(conn: Connection, call: Callable[[], list[Any]]) -> list[Folder]:
    """Run a LIST with imapclient's own mUTF-7 decoding off (it raises on one bad name), then decode here."""
    encode = conn.client.folder_encode
    conn.client.folder_encode = False
    try:
        listed = call()
    finally:
        conn.client.folder_encode = encode
    return [_folder(flags, delim, folder_name(name)) for flags, delim, name in listed]


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
    folders = _raw_names(conn, conn.client.list_folders)
    if counts:
        for folder in folders:
            if not folder.selectable:
                continue
            try:
                status = conn.client.folder_status(folder.name, [b"MESSAGES", b"UNSEEN"])
            except conn.client.Error:
                if "&" not in folder.name:  # an escaped name cannot be asked for; anything else is a failure
                    raise
                continue
            folder.messages = int(status[b"MESSAGES"])
            folder.unseen = int(status[b"UNSEEN"])
    return folders


def _list_status(conn: Connection) -> list[Folder]:
    returns = (
        "(SPECIAL-USE STATUS (MESSAGES UNSEEN))" if conn.has("SPECIAL-USE") else "(STATUS (MESSAGES UNSEEN))"
    )
    statuses: list[Any] = []

    def call() -> list[Any]:
        listed, replies = _compat.list_with_returns(conn.client, returns)
        statuses.extend(replies)
        return listed

    folders = _raw_names(conn, call)
    by_name = {folder.name: folder for folder in folders}
    for item in statuses:
        if item is None:
            continue
        parsed = parse_response([item] if isinstance(item, bytes) else list(item))
        name, values = parsed[0], parsed[1]
        name = folder_name(name)
        pairs = dict(zip(values[::2], values[1::2], strict=False))
        folder = by_name.get(name)
        if folder is not None:
            folder.messages = int(pairs.get(b"MESSAGES", 0))
            folder.unseen = int(pairs.get(b"UNSEEN", 0))
    return folders
