"""Newest first means newest by arrival (INTERNALDATE, then UID); keyset cursors; offset jumps; forged cursors;
has_attachment for every structure; arrived_* and sent_* date filters; unknown arguments are refused."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
from mcp import Client

from mail_mcp.sandbox import Sandbox

from .conftest import call, call_error

pytestmark = pytest.mark.anyio


def message(subject: str, *, sent: datetime | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "x@example.test", "alice@example.test", subject
    if sent is not None:
        msg["Date"] = format_datetime(sent)
    msg.set_content(f"body of {subject}")
    return msg.as_bytes()


def folder_with(sandbox: Sandbox, messages: list[tuple[bytes, datetime | None]]) -> str:
    name = f"Order-{uuid.uuid4().hex[:8]}"
    with sandbox.connect("alice") as imap:
        imap.create_folder(name)
        for raw, arrived in messages:
            imap.append(name, raw, msg_time=arrived)
    return name


async def subjects(client: Client, **arguments: object) -> list[str]:
    data = (await call(client, "list_messages", **arguments))["data"]
    return [m["subject"] for m in data["messages"]]


async def test_date_order_holds_after_a_move_out_and_back(client: Client, sandbox: Sandbox) -> None:
    base = datetime(2026, 11, 1, 12, 0)
    folder = folder_with(sandbox, [(message(f"m{i}"), base + timedelta(days=i)) for i in range(4)])
    assert await subjects(client, mailbox=folder) == ["m3", "m2", "m1", "m0"]
    with sandbox.connect("alice") as imap:
        imap.select_folder(folder)
        oldest = imap.search(["SUBJECT", "m0"])
        imap.move(oldest, "Archive")
        imap.select_folder("Archive")
        back = imap.search(
            ["SUBJECT", "m0", "SINCE", base.date(), "BEFORE", (base + timedelta(days=1)).date()]
        )
        imap.move(back, folder)
    assert await subjects(client, mailbox=folder) == ["m3", "m2", "m1", "m0"]  # not on top: it arrived first


async def test_same_second_arrivals_go_by_uid_and_pages_have_no_gaps(
    client: Client, sandbox: Sandbox
) -> None:
    same = datetime(2026, 11, 5, 9, 0)
    older = [(message(f"old {i}"), datetime(2026, 10, 1, 9, 0) + timedelta(hours=i)) for i in range(3)]
    folder = folder_with(sandbox, [(message(f"tie {i}"), same) for i in range(5)] + older)
    expected = ["tie 4", "tie 3", "tie 2", "tie 1", "tie 0", "old 2", "old 1", "old 0"]
    first = await call(client, "list_messages", mailbox=folder, limit=3)
    seen = [m["subject"] for m in first["data"]["messages"]]
    with sandbox.connect("alice") as imap:  # mail arriving between pages changes nothing further down
        imap.append(folder, message("late"))
    envelope = first
    while envelope["meta"]["next_cursor"]:
        envelope = await call(client, "list_messages", cursor=envelope["meta"]["next_cursor"], limit=3)
        seen += [m["subject"] for m in envelope["data"]["messages"]]
    assert seen == expected
    assert await subjects(client, mailbox=folder, offset=5, limit=2) == ["tie 0", "old 2"]  # "late" is first
    assert await subjects(client, mailbox=folder, offset=50) == []


async def test_cursor_after_its_message_is_gone(client: Client, sandbox: Sandbox) -> None:
    base = datetime(2026, 9, 1)
    folder = folder_with(sandbox, [(message(f"g{i}"), base + timedelta(days=i)) for i in range(6)])
    first = await call(client, "list_messages", mailbox=folder, limit=2)
    with sandbox.connect("alice") as imap:
        imap.select_folder(folder)
        imap.delete_messages(imap.search(["SUBJECT", "g4"]))
        imap.expunge()
    rest = await call(client, "list_messages", cursor=first["meta"]["next_cursor"], limit=10)
    assert [m["subject"] for m in rest["data"]["messages"]] == ["g3", "g2", "g1", "g0"]


async def test_forged_cursors_are_refused(client: Client, sandbox: Sandbox) -> None:
    folder = folder_with(sandbox, [(message(f"c{i}"), None) for i in range(3)])
    cursor = (await call(client, "list_messages", mailbox=folder, limit=1))["meta"]["next_cursor"]
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    payload = json.loads(raw[12:])
    forgeries = [
        {**payload, "x": 1},
        {**payload, "d": "yesterday"},
        {**payload, "u": "7"},
        {**payload, "f": {"arrived_since": "not a date"}},
        {**payload, "f": {"folder": "Sent"}},
    ]
    texts = [base64.urlsafe_b64encode(raw[:12] + json.dumps(f).encode()).decode() for f in forgeries]
    texts.append(base64.urlsafe_b64encode(json.dumps(payload).encode()).decode())  # unsigned
    for text in texts:
        error = await call_error(client, "list_messages", cursor=text)
        assert error["error"]["code"] == "invalid_input"
        assert "not one this server issued" in error["error"]["message"]
    refused = await call_error(client, "list_messages", cursor=cursor, offset=2)
    assert refused["error"]["code"] == "invalid_input"


async def test_unknown_arguments_are_refused_naming_the_accepted_ones(client: Client) -> None:
    error = await call_error(client, "list_messages", folder="Sent")
    assert error["error"]["code"] == "invalid_input"
    assert "folder" in error["error"]["message"] and "mailbox" in error["error"]["details"]["accepted"]
    old = await call_error(client, "list_messages", since="2026-01-01")
    assert "arrived_since" in old["error"]["message"]


def _with_attachment(kind: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "x@example.test", "alice@example.test", kind
    if kind == "bare pdf":
        msg.set_content(b"%PDF-1.4 bare", maintype="application", subtype="pdf")
        return msg.as_bytes()
    if kind == "plain":
        msg.set_content("no attachment")
        return msg.as_bytes()
    if kind == "signed":
        inner = EmailMessage()
        inner.set_content("signed text")
        inner.add_attachment(b"%PDF-1.4 x", maintype="application", subtype="pdf", filename="a.pdf")
        msg.make_mixed()
        msg.set_type("multipart/signed")
        msg.set_param("protocol", "application/pgp-signature")
        msg.attach(inner)
        sig = EmailMessage()
        sig.set_content(b"sig", maintype="application", subtype="pgp-signature")
        msg.attach(sig)
        return msg.as_bytes()
    msg.set_content("<html><body><img src='cid:logo'></body></html>", subtype="html")  # related
    msg.add_related(b"png", maintype="image", subtype="png", cid="<logo>")
    msg.add_attachment(b"%PDF-1.4 y", maintype="application", subtype="pdf", filename="b.pdf")
    return msg.as_bytes()


async def test_has_attachment_splits_every_message(client: Client, sandbox: Sandbox) -> None:
    kinds = ["bare pdf", "plain", "signed", "related+file"]
    folder = folder_with(sandbox, [(_with_attachment(k), None) for k in kinds])
    yes = set(await subjects(client, mailbox=folder, has_attachment=True))
    no = set(await subjects(client, mailbox=folder, has_attachment=False))
    assert yes == {"bare pdf", "signed", "related+file"} and no == {"plain"}
    listed = (await call(client, "list_messages", mailbox=folder))["data"]["messages"]
    assert {m["subject"] for m in listed if m["has_attachment"]} == yes


async def test_arrived_and_sent_dates_are_different_filters(client: Client, sandbox: Sandbox) -> None:
    folder = folder_with(
        sandbox,
        [
            (message("sent long ago", sent=datetime(2020, 1, 1, 12, 0).astimezone()), datetime(2026, 11, 20)),
            (
                message("sent recently", sent=datetime(2026, 11, 19, 12, 0).astimezone()),
                datetime(2026, 11, 20),
            ),
        ],
    )
    assert set(await subjects(client, mailbox=folder, arrived_since="2026-11-01")) == {
        "sent long ago",
        "sent recently",
    }
    assert await subjects(client, mailbox=folder, sent_since="2026-11-01") == ["sent recently"]
    assert await subjects(client, mailbox=folder, sent_before="2021-01-01") == ["sent long ago"]
