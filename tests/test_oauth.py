"""OAuth2 end to end: TokenSource and the sign-in flows against a real token endpoint (tests/oauth_support.py),
with the tokens checked by a real Dovecot (oauth2 passdb, local JWT validation) and by aiosmtpd.

Access tokens live about 2 s, so expiry and refresh are real, not simulated. Every test also checks that no
secret it saw (tokens, codes, PKCE verifiers, the client secret) reached a log record at DEBUG, plain or base64.
"""

from __future__ import annotations

import base64
import imaplib
import logging
import re
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx2
import imapclient  # type: ignore[import-untyped,unused-ignore]
import jwt
import pytest
from imapclient.exceptions import LoginError  # type: ignore[import-untyped,unused-ignore]
from pydantic import SecretStr

from mail_mcp.auth.endpoint import OAuthEndpointError
from mail_mcp.auth.flows import DEVICE_CODE_GRANT, DeviceCode, LoginResult, device_code_login
from mail_mcp.auth.loopback import loopback_login
from mail_mcp.auth.oauth import TokenSource
from mail_mcp.auth.providers import GOOGLE, MICROSOFT, check_endpoint_url, microsoft, resolve_provider
from mail_mcp.auth.sasl import oauthbearer_string, pick_sasl_mechanism, xoauth2_string
from mail_mcp.errors import AuthFailed, ConfigError, ConnectionFailed, MailError, Timeout
from mail_mcp.sandbox import Sandbox

from .oauth_support import TokenEndpoint, dovecot_oauth_config, oauth_smtp_server

pytestmark = pytest.mark.dovecot

ACCOUNT = "work"
ADDRESS = "alice@example.test"
HINT = f"mail-mcp account login {ACCOUNT}"
CLIENT_SECRET = "cs-" + "q7Wm2Zr9Lx4Tn8Vb3Kc6Hj1Pd5Sf0Ga"


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def key_dir() -> Iterator[Path]:
    """Outside pytest's private tmp tree: Dovecot's auth process (user dovecot) must read the key."""
    path = Path(tempfile.mkdtemp(prefix="mail-mcp-oauth-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def endpoint(key_dir: Path) -> Iterator[TokenEndpoint]:
    with TokenEndpoint(key_dir, client_secret=CLIENT_SECRET, lifetime=2.0) as ep:
        yield ep


@pytest.fixture(scope="module")
def public_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenEndpoint]:
    """A public client (no secret), as installed apps using PKCE or the device code flow are."""
    with TokenEndpoint(tmp_path_factory.mktemp("public-keys"), lifetime=2.0) as ep:
        yield ep


@pytest.fixture(scope="module")
def dovecot(key_dir: Path, endpoint: TokenEndpoint) -> Iterator[Sandbox]:
    with Sandbox(users=("alice",), extra_config=dovecot_oauth_config(key_dir)) as sb:
        yield sb


@pytest.fixture(autouse=True)
def no_secret_in_logs(
    caplog: pytest.LogCaptureFixture, endpoint: TokenEndpoint, public_endpoint: TokenEndpoint
) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    assert_no_secret(caplog.text, endpoint, public_endpoint)


# ------------------------------------------------------------------------------------------------- helpers


def base64_forms(secret: str) -> list[str]:
    """Substrings that any base64 encoding containing ``secret`` contains, for each of the 3 byte alignments."""
    forms = []
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + secret.encode()).decode().rstrip("=")
        forms.append(encoded[4 if offset else 0 : -4])
    return forms


def assert_no_secret(text: str, *endpoints: TokenEndpoint) -> None:
    for ep in endpoints:
        for secret in ep.secrets():
            assert secret not in text, "a secret appeared in clear"
            for form in base64_forms(secret):
                assert form not in text, "a secret appeared base64-encoded"


def assert_error_clean(exc: BaseException, *endpoints: TokenEndpoint) -> None:
    texts = [str(exc), repr(exc), repr(exc.args)]
    if isinstance(exc, MailError):
        texts.append(repr(exc.as_dict()))
    for text in texts:
        assert_no_secret(text, *endpoints)


