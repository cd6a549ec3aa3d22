"""The sending and draft tools end to end: in-memory MCP client -> server -> aiosmtpd in-process -> LMTP -> Dovecot,
read back through the tools. Mail goes to bob (alice's mailbox belongs to the read tests) and to outside
addresses that the SMTP sink records without delivering.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import ElicitResult

from mail_mcp.config.sources import load_settings
from mail_mcp.ids import MessageId
from mail_mcp.mailbox.service import MailService
from mail_mcp.sandbox import Sandbox
from mail_mcp.server.app import build_server

from .conftest import call, call_error
from .smtp_support import SmtpSink, smtp_server

pytestmark = pytest.mark.anyio
SEND_TOOLS = {"send_message", "send_draft", "save_draft", "update_draft"}


@pytest.fixture(scope="module")
def outbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The attachment directory, with a file, a big file, a symlink escaping it and a secret beside it."""
    base = tmp_path_factory.mktemp("send")
    folder = base / "outbox"
    folder.mkdir()
    (folder / "report.pdf").write_bytes(b"%PDF-1.4\n" + os.urandom(30_000))
    (folder / "big.bin").write_bytes(os.urandom(5000))
    (base / "secret.txt").write_text("do not send")
    (folder / "escape").symlink_to(base / "secret.txt")
    return folder


@pytest.fixture(scope="module")
def smtp(sandbox: Sandbox) -> Iterator[tuple[int, SmtpSink]]:
    with smtp_server(sandbox) as running:
        yield running


def send_env(sandbox: Sandbox, port: int, outbox: Path, **extra: str) -> dict[str, str]:
    return {
        **sandbox.env("bob", account="bob"),
        "MAIL_IMAP_WRITE_ENABLED": "true",
        "MAIL_SMTP_SEND_ENABLED": "true",
        "MAIL_SMTP_BOB_HOST": "127.0.0.1",
        "MAIL_SMTP_BOB_PORT": str(port),
        "MAIL_SMTP_BOB_SECURITY": "plain",
        "MAIL_SMTP_BOB_FROM": "bob@example.test",
        "MAIL_SMTP_BOB_FROM_NAME": "Bob Bäcker",
        "MAIL_SMTP_ATTACHMENT_DIR": str(outbox),
        **extra,
    }


@asynccontextmanager
async def bob_client(sandbox: Sandbox, port: int, outbox: Path, **kwargs: Any) -> AsyncIterator[Client]:
    env = send_env(sandbox, port, outbox, **kwargs.pop("env", {}))
    service = MailService(load_settings(env=env))
    try:
        async with Client(build_server(service), raise_exceptions=True, **kwargs) as client:
            yield client
    finally:
        await service.close()


@pytest.fixture(scope="module")
async def bob(sandbox: Sandbox, smtp: tuple[int, SmtpSink], outbox: Path) -> AsyncIterator[Client]:
    async with bob_client(sandbox, smtp[0], outbox) as client:
        yield client


def tag() -> str:
    return uuid.uuid4().hex[:10]


def headers(raw: bytes) -> EmailMessage:
    return message_from_bytes(raw, policy=default_policy)  # type: ignore[return-value]


