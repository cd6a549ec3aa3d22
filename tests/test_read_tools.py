"""The read tools end to end: in-memory MCP client -> server -> pool -> real Dovecot sandbox."""

from __future__ import annotations

import hashlib
import uuid
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest
from imapclient import IMAPClient
from mcp import Client

from mail_mcp.config.models import Settings
from mail_mcp.ids import MessageId
from mail_mcp.mailbox.service import MailService
from mail_mcp.sandbox import Sandbox
from mail_mcp.server.app import build_server

from .conftest import call, call_error

pytestmark = pytest.mark.anyio


def make_message(
    subject: str,
    body: str = "hello",
    *,
    attachment: bytes | None = None,
    filename: str = "blob.bin",
    html: str | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Carol Sender <carol@example.test>"
    msg["To"] = "alice@example.test"
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="example.test")
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    if attachment is not None:
        msg.add_attachment(attachment, maintype="application", subtype="octet-stream", filename=filename)
    return msg.as_bytes()


def fresh_folder(sandbox: Sandbox, count: int, prefix: str) -> str:
    """A new folder with `count` messages appended in order; returns its name."""
    name = f"Test-{prefix}-{uuid.uuid4().hex[:8]}"
    with sandbox.connect("alice") as imap:
        imap.create_folder(name)
        for i in range(count):
            imap.append(name, make_message(f"{prefix} {i:03d}"))
    return name


async def list_all(client: Client, **arguments: Any) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    envelope = await call(client, "list_messages", **arguments)
    seen += envelope["data"]["messages"]
    while envelope["meta"].get("next_cursor"):
        envelope = await call(
            client, "list_messages", cursor=envelope["meta"]["next_cursor"], limit=arguments.get("limit", 20)
        )
        seen += envelope["data"]["messages"]
    return seen


def server_flags(sandbox: Sandbox, message_id: str) -> set[bytes]:
    mid = MessageId.parse(message_id)
    with sandbox.connect("alice") as imap:
        imap.select_folder(mid.mailbox, readonly=True)
        return set(imap.fetch([mid.uid], ["FLAGS"])[mid.uid][b"FLAGS"])


async def test_tools_are_read_only_with_output_schemas(client: Client) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert {"list_accounts", "list_folders", "list_messages", "get_message", "get_attachment"} <= set(tools)
    for tool in tools.values():
        assert tool.annotations is not None and tool.annotations.read_only_hint is True
        assert tool.output_schema is not None and {"summary", "data", "meta"} <= set(
            tool.output_schema["properties"]
        )
        assert tool.description


async def test_list_accounts(client: Client) -> None:
    envelope = await call(client, "list_accounts")
    (account,) = envelope["data"]["accounts"]
    assert account["id"] == "default" and account["status"] == "ok"
    assert {"MOVE", "UIDPLUS", "SPECIAL-USE"} <= set(account["capabilities"])
    assert account["write_enabled"] is False
    assert envelope["meta"]["duration_ms"] >= 0 and envelope["meta"]["now_utc"].endswith("Z")


async def test_list_folders_roles_and_counts(client: Client, sandbox: Sandbox) -> None:
    folders = {f["name"]: f for f in (await call(client, "list_folders"))["data"]["folders"]}
    roles = {f["role"]: name for name, f in folders.items() if f["role"]}
    assert {"inbox", "sent", "drafts", "trash", "junk", "archive"} <= set(roles)
    assert "Reçus" in folders
    with sandbox.connect("alice") as imap:
        for name in ("INBOX", "Reçus", "Archive"):
            status = imap.folder_status(name, ["MESSAGES", "UNSEEN"])
            assert (folders[name]["messages"], folders[name]["unseen"]) == (
                status[b"MESSAGES"],
                status[b"UNSEEN"],
            )


async def test_paging_to_the_end_has_no_gaps_or_repeats(client: Client, sandbox: Sandbox) -> None:
    listed = await list_all(client, mailbox="INBOX", limit=5)
    ids = [m["message_id"] for m in listed]
    assert len(ids) == len(set(ids))
    with sandbox.connect("alice") as imap:
        imap.select_folder("INBOX", readonly=True)
        expected = sorted(imap.search(["ALL"]), reverse=True)
    assert [MessageId.parse(i).uid for i in ids] == expected
    assert len(ids) >= 20