def source(endpoint: TokenEndpoint, refresh_token: str, **kwargs: Any) -> TokenSource:
    return TokenSource(
        ACCOUNT,
        token_url=endpoint.token_url,
        client_id=endpoint.client_id,
        client_secret=endpoint.client_secret,
        scope="mail",
        refresh_token=refresh_token,
        **kwargs,
    )


def imap(sb: Sandbox) -> imapclient.IMAPClient:
    client = imapclient.IMAPClient(sb.host, sb.imap_port, ssl=False, timeout=15)
    client.starttls(sb.ssl_context())
    return client


def imap_login(sb: Sandbox, token: str, mechanism: str = "imapclient-xoauth2") -> None:
    """Log in with ``token``, select INBOX, log out; raises LoginError when Dovecot refuses the token.

    The ``*_string`` mechanisms send our own SASL strings through imaplib's public ``authenticate``.
    """
    if mechanism in ("xoauth2_string", "oauthbearer_string"):
        mech, blob = (
            ("XOAUTH2", xoauth2_string(ADDRESS, token))
            if mechanism == "xoauth2_string"
            else ("OAUTHBEARER", oauthbearer_string(ADDRESS, token, sb.host, sb.imap_port))
        )
        with imaplib.IMAP4(sb.host, sb.imap_port, timeout=15) as raw:
            raw.starttls(sb.ssl_context())
            try:
                raw.authenticate(mech, lambda _challenge: blob)
            except imaplib.IMAP4.error as exc:
                raise LoginError(str(exc)) from None
            assert raw.select("INBOX", readonly=True)[0] == "OK"
        return
    client = imap(sb)
    try:
        if mechanism == "imapclient-xoauth2":
            client.oauth2_login(ADDRESS, token)
        else:
            client.oauthbearer_login(ADDRESS, token)
        assert client.select_folder("INBOX", readonly=True)[b"EXISTS"] >= 0
    finally:
        try:
            client.logout()
        except Exception:  # a refused login leaves a connection Dovecot may have closed
            client.shutdown()


def wait_until_refused(token: str) -> None:
    """Sleep until Dovecot must refuse ``token``: it rejects only when ``exp`` < its whole-second clock."""
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    time.sleep(max(0.0, exp + 1.0 - time.time()))


def fast_sleep(log: list[float], on_sleep: Callable[[int], None] = lambda n: None) -> Callable[[float], None]:
    """A `sleep` for the device flow that records the requested waits and returns almost at once."""

    def sleep(seconds: float) -> None:
        log.append(seconds)
        on_sleep(len(log))
        time.sleep(0.01)

    return sleep


# ------------------------------------------------------------------------------------- IMAP with Dovecot


@pytest.mark.parametrize(
    "mechanism", ["imapclient-xoauth2", "imapclient-oauthbearer", "xoauth2_string", "oauthbearer_string"]
)
def test_imap_login_with_token_from_source(dovecot: Sandbox, endpoint: TokenEndpoint, mechanism: str) -> None:
    src = source(endpoint, endpoint.issue_grant())
    token = src.get_token()
    imap_login(dovecot, token, mechanism)
    assert src.get_token() == token and src.refresh_count == 1
    method = "OAUTHBEARER" if "oauthbearer" in mechanism else "XOAUTH2"
    assert f"user=<alice>, method={method}" in dovecot.log_tail(200)


def test_dovecot_refuses_a_foreign_token(dovecot: Sandbox, endpoint: TokenEndpoint) -> None:
    forged = jwt.encode(
        {"sub": "alice", "email": ADDRESS, "exp": int(time.time()) + 60},
        b"not-the-key" * 4,
        algorithm="HS256",
        headers={"typ": "JWT"},
    )
    with pytest.raises(LoginError):
        imap_login(dovecot, forged)


def test_refresh_across_expiry(dovecot: Sandbox, endpoint: TokenEndpoint) -> None:
    refresh_token = endpoint.issue_grant()
    src = source(endpoint, refresh_token)
    first = src.get_token()
    imap_login(dovecot, first)
    wait_until_refused(first)
    with pytest.raises(LoginError):
        imap_login(dovecot, first)
    second = src.get_token()
    assert second != first
    imap_login(dovecot, second)
    assert src.refresh_count == 2 and endpoint.grant(refresh_token).refreshes == 2