def head(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[0]


def imap_flags(sandbox: Sandbox, message_id: str) -> set[bytes]:
    mid = MessageId.parse(message_id)
    with sandbox.connect("bob") as imap:
        imap.select_folder(mid.mailbox, readonly=True)
        return set(imap.fetch([mid.uid], ["FLAGS"])[mid.uid][b"FLAGS"])


async def find(client: Client, text: str, mailbox: str = "INBOX") -> list[dict[str, Any]]:
    envelope = await call(client, "list_messages", account="bob", mailbox=mailbox, subject=text)
    return envelope["data"]["messages"]


async def attachment_bytes(client: Client, message_id: str, part_id: str) -> bytes:
    result = await client.call_tool("get_attachment", {"message_id": message_id, "attachment": part_id})
    assert not result.is_error, result.content[0].text  # type: ignore[union-attr]
    (content,) = (await client.read_resource(result.content[1].uri)).contents  # type: ignore[union-attr]
    return base64.b64decode(content.blob)  # type: ignore[union-attr]


def original(
    subject: str, *, body: str = "Original text", attachment: bytes | None = None, **fields: str
) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Carol Jones <carol@example.test>"
    msg["To"] = "Bob Bäcker <bob@example.test>"
    msg["Subject"] = subject
    for name, value in fields.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    if attachment is not None:
        msg.add_attachment(attachment, maintype="application", subtype="pdf", filename="quarter.pdf")
        msg.add_attachment("a,b\n1,2\n", subtype="csv", filename="numbers.csv")
    return msg.as_bytes()


# ---------------------------------------------------------------------------------------------- tools and gates


async def test_tools_exist_only_behind_their_gates(client: Client, bob: Client) -> None:
    assert not SEND_TOOLS & {t.name for t in (await client.list_tools()).tools}
    tools = {t.name: t for t in (await bob.list_tools()).tools}
    assert set(tools) >= SEND_TOOLS
    assert tools["send_message"].annotations.destructive_hint is True  # type: ignore[union-attr]
    assert tools["save_draft"].annotations.destructive_hint is False  # type: ignore[union-attr]
    for name in SEND_TOOLS:
        assert tools[name].output_schema and tools[name].description
        assert "confirm" not in tools[name].input_schema["properties"]
    accounts = (await call(bob, "list_accounts"))["data"]["accounts"]
    assert accounts[0]["send_enabled"] is True
    assert (await call(client, "list_accounts"))["data"]["accounts"][0]["send_enabled"] is False


async def test_absent_tools_are_refused_naming_the_gate(client: Client, smtp: tuple[int, SmtpSink]) -> None:
    before = smtp[1].count
    refused = await call_error(client, "send_message", to=["bob@example.test"], body_text="x")
    assert (
        refused["error"]["code"] == "write_disabled"
        and "MAIL_SMTP_SEND_ENABLED" in refused["error"]["message"]
    )
    drafted = await call_error(client, "save_draft", body_text="x")
    assert (
        drafted["error"]["code"] == "write_disabled"
        and "MAIL_IMAP_WRITE_ENABLED" in drafted["error"]["message"]
    )
    assert smtp[1].count == before


# ---------------------------------------------------------------------------------------------- sending


async def test_new_message_arrives_intact(bob: Client, smtp: tuple[int, SmtpSink], outbox: Path) -> None:
    t, blob = tag(), os.urandom(100_000)
    subject = f"Grüße {t} — Bericht"
    sink = smtp[1]
    before = sink.count
    data = (
        await call(
            bob,
            "send_message",
            to=["Bob Bäcker <bob@example.test>"],
            cc=["carol@example.test"],
            bcc=["dave@example.test"],
            subject=subject,
            body_text="Hallo Bob,\nanbei der Bericht.\n",
            attachments=[
                {"path": "report.pdf"},
                {"content_base64": base64.b64encode(blob).decode(), "filename": "daten.bin"},
            ],
        )
    )["data"]
    assert data["status"] == "sent" and sink.count == before + 1
    assert sorted(data["accepted"]) == ["bob@example.test", "carol@example.test", "dave@example.test"]
    received = sink.received[-1]
    assert received.mail_from == "bob@example.test"
    assert sorted(received.rcpt_tos) == ["bob@example.test", "carol@example.test", "dave@example.test"]
    top = head(received.content)
    assert b"\nBcc:" not in top and b"dave@example.test" not in received.content
    assert b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe_" in top
    assert b"From: Bob =?utf-8?q?B=C3=A4cker?= <bob@example.test>" in top
    assert re.search(rb"\r\nMessage-ID: <[^<>@\s]+@example\.test>\r\n", top)
    assert re.search(rb"\r\nDate: [A-Z][a-z]{2}, \d", top) and received.content.isascii()
    assert headers(received.content)["Message-ID"] == data["header_message_id"]

    (summary,) = await find(bob, t)
    detail = (await call(bob, "get_message", message_id=summary["message_id"]))["data"]
    assert detail["subject"] == subject and detail["from"] == {
        "name": "Bob Bäcker",
        "email": "bob@example.test",
    }
    assert detail["body"]["text"].startswith("Hallo Bob,") and detail["bcc"] == []
    files = {a["filename"]: a["part_id"] for a in detail["attachments"]}
    assert set(files) == {"report.pdf", "daten.bin"}
    got = await attachment_bytes(bob, summary["message_id"], files["daten.bin"])
    assert hashlib.sha256(got).digest() == hashlib.sha256(blob).digest()
    report = await attachment_bytes(bob, summary["message_id"], files["report.pdf"])
    assert report == (outbox / "report.pdf").read_bytes()

    copy = data["sent_copy"]
    assert copy["saved"] is True and copy["mailbox"] == "Sent"
    kept = (await call(bob, "get_message", message_id=copy["message_id"]))["data"]
    assert [b["email"] for b in kept["bcc"]] == ["dave@example.test"]  # the owner's copy keeps Bcc
    assert kept["is_read"] is True and kept["header_message_id"] == data["header_message_id"]


async def test_reply_threads_and_sets_answered(
    bob: Client, smtp: tuple[int, SmtpSink], sandbox: Sandbox
) -> None:
    t = tag()
    sandbox.deliver(
        "bob@example.test",
        original(
            f"Re: Plans {t}",
            Reply_To="Carol Work <carol.work@example.test>",
            Cc="Dan <dan@example.test>",
            Message_ID=f"<orig-{t}@example.test>",
            References=f"<root-{t}@example.test>",
        ),
    )
    (summary,) = await find(bob, t)
    data = (
        await call(
            bob, "send_message", reply_to_id=summary["message_id"], reply_all=True, body_text="Sounds good."
        )
    )["data"]
    assert data["status"] == "sent" and data["original_answered"] is True
    assert data["to"] == ["Carol Work <carol.work@example.test>"] and data["cc"] == ["Dan <dan@example.test>"]
    arrived = headers(smtp[1].received[-1].content)
    assert arrived["Subject"] == f"Re: Plans {t}"
    assert arrived["In-Reply-To"] == f"<orig-{t}@example.test>"
    assert arrived["References"] == f"<root-{t}@example.test> <orig-{t}@example.test>"
    assert data["references"] == [f"<root-{t}@example.test>", f"<orig-{t}@example.test>"]
    assert b"\\Answered" in imap_flags(sandbox, summary["message_id"])


async def test_reply_quotes_the_original_below_the_answer(bob: Client, sandbox: Sandbox) -> None:
    t = tag()
    sandbox.deliver("bob@example.test", original(f"Lunch {t}", body=f"Shall we meet at noon?\nCheers {t}"))
    (summary,) = await find(bob, t)
    await call(
        bob,
        "send_message",
        reply_to_id=summary["message_id"],
        to=["bob@example.test"],
        body_text="Noon works.",
    )
    reply = next(m for m in await find(bob, t) if m["subject"].startswith("Re:"))
    text = (await call(bob, "get_message", message_id=reply["message_id"]))["data"]["body"]["text"]
    assert text.startswith("Noon works.")
    assert "Carol Jones <carol@example.test> wrote:" in text
    assert "> Shall we meet at noon?" in text and f"> Cheers {t}" in text


async def test_forward_carries_the_original_attachments(
    bob: Client, smtp: tuple[int, SmtpSink], sandbox: Sandbox
) -> None:
    t, blob = tag(), os.urandom(60_000)
    sandbox.deliver(
        "bob@example.test", original(f"Quarterly {t}", body=f"Numbers inside {t}.", attachment=blob)
    )
    (summary,) = await find(bob, t)
    data = (
        await call(
            bob,
            "send_message",
            forward_id=summary["message_id"],
            to=["bob@example.test"],
            body_text="FYI, see below.",
        )
    )["data"]
    assert data["status"] == "sent" and data["subject"] == f"Fwd: Quarterly {t}"
    forwarded = [m for m in await find(bob, t) if m["subject"].startswith("Fwd:")]
    detail = (await call(bob, "get_message", message_id=forwarded[0]["message_id"]))["data"]
    text = detail["body"]["text"]
    assert text.startswith("FYI, see below.") and "---------- Forwarded message" in text
    assert "From: Carol Jones <carol@example.test>" in text and f"Numbers inside {t}." in text
    files = {a["filename"]: a["part_id"] for a in detail["attachments"]}
    assert set(files) == {"quarter.pdf", "numbers.csv"}
    got = await attachment_bytes(bob, forwarded[0]["message_id"], files["quarter.pdf"])
    assert hashlib.sha256(got).digest() == hashlib.sha256(blob).digest()


async def test_refused_recipient_is_reported_per_rcpt(bob: Client, smtp: tuple[int, SmtpSink]) -> None:
    data = (
        await call(
            bob,
            "send_message",
            to=["bob@example.test", "refuse-me@example.test"],
            subject=f"R {tag()}",
            body_text="x",
        )
    )["data"]
    assert data["status"] == "sent" and data["accepted"] == ["bob@example.test"]
    assert [(r["address"], r["code"]) for r in data["refused"]] == [("refuse-me@example.test", 550)]
    before = smtp[1].count
    error = await call_error(bob, "send_message", to=["refuse-all@example.test"], body_text="x")
    assert error["error"]["code"] == "server_error" and error["error"]["details"]["refused"][0]["code"] == 550
    assert smtp[1].count == before


async def test_non_ascii_address_uses_smtputf8(bob: Client, smtp: tuple[int, SmtpSink]) -> None:
    data = (
        await call(bob, "send_message", to=["Jörg <jörg@example.test>"], subject=f"U {tag()}", body_text="ü")
    )["data"]
    received = smtp[1].received[-1]
    assert data["status"] == "sent" and "SMTPUTF8" in received.mail_options
    assert "To: Jörg <jörg@example.test>".encode() in head(received.content)


# ---------------------------------------------------------------------------------------------- drafts


async def test_drafts_round_trip(bob: Client, smtp: tuple[int, SmtpSink], sandbox: Sandbox) -> None:
    t = tag()
    saved = (
        await call(
            bob,
            "save_draft",
            to=["carol@example.test"],
            bcc=["dave@example.test"],
            subject=f"Draft {t}",
            body_text="first version",
        )
    )["data"]
    assert saved["mailbox"] == "Drafts" and saved["draft_id"].startswith("imap:bob:Drafts:")
    assert {b"\\Draft", b"\\Seen"} <= imap_flags(sandbox, saved["draft_id"])
    read = (await call(bob, "get_message", message_id=saved["draft_id"]))["data"]
    assert read["body"]["text"].startswith("first version") and [b["email"] for b in read["bcc"]] == [
        "dave@example.test"
    ]

    updated = (
        await call(
            bob,
            "update_draft",
            draft_id=saved["draft_id"],
            to=["bob@example.test"],
            subject=f"Draft {t} v2",
            body_text="second version",
        )
    )["data"]
    assert updated["replaced"] == saved["draft_id"] and updated["draft_id"] != saved["draft_id"]
    gone = await call_error(bob, "get_message", message_id=saved["draft_id"])
    assert gone["error"]["code"] == "not_found"

    before = smtp[1].count
    sent = (await call(bob, "send_draft", draft_id=updated["draft_id"]))["data"]
    assert sent["status"] == "sent" and sent["draft_removed"] is True and sent["sent_copy"]["saved"] is True
    assert smtp[1].count == before + 1 and smtp[1].received[-1].rcpt_tos == ["bob@example.test"]
    assert headers(smtp[1].received[-1].content)["Message-ID"] == updated["header_message_id"]
    again = await call_error(bob, "send_draft", draft_id=updated["draft_id"])
    assert again["error"]["code"] == "not_found" and smtp[1].count == before + 1


# ---------------------------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "arguments",
    [
        {"subject": "x\r\nBcc: evil@x.example"},
        {"to": ["Eve\r\nBcc: evil@x.example <eve@x.example>"]},
        {"to": ["eve@x.example\r\nBcc: evil@x.example"]},
        {"cc": ['"x\nBcc: evil@x.example" <a@x.example>']},
        {"bcc": ["a@x.example\u2028Bcc: evil@x.example"]},
        {"attachments": [{"content_base64": "eA==", "filename": "a\r\nBcc: evil@x.example"}]},
        {"to": ["not an address"]},
    ],
)
async def test_header_injection_is_refused(
    bob: Client, smtp: tuple[int, SmtpSink], arguments: dict[str, Any]
) -> None:
    before = smtp[1].count
    given = {"to": ["bob@example.test"], "subject": "hello", "body_text": "x", **arguments}
    error = await call_error(bob, "send_message", **given)
    assert error["error"]["code"] == "invalid_input" and "Nothing was sent" in error["error"]["message"]
    assert smtp[1].count == before


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("../secret.txt", "invalid_input"),
        ("/etc/passwd", "invalid_input"),
        ("escape", "invalid_input"),
        ("missing.pdf", "not_found"),
    ],
)
async def test_attachment_paths_outside_the_directory_are_refused(
    bob: Client, smtp: tuple[int, SmtpSink], path: str, code: str
) -> None:
    before = smtp[1].count
    error = await call_error(
        bob, "send_message", to=["bob@example.test"], body_text="x", attachments=[{"path": path}]
    )
    assert error["error"]["code"] == code and "do not send" not in str(error)
    assert smtp[1].count == before


