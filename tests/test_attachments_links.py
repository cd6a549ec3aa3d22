"""Attachments a host can use: a mail:// link naming account, mailbox, UIDVALIDITY, UID and part, whose
resources/read returns the bytes; readable text (text parts, PDF text) cut and continued; a download folder."""

from __future__ import annotations

import base64
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from mail_mcp.config.models import Settings
from mail_mcp.ids import MessageId
from mail_mcp.mailbox.service import MailService
from mail_mcp.sandbox import Sandbox
from mail_mcp.server.app import build_server

from .conftest import call

pytestmark = pytest.mark.anyio


def tiny_pdf(text: str) -> bytes:
    """A one-page PDF whose text layer is `text` (Helvetica), with a correct xref table."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


PDF = tiny_pdf("Quarterly revenue grew 42 percent")


@pytest.fixture(scope="module")
def pdf_message(sandbox: Sandbox) -> str:
    folder = f"Links/Q4 ç-{uuid.uuid4().hex[:6]}"
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "cfo@example.test", "alice@example.test", "report"
    msg.set_content("see the report")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="report.pdf")
    msg.add_attachment(
        bytes(range(256)) * 100, maintype="application", subtype="octet-stream", filename="x.bin"
    )
    msg.add_attachment("".join(f"row {i}\n" for i in range(500)), filename="rows.txt")
    with sandbox.connect("alice") as imap:
        imap.create_folder(folder)
        imap.append(folder, msg.as_bytes())
    return folder


async def first_id(client: Client, folder: str) -> str:
    (summary,) = (await call(client, "list_messages", mailbox=folder))["data"]["messages"]
    return str(summary["message_id"])


async def test_pdf_arrives_as_link_plus_extracted_text(client: Client, pdf_message: str) -> None:
    message_id = await first_id(client, pdf_message)
    result = await client.call_tool("get_attachment", {"message_id": message_id, "attachment": 1})
    assert not result.is_error
    text_block, link = result.content
    assert "Quarterly revenue grew 42 percent" in text_block.text  # type: ignore[union-attr]
    data: dict[str, Any] = result.structured_content["data"]  # type: ignore[index]
    assert data["delivered_as"] == "text" and data["text_source"] == "pdf"
    mid = MessageId.parse(message_id)
    assert link.type == "resource_link" and link.uri == data["resource_uri"]  # type: ignore[union-attr]
    assert str(link.uri).startswith("mail://default/Links%2FQ4%20%C3%A7-")  # type: ignore[union-attr]
    assert str(link.uri).endswith(f"/{mid.uidvalidity}/{mid.uid}/{data['part_id']}")  # type: ignore[union-attr]
    (contents,) = (await client.read_resource(link.uri)).contents  # type: ignore[union-attr]
    assert base64.b64decode(contents.blob) == PDF  # type: ignore[union-attr]
    assert len(text_block.text) < 1000  # type: ignore[union-attr]  # no base64 in the model's context


async def test_binary_is_a_link_only_and_text_continues(client: Client, pdf_message: str) -> None:
    message_id = await first_id(client, pdf_message)
    binary = await client.call_tool("get_attachment", {"message_id": message_id, "attachment": 2})
    assert binary.structured_content["data"]["delivered_as"] == "link"  # type: ignore[index]
    assert binary.structured_content["data"]["text"] is None  # type: ignore[index]
    (contents,) = (await client.read_resource(binary.content[1].uri)).contents  # type: ignore[union-attr]
    assert base64.b64decode(contents.blob) == bytes(range(256)) * 100  # type: ignore[union-attr]
    first = (await call(client, "get_attachment", message_id=message_id, attachment=3, max_chars=1000))[
        "data"
    ]
    assert first["next_offset"] == 1000 and first["total_chars"] == len(
        "".join(f"row {i}\n" for i in range(500))
    )
    rest = (
        await call(
            client, "get_attachment", message_id=message_id, attachment=3, offset=1000, max_chars=100_000
        )
    )["data"]
    assert (first["text"] + rest["text"]).endswith("row 499\n") and rest["next_offset"] is None


async def test_a_link_to_a_gone_message_is_invalid_params(client: Client, pdf_message: str) -> None:
    message_id = await first_id(client, pdf_message)
    mid = MessageId.parse(message_id)
    with pytest.raises(MCPError) as failure:
        await client.read_resource(f"mail://default/INBOX/{mid.uidvalidity}/999999/2")
    assert failure.value.error.code == -32602


async def test_download_dir_gets_the_file(
    settings: Settings, pdf_message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAIL_MCP_DOWNLOAD_DIR", str(tmp_path))
    service = MailService(settings)
    try:
        async with Client(build_server(service)) as client:
            message_id = await first_id(client, pdf_message)
            data = (await call(client, "get_attachment", message_id=message_id, attachment=2))["data"]
    finally:
        await service.close()
    saved = Path(data["saved_path"])
    assert saved.parent == tmp_path and saved.read_bytes() == bytes(range(256)) * 100
    assert saved.stat().st_mode & 0o777 == 0o600
