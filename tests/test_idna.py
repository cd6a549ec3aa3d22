"""Recipient domains use IDNA 2008 with the UTS-46 mapping: straße.de is its own domain, not strasse.de."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mcp import Client

from mail_mcp.config.sources import load_settings
from mail_mcp.errors import ConfigError, InvalidInput
from mail_mcp.mailbox.service import MailService
from mail_mcp.mime.addresses import ascii_domain
from mail_mcp.mime.compose import parse_mailbox
from mail_mcp.sandbox import Sandbox
from mail_mcp.server.app import build_server
from tests.conftest import call, call_error
from tests.smtp_support import SmtpSink, smtp_server

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("domain", "ascii"),
    [
        ("straße.de", "xn--strae-oqa.de"),
        ("Straße.DE", "xn--strae-oqa.de"),
        ("faß.de", "xn--fa-hia.de"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("ｅｘａｍｐｌｅ.com", "example.com"),  # UTS-46 maps full-width letters
        ("Example.COM", "example.com"),
    ],
)
def test_ascii_domain(domain: str, ascii: str) -> None:
    assert ascii_domain(domain) == ascii


def test_recipient_domains() -> None:
    assert parse_mailbox("Max <max@straße.de>", "to").email == "max@xn--strae-oqa.de"
    assert parse_mailbox("jörg@straße.de", "to").email == "jörg@straße.de"  # SMTPUTF8 keeps the domain as is
    with pytest.raises(InvalidInput):
        parse_mailbox("x@☃.net", "to")  # IDNA 2003 allowed symbols; IDNA 2008 does not


def test_allow_list_domains_are_encoded_the_same_way() -> None:
    env = {
        "MAIL_IMAP_WORK_HOST": "imap.example.org",
        "MAIL_IMAP_WORK_USER": "me@example.org",
        "MAIL_IMAP_WORK_PASS": "x",
        "MAIL_SMTP_WORK_HOST": "smtp.example.org",
        "MAIL_SMTP_WORK_ALLOWED_RECIPIENTS": "@Straße.de, anna@bücher.example",
    }
    assert load_settings(env=env).smtp["work"].allowed_recipients == (
        "@xn--strae-oqa.de",
        "anna@xn--bcher-kva.example",
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(env={**env, "MAIL_SMTP_WORK_ALLOWED_RECIPIENTS": "@☃.net"})
    assert caught.value.setting == "MAIL_SMTP_WORK_ALLOWED_RECIPIENTS"


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with Sandbox(users=("alice",)) as sb:
        yield sb


async def test_sending_to_an_idn_address_reaches_that_domain(box: Sandbox) -> None:
    with smtp_server(box) as (port, sink):
        env = {
            **box.env(),
            "MAIL_IMAP_DEFAULT_ADDRESS": "alice@example.test",
            "MAIL_SMTP_SEND_ENABLED": "true",
            "MAIL_SMTP_CONFIRM": "never",
            "MAIL_SMTP_DEFAULT_HOST": "127.0.0.1",
            "MAIL_SMTP_DEFAULT_PORT": str(port),
            "MAIL_SMTP_DEFAULT_SECURITY": "plain",
            "MAIL_SMTP_DEFAULT_SAVE_SENT": "never",
            "MAIL_SMTP_DEFAULT_ALLOWED_RECIPIENTS": "@straße.de",
        }
        service = MailService(load_settings(env=env))
        try:
            async with Client(build_server(service), raise_exceptions=True) as client:
                sent = await call(client, "send_message", to=["Max <max@straße.de>"], body_text="Hallo")
                refused = await call_error(client, "send_message", to=["max@strasse.de"], body_text="Hallo")
        finally:
            await service.close()
    assert sent["data"]["status"] == "sent"
    assert last_recipients(sink) == ["max@xn--strae-oqa.de"]
    assert refused["error"]["code"] and sink.count == 1  # strasse.de is another domain, not on the list


def last_recipients(sink: SmtpSink) -> list[str]:
    return sink.received[-1].rcpt_tos
