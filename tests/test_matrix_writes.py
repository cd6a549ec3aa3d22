"""The write tools end to end through the MCP client against each real server (see test_matrix.py): flags, copy,
move, delete, create_folder in the personal namespace, drafts and send_message with its Sent copy."""

from __future__ import annotations

import secrets

import pytest

from mail_mcp.ids import MessageId

from . import test_matrix as matrix
from .conftest import call, call_error
from .test_matrix import Target, folders, listing, subjects

pytest_plugins = ["tests.servers.fixtures"]
pytestmark = pytest.mark.anyio
# The same module-scoped fixtures as test_matrix.py: each server once for this module's tests.
dovecot_sandbox, dovecot, smtp, target = matrix.dovecot_sandbox, matrix.dovecot, matrix.smtp, matrix.target


# ---------------------------------------------------------------------------------------------- organizing


async def test_modify_flags(target: Target) -> None:
    t = target
    name, _ = t.fresh("Flags", 2)
    mids = [m["message_id"] for m in (await listing(t, name))["messages"]]
    data = (await call(t.client, "modify_flags", message_ids=mids, add_flags=["read", "flagged", "$Matrix"]))[
        "data"
    ]
    assert data["counts"] == {"ok": 2, "failed": 0, "unknown": 0}, data
    for outcome in data["messages"]:
        assert {"\\Seen", "\\Flagged", "$Matrix"} <= set(outcome["flags"])
    data = (await call(t.client, "modify_flags", message_ids=mids[:1], remove_flags=["flagged"]))["data"]
    assert data["counts"]["ok"] == 1 and "\\Flagged" not in data["messages"][0]["flags"]
    rows = {m["message_id"]: m for m in (await listing(t, name))["messages"]}
    assert rows[mids[0]]["is_flagged"] is False and rows[mids[1]]["is_flagged"] is True
    assert all(row["is_read"] for row in rows.values())


async def test_copy_move_and_delete(target: Target) -> None:
    t = target
    source, _ = t.fresh("Source", 3)
    dest, _ = t.fresh("Dest", 0)
    mids = [m["message_id"] for m in (await listing(t, source))["messages"]]

    copied = (await call(t.client, "copy_message", message_ids=mids[:1], destination=dest))["data"]
    assert copied["counts"]["ok"] == 1 and copied["folder"] == dest
    new_id = copied["messages"][0]["new_message_id"]
    assert MessageId.parse(new_id).mailbox == dest  # every server here has UIDPLUS: COPYUID gives the id
    assert (await call(t.client, "get_message", message_id=new_id))["data"]["subject"] == "Source 2"

    moved = (await call(t.client, "move_message", message_ids=mids[1:2], destination=dest))["data"]
    assert moved["counts"]["ok"] == 1
    moved_id = moved["messages"][0]["new_message_id"]
    assert (await call(t.client, "get_message", message_id=moved_id))["data"]["subject"] == "Source 1"
    gone = (await call_error(t.client, "get_message", message_id=mids[1]))["error"]
    assert gone["code"] == "not_found"

    deleted = (await call(t.client, "delete_message", message_ids=mids[2:]))["data"]
    assert deleted["counts"]["ok"] == 1
    assert deleted["folder"] == t.folder("\\Trash") and deleted["folder_role"] == "trash"
    trashed = deleted["messages"][0]["new_message_id"]
    assert MessageId.parse(trashed).mailbox == t.folder("\\Trash")
    assert await subjects(t, source) == ["Source 2"]
    assert await subjects(t, dest) == ["Source 1", "Source 2"]


async def test_move_by_role_and_relative_name(target: Target) -> None:
    t = target
    source, _ = t.fresh("ByRole", 2)
    mids = [m["message_id"] for m in (await listing(t, source))["messages"]]
    junk = (await call(t.client, "move_message", message_ids=mids[:1], destination="junk"))["data"]
    assert junk["counts"]["ok"] == 1 and junk["folder"] == t.folder("\\Junk")
    leaf = source.removeprefix(t.info.prefix)
    back = await call(
        t.client, "move_message", message_ids=[junk["messages"][0]["new_message_id"]], destination=leaf
    )
    assert back["data"]["folder"] == source and back["data"]["counts"]["ok"] == 1


