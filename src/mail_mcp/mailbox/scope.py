"""Which folders a search or a conversation covers: every folder but Trash and Junk by default, or the folders
and roles a caller names. On Gmail, where every message not in Trash or Spam is in All Mail, "every folder" is
All Mail alone (the labels are views of it)."""

from __future__ import annotations

from collections.abc import Sequence

from mail_mcp.errors import InvalidInput
from mail_mcp.imap.folders import Folder
from mail_mcp.mailbox.service import MailService

SKIPPED_BY_DEFAULT = ("trash", "junk")
MAX_FOLDERS = 200
LISTING_ONLY_ROLES = ("all", "flagged")


async def folders_in_scope(
    service: MailService, account_id: str, wanted: Sequence[str] | None = None
) -> list[Folder]:
    """The selectable folders to search, INBOX first and then in the server's order. `wanted` None means every
    folder but Trash and Junk; else each entry is a folder name or a role (inbox, sent, archive, trash...)."""
    folders = [f for f in await service.folders.folders(account_id) if f.selectable]
    if wanted is None:
        if (await service.profile(account_id)).gmail:
            everything = [f for f in folders if f.role == "all"]
            if everything:
                return everything
        chosen = [f for f in folders if f.role not in SKIPPED_BY_DEFAULT]
    else:
        if not wanted:
            raise InvalidInput("name at least one folder or role, or leave mailboxes out", field="mailbox")
        chosen = []
        for name in wanted:
            folder = _by_listing_role(folders, name) or await service.folders.resolve(account_id, name)
            if all(f.name != folder.name for f in chosen):
                chosen.append(folder)
    chosen.sort(key=lambda f: f.name.upper() != "INBOX")
    if len(chosen) > MAX_FOLDERS:
        raise InvalidInput(
            f"{len(chosen)} folders is more than one search covers ({MAX_FOLDERS}); name the folders or roles",
            field="mailbox",
        )
    return chosen


def _by_listing_role(folders: list[Folder], name: str) -> Folder | None:
    """The roles no write goes to (all, flagged) name folders to search too."""
    if name.lower() not in LISTING_ONLY_ROLES:
        return None
    return next((f for f in folders if f.role == name.lower()), None)
