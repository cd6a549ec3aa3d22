"""The personal namespace (RFC 2342) and the mapping from the folder names a model gives to the server's names.

A model names folders relative to the user's own folders and with `/` between levels: "Belege", "Projekte/2024".
Where the personal namespace has a prefix (Courier, Cyrus in its default INBOX. mode) those are "INBOX.Belege" and
"INBOX.Projekte.2024" on the server. Names the server already has, and names that carry the prefix, pass unchanged.
Proton Bridge keeps folders under "Folders/" and labels under "Labels/" (excavador README): "Work" is whichever of
"Folders/Work" and "Labels/Work" exists, else (a new folder) "Folders/Work".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from imapclient import exceptions as imap_exc

from mail_mcp.imap.connection import Connection


@dataclass(frozen=True, slots=True)
class Namespace:
    """The first personal namespace: its prefix ("" or e.g. "INBOX.") and the hierarchy delimiter."""

    prefix: str
    delimiter: str | None
    kept: tuple[str, ...] = ()  # prefixes that stay as given, each also tried for a bare name (Proton Bridge)


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def read_namespace(conn: Connection) -> Namespace:
    """NAMESPACE where the server has it; else no prefix and the delimiter from `LIST "" ""`. A provider with
    folder prefixes (Proton Bridge) has the first as its prefix."""
    prefixes = conn.profile.folder_prefixes
    if prefixes:
        return Namespace(prefixes[0], "/", prefixes)
    if conn.has("NAMESPACE"):
        try:
            personal = conn.client.namespace().personal or ()
        except imap_exc.IMAPClientError:
            personal = ()
        if personal:
            prefix, delimiter = personal[0]
            return Namespace(_text(prefix), _text(delimiter) if delimiter else None)
    listed = conn.client.list_folders("", "")
    delimiter = next((_text(delim) for _, delim, _ in listed if delim), None)
    return Namespace("", delimiter)


def to_server(name: str, namespace: Namespace, existing: Iterable[str] = ()) -> str:
    """The server's full name for folder `name` as a model gave it.

    An existing name and INBOX are kept; `/` becomes the server's delimiter; the personal prefix is added
    when missing (compared case-insensitively, so "inbox.Belege" is "INBOX.Belege")."""
    names = set(existing)
    if name in names:
        return name
    if name.upper() == "INBOX":
        return "INBOX"
    delimiter, prefix = namespace.delimiter, namespace.prefix
    path = name.replace("/", delimiter) if delimiter and delimiter != "/" else name
    if path in names or any(path.startswith(kept) for kept in namespace.kept):
        return path
    for kept in namespace.kept:
        if kept + path in names:
            return kept + path
    if prefix:
        has_prefix = path.upper().startswith(prefix.upper())
        path = prefix + (path[len(prefix) :] if has_prefix else path)
    return path