async def test_limits_and_allow_list(sandbox: Sandbox, smtp: tuple[int, SmtpSink], outbox: Path) -> None:
    port, sink = smtp
    before = sink.count
    env = {
        "MAIL_SMTP_MAX_ATTACHMENT_BYTES": "1000",
        "MAIL_SMTP_BOB_ALLOWED_RECIPIENTS": "@example.test, x@ok.example",
        "MAIL_SMTP_BOB_RATE_LIMIT": "1",
    }
    async with bob_client(sandbox, port, outbox, env=env) as client:
        big = await call_error(
            client,
            "send_message",
            to=["bob@example.test"],
            body_text="x",
            attachments=[{"content_base64": base64.b64encode(b"x" * 2000).decode(), "filename": "b"}],
        )
        assert (
            big["error"]["code"] == "invalid_input"
            and "MAIL_SMTP_MAX_ATTACHMENT_BYTES" in big["error"]["message"]
        )
        file = await call_error(
            client, "send_message", to=["bob@example.test"], body_text="x", attachments=[{"path": "big.bin"}]
        )
        assert file["error"]["code"] == "invalid_input"
        outside = await call_error(
            client, "send_message", to=["bob@example.test", "eve@evil.example"], body_text="x"
        )
        assert outside["error"]["code"] == "invalid_input"
        assert outside["error"]["details"]["not_allowed"] == ["eve@evil.example"]
        assert sink.count == before
        first = await call(
            client, "send_message", to=["x@ok.example"], subject=f"Rate {tag()}", body_text="one"
        )
        assert first["data"]["status"] == "sent"
        second = await call_error(client, "send_message", to=["x@ok.example"], body_text="two")
        assert (
            second["error"]["code"] == "write_disabled"
            and second["error"]["details"]["retry_after_seconds"] > 0
        )
        assert sink.count == before + 1


