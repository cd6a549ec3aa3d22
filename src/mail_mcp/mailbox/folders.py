"""The one folder cache: each account's folder list with roles, with one lifetime and one place that forgets it.

Every job that needs a folder by role (Sent, Drafts, Trash) or the role of a folder asks here. A listing with
counts (list_folders) refreshes it; a write that finds a folder missing, and create_folder, forget it. It also keeps
each account's personal namespace (read once), which maps the names a model gives ("Belege", "Projekte/2024") to
the server's ("INBOX.Belege", "INBOX.Projekte.2024" on Courier and Cyrus in INBOX. mode).
"""

from __future__ import annotations

import time

from mail_mcp.errors import InvalidInput, NotFound
from mail_mcp.imap import folders as imap_folders
from mail_mcp.imap.folders import Folder, Role
from mail_mcp.imap.namespace import Namespace, read_namespace, to_server
from mail_mcp.imap.pool import Pools

FOLDER_CACHE_SECONDS = 60.0
DESTINATION_ROLES: tuple[Role, ...] = ("inbox", "archive", "trash", "junk", "drafts", "sent")


class FolderCache:
    def __init__(self, pools: Pools) -> None:
        self._pools = pools
        self._cache: dict[str, tuple[float, list[Folder]]] = {}
        self._namespaces: dict[str, Namespace] = {}

    def remember(self, account_id: str, folders: list[Folder]) -> None:
        self._cache[account_id] = (time.monotonic(), folders)

    def forget(self, account_id: str) -> None:
        self._cache.pop(account_id, None)

    async def folders(self, account_id: str, *, refresh: bool = False) -> list[Folder]:
        cached = self._cache.get(account_id)
        if refresh or cached is None or time.monotonic() - cached[0] > FOLDER_CACHE_SECONDS:
            found = await self._pools.get(account_id).run(
                lambda c: imap_folders.list_folders(c, counts=False), action="listing folders"
            )
            self.remember(account_id, found)
            return found
        return cached[1]

    async def namespace(self, account_id: str) -> Namespace:
        """The account's personal namespace: prefix and delimiter (read once per process)."""
        found = self._namespaces.get(account_id)
        if found is None:
            found = await self._pools.get(account_id).run(read_namespace, action="reading the namespace")
            self._namespaces[account_id] = found
        return found

    async def server_name(self, account_id: str, name: str) -> str:
        """The server's full name for folder `name` as a model gave it: an existing name unchanged, else
        relative to the personal namespace, with `/` or the server's delimiter between levels."""
        namespace = await self.namespace(account_id)
        return to_server(name, namespace, (f.name for f in await self.folders(account_id)))

    async def role_of(self, account_id: str, mailbox: str) -> Role | None:
        """The role of a folder; the list is read again once when the folder is not in it."""
        for refresh in (False, True):
            for folder in await self.folders(account_id, refresh=refresh):
                if folder.name == mailbox:
                    return folder.role
        return None

    async def by_role(self, account_id: str, role: Role) -> str | None:
        """The folder that has this role: SPECIAL-USE first, then a well-known name."""
        folder = _match(await self.folders(account_id), role)
        return folder.name if folder is not None else None

    async def resolve(self, account_id: str, destination: str) -> Folder:
        """A folder by exact name, else by role (SPECIAL-USE first, then well-known names), else by its name
        relative to the personal namespace."""
        for refresh in (False, True):
            folders = await self.folders(account_id, refresh=refresh)
            folder = _match(folders, destination)
            if folder is None:
                names = [f.name for f in folders]
                folder = _match(folders, to_server(destination, await self.namespace(account_id), names))
            if folder is not None:
                if not folder.selectable:
                    raise InvalidInput(
                        f"{folder.name!r} cannot hold messages (\\Noselect)", folder=folder.name
                    )
                return folder
        what = f"with role {destination.lower()}" if destination.lower() in DESTINATION_ROLES else "named"
        raise NotFound(
            f"no folder {what} {destination!r} in account {account_id}; call list_folders, or create "
            "one with create_folder",
            folder=destination,
        )


def _match(folders: list[Folder], destination: str) -> Folder | None:
    for folder in folders:
        if folder.name == destination or (folder.name.upper() == "INBOX" and destination.upper() == "INBOX"):
            return folder
    role = destination.lower()
    if role not in DESTINATION_ROLES:
        return None
    with_role = [f for f in folders if f.role == role and f.selectable]
    special = [f for f in with_role if f"\\{role}".upper() in {a.upper() for a in f.attributes}]
    best = special or with_role
    return best[0] if best else None