async def test_create_folder_in_personal_namespace(target: Target) -> None:
    t = target
    tag = secrets.token_hex(3)
    delim, prefix = t.info.delimiter, t.info.prefix
    first = (await call(t.client, "create_folder", name=f"Belege-{tag}"))["data"]
    assert first["name"] == f"{prefix}Belege-{tag}" and first["created"] is True
    assert first.get("delimiter") == delim
    nested = (await call(t.client, "create_folder", name=f"Quirks-{tag}/Unterordner"))["data"]
    assert nested["name"] == f"{prefix}Quirks-{tag}{delim}Unterordner" and nested["created"] is True
    again = (await call(t.client, "create_folder", name=f"Quirks-{tag}{delim}Unterordner"))["data"]
    assert again["name"] == nested["name"] and again["created"] is False
    found = await folders(t)
    assert first["name"] in found and nested["name"] in found
    assert found[nested["name"]]["selectable"] is True
    source, _ = t.fresh("IntoNew", 1)
    mids = [m["message_id"] for m in (await listing(t, source))["messages"]]
    moved = (await call(t.client, "move_message", message_ids=mids, destination=f"Quirks-{tag}/Unterordner"))[
        "data"
    ]
    assert moved["folder"] == nested["name"] and moved["counts"]["ok"] == 1
    assert await subjects(t, nested["name"]) == ["IntoNew 0"]


# ---------------------------------------------------------------------------------------------- drafts and sending


async def test_drafts_after_listing_drafts_and_inbox(target: Target) -> None:
    """list Drafts, list INBOX, save, update: Courier refuses an APPEND into a folder its session EXAMINEd."""
    t = target
    tag = secrets.token_hex(3)
    drafts = t.folder("\\Drafts")
    await listing(t, drafts)
    await listing(t, "INBOX")
    saved = (
        await call(
            t.client, "save_draft", to=["carol@example.test"], subject=f"Entwurf {tag}", body_text="eins"
        )
    )["data"]
    assert saved["mailbox"] == drafts and saved["draft_id"]
    await listing(t, drafts)
    await listing(t, "INBOX")
    updated = (
        await call(
            t.client,
            "update_draft",
            draft_id=saved["draft_id"],
            to=["carol@example.test"],
            subject=f"Entwurf {tag} v2",
            body_text="zwei",
        )
    )["data"]
    assert updated["replaced"] == saved["draft_id"] and updated["draft_id"] != saved["draft_id"]
    rows = (await listing(t, drafts, subject=tag))["messages"]
    assert [m["subject"] for m in rows] == [f"Entwurf {tag} v2"]
    assert rows[0]["message_id"] == updated["draft_id"]
    body = (await call(t.client, "get_message", message_id=updated["draft_id"]))["data"]["body"]["text"]
    assert "zwei" in body

    await call(t.single, "list_messages", mailbox=drafts)  # its one connection has Drafts EXAMINEd now
    again = (await call(t.single, "save_draft", subject=f"Einzeln {tag}", body_text="drei"))["data"]
    await call(t.single, "get_message", message_id=again["draft_id"])
    replaced = (
        await call(t.single, "update_draft", draft_id=again["draft_id"], subject=f"Einzeln {tag} v2")
    )["data"]
    rows = (await listing(t, drafts, subject=f"Einzeln {tag}"))["messages"]
    assert [m["message_id"] for m in rows] == [replaced["draft_id"]]


async def test_send_message_saves_sent_copy(target: Target) -> None:
    """list Sent, list INBOX, send: the copy is APPENDed to this server's Sent folder."""
    t = target
    tag = secrets.token_hex(3)
    sent = t.folder("\\Sent")
    await listing(t, sent)
    await listing(t, "INBOX")
    before = t.sink.count
    data = (
        await call(
            t.client, "send_message", to=["carol@example.test"], subject=f"Matrix {tag}", body_text="Hallo"
        )
    )["data"]
    assert data["status"] == "sent" and t.sink.count == before + 1
    copy = data["sent_copy"]
    assert copy["saved"] is True and copy["status"] == "ok" and copy["mailbox"] == sent, copy
    rows = (await listing(t, sent, subject=tag))["messages"]
    assert [m["message_id"] for m in rows] == [copy["message_id"]]
    assert rows[0]["is_read"] is True and rows[0]["folder_role"] == "sent"

    await call(t.single, "list_messages", mailbox=sent)  # its one connection has Sent EXAMINEd now
    data = (
        await call(
            t.single, "send_message", to=["carol@example.test"], subject=f"Einzeln {tag}", body_text="x"
        )
    )["data"]
    assert data["status"] == "sent" and data["sent_copy"]["saved"] is True, data["sent_copy"]
    rows = (await listing(t, sent, subject=f"Einzeln {tag}"))["messages"]
    assert [m["message_id"] for m in rows] == [data["sent_copy"]["message_id"]]