# ---------------------------------------------------------------------------------------------- no double sends


async def test_idempotency_key_sends_once_also_after_a_restart(
    bob: Client, sandbox: Sandbox, outbox: Path, smtp: tuple[int, SmtpSink]
) -> None:
    port, sink = smtp
    t = tag()
    arguments = {
        "to": ["bob@example.test"],
        "subject": f"Idem {t}",
        "body_text": "once",
        "idempotency_key": f"k-{t}",
    }
    before = sink.count
    first = (await call(bob, "send_message", **arguments))["data"]
    second = (await call(bob, "send_message", **arguments))["data"]
    assert first["status"] == second["status"] == "sent" and second["replayed"] is True
    assert first["header_message_id"] == second["header_message_id"] and first[
        "header_message_id"
    ].startswith("<idem.")
    assert sink.count == before + 1
    async with bob_client(sandbox, port, outbox) as restarted:
        third = (await call(restarted, "send_message", **arguments))["data"]
    assert (
        third["status"] == "already_sent"
        and third["sent_copy"]["message_id"] == first["sent_copy"]["message_id"]
    )
    assert sink.count == before + 1 and len(await find(bob, t)) == 1


async def test_connection_dropped_after_data_is_unknown_and_not_retried(
    sandbox: Sandbox, outbox: Path
) -> None:
    with smtp_server(sandbox, drop_after_data=True) as (port, sink):
        async with bob_client(sandbox, port, outbox) as client:
            arguments = {
                "to": ["carol@example.test"],
                "subject": f"Drop {tag()}",
                "body_text": "x",
                "idempotency_key": tag(),
            }
            first = (await call(client, "send_message", **arguments))["data"]
            assert first["status"] == "unknown" and first["sent_copy"]["saved"] is False and sink.count == 1
            again = (await call(client, "send_message", **arguments))["data"]
            assert again["status"] == "unknown" and again["replayed"] is True and sink.count == 1


