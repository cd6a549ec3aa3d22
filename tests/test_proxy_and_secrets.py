"""Proxies (SOCKS5, HTTP CONNECT) for IMAP and SMTP against the real sandbox, and where secrets are kept."""

from __future__ import annotations

import json
import os
import socket
import ssl
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import ClassVar

import aiosmtplib
import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null
from keyrings.alt.file import PlaintextKeyring  # type: ignore[import-untyped,unused-ignore]
from pydantic import SecretStr

from mail_mcp.auth.secrets import (
    FILE_SETTING,
    FileSecretStore,
    NoKeyringBackend,
    SecretStore,
    SecretStoreError,
    open_secret_store,
)
from mail_mcp.errors import ConfigError, ConnectionFailed, MailError
from mail_mcp.imap._compat import ProxiedIMAPClient
from mail_mcp.net.proxy import ProxyConfig, open_socket, open_socket_async, parse_proxy
from mail_mcp.sandbox import Sandbox

from .smtp_support import smtp_server
from .socks_support import HttpConnectProxy, Socks5Proxy, TunnelProxy

PROXY_USER = "proxy-user"
PROXY_PASSWORD = "Pr0xy-s3cret-Pw"
WRONG_PASSWORD = "Wr0ng-s3cret-Pw"
SETTING = "MAIL_IMAP_WORK_PROXY"
KINDS: dict[str, type[TunnelProxy]] = {"socks5": Socks5Proxy, "http": HttpConnectProxy}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _assert_secret_free(exc: MailError | ConfigError, *secrets: str) -> None:
    texts = [str(exc), repr(exc), json.dumps(getattr(exc, "details", {}))]
    for secret in secrets:
        assert all(secret not in text for text in texts), texts


# ------------------------------------------------------------------------------------------------ parsing


