"""`mail-mcp account add|login|list|test|remove` through the real entry point: in-process `main([...])` with the
prompts injected, and as a subprocess reading stdin, against the test OAuth endpoint and the sandbox Dovecot.

Secrets go to a file-backed keyring (keyrings.alt's plaintext file in a temp dir) that the user chose explicitly
with PYTHON_KEYRING_BACKEND; with no keyring at all, the command says so and offers a 0600 file or a command.
"""

from __future__ import annotations

import http.client
import os
import re
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import keyring
import pytest
from keyring.backends import fail
from keyrings.alt.file import PlaintextKeyring  # type: ignore[import-untyped,unused-ignore]

from mail_mcp.account import commands as account_cli
from mail_mcp.account.commands import Console
from mail_mcp.auth.secrets import OAUTH_CLIENT_SECRET, OAUTH_REFRESH_TOKEN, PASSWORD, SERVICE, FileSecretStore
from mail_mcp.cli import main
from mail_mcp.config.sources import load_settings
from mail_mcp.sandbox import Sandbox

from .oauth_support import TokenEndpoint
from .test_oauth import base64_forms

CLIENT_SECRET = "cs-" + "Pq3Ls8Vn1Wz6Rt0Ym4Kb9Hc2Jd7Xf5Ga"
APP_PASSWORD = "app-" + "pw-Zr5Tq8Wm2Lx"
MAIL_MCP = [sys.executable, "-c", "import sys; from mail_mcp.cli import main; sys.exit(main())"]


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private XDG home with a plaintext-file keyring chosen explicitly."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    for name in ("MAIL_MCP_CONFIG", "MAIL_MCP_SECRETS_FILE"):
        monkeypatch.delenv(name, raising=False)
    previous = keyring.get_keyring()
    keyring.set_keyring(PlaintextKeyring())  # its file lives under the XDG_DATA_HOME above
    yield tmp_path
    keyring.set_keyring(previous)


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[TokenEndpoint]:
    with TokenEndpoint(tmp_path / "keys", client_secret=CLIENT_SECRET, lifetime=60) as ep:
        yield ep


class Scripted(Console):
    """A console that answers from a list and records everything said and asked."""

    def __init__(self, answers: list[str], open_browser: object = None) -> None:
        self.answers = list(answers)
        self.transcript: list[str] = []
        super().__init__(ask=self._answer, secret=self._answer, say=self.transcript.append)
        if open_browser is not None:
            self.open_browser = open_browser  # type: ignore[assignment]

    def _answer(self, prompt: str) -> str:
        self.transcript.append(prompt)
        assert self.answers, f"unexpected question: {prompt}"
        return self.answers.pop(0)

    @property
    def text(self) -> str:
        return "\n".join(self.transcript)


def run(monkeypatch: pytest.MonkeyPatch, console: Scripted, *argv: str) -> int:
    monkeypatch.setattr(account_cli, "console", console)
    return main(["account", *argv])


def stored(name: str, account: str) -> str | None:
    value: str | None = keyring.get_keyring().get_password(SERVICE, f"{account}/{name}")
    return value


def config_file(home: Path) -> Path:
    return home / "config" / "mail-mcp" / "config.toml"