# ---------------------------------------------------------------------------------------------- confirmation


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_elicitation_asks_and_decline_sends_nothing(
    sandbox: Sandbox, outbox: Path, mode: str, smtp: tuple[int, SmtpSink]
) -> None:
    port, sink = smtp
    asked: list[str] = []
    answer = {"action": "accept"}

    async def elicit(context: Any, params: Any) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(
            action=answer["action"], content={"send": True} if answer["action"] == "accept" else None
        )

    async with bob_client(sandbox, port, outbox, elicitation_callback=elicit, mode=mode) as client:
        t = tag()
        before = sink.count
        sent = (
            await call(
                client,
                "send_message",
                to=["bob@example.test"],
                bcc=["dave@example.test"],
                subject=f"Ask {t}",
                body_text="First line\nsecond line",
            )
        )["data"]
        assert sent["status"] == "sent" and sent["confirmed_by"] == "person" and sink.count == before + 1
        assert "To: bob@example.test" in asked[-1] and "Bcc: dave@example.test" in asked[-1]
        assert f"Subject: Ask {t}" in asked[-1] and "First line" in asked[-1]
        answer["action"] = "decline"
        declined = (await call(client, "send_message", to=["bob@example.test"], body_text="no"))["data"]
        assert declined["status"] == "declined" and sink.count == before + 1


