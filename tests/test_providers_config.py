"""PROVIDER: defaults for host, port and security, detection from host, address and CAPABILITY, and pinning a
self-signed certificate (Proton Bridge, excavador README) by its SHA-256 fingerprint."""

from __future__ import annotations

import hashlib
import ssl

import pytest
from mcp import Client

from mail_mcp.config.providers import GENERIC, PROFILES, resolve_behaviour
from mail_mcp.config.sources import load_settings
from mail_mcp.errors import ConfigError
from mail_mcp.mailbox.service import MailService
from mail_mcp.sandbox import Sandbox
from mail_mcp.server.app import build_server

from .conftest import call


@pytest.mark.parametrize(
    ("provider", "host", "port", "security"),
    [
        ("gmail", "imap.gmail.com", 993, "tls"),
        ("icloud", "imap.mail.me.com", 993, "tls"),
        ("yahoo", "imap.mail.yahoo.com", 993, "tls"),
        ("fastmail", "imap.fastmail.com", 993, "tls"),
        ("proton-bridge", "127.0.0.1", 1143, "starttls"),
    ],
)
def test_provider_supplies_server_defaults(provider: str, host: str, port: int, security: str) -> None:
    env = {
        "MAIL_IMAP_ME_PROVIDER": provider.upper(),
        "MAIL_IMAP_ME_USER": "me@example.org",
        "MAIL_IMAP_ME_PASS": "x",
    }
    account = load_settings(env=env).accounts["me"]
    assert (account.provider, account.host, account.effective_port, account.security) == (
        provider,
        host,
        port,
        security,
    )


def test_microsoft_defaults_to_oauth2_and_an_explicit_host_wins() -> None:
    env = {
        "MAIL_IMAP_W_PROVIDER": "microsoft",
        "MAIL_IMAP_W_USER": "a@contoso.com",
        "MAIL_IMAP_W_OAUTH_CLIENT_ID": "id",
        "MAIL_IMAP_W_OAUTH_TOKEN_COMMAND": "echo t",
        "MAIL_IMAP_G_PROVIDER": "gmail",
        "MAIL_IMAP_G_HOST": "imap.example.net",
        "MAIL_IMAP_G_USER": "g",
        "MAIL_IMAP_G_PASS": "x",
    }
    accounts = load_settings(env=env).accounts
    assert accounts["w"].auth == "oauth2" and accounts["w"].oauth_provider == "microsoft"
    assert accounts["w"].host == "outlook.office365.com"
    assert accounts["g"].host == "imap.example.net" and accounts["g"].provider == "gmail"


def test_unknown_provider_names_the_setting() -> None:
    env = {
        "MAIL_IMAP_X_PROVIDER": "hotmail",
        "MAIL_IMAP_X_HOST": "h",
        "MAIL_IMAP_X_USER": "u",
        "MAIL_IMAP_X_PASS": "p",
    }
    with pytest.raises(ConfigError) as caught:
        load_settings(env=env)
    assert "MAIL_IMAP_X_PROVIDER" in str(caught.value) and "proton-bridge" in str(caught.value)


def test_detection_order() -> None:
    assert resolve_behaviour("yahoo", "imap.gmail.com", None, frozenset({"X-GM-EXT-1"})).name == "yahoo"
    assert resolve_behaviour("generic", "imap.mail.me.com", "a@icloud.com") is GENERIC
    assert resolve_behaviour(None, "mail.example.org", None, frozenset({"X-GM-EXT-1"})).gmail
    assert resolve_behaviour(None, "IMAP.MAIL.ME.COM", None).name == "icloud"
    assert resolve_behaviour(None, "imap.example.org", "a@outlook.com").name == "microsoft"
    assert resolve_behaviour(None, "127.0.0.1", "me@proton.me").folder_prefixes == ("Folders/", "Labels/")
    # A gmail.com address alone is not Gmail behaviour: without X-GM-EXT-1 there are no X-GM-* commands.
    assert resolve_behaviour(None, "imap.example.org", "a@gmail.com") is GENERIC
    assert all(p.behaviour.name == name for name, p in PROFILES.items())


def _fingerprint(sb: Sandbox) -> str:
    assert sb.ca_cert_path is not None
    der = ssl.PEM_cert_to_DER_cert(sb.ca_cert_path.read_text())
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


@pytest.mark.anyio
@pytest.mark.parametrize("security", ["tls", "starttls"])
async def test_pinned_fingerprint(sandbox: Sandbox, client: Client, security: str) -> None:
    env = sandbox.env(security=security)  # type: ignore[arg-type]
    del env["MAIL_IMAP_DEFAULT_CA_FILE"]
    right = env | {"MAIL_IMAP_DEFAULT_TLS_FINGERPRINT": _fingerprint(sandbox)}
    wrong = env | {"MAIL_IMAP_DEFAULT_TLS_FINGERPRINT": "ab" * 32}
    for settings_env, status in ((right, "ok"), (wrong, "error"), (env, "error")):
        service = MailService(load_settings(env=settings_env))
        try:
            async with Client(build_server(service)) as pinned:
                account = (await call(pinned, "list_accounts"))["data"]["accounts"][0]
                assert account["status"] == status, account
                if settings_env is wrong:
                    assert "connection_failed" in account["error"] and "pinned" in account["error"]
        finally:
            await service.close()


def test_fingerprint_must_be_sha256() -> None:
    env = {"MAIL_IMAP_P_HOST": "127.0.0.1", "MAIL_IMAP_P_USER": "u", "MAIL_IMAP_P_PASS": "p"}
    with pytest.raises(ConfigError) as caught:
        load_settings(env=env | {"MAIL_IMAP_P_TLS_FINGERPRINT": "abc"})
    assert "MAIL_IMAP_P_TLS_FINGERPRINT" in str(caught.value)


def test_oauth_provider_is_not_an_account_of_its_own() -> None:
    env = {
        "MAIL_IMAP_A_HOST": "h",
        "MAIL_IMAP_A_USER": "u",
        "MAIL_IMAP_A_PASS": "p",
        "MAIL_IMAP_B_OAUTH_PROVIDER": "x",
    }
    assert list(load_settings(env=env).accounts) == ["a"]