def assert_clean(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text
        for form in base64_forms(secret):
            assert form not in text


# ----------------------------------------------------------------------------------------------------- add


@pytest.mark.parametrize(
    ("provider", "imap", "smtp"),
    [
        ("gmail", ("imap.gmail.com", 993, "tls"), ("smtp.gmail.com", 465, "tls")),
        ("icloud", ("imap.mail.me.com", 993, "tls"), ("smtp.mail.me.com", 587, "starttls")),
        ("yahoo", ("imap.mail.yahoo.com", 993, "tls"), ("smtp.mail.yahoo.com", 465, "tls")),
        ("fastmail", ("imap.fastmail.com", 993, "tls"), ("smtp.fastmail.com", 465, "tls")),
        ("proton-bridge", ("127.0.0.1", 1143, "starttls"), ("127.0.0.1", 1025, "starttls")),
    ],
)
def test_add_writes_the_provider_profile_and_keeps_the_password_in_the_keyring(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    provider: str,
    imap: tuple[str, int, str],
    smtp: tuple[str, int, str],
) -> None:
    answers = ["", "password", APP_PASSWORD] if provider == "gmail" else ["", APP_PASSWORD]
    console = Scripted(answers)
    assert run(monkeypatch, console, "add", "--provider", provider, "me@example.org") == 0
    table = tomllib.loads(config_file(home).read_text())["accounts"][provider]
    assert (table["host"], table["port"], table["security"]) == imap
    assert (table["smtp"]["host"], table["smtp"]["port"], table["smtp"]["security"]) == smtp
    assert table["auth"] == "password" and "password" not in table
    assert stored(PASSWORD, provider) == APP_PASSWORD
    account = load_settings(env={}, config_path=config_file(home)).accounts[provider]
    assert account.password is not None and account.password.get_secret_value() == APP_PASSWORD
    assert f"mail-mcp account test {provider}" in console.text
    assert_clean(console.text, [APP_PASSWORD])


def test_add_microsoft_is_oauth2_with_the_client_secret_in_the_keyring(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    console = Scripted(["work", "my-client-id", CLIENT_SECRET])
    assert run(monkeypatch, console, "add", "--provider", "microsoft", "alice@contoso.com") == 0
    table = tomllib.loads(config_file(home).read_text())["accounts"]["work"]
    assert table["host"] == "outlook.office365.com" and table["smtp"]["security"] == "starttls"
    assert (table["auth"], table["oauth_provider"], table["oauth_client_id"]) == (
        "oauth2",
        "microsoft",
        "my-client-id",
    )
    assert stored(OAUTH_CLIENT_SECRET, "work") == CLIENT_SECRET
    assert "mail-mcp account login work" in console.text
    assert_clean(console.text + config_file(home).read_text(), [CLIENT_SECRET])


def test_without_a_keyring_add_says_so_and_offers_a_private_file_or_a_command(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND")
    keyring.set_keyring(fail.Keyring())
    secrets = home / "private" / "secrets.json"
    console = Scripted(["one", APP_PASSWORD, "f", str(secrets)])
    assert run(monkeypatch, console, "add", "--provider", "fastmail", "me@fastmail.com") == 0
    assert "no usable OS keyring backend" in console.text
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    stored_password = FileSecretStore(secrets).get("one", PASSWORD)
    assert stored_password is not None and stored_password.get_secret_value() == APP_PASSWORD
    account = load_settings(env={}, config_path=config_file(home)).accounts["one"]
    assert account.password is not None and account.password.get_secret_value() == APP_PASSWORD

    console = Scripted(["two", APP_PASSWORD, "c", "pass show mail/two"])
    assert run(monkeypatch, console, "add", "--provider", "yahoo", "me@yahoo.com") == 0
    assert tomllib.loads(config_file(home).read_text())["accounts"]["two"]["password_command"] == (
        "pass show mail/two"
    )
    assert FileSecretStore(secrets).get("two", PASSWORD) is None

    console = Scripted(["three", APP_PASSWORD, "q"])
    assert run(monkeypatch, console, "add", "--provider", "yahoo", "x@yahoo.com") == 2
    assert "three" not in tomllib.loads(config_file(home).read_text())["accounts"]


# --------------------------------------------------------------------------------------------------- login


def add_oauth(home: Path, monkeypatch: pytest.MonkeyPatch, endpoint: TokenEndpoint, flow: str) -> None:
    url_option = (
        ["--oauth-device-authorization-url", endpoint.device_url]
        if flow == "device"
        else ["--oauth-authorization-url", endpoint.authorize_url]
    )
    argv = [
        "add", "--provider", "microsoft" if flow == "device" else "gmail", "--auth", "oauth2", "--id", "work",
        "--oauth-provider", "custom", "--oauth-token-url", endpoint.token_url, "--oauth-scope", "mail",
        "--client-id", endpoint.client_id, *url_option, "alice@example.test",
    ]  # fmt: skip
    assert run(monkeypatch, Scripted([CLIENT_SECRET]), *argv) == 0


def subprocess_env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "MAIL_MCP_LOG_LEVEL": "DEBUG"}


def token_works(endpoint: TokenEndpoint, home: Path) -> None:
    """The stored refresh token is the one the endpoint issued, and the server's token source can use it."""
    refresh = stored(OAUTH_REFRESH_TOKEN, "work")
    assert refresh is not None and endpoint.grant(refresh).user == "alice"
    tokens = load_settings(env={}, config_path=config_file(home)).accounts["work"].oauth
    assert tokens is not None
    assert endpoint.verify_access_token(tokens.source().get_token())["sub"] == "alice"


def test_login_with_the_device_code_flow_as_a_subprocess(
    home: Path, monkeypatch: pytest.MonkeyPatch, endpoint: TokenEndpoint
) -> None:
    add_oauth(home, monkeypatch, endpoint, "device")
    proc = subprocess.Popen(
        [*MAIL_MCP, "account", "login", "work", "--config", str(config_file(home))],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=subprocess_env(),
    )
    assert proc.stdout is not None
    output = ""
    for line in proc.stdout:
        output += line
        code = re.search(r"Code: (\S+)", line)
        if code:
            endpoint.approve(code.group(1), "alice")
    assert proc.wait(timeout=60) == 0, output
    assert "Signed in. Stored the refresh token of 'work'" in output
    assert endpoint.device_url.replace("/device", "/device-verify") in output
    assert_clean(output, endpoint.secrets())
    token_works(endpoint, home)


def test_login_with_loopback_pkce_pasting_the_redirect_address_as_a_subprocess(
    home: Path, monkeypatch: pytest.MonkeyPatch, endpoint: TokenEndpoint
) -> None:
    add_oauth(home, monkeypatch, endpoint, "loopback")
    env = {k: v for k, v in subprocess_env().items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER")}
    proc = subprocess.Popen(
        [*MAIL_MCP, "account", "login", "work", "--config", str(config_file(home))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None
    output = ""
    for line in proc.stdout:
        output += line
        if line.startswith(endpoint.authorize_url):  # the user signs in on another machine ...
            parts = urlsplit(line.strip())
            conn = http.client.HTTPConnection(parts.hostname or "", parts.port)
            conn.request("GET", f"{parts.path}?{parts.query}")
            location = conn.getresponse().getheader("Location")
            assert location is not None
            proc.stdin.write(location + "\n")  # ... and pastes the address the browser was sent to
            proc.stdin.flush()
    assert proc.wait(timeout=60) == 0, output
    assert "Address or code:" in output and "Signed in." in output
    assert_clean(output, endpoint.secrets())
    token_works(endpoint, home)


def test_login_with_loopback_pkce_and_a_browser_on_this_machine(
    home: Path, monkeypatch: pytest.MonkeyPatch, endpoint: TokenEndpoint
) -> None:
    add_oauth(home, monkeypatch, endpoint, "loopback")
    opened: list[str] = []

    def browser(url: str) -> bool:
        """Follows the authorization endpoint's redirect to mail-mcp's one-shot listener, as a browser would."""
        opened.append(url)
        parts = urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port)
        conn.request("GET", f"{parts.path}?{parts.query}")
        target = urlsplit(conn.getresponse().getheader("Location") or "")
        back = http.client.HTTPConnection(target.hostname or "", target.port)
        back.request("GET", f"{target.path}?{target.query}")
        assert back.getresponse().status == 200
        return True

    console = Scripted([], open_browser=browser)
    assert run(monkeypatch, console, "login", "work", "--config", str(config_file(home))) == 0
    assert len(opened) == 1 and "code_challenge_method=S256" in opened[0]
    assert "Signed in." in console.text
    assert_clean(console.text, endpoint.secrets())
    token_works(endpoint, home)


def test_login_of_a_password_account_is_refused(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert (
        run(monkeypatch, Scripted(["", APP_PASSWORD]), "add", "--provider", "fastmail", "a@fastmail.com") == 0
    )
    console = Scripted([])
    assert run(monkeypatch, console, "login", "fastmail") == 2
    assert "signs in with a password" in console.text


# ------------------------------------------------------------------------------------- list, test, remove


@pytest.mark.dovecot
def test_list_test_and_remove_a_sandbox_account(
    home: Path, monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    bob = sandbox.users["bob"]
    argv = [
        "add", "--provider", "other", "--id", "box", "--user", bob.name, "--imap-host", sandbox.host,
        "--imap-port", str(sandbox.imap_port), "--imap-security", "starttls", "--ca-file",
        str(sandbox.ca_cert_path), "--smtp-host", "", bob.address,
    ]  # fmt: skip
    assert run(monkeypatch, Scripted([bob.password]), *argv) == 0
    assert stored(PASSWORD, "box") == bob.password

    console = Scripted([])
    assert run(monkeypatch, console, "list") == 0
    assert "box: bob@example.test" in console.text and "password stored" in console.text

    assert run(monkeypatch, Scripted([]), "test", "box") == 0
    assert "[box] OK" in capsys.readouterr().out

    console = Scripted(["n"])
    assert run(monkeypatch, console, "remove", "box") == 2
    assert stored(PASSWORD, "box") == bob.password

    console = Scripted(["y"])
    assert run(monkeypatch, console, "remove", "box") == 0
    assert "box" not in tomllib.loads(config_file(home).read_text()).get("accounts", {})
    assert stored(PASSWORD, "box") is None
    assert "Deleted from" in console.text and "password" in console.text
    assert_clean(console.text, [bob.password])