def test_invalidate_after_auth_failure_forces_one_refresh(dovecot: Sandbox, endpoint: TokenEndpoint) -> None:
    """The endpoint claims an hour, the token dies in 2 s: only the server's refusal can trigger the refresh."""
    refresh_token = endpoint.issue_grant(reported_lifetime=3600)
    src = source(endpoint, refresh_token)
    first = src.get_token()
    assert src.expires_in is not None and 3500 < src.expires_in <= 3600
    wait_until_refused(first)
    assert src.get_token() == first
    with pytest.raises(LoginError):
        imap_login(dovecot, first)
    assert src.invalidate(first) is True
    assert src.invalidate(first) is False  # a second connection failing with the same token: no extra refresh
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(src.get_token())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1 and results[0] != first
    assert src.refresh_count == 2 and endpoint.grant(refresh_token).refreshes == 2
    imap_login(dovecot, results[0])
    assert src.invalidate("some-older-token") is False

    wait_until_refused(results[0])
    calls: list[str] = []

    def attempt(token: str) -> str:
        calls.append(token)
        imap_login(dovecot, token)
        return token

    used = src.call_with_token(attempt, lambda exc: isinstance(exc, LoginError))
    assert calls == [results[0], used] and src.refresh_count == 3


def test_rotated_refresh_token_reaches_callback(dovecot: Sandbox, endpoint: TokenEndpoint) -> None:
    original = endpoint.issue_grant(rotate=True)
    rotated: list[str] = []
    src = source(endpoint, original, on_rotated=rotated.append)
    imap_login(dovecot, src.get_token())
    assert len(rotated) == 1 and rotated[0] != original
    assert endpoint.grant(original).refresh_tokens[-1] == rotated[0]
    src.invalidate()
    imap_login(dovecot, src.get_token())  # the endpoint accepts only the newest refresh token
    assert len(rotated) == 2 and rotated[1] != rotated[0] and src.refresh_count == 2