def test_parse_proxy_urls_keep_credentials_secret() -> None:
    encoded = PROXY_PASSWORD.replace("-", "%2D")
    proxy = parse_proxy(f" SOCKS5://{PROXY_USER}:{encoded}@Proxy.example:1080 ", SETTING)
    assert (proxy.scheme, proxy.host, proxy.port) == ("socks5", "proxy.example", 1080)
    assert proxy.username == PROXY_USER
    assert proxy.password is not None and proxy.password.get_secret_value() == PROXY_PASSWORD
    assert proxy.setting == SETTING
    for text in (repr(proxy), str(proxy), proxy.display, f"{proxy}"):
        assert PROXY_PASSWORD not in text
    assert str(proxy) == "socks5://proxy.example:1080"
    assert parse_proxy("socks5h://127.0.0.1:9050").scheme == "socks5h"
    http = parse_proxy("http://[::1]:3128/")
    assert (http.scheme, http.host, http.port, http.username) == ("http", "::1", 3128, None)
    assert http.password is None
    assert http.display == "http://[::1]:3128"
    assert parse_proxy("http://user:p%40s%3As@h:8080").password == SecretStr("p@s:s")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("https://h:3128", "unsupported proxy scheme 'https'"),
        ("socks4://h:1080", "unsupported proxy scheme 'socks4'"),
        ("127.0.0.1:1080", "unsupported proxy scheme"),
        (f"socks5://{PROXY_USER}:{PROXY_PASSWORD}@h", "explicit port"),
        (f"socks5://{PROXY_USER}:{PROXY_PASSWORD}@h:99999", "not a valid proxy URL"),
        (f"socks5://{PROXY_USER}:{PROXY_PASSWORD}@:1080", "has no valid host"),
        ("socks5://pro%20xy:1080", "has no valid host"),
        (f"http://{PROXY_USER}:{PROXY_PASSWORD}@h:3128/path?x=1", "must not have a path"),
        ("socks5://only-user@h:1080", "both a user name and a password"),
        (f"socks5://{PROXY_USER}:@h:1080", "both a user name and a password"),
        (f"socks5://{PROXY_USER}:{PROXY_PASSWORD}%C3%A9@h:1080", "must be ASCII"),
        (f"http://a%3Ab:{PROXY_PASSWORD}@h:3128", "must not contain ':'"),
    ],
)
def test_parse_proxy_rejects_bad_urls_naming_the_setting(url: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_proxy(url, SETTING)
    assert caught.value.setting == SETTING
    assert words in caught.value.problem
    _assert_secret_free(caught.value, PROXY_PASSWORD)


# ------------------------------------------------------------------------------------------------ IMAP


def _imap_round_trip(client: ProxiedIMAPClient, sandbox: Sandbox) -> None:
    alice = sandbox.users["alice"]
    client.login(alice.name, alice.password)
    selected = client.select_folder("INBOX", readonly=True)
    assert selected[b"EXISTS"] > 0
    uids = client.search("ALL")
    fetched = client.fetch(uids[:2], ["ENVELOPE", "RFC822.SIZE"])
    assert len(fetched) == min(2, len(uids))
    assert all(item[b"RFC822.SIZE"] > 0 for item in fetched.values())
    client.logout()


@pytest.mark.parametrize("security", ["plain", "starttls", "tls"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_imap_through_proxy(sandbox: Sandbox, kind: str, security: str) -> None:
    port = sandbox.imaps_port if security == "tls" else sandbox.imap_port
    context = sandbox.ssl_context()
    # coalesce: the greeting arrives in the same segment as the proxy's reply (not for implicit TLS,
    # where the client speaks first)
    with KINDS[kind](PROXY_USER, PROXY_PASSWORD, coalesce=security != "tls") as server:
        proxy = parse_proxy(server.url, SETTING)
        client = ProxiedIMAPClient(
            sandbox.host, port, proxy=proxy, ssl=security == "tls", ssl_context=context, timeout=10
        )
        if security == "starttls":
            client.starttls(context)
        assert isinstance(client.socket(), ssl.SSLSocket) == (security != "plain")
        _imap_round_trip(client, sandbox)
    assert server.connections == 1
    assert server.targets == [("127.0.0.1", port)]
    assert server.auth_failures == 0


@pytest.mark.parametrize(("scheme", "seen"), [("socks5", "127.0.0.1"), ("socks5h", "localhost")])
def test_socks5h_lets_the_proxy_resolve_the_name(sandbox: Sandbox, scheme: str, seen: str) -> None:
    with Socks5Proxy() as server:
        proxy = parse_proxy(f"{scheme}://127.0.0.1:{server.port}", SETTING)
        client = ProxiedIMAPClient("localhost", sandbox.imap_port, proxy=proxy, ssl=False, timeout=10)
        client.starttls(sandbox.ssl_context())  # the certificate names localhost too
        _imap_round_trip(client, sandbox)
    assert server.targets == [(seen, sandbox.imap_port)]


def test_imap_without_proxy_is_a_plain_imapclient(sandbox: Sandbox) -> None:
    client = ProxiedIMAPClient(
        sandbox.host, sandbox.imaps_port, proxy=None, ssl=True, ssl_context=sandbox.ssl_context(), timeout=10
    )
    _imap_round_trip(client, sandbox)


def test_imap_tls_through_proxy_still_verifies_the_mail_server(sandbox: Sandbox) -> None:
    with Socks5Proxy() as server:
        proxy = parse_proxy(server.url, SETTING)
        with pytest.raises(ssl.SSLCertVerificationError):
            ProxiedIMAPClient(
                sandbox.host,
                sandbox.imaps_port,
                proxy=proxy,
                ssl=True,
                ssl_context=ssl.create_default_context(),
                timeout=10,
            )
    assert server.connections == 1


def test_imap_client_reports_proxy_refusal(sandbox: Sandbox) -> None:
    with Socks5Proxy(PROXY_USER, PROXY_PASSWORD) as server:
        proxy = parse_proxy(f"socks5://{PROXY_USER}:{WRONG_PASSWORD}@127.0.0.1:{server.port}", SETTING)
        with pytest.raises(ConnectionFailed) as caught:
            ProxiedIMAPClient(sandbox.host, sandbox.imap_port, proxy=proxy, ssl=False, timeout=10)
    assert f"socks5://127.0.0.1:{server.port}" in caught.value.message
    assert SETTING in caught.value.message
    assert server.auth_failures == 1
    _assert_secret_free(caught.value, WRONG_PASSWORD, PROXY_PASSWORD)


def _failure_cases(sandbox: Sandbox) -> list[tuple[str, str | None, str, int, str]]:
    """(kind, password given, target host, target port, expected words)."""
    return [
        ("socks5", WRONG_PASSWORD, "127.0.0.1", sandbox.imap_port, "authentication failure"),
        ("socks5", None, "127.0.0.1", sandbox.imap_port, "No acceptable authentication methods"),
        ("socks5", PROXY_PASSWORD, "192.0.2.1", 143, "not allowed by ruleset"),
        ("socks5", PROXY_PASSWORD, "127.0.0.1", _free_port(), "Connection refused"),
        ("http", WRONG_PASSWORD, "127.0.0.1", sandbox.imap_port, "407"),
        ("http", None, "127.0.0.1", sandbox.imap_port, "407"),
        ("http", PROXY_PASSWORD, "192.0.2.1", 143, "403 Forbidden"),
        ("http", PROXY_PASSWORD, "127.0.0.1", _free_port(), "502 Bad Gateway"),
    ]


def _url(kind: str, port: int, password: str | None) -> str:
    creds = f"{PROXY_USER}:{password}@" if password else ""
    return f"{kind}://{creds}127.0.0.1:{port}"


@pytest.mark.parametrize("case", range(8))
def test_proxy_refusals_are_connection_failed_without_secrets(sandbox: Sandbox, case: int) -> None:
    kind, password, host, port, words = _failure_cases(sandbox)[case]
    with KINDS[kind](PROXY_USER, PROXY_PASSWORD) as server:
        proxy = parse_proxy(_url(kind, server.port, password), SETTING)
        with pytest.raises(ConnectionFailed) as caught:
            open_socket(proxy, host, port, 5)
    assert words in caught.value.message
    assert f"{kind}://127.0.0.1:{server.port}" in caught.value.message
    assert caught.value.details == {"proxy": f"{kind}://127.0.0.1:{server.port}", "target": f"{host}:{port}"}
    assert server.connections == 1
    _assert_secret_free(caught.value, WRONG_PASSWORD, PROXY_PASSWORD)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_unreachable_proxy_is_connection_failed(kind: str) -> None:
    proxy = parse_proxy(_url(kind, _free_port(), PROXY_PASSWORD), SETTING)
    with pytest.raises(ConnectionFailed) as caught:
        open_socket(proxy, "127.0.0.1", 143, 5)
    assert caught.value.message.startswith(f"cannot reach the proxy {proxy.display} (")
    _assert_secret_free(caught.value, PROXY_PASSWORD)


# ------------------------------------------------------------------------------------------------ SMTP


def _message() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "alice@example.test"
    msg["To"] = "someone@elsewhere.test"  # not a sandbox user: nothing is delivered into the shared sandbox
    msg["Subject"] = "through the proxy"
    msg.set_content("Hello via a tunnel.\n")
    return msg


@pytest.mark.anyio
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")  # implicit TLS
@pytest.mark.parametrize("security", ["starttls", "tls"])
@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_smtp_through_proxy(sandbox: Sandbox, kind: str, security: str) -> None:
    alice = sandbox.users["alice"]
    with (
        smtp_server(
            sandbox, security="tls" if security == "tls" else "starttls", auth={alice.name: alice.password}
        ) as (port, sink),
        KINDS[kind](PROXY_USER, PROXY_PASSWORD, coalesce=security != "tls") as server,
    ):
        proxy = parse_proxy(server.url, "MAIL_SMTP_WORK_PROXY")
        sock = await open_socket_async(proxy, "127.0.0.1", port, 10)
        client = aiosmtplib.SMTP(
            hostname="127.0.0.1",
            sock=sock,
            use_tls=security == "tls",
            start_tls=security == "starttls",
            tls_context=sandbox.ssl_context(),
            timeout=10,
        )
        await client.connect()
        await client.login(alice.name, alice.password)
        errors, _ = await client.send_message(_message())
        await client.quit()
    assert errors == {}
    assert sink.count == 1 and b"Hello via a tunnel." in sink.received[0].content
    assert server.connections == 1
    assert server.targets == [("127.0.0.1", port)]


@pytest.mark.anyio
@pytest.mark.parametrize("case", range(8))
async def test_async_proxy_refusals_are_connection_failed(sandbox: Sandbox, case: int) -> None:
    kind, password, host, port, words = _failure_cases(sandbox)[case]
    with KINDS[kind](PROXY_USER, PROXY_PASSWORD) as server:
        proxy = parse_proxy(_url(kind, server.port, password), "MAIL_SMTP_WORK_PROXY")
        with pytest.raises(ConnectionFailed) as caught:
            await open_socket_async(proxy, host, port, 5)
    assert words in caught.value.message
    assert "MAIL_SMTP_WORK_PROXY" in caught.value.message
    _assert_secret_free(caught.value, WRONG_PASSWORD, PROXY_PASSWORD)


@pytest.mark.anyio
@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_async_unreachable_proxy_is_connection_failed(kind: str) -> None:
    proxy = parse_proxy(_url(kind, _free_port(), PROXY_PASSWORD), SETTING)
    with pytest.raises(ConnectionFailed) as caught:
        await open_socket_async(proxy, "127.0.0.1", 25, 5)
    assert caught.value.message.startswith(f"cannot reach the proxy {proxy.display} (")
    _assert_secret_free(caught.value, PROXY_PASSWORD)


def test_proxy_config_is_a_plain_value() -> None:
    proxy = ProxyConfig("socks5", "h", 1080, "u", SecretStr(PROXY_PASSWORD), SETTING)
    assert proxy == parse_proxy(f"socks5://u:{PROXY_PASSWORD}@h:1080", SETTING)
    assert PROXY_PASSWORD not in repr(proxy)


# ------------------------------------------------------------------------------------------------ secrets


@pytest.fixture
def keyring_backend() -> Iterator[None]:
    """Restore whatever keyring backend was active."""
    previous = keyring.get_keyring()
    yield
    keyring.set_keyring(previous)


def test_keyring_store_round_trips_and_deletes(tmp_path: Path, keyring_backend: None) -> None:
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "keyring_pass.cfg")
    keyring.set_keyring(backend)
    store = SecretStore(backend)  # passed explicitly: keyring rates this file backend "not recommended"
    assert store.get("work", "password") is None
    store.set("work", "password", "imap-Pw-1")
    store.set("work", "oauth_refresh_token", SecretStr("refresh-Tok-2"))
    store.set("home", "password", "other-Pw-3")
    got = store.get("work", "password")
    assert got is not None and got.get_secret_value() == "imap-Pw-1"
    assert "imap-Pw-1" not in repr(got) and "imap-Pw-1" not in repr(store)
    assert store.get("work", "oauth_refresh_token") == SecretStr("refresh-Tok-2")
    assert keyring.get_password("mail-mcp", "work/password") == "imap-Pw-1"
    store.set("work", "password", "imap-Pw-4")
    assert store.get("work", "password") == SecretStr("imap-Pw-4")
    assert store.delete("work", "password") is True
    assert store.get("work", "password") is None
    assert store.delete("work", "password") is False
    assert store.get("home", "password") == SecretStr("other-Pw-3")
    with pytest.raises(ValueError):
        store.get("work/x", "password")
    with pytest.raises(ValueError):
        store.set("work", "password", "")


class _EmptyChainer(chainer.ChainerBackend):
    backends: ClassVar[list[KeyringBackend]] = []


@pytest.mark.parametrize(
    "kind", [fail.Keyring, null.Keyring, _EmptyChainer], ids=["fail", "null", "empty-chainer"]
)
def test_missing_keyring_backend_says_so_and_offers_alternatives(
    tmp_path: Path, keyring_backend: None, kind: type[KeyringBackend]
) -> None:
    keyring.set_keyring(kind())
    hint = tmp_path / "secrets.json"
    with pytest.raises(NoKeyringBackend) as caught:
        SecretStore(file_hint=hint)
    message = str(caught.value)
    assert "no usable OS keyring backend" in message
    assert f"{FILE_SETTING}={hint}" in message and "0600" in message
    assert "MAIL_IMAP_<ID>_PASSWORD_COMMAND" in message
    assert isinstance(caught.value, ConfigError) and caught.value.file_path == hint
    with pytest.raises(NoKeyringBackend):
        open_secret_store()
    assert isinstance(open_secret_store(hint), FileSecretStore)


def test_a_non_recommended_keyring_is_never_picked_silently(tmp_path: Path, keyring_backend: None) -> None:
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "keyring_pass.cfg")
    keyring.set_keyring(backend)
    with pytest.raises(NoKeyringBackend) as caught:
        SecretStore()
    assert "only the non-recommended PlaintextKeyring backend is available" in str(caught.value)
    assert not os.path.exists(backend.file_path)


def test_file_store_round_trips_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "secrets.json"
    store = FileSecretStore(path)
    assert store.get("work", "password") is None
    store.set("work", "password", "file-Pw-1")
    store.set("work", "oauth_client_secret", SecretStr("client-Sec-2"))
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(path.parent).st_mode & 0o777 == 0o700
    assert store.get("work", "password") == SecretStr("file-Pw-1")
    assert FileSecretStore(path).get("work", "oauth_client_secret") == SecretStr("client-Sec-2")
    assert json.loads(path.read_text())["secrets"] == {
        "work/oauth_client_secret": "client-Sec-2",
        "work/password": "file-Pw-1",
    }
    assert store.delete("work", "password") is True
    assert store.delete("work", "password") is False
    assert store.get("work", "password") is None
    assert store.get("work", "oauth_client_secret") == SecretStr("client-Sec-2")
    assert "client-Sec-2" not in repr(store)
    assert sorted(p.name for p in path.parent.iterdir()) == ["secrets.json", "secrets.json.lock"]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o602])