async def test_paging_is_stable_when_mail_arrives_between_pages(client: Client, sandbox: Sandbox) -> None:
    folder = fresh_folder(sandbox, 12, "arrive")
    first = await call(client, "list_messages", mailbox=folder, limit=5)
    subjects = [m["subject"] for m in first["data"]["messages"]]
    assert subjects == [f"arrive {i:03d}" for i in range(11, 6, -1)]
    with sandbox.connect("alice") as imap:
        for i in range(3):
            imap.append(folder, make_message(f"late {i}"))
    envelope = first
    while envelope["meta"].get("next_cursor"):
        envelope = await call(client, "list_messages", cursor=envelope["meta"]["next_cursor"], limit=5)
        subjects += [m["subject"] for m in envelope["data"]["messages"]]
    assert subjects == [f"arrive {i:03d}" for i in range(11, -1, -1)]
    fresh = await call(client, "list_messages", mailbox=folder, limit=3)
    assert [m["subject"] for m in fresh["data"]["messages"]] == ["late 2", "late 1", "late 0"]
    assert fresh["data"]["total"] == 15


async def test_new_mail_is_visible_to_a_pooled_connection(client: Client, sandbox: Sandbox) -> None:
    folder = fresh_folder(sandbox, 2, "sync")
    await call(client, "list_messages", mailbox=folder)
    with sandbox.connect("alice") as imap:
        imap.append(folder, make_message("just arrived"))
    envelope = await call(client, "list_messages", mailbox=folder)
    assert envelope["data"]["messages"][0]["subject"] == "just arrived"


async def test_filters(client: Client, sandbox: Sandbox) -> None:
    with sandbox.connect("alice") as imap:
        imap.select_folder("INBOX", readonly=True)
        unseen = set(imap.search(["UNSEEN"]))
        flagged = set(imap.search(["FLAGGED"]))
    unread = await list_all(client, unread=True, limit=50)
    assert {MessageId.parse(m["message_id"]).uid for m in unread} == unseen
    assert all(not m["is_read"] for m in unread)
    starred = await list_all(client, flagged=True, limit=50)
    assert {MessageId.parse(m["message_id"]).uid for m in starred} == flagged
    umlaut = await call(client, "list_messages", subject="Grüße")
    assert umlaut["data"]["messages"] and all("Grüße" in m["subject"] for m in umlaut["data"]["messages"])
    with_files = await list_all(client, has_attachment=True, limit=50)
    assert with_files and all(m["has_attachment"] for m in with_files)
    without = await list_all(client, has_attachment=False, limit=50)
    assert all(not m["has_attachment"] for m in without)
    everything = await list_all(client, limit=50)
    assert len(with_files) + len(without) == len(everything)


async def test_summary_fields(client: Client) -> None:
    envelope = await call(client, "list_messages", subject="会議")
    (message,) = envelope["data"]["messages"][:1]
    assert "会議" in message["subject"]
    assert message["from"]["email"] and message["mailbox"] == "INBOX" and message["folder_role"] == "inbox"
    assert message["header_message_id"].startswith("<") and message["size"] > 0
    assert isinstance(message["preview"], str) and message["preview"]


async def test_get_message_does_not_set_seen(client: Client, sandbox: Sandbox) -> None:
    unread = await call(client, "list_messages", unread=True, limit=1)
    message_id = unread["data"]["messages"][0]["message_id"]
    assert b"\\Seen" not in server_flags(sandbox, message_id)
    envelope = await call(client, "get_message", message_id=message_id, format="both")
    assert envelope["data"]["body"]["text"]
    if envelope["data"]["attachments"]:
        await call(client, "get_attachment", message_id=message_id, attachment=1)
    assert b"\\Seen" not in server_flags(sandbox, message_id)


async def test_html_only_message_is_converted(client: Client, sandbox: Sandbox) -> None:
    folder = fresh_folder(sandbox, 0, "html")
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = "html only", "x@example.test", "alice@example.test"
    msg.set_content(
        "<html><body><h1>Title</h1><p>Para <b>bold</b></p><script>evil()</script></body></html>",
        subtype="html",
    )
    with sandbox.connect("alice") as imap:
        imap.append(folder, msg.as_bytes())
    (summary,) = (await call(client, "list_messages", mailbox=folder))["data"]["messages"]
    assert "Title" in summary["preview"] and "evil" not in summary["preview"]
    detail = (await call(client, "get_message", message_id=summary["message_id"], format="html"))["data"]
    assert detail["body"]["text_source"] == "text/html"
    assert "Para bold" in detail["body"]["text"] and "evil" not in detail["body"]["text"]
    assert "<script" not in detail["body"]["html"] and "<h1>" in detail["body"]["html"]


