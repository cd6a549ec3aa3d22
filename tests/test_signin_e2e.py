"""Signing in end to end, through the MCP client: an account with AUTH=oauth2 against a real Dovecot (oauth2
passdb validating the test token endpoint's JWTs), its SMTP over XOAUTH2 to aiosmtpd, both through a SOCKS5 proxy,
next to an ordinary password account in the same server.

Access tokens live 2 s, so expiry and refresh are real. The refresh token and the client secret come from a
file-backed keyring (keyrings.alt's plaintext file in a temp dir, chosen explicitly as a user would with
PYTHON_KEYRING_BACKEND), where `mail-mcp account login` / `account add` put them. Every test checks that no secret
(tokens, client secret, proxy password) reached a log record at DEBUG with the imapclient wire trace, the
captured output, or a tool result, plain or base64.
"""

from __future__ import annotations

import email.message
import json
import logging
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyrings.alt.file import PlaintextKeyring  # type: ignore[import-untyped,unused-ignore]
from mcp import Client

from mail_mcp.auth.secrets import OAUTH_CLIENT_SECRET, OAUTH_REFRESH_TOKEN, SERVICE
from mail_mcp.config.sources import load_settings
from mail_mcp.mailbox.service import MailService
from mail_mcp.sandbox import Sandbox
from mail_mcp.server.app import build_server

from .oauth_support import TokenEndpoint, dovecot_oauth_config, oauth_smtp_server
from .socks_support import Socks5Proxy
from .test_oauth import base64_forms

pytestmark = [
    pytest.mark.dovecot,
    pytest.mark.anyio,
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning"),
]

ACCOUNT = "work"
ADDRESS = "alice@example.test"
HINT = f"mail-mcp account login {ACCOUNT}"
CLIENT_SECRET = "cs-" + "V3nq8Rt2Lw6Yp0Xz4Mb7Kd1Hf5Sg9Ja"
PROXY_USER, PROXY_PASSWORD = "tunnel", "Sx-" + "p4ss-w0rd-9Qz"
EXPIRY_WAIT = 3.2  # a 2 s token is refused once Dovecot's whole-second clock has passed its exp


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def key_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="mail-mcp-signin-"))
    path.chmod(0o755)  # Dovecot's auth process reads the signing key
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def endpoint(key_dir: Path) -> Iterator[TokenEndpoint]:
    with TokenEndpoint(key_dir, client_secret=CLIENT_SECRET, lifetime=2.0) as ep:
        yield ep


@pytest.fixture(scope="module")
def dovecot(key_dir: Path, endpoint: TokenEndpoint) -> Iterator[Sandbox]:
    with Sandbox(users=("alice", "bob"), extra_config=dovecot_oauth_config(key_dir)) as sb:
        for user in ("alice", "bob"):
            msg = email.message.EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = (
                "carol@example.test",
                f"{user}@example.test",
                f"Hi {user}",
            )
            msg.set_content("hello")
            sb.deliver(f"{user}@example.test", msg.as_bytes())
        yield sb


@pytest.fixture(scope="module")
def file_keyring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlaintextKeyring]:
    """A keyring in a temp file, selected explicitly (as PYTHON_KEYRING_BACKEND would), restored afterwards."""
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path_factory.mktemp("keyring") / "keyring_pass.cfg")
    previous = keyring.get_keyring()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
        mp.delenv("MAIL_MCP_SECRETS_FILE", raising=False)
        keyring.set_keyring(backend)
        try:
            yield backend
        finally:
            keyring.set_keyring(previous)