def test_rotation_survives_a_failing_store(
    dovecot: Sandbox, endpoint: TokenEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_store(token: str) -> None:
        raise OSError(f"disk full while writing {token}")

    src = source(endpoint, endpoint.issue_grant(rotate=True), on_rotated=broken_store)
    imap_login(dovecot, src.get_token())
    src.invalidate()
    imap_login(dovecot, src.get_token())
    assert "storing the rotated refresh token failed (OSError)" in caplog.text


def test_revoked_grant_gives_auth_failed_with_login_hint(endpoint: TokenEndpoint) -> None:
    refresh_token = endpoint.issue_grant()
    src = source(endpoint, refresh_token)
    src.get_token()
    endpoint.revoke(refresh_token)
    src.invalidate()
    with pytest.raises(AuthFailed) as caught:
        src.get_token()
    error = caught.value
    assert isinstance(error, OAuthEndpointError) and error.error == "invalid_grant"
    assert error.code == "auth_failed" and HINT in error.message
    assert error.details["fix"] == HINT and error.details["account"] == ACCOUNT
    assert_error_clean(error, endpoint)
    assert error.__cause__ is None


def test_wrong_client_secret_names_the_settings(endpoint: TokenEndpoint) -> None:
    src = TokenSource(
        ACCOUNT,
        token_url=endpoint.token_url,
        client_id=endpoint.client_id,
        client_secret=SecretStr("wrong-" + CLIENT_SECRET),
        refresh_token=endpoint.issue_grant(),
    )
    with pytest.raises(AuthFailed) as caught:
        src.get_token()
    assert isinstance(caught.value, OAuthEndpointError) and caught.value.error == "invalid_client"
    assert "MAIL_IMAP_WORK_OAUTH_CLIENT_SECRET" in caught.value.message and HINT in caught.value.message
    assert "wrong-" not in str(caught.value)
    assert_error_clean(caught.value, endpoint)


def test_endpoint_failures_map_to_project_errors(endpoint: TokenEndpoint) -> None:
    src = source(endpoint, endpoint.issue_grant())
    endpoint.fail_next.append(503)
    with pytest.raises(ConnectionFailed, match="HTTP 503"):
        src.get_token()
    assert src.get_token()  # the grant is still good once the endpoint is back

    closed = TokenSource(
        ACCOUNT,
        token_url="http://127.0.0.1:9/token",
        client_id="x",
        refresh_token=endpoint.issue_grant(),
        http_timeout=5,
    )
    with pytest.raises(ConnectionFailed) as caught:
        closed.get_token()
    assert caught.value.code == "connection_failed" and caught.value.details["account"] == ACCOUNT
    assert_error_clean(caught.value, endpoint)

    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        hanging = TokenSource(
            ACCOUNT,
            token_url=f"http://127.0.0.1:{silent.getsockname()[1]}/token",
            client_id="x",
            refresh_token=endpoint.issue_grant(),
            http_timeout=0.5,
        )
        with pytest.raises(Timeout):
            hanging.get_token()


def test_token_commands(dovecot: Sandbox, endpoint: TokenEndpoint) -> None:
    token = endpoint.make_access_token("alice", 30)
    src = TokenSource(ACCOUNT, token_command=[sys.executable, "-c", f"print({token!r})"], command_lifetime=60)
    assert src.get_token() == token and src.get_token() == token and src.refresh_count == 1
    imap_login(dovecot, token)
    src.invalidate()
    assert src.get_token() == token and src.refresh_count == 2

    refresh_token = endpoint.issue_grant()
    by_shell = TokenSource(
        ACCOUNT,
        token_url=endpoint.token_url,
        client_id=endpoint.client_id,
        client_secret=CLIENT_SECRET,
        refresh_token_command=f"echo {refresh_token}",
    )
    imap_login(dovecot, by_shell.get_token())
    assert endpoint.grant(refresh_token).refreshes == 1

    failing = TokenSource(ACCOUNT, token_command="echo oops-not-printed >&2; exit 3")
    with pytest.raises(AuthFailed, match="MAIL_IMAP_WORK_OAUTH_TOKEN_COMMAND failed with exit status 3"):
        failing.get_token()


def test_token_source_configuration_errors(endpoint: TokenEndpoint) -> None:
    with pytest.raises(ConfigError, match="exactly one of"):
        TokenSource(ACCOUNT, token_url=endpoint.token_url, client_id="x")
    with pytest.raises(ConfigError, match="exactly one of"):
        TokenSource(
            ACCOUNT, token_url=endpoint.token_url, client_id="x", refresh_token="a", token_command="b"
        )
    with pytest.raises(ConfigError) as caught:
        TokenSource(ACCOUNT, client_id="x", refresh_token="a")
    assert caught.value.setting == "MAIL_IMAP_WORK_OAUTH_TOKEN_URL"
    with pytest.raises(ConfigError, match="must use https"):
        TokenSource(ACCOUNT, token_url="http://login.example.test/token", client_id="x", refresh_token="a")


def test_token_source_repr_hides_secrets(endpoint: TokenEndpoint) -> None:
    src = source(endpoint, endpoint.issue_grant())
    token = src.get_token()
    for text in (repr(src), str(src), repr(vars(src))):
        assert token not in text and CLIENT_SECRET not in text
        assert_no_secret(text, endpoint)


# --------------------------------------------------------------------------------------------------- SMTP


@pytest.mark.anyio
async def test_smtp_xoauth2_with_the_same_tokens(dovecot: Sandbox, endpoint: TokenEndpoint) -> None:
    """STARTTLS with the sandbox's certificate, then AUTH XOAUTH2; a dead token is refused, refreshed, retried."""
    refresh_token = endpoint.issue_grant(reported_lifetime=3600)
    src = source(endpoint, refresh_token)
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = ADDRESS, "bob@example.test", "OAuth"
    message.set_content("sent with an OAuth token")
    assert dovecot.root is not None and dovecot.ca_cert_path is not None
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(dovecot.ca_cert_path, dovecot.root / "key.pem")
    with oauth_smtp_server(endpoint, server_tls) as (port, handler):
        smtp = aiosmtplib.SMTP(
            hostname="127.0.0.1",
            port=port,
            username=ADDRESS,
            start_tls=True,
            tls_context=dovecot.ssl_context(),
            oauth_token_generator=src.aget_token,
            timeout=15,
        )
        async with smtp:
            await smtp.send_message(message)
        assert handler.accepted == [ADDRESS] and handler.received[0].login == ADDRESS

        first = await src.aget_token()
        wait_until_refused(first)  # the token is dead, though the endpoint said it lives for an hour

        async def send(token: str) -> None:
            client = aiosmtplib.SMTP(
                hostname="127.0.0.1", port=port, start_tls=True, tls_context=dovecot.ssl_context(), timeout=15
            )
            async with client:
                await client.auth_xoauth2(ADDRESS, token)
                await client.send_message(message)

        await src.acall_with_token(send, lambda exc: isinstance(exc, aiosmtplib.SMTPAuthenticationError))
    assert handler.refused == 1 and len(handler.received) == 2 and src.refresh_count == 2
    assert handler.received[1].rcpt_tos == ["bob@example.test"]


# ---------------------------------------------------------------------------------------- sign-in flows


def test_device_code_flow(dovecot: Sandbox, endpoint: TokenEndpoint) -> None:
    shown: list[DeviceCode] = []
    sleeps: list[float] = []

    def approve_on_third_wait(n: int) -> None:
        if n == 2:
            device = endpoint.device(shown[0].user_code)
            assert device.polls == 1
        if n == 3:
            endpoint.approve(shown[0].user_code, "alice")

    def show(code: DeviceCode) -> None:
        shown.append(code)
        endpoint.device(code.user_code).slow_down = 1

    result = device_code_login(
        client_id=endpoint.client_id,
        device_authorization_url=endpoint.device_url,
        token_url=endpoint.token_url,
        scope=MICROSOFT.scope,
        client_secret=CLIENT_SECRET,
        show=show,
        account_id=ACCOUNT,
        sleep=fast_sleep(sleeps, approve_on_third_wait),
    )
    assert sleeps == [1.0, 6.0, 6.0]  # interval, then +5 s after slow_down (RFC 8628 §3.5)
    assert re.fullmatch(r"\d{4}-\d{4}", shown[0].user_code)
    assert shown[0].verification_uri.endswith("/device-verify") and shown[0].message
    assert ("/device", {"scope": MICROSOFT.scope}) in endpoint.requests  # client id and secret: Basic auth
    assert isinstance(result, LoginResult) and result.expires_in == 2.0
    assert result.refresh_token.get_secret_value() not in repr(result)
    src = source(endpoint, result.refresh_token.get_secret_value())
    imap_login(dovecot, src.get_token())
    imap_login(dovecot, result.access_token.get_secret_value())


def test_device_code_flow_declined_public_client(public_endpoint: TokenEndpoint) -> None:
    ep = public_endpoint
    shown: list[DeviceCode] = []
    with pytest.raises(AuthFailed, match=f"declined. Start again with `{HINT}`") as caught:
        device_code_login(
            client_id=ep.client_id,
            device_authorization_url=ep.device_url,
            token_url=ep.token_url,
            scope="mail",
            show=shown.append,
            account_id=ACCOUNT,
            sleep=fast_sleep([], lambda n: ep.deny(shown[0].user_code) if n == 2 else None),
        )
    assert ("/device", {"scope": "mail", "client_id": ep.client_id}) in ep.requests
    polls = [params for path, params in ep.requests if params.get("grant_type") == DEVICE_CODE_GRANT]
    assert len(polls) == 2 and polls[0]["client_id"] == ep.client_id
    assert_error_clean(caught.value, ep)


def _browser(pages: list[str], *, first_a_stray_request: bool = False) -> Callable[[str], bool]:
    """A browser on this machine: follows the authorization redirect back to the loopback listener."""

    def open_browser(url: str) -> bool:
        if first_a_stray_request:
            redirect_uri = dict(httpx2.URL(url).params)["redirect_uri"]
            stray = httpx2.get(f"{redirect_uri}?code=forged&state=not-ours")
            assert stray.status_code == 400
        page = httpx2.get(url, follow_redirects=True)
        pages.append(page.text)
        return True

    return open_browser


def test_loopback_pkce_flow_with_browser(public_endpoint: TokenEndpoint) -> None:
    ep = public_endpoint
    pages: list[str] = []
    notes: list[str] = []
    result = loopback_login(
        client_id=ep.client_id,
        authorization_url=ep.authorize_url,
        token_url=ep.token_url,
        scope=GOOGLE.scope,
        authorization_params=GOOGLE.authorization_params,
        notify=notes.append,
        open_browser=_browser(pages, first_a_stray_request=True),
        account_id=ACCOUNT,
        timeout=20,
    )
    assert "Sign-in complete" in pages[0]
    authorize = next(params for path, params in ep.requests if path == "/authorize")
    assert authorize["code_challenge_method"] == "S256" and len(authorize["code_challenge"]) == 43
    assert authorize["access_type"] == "offline" and authorize["prompt"] == "consent"
    assert authorize["scope"] == "https://mail.google.com/"
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", authorize["redirect_uri"])
    token_request = next(
        params
        for path, params in ep.requests
        if path == "/token" and params.get("grant_type") == "authorization_code"
    )
    assert 43 <= len(token_request["code_verifier"]) <= 128 and "client_secret" not in token_request
    assert ep.client_id in notes[0]
    src = TokenSource(
        ACCOUNT, token_url=ep.token_url, client_id=ep.client_id, refresh_token=result.refresh_token
    )
    token = src.get_token()
    jwt.decode(token, ep.key, algorithms=["HS256"])  # issued by the public client's endpoint


@pytest.mark.parametrize("paste", ["address", "code", "enter"])
def test_loopback_copy_paste_fallback(public_endpoint: TokenEndpoint, paste: str) -> None:
    ep = public_endpoint
    notes: list[str] = []

    def prompt(question: str) -> str:
        url = re.search(r"(http://\S+/authorize\?\S+)", notes[-1])
        assert url is not None, notes
        if paste == "enter":  # the browser on this machine completed the redirect itself
            assert httpx2.get(url.group(1), follow_redirects=True).status_code == 200
            return ""
        location = httpx2.get(url.group(1)).headers["location"]  # a browser elsewhere: the redirect fails
        if paste == "code":
            return dict(httpx2.URL(location).params)["code"]
        return f"  {location}\n"

    result = loopback_login(
        client_id=ep.client_id,
        authorization_url=ep.authorize_url,
        token_url=ep.token_url,
        scope="mail",
        notify=notes.append,
        open_browser=lambda url: False,
        prompt=prompt,
        account_id=ACCOUNT,
        timeout=20,
    )
    assert "paste the address" in notes[0]
    assert result.refresh_token.get_secret_value() in ep.grants


def test_loopback_rejects_a_pasted_address_of_another_attempt(public_endpoint: TokenEndpoint) -> None:
    ep = public_endpoint
    notes: list[str] = []

    def prompt(question: str) -> str:
        url = re.search(r"(http://\S+/authorize\?\S+)", notes[-1])
        assert url is not None
        location = httpx2.get(url.group(1)).headers["location"]
        return re.sub(r"state=[^&]+", "state=from-another-attempt", location)

    with pytest.raises(AuthFailed, match="state mismatch") as caught:
        loopback_login(
            client_id=ep.client_id,
            authorization_url=ep.authorize_url,
            token_url=ep.token_url,
            scope="mail",
            notify=notes.append,
            open_browser=lambda url: False,
            prompt=prompt,
            account_id=ACCOUNT,
            timeout=20,
        )
    assert_error_clean(caught.value, ep)


def test_loopback_denied_consent(public_endpoint: TokenEndpoint) -> None:
    ep = public_endpoint
    ep.deny_authorization = True
    try:
        with pytest.raises(AuthFailed, match=r"refused the sign-in \(access_denied\)"):
            loopback_login(
                client_id=ep.client_id,
                authorization_url=ep.authorize_url,
                token_url=ep.token_url,
                scope="mail",
                notify=lambda text: None,
                open_browser=_browser([]),
                account_id=ACCOUNT,
                timeout=20,
            )
    finally:
        ep.deny_authorization = False


# ------------------------------------------------------------------------------------ pure parts, presets


def test_sasl_strings() -> None:
    assert xoauth2_string("a@b.test", "tok") == b"user=a@b.test\x01auth=Bearer tok\x01\x01"
    assert oauthbearer_string("a,=b@c.test", "tok", "imap.c.test", 993) == (
        b"n,a=a=2C=3Db@c.test,\x01host=imap.c.test\x01port=993\x01auth=Bearer tok\x01\x01"
    )
    with pytest.raises(ValueError):
        xoauth2_string("a@b.test", "tok\x01user=evil")
    with pytest.raises(ValueError):
        oauthbearer_string("a@b.test", "tok", "h", 0)


def test_pick_sasl_mechanism(dovecot: Sandbox) -> None:
    client = imap(dovecot)
    try:
        assert pick_sasl_mechanism(client.capabilities()) == "XOAUTH2"
    finally:
        client.logout()
    assert pick_sasl_mechanism([b"IMAP4rev1", b"AUTH=OAUTHBEARER", b"AUTH=PLAIN"]) == "OAUTHBEARER"
    assert pick_sasl_mechanism(["plain", "login", "xoauth2"]) == "XOAUTH2"
    assert pick_sasl_mechanism(["AUTH=PLAIN"]) is None


def test_leak_check_sees_base64_inside_sasl_strings(endpoint: TokenEndpoint) -> None:
    token = endpoint.make_access_token("alice", 60)
    for prefix in ("", "u=a\x01", "user=alice@example.test\x01auth=Bearer "):
        text = "AUTH XOAUTH2 " + base64.b64encode(prefix.encode() + token.encode() + b"\x01\x01").decode()
        with pytest.raises(AssertionError, match="base64"):
            assert_no_secret(text, endpoint)


def test_provider_presets() -> None:
    google = resolve_provider("Google")
    assert google.token_url == "https://oauth2.googleapis.com/token"
    assert google.authorization_url == "https://accounts.google.com/o/oauth2/v2/auth"
    assert google.scope == "https://mail.google.com/" and google.login_flow == "loopback"
    ms = resolve_provider("microsoft")
    assert ms.token_url == "https://login.microsoftonline.com/common/oauth2/v2.0/token"
    assert ms.device_authorization_url == "https://login.microsoftonline.com/common/oauth2/v2.0/devicecode"
    assert ms.scope == (
        "https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access"
    )
    assert ms.login_flow == "device_code"
    assert microsoft("organizations").token_url.startswith("https://login.microsoftonline.com/organizations/")
    assert resolve_provider("microsoft", tenant="contoso.onmicrosoft.com").authorization_url == (
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize"
    )
    custom = resolve_provider(
        "custom",
        token_url="https://idp.example.test/token",
        scope="imap smtp",
        device_authorization_url="https://idp.example.test/device",
    )
    assert custom.scopes == ("imap", "smtp") and custom.login_flow == "device_code"
    overridden = resolve_provider("google", scope="https://mail.google.com/ openid")
    assert overridden.scopes == ("https://mail.google.com/", "openid") and overridden.login_flow == "loopback"


def test_provider_configuration_errors() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_provider("yahoo", setting_prefix="MAIL_IMAP_WORK_")
    assert caught.value.setting == "MAIL_IMAP_WORK_OAUTH_PROVIDER"
    with pytest.raises(ConfigError) as caught:
        resolve_provider("custom", scope="x", setting_prefix="MAIL_IMAP_WORK_")
    assert caught.value.setting == "MAIL_IMAP_WORK_OAUTH_TOKEN_URL"
    with pytest.raises(ConfigError) as caught:
        resolve_provider(
            "custom", token_url="https://idp.example.test/token", setting_prefix="MAIL_IMAP_WORK_"
        )
    assert caught.value.setting == "MAIL_IMAP_WORK_OAUTH_SCOPE"
    with pytest.raises(ConfigError, match="must use https"):
        resolve_provider("google", token_url="http://evil.example.test/token")
    with pytest.raises(ConfigError):
        resolve_provider("microsoft", tenant="../x")
    assert check_endpoint_url("http://127.0.0.1:8080/token", "X") == "http://127.0.0.1:8080/token"
