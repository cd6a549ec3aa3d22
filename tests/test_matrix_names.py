"""Folder roles from the names providers use, and the mapping of the folder names a model gives to the server's
names in its personal namespace (RFC 2342). Pure functions; the servers' side is in test_matrix.py."""

from __future__ import annotations

import unicodedata

import pytest

from mail_mcp.imap.folders import role_of
from mail_mcp.imap.namespace import Namespace, to_server

ROLES = [
    # Outlook / Microsoft 365, English, German, French
    ("Sent Items", "/", "sent"),
    ("Deleted Items", "/", "trash"),
    ("Junk Email", "/", "junk"),
    ("Archive", "/", "archive"),
    ("Gesendete Elemente", "/", "sent"),
    ("Gelöschte Elemente", "/", "trash"),
    ("Junk-E-Mail", "/", "junk"),
    ("Entwürfe", "/", "drafts"),
    ("Archiv", "/", "archive"),
    ("Éléments envoyés", "/", "sent"),
    ("Éléments supprimés", "/", "trash"),
    ("Courrier indésirable", "/", "junk"),
    ("Brouillons", "/", "drafts"),
    # Gmail and Google Mail (German)
    ("[Gmail]/Sent Mail", "/", "sent"),
    ("[Gmail]/All Mail", "/", "all"),
    ("[Gmail]/Spam", "/", "junk"),
    ("[Gmail]/Trash", "/", "trash"),
    ("[Gmail]/Starred", "/", "flagged"),
    ("[Gmail]/Drafts", "/", "drafts"),
    ("[Google Mail]/Gesendet", "/", "sent"),
    ("[Google Mail]/Papierkorb", "/", "trash"),
    # iCloud, Yahoo, GMX
    ("Sent Messages", "/", "sent"),
    ("Deleted Messages", "/", "trash"),
    ("Bulk Mail", "/", "junk"),
    ("Spamverdacht", "/", "junk"),
    # Courier and Cyrus: below the INBOX. personal namespace
    ("INBOX.Sent", ".", "sent"),
    ("INBOX.Drafts", ".", "drafts"),
    ("INBOX.Trash", ".", "trash"),
    ("INBOX.Junk", ".", "junk"),
    ("INBOX.Gesendete Elemente", ".", "sent"),
    ("inbox.sent", ".", "sent"),
    ("INBOX/Sent Items", "/", "sent"),
    # case, spacing and Unicode normalisation
    ("SENT ITEMS", "/", "sent"),
    ("sent  items", "/", "sent"),
    (unicodedata.normalize("NFD", "Gelöschte Elemente"), "/", "trash"),
    ("INBOX", "/", "inbox"),
    ("inbox", ".", "inbox"),
    # ordinary folders that merely end in such a name
    ("Projekte/Archiv", "/", None),
    ("INBOX.Kunden.Sent", ".", None),
    ("Customers.Trash", ".", None),
    ("Belege", "/", None),
    ("Sent Items 2019", "/", None),
]


@pytest.mark.parametrize(("name", "delimiter", "role"), ROLES)
def test_role_from_name(name: str, delimiter: str, role: str | None) -> None:
    assert role_of(name, delimiter, []) == role


def test_special_use_beats_the_name() -> None:
    assert role_of("Sent", "/", ["\\Junk"]) == "junk"
    assert role_of("Projekte/Ablage", "/", ["\\HasNoChildren", "\\Archive"]) == "archive"
    assert role_of("Sent", None, []) == "sent"


DOT = Namespace("INBOX.", ".")
CYRUS_SLASH = Namespace("", "/")
DOVECOT = Namespace("", "/")
CYRUS_ALT_DOT = Namespace("", ".")

MAPPED = [
    ("Belege", DOT, (), "INBOX.Belege"),
    ("Quirks2/Unterordner", DOT, (), "INBOX.Quirks2.Unterordner"),
    ("Quirks2.Unterordner", DOT, (), "INBOX.Quirks2.Unterordner"),
    ("INBOX.Belege", DOT, (), "INBOX.Belege"),
    ("inbox.Belege", DOT, (), "INBOX.Belege"),
    ("INBOX/Belege", DOT, (), "INBOX.Belege"),
    ("INBOX", DOT, (), "INBOX"),
    ("inbox", DOT, (), "INBOX"),
    ("Belege", CYRUS_SLASH, (), "Belege"),
    ("Quirks2/Unterordner", CYRUS_SLASH, (), "Quirks2/Unterordner"),
    ("Projekte/2024", DOVECOT, (), "Projekte/2024"),
    ("Projekte/2024", CYRUS_ALT_DOT, (), "Projekte.2024"),
    ("Projekte/2024", Namespace("", None), (), "Projekte/2024"),
    # a name the server already has is kept as it is (e.g. a shared folder outside the personal namespace)
    ("shared.Team", DOT, ("INBOX", "shared.Team"), "shared.Team"),
    ("Team/Ablage", Namespace("INBOX.", "."), ("INBOX.Team.Ablage",), "INBOX.Team.Ablage"),
]


@pytest.mark.parametrize(("name", "namespace", "existing", "expected"), MAPPED)
def test_names_are_relative_to_the_personal_namespace(
    name: str, namespace: Namespace, existing: tuple[str, ...], expected: str
) -> None:
    assert to_server(name, namespace, existing) == expected