def test_file_store_refuses_a_file_others_may_read(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "secrets.json"
    FileSecretStore(path).set("work", "password", "leaky-Pw-1")
    path.chmod(mode)
    store = FileSecretStore(path)
    actions: list[Callable[[], object]] = [
        lambda: store.get("work", "password"),
        lambda: store.set("work", "password", "new-Pw"),
    ]
    for action in actions:
        with pytest.raises(SecretStoreError) as caught:
            action()
        assert caught.value.setting == FILE_SETTING
        assert f"mode {mode:04o}" in caught.value.problem and f"chmod 600 {path}" in caught.value.problem
        _assert_secret_free(caught.value, "leaky-Pw-1")
    assert json.loads(path.read_text())["secrets"]["work/password"] == "leaky-Pw-1"


def test_file_store_rejects_a_damaged_file_without_echoing_it(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    path.write_text('{"secrets": {"work/password": "half-Pw-1"')
    path.chmod(0o600)
    with pytest.raises(SecretStoreError) as caught:
        FileSecretStore(path).get("work", "password")
    assert "not valid JSON" in caught.value.problem
    _assert_secret_free(caught.value, "half-Pw-1")
    path.write_text('["work/password", "list-Pw-2"]')
    with pytest.raises(SecretStoreError) as caught:
        FileSecretStore(path).get("work", "password")
    assert "not a mail-mcp secrets file" in caught.value.problem
    _assert_secret_free(caught.value, "list-Pw-2")