async def test_long_body_is_cut_and_continues(client: Client, sandbox: Sandbox) -> None:
    folder = fresh_folder(sandbox, 0, "long")
    body = "".join(f"line {i:05d}\n" for i in range(3000))
    with sandbox.connect("alice") as imap:
        imap.append(folder, make_message("long one", body))
    (summary,) = (await call(client, "list_messages", mailbox=folder))["data"]["messages"]
    text, offset = "", 0
    while offset is not None:
        part = (
            await call(
                client, "get_message", message_id=summary["message_id"], max_chars=10_000, offset=offset
            )
        )["data"]["body"]
        text += part["text"]
        offset = part["next_offset"]
    assert text.rstrip("\n") == body.rstrip("\n")


async def test_threading_headers(client: Client) -> None:
    replies = await call(client, "list_messages", subject="Re:")
    reply = next(m for m in replies["data"]["messages"] if m["in_reply_to"])
    detail = (await call(client, "get_message", message_id=reply["message_id"]))["data"]
    assert detail["in_reply_to"] == reply["in_reply_to"]
    assert detail["references"] and detail["references"][-1] == detail["in_reply_to"]


async def test_large_attachment_is_not_downloaded_to_read_text(
    client: Client, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = fresh_folder(sandbox, 0, "big")
    payload = bytes(range(256)) * (25 * 1024 * 1024 // 256)
    with sandbox.connect("alice") as imap:
        imap.append(
            folder, make_message("big attachment", "the text part", attachment=payload, filename="big.bin")
        )
    received: list[int] = []
    original = IMAPClient.fetch

    def counting_fetch(self: IMAPClient, messages: Any, data: Any, modifiers: Any = None) -> Any:
        response = original(self, messages, data, modifiers)
        received.append(sum(len(v) for d in response.values() for v in d.values() if isinstance(v, bytes)))
        return response

    monkeypatch.setattr(IMAPClient, "fetch", counting_fetch)
    (summary,) = (await call(client, "list_messages", mailbox=folder))["data"]["messages"]
    detail = (await call(client, "get_message", message_id=summary["message_id"]))["data"]
    assert detail["body"]["text"].strip() == "the text part"
    (info,) = detail["attachments"]
    assert info["filename"] == "big.bin" and abs(info["size"] - len(payload)) < len(payload) * 0.03
    assert summary["has_attachment"] is True
    assert sum(received) < 64 * 1024, received


async def test_get_attachment_text_and_binary(client: Client, sandbox: Sandbox) -> None:
    folder = fresh_folder(sandbox, 0, "att")
    blob = bytes(range(256)) * 40
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = "files", "x@example.test", "alice@example.test"
    msg.set_content("see attached")
    msg.add_attachment("a,b\n1,2\n", subtype="csv", filename="data.csv")
    msg.add_attachment(blob, maintype="application", subtype="pdf", filename="report.pdf")
    with sandbox.connect("alice") as imap:
        imap.append(folder, msg.as_bytes())
    (summary,) = (await call(client, "list_messages", mailbox=folder))["data"]["messages"]
    detail = (await call(client, "get_message", message_id=summary["message_id"]))["data"]
    names = {a["filename"]: a for a in detail["attachments"]}
    assert set(names) == {"data.csv", "report.pdf"}
    csv = await call(
        client, "get_attachment", message_id=summary["message_id"], attachment=names["data.csv"]["part_id"]
    )
    assert csv["data"]["delivered_as"] == "text" and csv["data"]["text"] == "a,b\n1,2\n"
    result = await client.call_tool(
        "get_attachment", {"message_id": summary["message_id"], "attachment": names["report.pdf"]["index"]}
    )
    assert not result.is_error
    link = result.content[1]
    assert link.type == "resource_link" and link.mime_type == "application/pdf"  # type: ignore[union-attr]
    import base64

    (resource,) = (await client.read_resource(link.uri)).contents  # type: ignore[union-attr]
    assert hashlib.sha256(base64.b64decode(resource.blob)).digest() == hashlib.sha256(blob).digest()  # type: ignore[union-attr]
    missing = await call_error(client, "get_attachment", message_id=summary["message_id"], attachment=9)
    assert missing["error"]["code"] == "not_found"


async def test_attachment_above_cap_is_refused(settings: Settings, sandbox: Sandbox) -> None:
    folder = fresh_folder(sandbox, 0, "cap")
    with sandbox.connect("alice") as imap:
        imap.append(folder, make_message("capped", attachment=b"x" * 50_000))
    service = MailService(settings.model_copy(update={"max_attachment_bytes": 10_000}))
    try:
        async with Client(build_server(service)) as small:
            (summary,) = (await call(small, "list_messages", mailbox=folder))["data"]["messages"]
            error = await call_error(small, "get_attachment", message_id=summary["message_id"], attachment=1)
            assert error["error"]["code"] == "invalid_input" and "cap" in error["error"]["message"]
    finally:
        await service.close()


async def test_stale_uidvalidity(client: Client, sandbox: Sandbox) -> None:
    folder = fresh_folder(sandbox, 1, "stale")
    (summary,) = (await call(client, "list_messages", mailbox=folder))["data"]["messages"]
    with sandbox.connect("alice") as imap:
        imap.delete_folder(folder)
        imap.create_folder(folder)
        imap.append(folder, make_message("impostor"))
    error = await call_error(client, "get_message", message_id=summary["message_id"])
    assert error["error"]["code"] == "stale_id"
    fresh = await call(client, "list_messages", mailbox=folder)
    assert fresh["data"]["messages"][0]["message_id"] != summary["message_id"]


@pytest.mark.parametrize(
    ("tool", "arguments", "code"),
    [
        ("get_message", {"message_id": "not-an-id"}, "invalid_input"),
        ("get_message", {"message_id": "imap:default:INBOX:1:999999"}, "stale_id"),
        ("get_message", {"message_id": "imap:nobody:INBOX:1:1"}, "not_found"),
        ("list_messages", {"mailbox": "No Such Folder"}, "not_found"),
        ("list_messages", {"limit": 51}, "invalid_input"),
        ("list_messages", {"subject": "a\r\nb"}, "invalid_input"),
        ("list_messages", {"cursor": "garbage"}, "invalid_input"),
        ("list_folders", {"account": "elsewhere"}, "not_found"),
    ],
)
async def test_errors_have_stable_codes(
    client: Client, tool: str, arguments: dict[str, Any], code: str
) -> None:
    payload = await call_error(client, tool, **arguments)
    assert payload["error"]["code"] == code
    assert payload["error"]["message"] and "meta" in payload


async def test_gone_message_is_not_found(client: Client, sandbox: Sandbox) -> None:
    folder = fresh_folder(sandbox, 1, "gone")
    (summary,) = (await call(client, "list_messages", mailbox=folder))["data"]["messages"]
    with sandbox.connect("alice") as imap:
        imap.select_folder(folder)
        imap.delete_messages([MessageId.parse(summary["message_id"]).uid])
        imap.expunge()
    error = await call_error(client, "get_message", message_id=summary["message_id"])
    assert error["error"]["code"] == "not_found"


async def test_stale_uidvalidity_while_the_folder_is_selected(client: Client, sandbox: Sandbox) -> None:
    """The pooled connection keeps the folder selected; recreating it must still give stale_id, not old data."""
    folder = fresh_folder(sandbox, 2, "stale-selected")
    (summary, _) = (await call(client, "list_messages", mailbox=folder))["data"]["messages"]
    await call(client, "get_message", message_id=summary["message_id"])
    with sandbox.connect("alice") as imap:
        imap.delete_folder(folder)
        imap.create_folder(folder)
        imap.append(folder, make_message("impostor"))
        imap.append(folder, make_message("impostor 2"))
    error = await call_error(client, "get_message", message_id=summary["message_id"])
    assert error["error"]["code"] == "stale_id"


def test_compact_schema_keeps_meaning() -> None:
    from mail_mcp.server.schemas import compact_schema

    schema = {
        "title": "X",
        "type": "object",
        "properties": {
            "role": {
                "anyOf": [{"enum": ["inbox", "sent"], "type": "string"}, {"type": "null"}],
                "title": "Role",
            },
            "n": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None},
            "ref": {"anyOf": [{"$ref": "#/$defs/A"}, {"type": "null"}]},
            "title": {"type": "string", "title": "Title"},
        },
    }
    assert compact_schema(schema) == {
        "type": "object",
        "properties": {
            "role": {"enum": ["inbox", "sent", None], "type": ["string", "null"]},
            "n": {"type": ["integer", "null"], "default": None},
            "ref": {"anyOf": [{"$ref": "#/$defs/A"}, {"type": "null"}]},
            "title": {"type": "string"},
        },
    }