@pytest.fixture(autouse=True)
def no_secret_anywhere(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], endpoint: TokenEndpoint
) -> Iterator[list[str]]:
    """Yields a list the test appends tool result texts to; all of it, the logs and the output are checked."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="imapclient")  # the IMAP wire trace
    results: list[str] = []
    yield results
    out = capsys.readouterr()
    logged = "\n".join(r.getMessage() for phase in ("setup", "call") for r in caplog.get_records(phase))
    secrets = [*endpoint.secrets(), PROXY_PASSWORD]
    for text in (logged, out.out, out.err, *results):
        for secret in secrets:
            assert secret not in text, "a secret appeared in clear"
            for form in base64_forms(secret):
                assert form not in text, "a secret appeared base64-encoded"
    assert "> b'" in logged  # the IMAP wire trace was on


# ------------------------------------------------------------------------------------------------- helpers


def oauth_env(dovecot: Sandbox, endpoint: TokenEndpoint, **extra: str) -> dict[str, str]:
    """Account `work` (alice, OAuth2 via the keyring) and account `home` (bob, password) in the same Dovecot."""
    prefix = f"MAIL_IMAP_{ACCOUNT.upper()}_"
    env = {
        **{k: v for k, v in dovecot.env("alice", account=ACCOUNT).items() if not k.endswith("_PASS")},
        **dovecot.env("bob", account="home"),
        prefix + "USER": ADDRESS,
        prefix + "AUTH": "oauth2",
        prefix + "OAUTH_PROVIDER": "custom",
        prefix + "OAUTH_TOKEN_URL": endpoint.token_url,
        prefix + "OAUTH_SCOPE": "mail",
        prefix + "OAUTH_CLIENT_ID": endpoint.client_id,
        prefix + "POOL_SIZE": "1",
    }
    env.update(extra)
    return env


def sign_in(backend: PlaintextKeyring, refresh_token: str) -> None:
    """What `mail-mcp account add` and `account login` leave in the keyring."""
    backend.set_password(SERVICE, f"{ACCOUNT}/{OAUTH_REFRESH_TOKEN}", refresh_token)
    backend.set_password(SERVICE, f"{ACCOUNT}/{OAUTH_CLIENT_SECRET}", CLIENT_SECRET)


@asynccontextmanager
async def serving(env: dict[str, str]) -> AsyncIterator[tuple[Client, MailService]]:
    service = MailService(load_settings(env=env))
    try:
        async with Client(build_server(service), raise_exceptions=True) as client:
            yield client, service
    finally:
        await service.close()


async def tool(
    client: Client, results: list[str], name: str, **arguments: Any
) -> tuple[bool, dict[str, Any]]:
    result = await client.call_tool(name, arguments)
    text = result.content[0].text  # type: ignore[union-attr]
    results.append(text)
    if result.is_error:
        return False, json.loads(text)
    assert result.structured_content is not None
    return True, result.structured_content


async def subjects(client: Client, results: list[str], account: str) -> list[str]:
    ok, envelope = await tool(client, results, "list_messages", account=account, mailbox="INBOX")
    assert ok, envelope
    return [m["subject"] for m in envelope["data"]["messages"]]


async def reconnect(service: MailService) -> None:
    """Drop the pooled connections, as a server restart or idle timeout would: the next call logs in again."""
    await service.pools.close()


# --------------------------------------------------------------------------------------------------- tests


async def test_oauth_account_reads_refreshes_and_stores_the_rotated_token(
    dovecot: Sandbox, endpoint: TokenEndpoint, file_keyring: PlaintextKeyring, no_secret_anywhere: list[str]
) -> None:
    first = endpoint.issue_grant("alice", rotate=True)
    sign_in(file_keyring, first)
    async with serving(oauth_env(dovecot, endpoint)) as (client, service):
        assert "Hi alice" in await subjects(client, no_secret_anywhere, ACCOUNT)
        tokens = service.settings.accounts[ACCOUNT].oauth
        assert tokens is not None and tokens.refresh_count == 1
        rotated = file_keyring.get_password(SERVICE, f"{ACCOUNT}/{OAUTH_REFRESH_TOKEN}")
        assert rotated == endpoint.grant(first).refresh_tokens[-1] != first

        await reconnect(service)
        time.sleep(EXPIRY_WAIT)
        assert "Hi alice" in await subjects(client, no_secret_anywhere, ACCOUNT)
        assert tokens.refresh_count == 2 and endpoint.grant(first).refreshes == 2
        assert (
            file_keyring.get_password(SERVICE, f"{ACCOUNT}/{OAUTH_REFRESH_TOKEN}")
            == (endpoint.grant(first).refresh_tokens[-1])
        )
        assert "Hi bob" in await subjects(client, no_secret_anywhere, "home")


async def test_a_refused_token_is_replaced_once_and_the_login_retried(
    dovecot: Sandbox, endpoint: TokenEndpoint, file_keyring: PlaintextKeyring, no_secret_anywhere: list[str]
) -> None:
    """The endpoint claims an hour but the token dies in 2 s: Dovecot refuses it, one refresh, one retry."""
    grant = endpoint.issue_grant("alice", reported_lifetime=3600)
    sign_in(file_keyring, grant)
    async with serving(oauth_env(dovecot, endpoint)) as (client, service):
        assert await subjects(client, no_secret_anywhere, ACCOUNT)
        await reconnect(service)
        time.sleep(EXPIRY_WAIT)
        assert await subjects(client, no_secret_anywhere, ACCOUNT)
        pool = service.pools.get(ACCOUNT)
        assert pool.command_counts()["AUTHENTICATE"] == 2  # the refused token, then the fresh one
        assert endpoint.grant(grant).refreshes == 2


async def test_revoked_grant_is_auth_failed_with_the_fix_and_other_accounts_keep_working(
    dovecot: Sandbox, endpoint: TokenEndpoint, file_keyring: PlaintextKeyring, no_secret_anywhere: list[str]
) -> None:
    grant = endpoint.issue_grant("alice")
    sign_in(file_keyring, grant)
    async with serving(oauth_env(dovecot, endpoint)) as (client, service):
        assert await subjects(client, no_secret_anywhere, ACCOUNT)
        endpoint.revoke(grant)
        await reconnect(service)
        time.sleep(EXPIRY_WAIT)
        ok, error = await tool(client, no_secret_anywhere, "list_messages", account=ACCOUNT, mailbox="INBOX")
        assert not ok
        assert error["error"]["code"] == "auth_failed"
        assert HINT in error["error"]["message"]
        assert "Hi bob" in await subjects(client, no_secret_anywhere, "home")

        # signing in again (what `account login` stores) heals the account without a restart
        sign_in(file_keyring, endpoint.issue_grant("alice"))
        assert "Hi alice" in await subjects(client, no_secret_anywhere, ACCOUNT)


async def test_never_signed_in_account_names_the_login_command(
    dovecot: Sandbox, endpoint: TokenEndpoint, file_keyring: PlaintextKeyring, no_secret_anywhere: list[str]
) -> None:
    file_keyring.delete_password(SERVICE, f"{ACCOUNT}/{OAUTH_REFRESH_TOKEN}")
    async with serving(oauth_env(dovecot, endpoint)) as (client, _):
        ok, error = await tool(client, no_secret_anywhere, "list_messages", account=ACCOUNT, mailbox="INBOX")
        assert not ok and error["error"]["code"] == "auth_failed" and HINT in error["error"]["message"]
        assert "Hi bob" in await subjects(client, no_secret_anywhere, "home")


def smtp_env(port: int) -> dict[str, str]:
    return {
        "MAIL_SMTP_SEND_ENABLED": "true",
        "MAIL_SMTP_CONFIRM": "never",
        "MAIL_SMTP_WORK_HOST": "127.0.0.1",
        "MAIL_SMTP_WORK_PORT": str(port),
        "MAIL_SMTP_WORK_SECURITY": "plain",
        "MAIL_SMTP_WORK_FROM": ADDRESS,
    }


async def test_send_message_uses_smtp_xoauth2_with_the_same_token(
    dovecot: Sandbox, endpoint: TokenEndpoint, file_keyring: PlaintextKeyring, no_secret_anywhere: list[str]
) -> None:
    grant = endpoint.issue_grant("alice", lifetime=600)  # no expiry between the IMAP login and SMTP's
    sign_in(file_keyring, grant)
    with oauth_smtp_server(endpoint) as (port, handler):
        async with serving(oauth_env(dovecot, endpoint, **smtp_env(port))) as (client, service):
            assert await subjects(client, no_secret_anywhere, ACCOUNT)
            ok, sent = await tool(
                client,
                no_secret_anywhere,
                "send_message",
                account=ACCOUNT,
                to=["someone@elsewhere.test"],
                subject="via XOAUTH2",
                body_text="Sent with an OAuth2 token.",
            )
            assert ok, sent
            assert sent["data"]["status"] == "sent"
            assert service.settings.smtp[ACCOUNT].oauth is service.settings.accounts[ACCOUNT].oauth
    assert handler.accepted == [ADDRESS] and handler.refused == 0
    assert handler.received[0].rcpt_tos == ["someone@elsewhere.test"]
    assert endpoint.grant(grant).refreshes == 1  # IMAP and SMTP shared one access token


async def test_imap_and_smtp_go_through_the_accounts_socks5_proxy(
    dovecot: Sandbox, endpoint: TokenEndpoint, file_keyring: PlaintextKeyring, no_secret_anywhere: list[str]
) -> None:
    sign_in(file_keyring, endpoint.issue_grant("alice"))
    with (
        oauth_smtp_server(endpoint) as (port, handler),
        Socks5Proxy(PROXY_USER, PROXY_PASSWORD) as proxy,
        Socks5Proxy(PROXY_USER, PROXY_PASSWORD) as home_proxy,
    ):
        env = oauth_env(
            dovecot,
            endpoint,
            **smtp_env(port),
            MAIL_IMAP_WORK_PROXY=proxy.url,
            MAIL_IMAP_HOME_PROXY=home_proxy.url,
        )
        async with serving(env) as (client, service):
            assert "Hi alice" in await subjects(client, no_secret_anywhere, ACCOUNT)
            assert "Hi bob" in await subjects(client, no_secret_anywhere, "home")
            ok, sent = await tool(
                client, no_secret_anywhere, "send_message", account=ACCOUNT, to=["x@elsewhere.test"],
                subject="tunnelled", body_text="through SOCKS5",
            )  # fmt: skip
            assert ok and sent["data"]["status"] == "sent", sent
            await reconnect(service)
            assert await subjects(client, no_secret_anywhere, ACCOUNT)
    assert proxy.targets == [
        (dovecot.host, dovecot.imap_port),
        ("127.0.0.1", port),
        (dovecot.host, dovecot.imap_port),
    ]
    assert proxy.connections == 3
    assert home_proxy.targets == [(dovecot.host, dovecot.imap_port)]
    assert len(handler.received) == 1