async def test_confirm_always_without_elicitation_refuses(
    sandbox: Sandbox, outbox: Path, smtp: tuple[int, SmtpSink]
) -> None:
    port, sink = smtp
    before = sink.count
    async with bob_client(sandbox, port, outbox, env={"MAIL_SMTP_CONFIRM": "always"}) as client:
        error = await call_error(client, "send_message", to=["bob@example.test"], body_text="x")
        assert error["error"]["code"] == "unsupported" and "save_draft" in error["error"]["message"]
        saved = await call(client, "save_draft", to=["bob@example.test"], body_text="x", subject=f"C {tag()}")
        assert saved["data"]["draft_id"]
    assert sink.count == before


# ---------------------------------------------------------------------------------------------- transport security


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_starttls_and_tls_with_login_and_verified_certificates(sandbox: Sandbox, outbox: Path) -> None:
    password = sandbox.users["bob"].password
    for security in ("starttls", "tls"):
        with smtp_server(sandbox, security=security, auth={"bob": password}) as (port, sink):  # type: ignore[arg-type]
            env = {"MAIL_SMTP_BOB_SECURITY": security, "MAIL_SMTP_BOB_CA_FILE": str(sandbox.ca_cert_path)}
            async with bob_client(sandbox, port, outbox, env=env) as client:
                data = (await call(client, "send_message", to=["carol@example.test"], body_text="x"))["data"]
                assert data["status"] == "sent" and sink.count == 1
            async with bob_client(sandbox, port, outbox, env={"MAIL_SMTP_BOB_SECURITY": security}) as client:
                error = await call_error(client, "send_message", to=["carol@example.test"], body_text="x")
                assert (
                    error["error"]["code"] == "connection_failed"
                    and "certificate" in error["error"]["message"]
                )
            env["MAIL_SMTP_BOB_PASS"] = "wrong"
            async with bob_client(sandbox, port, outbox, env=env) as client:
                error = await call_error(client, "send_message", to=["carol@example.test"], body_text="x")
                assert error["error"]["code"] == "auth_failed" and "wrong" not in str(error)
            assert sink.count == 1


# ---------------------------------------------------------------------------------------------- Sent copies, audit


async def test_save_sent_auto_skips_a_provider_that_files_sent_mail_itself(outbox: Path) -> None:
    with (
        Sandbox(imap_capability="+X-GM-EXT-1", users=("bob",)) as gmail_like,
        smtp_server(gmail_like) as (port, sink),
    ):
        for save_sent, saved in (("auto", False), ("always", True), ("never", False)):
            env = {"MAIL_SMTP_BOB_SAVE_SENT": save_sent}
            async with bob_client(gmail_like, port, outbox, env=env) as client:
                data = (await call(client, "send_message", to=["carol@example.test"], body_text="x"))["data"]
            assert data["status"] == "sent" and data["sent_copy"]["saved"] is saved, save_sent
            if save_sent == "auto":
                assert "Gmail" in data["sent_copy"]["reason"]
        with gmail_like.connect("bob") as imap:
            assert imap.select_folder("Sent", readonly=True)[b"EXISTS"] == 1
        assert sink.count == 3


async def test_every_send_and_draft_is_audited_without_content(
    bob: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "audit.jsonl"
    monkeypatch.setenv("MAIL_MCP_AUDIT_LOG", str(log))
    secret = f"body-{tag()}"
    await call(bob, "send_message", to=["bob@example.test"], bcc=["dave@example.test"], body_text=secret)
    await call_error(bob, "send_message", to=["x\r\n@example.test"], body_text=secret)
    await call(bob, "save_draft", to=["carol@example.test"], body_text=secret)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["action"], r["status"]) for r in lines] == [
        ("send", "sent"),
        ("send", "refused"),
        ("save_draft", "ok"),
    ]
    assert lines[0]["bcc"] == ["dave@example.test"] and lines[0]["header_message_id"].startswith("<")
    assert lines[1]["code"] == "invalid_input" and secret not in log.read_text()
