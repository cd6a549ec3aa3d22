"""A real, in-process OAuth2 authorization server for the OAuth tests, and the servers that trust its tokens.

`TokenEndpoint` is an HTTP server (stdlib, own thread) on 127.0.0.1. It issues HS256 JWT access tokens
(header ``typ: JWT``; claims ``sub``, ``email``, ``iat``, ``exp`` a few seconds ahead, ``jti``) and writes the
signing key where Dovecot's local JWT validation looks for it, so Dovecot accepts its tokens without any
identity provider. It serves:

- ``POST /token``: the refresh_token grant (counted per grant; optional refresh token rotation; revocation),
  the device_code grant (``authorization_pending`` until the test approves; optional ``slow_down``) and the
  authorization_code grant (redirect URI and PKCE S256 checked);
- ``POST /device``: the device authorization request (RFC 8628);
- ``GET /authorize``: the authorization endpoint; it "approves" at once as `TokenEndpoint.authorize_user` and
  redirects to the client's loopback ``redirect_uri`` with the code and state.

`dovecot_oauth_config` gives the ``Sandbox(extra_config=...)`` text for an oauth2 passdb validating those tokens
locally; `oauth_smtp_server` runs aiosmtpd with an AUTH XOAUTH2 mechanism validating the same tokens.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

DOMAIN = "example.test"
HOST = "127.0.0.1"
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass
class Grant:
    """One user's consent: what its refresh tokens give, and how often they were used."""

    user: str
    scope: str
    rotate: bool = False
    lifetime: float = 2.0
    reported_lifetime: float | None = None
    refreshes: int = 0
    revoked: bool = False
    refresh_tokens: list[str] = field(default_factory=list)


@dataclass
class DeviceAuthorization:
    device_code: str
    user_code: str
    scope: str
    slow_down: int = 0
    approved_user: str | None = None
    denied: bool = False
    used: bool = False
    polls: int = 0


@dataclass
class AuthorizationCode:
    user: str
    client_id: str
    redirect_uri: str
    challenge: str
    scope: str
    used: bool = False


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # skip HTTPServer's reverse DNS lookup
        self.server_name, self.server_port = HOST, int(self.server_address[1])


class TokenEndpoint:
    """The authorization server. ``client_secret=None`` makes the client public (PKCE, device code)."""

    def __init__(
        self,
        key_dir: Path,
        *,
        client_id: str = "mail-mcp-test-client",
        client_secret: str | None = None,
        lifetime: float = 2.0,
        device_interval: int = 1,
        authorize_user: str = "alice",
    ) -> None:
        self.key_dir = key_dir
        self.client_id = client_id
        self.client_secret = client_secret
        self.lifetime = lifetime
        self.device_interval = device_interval
        self.authorize_user = authorize_user
        self.deny_authorization = False
        self.key = secrets.token_bytes(32)
        self.grants: dict[str, Grant] = {}
        self.devices: dict[str, DeviceAuthorization] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.issued: list[str] = []  # every secret this server handed out or received
        self.requests: list[tuple[str, dict[str, str]]] = []  # (path, params) of each request, for assertions
        self.fail_next: list[int] = []  # HTTP statuses to answer the next /token requests with
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._write_key()

    # ------------------------------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        endpoint = self

        class Handler(_Handler):
            server_endpoint = endpoint

        self._server = _Server((HOST, 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="oauth-test-endpoint",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "endpoint not started"
        return f"http://{HOST}:{self._server.server_port}"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/token"

    @property
    def device_url(self) -> str:
        return f"{self.base_url}/device"

    @property
    def authorize_url(self) -> str:
        return f"{self.base_url}/authorize"

    def _write_key(self) -> None:
        """The key as Dovecot's local validation reads it: ``keys/<azp|default>/<alg>/<kid|default>``, base64."""
        folder = self.key_dir / "keys" / "default" / "HS256"
        folder.mkdir(parents=True, exist_ok=True)
        for path in (self.key_dir, self.key_dir / "keys", self.key_dir / "keys" / "default", folder):
            path.chmod(0o755)  # Dovecot's auth process runs as the dovecot user
        key_file = folder / "default"
        key_file.write_text(base64.b64encode(self.key).decode())
        key_file.chmod(0o644)

    # -------------------------------------------------------------------------------------- test controls

    def issue_grant(
        self,
        user: str = "alice",
        *,
        rotate: bool = False,
        lifetime: float | None = None,
        reported_lifetime: float | None = None,
        scope: str = "mail",
    ) -> str:
        """A refresh token for a new consent of ``user`` (as if the user had signed in earlier)."""
        grant = Grant(
            user=user,
            scope=scope,
            rotate=rotate,
            lifetime=self.lifetime if lifetime is None else lifetime,
            reported_lifetime=reported_lifetime,
        )
        with self._lock:
            return self._new_refresh_token(grant)

    def grant(self, refresh_token: str) -> Grant:
        return self.grants[refresh_token]

    def revoke(self, refresh_token: str) -> None:
        """Revoke the whole consent that ``refresh_token`` belongs to (as a user or admin would)."""
        with self._lock:
            self.grants[refresh_token].revoked = True

    def approve(self, user_code: str, user: str = "alice") -> None:
        with self._lock:
            self._device_by_user_code(user_code).approved_user = user

    def deny(self, user_code: str) -> None:
        with self._lock:
            self._device_by_user_code(user_code).denied = True

    def device(self, user_code: str) -> DeviceAuthorization:
        return self._device_by_user_code(user_code)

    def secrets(self) -> list[str]:
        """Every token, code, verifier and the client secret seen so far (for leak checks)."""
        with self._lock:
            found = list(self.issued)
        return found + ([self.client_secret] if self.client_secret else [])

    def make_access_token(self, user: str, lifetime: float) -> str:
        now = time.time()
        claims = {
            "sub": user,
            "email": f"{user}@{DOMAIN}",
            "iat": int(now),
            "exp": int(now + lifetime),
            "jti": secrets.token_hex(8),
        }
        token = jwt.encode(claims, self.key, algorithm="HS256", headers={"typ": "JWT"})
        self.issued.append(token)
        return token

    def verify_access_token(self, token: str) -> dict[str, Any]:
        """The claims of a valid, unexpired token of ours; raises jwt.InvalidTokenError otherwise."""
        claims: dict[str, Any] = jwt.decode(
            token, self.key, algorithms=["HS256"], options={"require": ["exp"]}
        )
        return claims

    # ---------------------------------------------------------------------------------------- internals

    def _device_by_user_code(self, user_code: str) -> DeviceAuthorization:
        for device in self.devices.values():
            if device.user_code == user_code:
                return device
        raise KeyError(user_code)

    def _new_refresh_token(self, grant: Grant) -> str:
        token = "rt-" + secrets.token_urlsafe(32)
        grant.refresh_tokens.append(token)
        self.grants[token] = grant
        self.issued.append(token)
        return token

    def _token_response(self, grant: Grant, refresh_token: str | None) -> dict[str, Any]:
        reply: dict[str, Any] = {
            "access_token": self.make_access_token(grant.user, grant.lifetime),
            "token_type": "Bearer",
            "expires_in": grant.reported_lifetime if grant.reported_lifetime is not None else grant.lifetime,
            "scope": grant.scope,
        }
        if refresh_token is not None:
            reply["refresh_token"] = refresh_token
        return reply

    def handle_token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            if self.fail_next:
                return self.fail_next.pop(0), {"error": "temporarily_unavailable"}
            grant_type = form.get("grant_type")
            if grant_type == "refresh_token":
                return self._refresh(form)
            if grant_type == DEVICE_CODE_GRANT:
                return self._device_token(form)
            if grant_type == "authorization_code":
                return self._code_token(form)
            return 400, {"error": "unsupported_grant_type"}

    def _refresh(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        old = form.get("refresh_token", "")
        grant = self.grants.get(old)
        if grant is None or grant.revoked or old != grant.refresh_tokens[-1]:
            return 400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
        grant.refreshes += 1
        new = self._new_refresh_token(grant) if grant.rotate else None
        return 200, self._token_response(grant, new)

    def _device_token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        device = self.devices.get(form.get("device_code", ""))
        if device is None or device.used:
            return 400, {"error": "invalid_grant"}
        device.polls += 1
        if device.slow_down > 0:
            device.slow_down -= 1
            return 400, {"error": "slow_down"}
        if device.denied:
            return 400, {"error": "access_denied"}
        if device.approved_user is None:
            return 400, {"error": "authorization_pending"}
        device.used = True
        grant = Grant(user=device.approved_user, scope=device.scope, lifetime=self.lifetime)
        return 200, self._token_response(grant, self._new_refresh_token(grant))

    def _code_token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        code = self.codes.get(form.get("code", ""))
        verifier = form.get("code_verifier", "")
        if verifier:
            self.issued.append(verifier)
        if code is None or code.used:
            return 400, {"error": "invalid_grant", "error_description": "unknown or used code"}
        code.used = True
        if form.get("redirect_uri") != code.redirect_uri:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri mismatch"}
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if not verifier or digest != code.challenge:
            return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        grant = Grant(user=code.user, scope=code.scope, lifetime=self.lifetime)
        return 200, self._token_response(grant, self._new_refresh_token(grant))

    def handle_device(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            device = DeviceAuthorization(
                device_code="dc-" + secrets.token_urlsafe(24),
                user_code=f"{secrets.randbelow(10**4):04d}-{secrets.randbelow(10**4):04d}",
                scope=form.get("scope", ""),
            )
            self.devices[device.device_code] = device
            self.issued.append(device.device_code)
            return 200, {
                "device_code": device.device_code,
                "user_code": device.user_code,
                "verification_uri": f"{self.base_url}/device-verify",
                "expires_in": 600,
                "interval": self.device_interval,
                "message": f"Open {self.base_url}/device-verify and enter {device.user_code}.",
            }

    def handle_authorize(self, query: dict[str, str]) -> tuple[int, str]:
        """Redirect target URL (302) or an error text (400)."""
        redirect_uri = query.get("redirect_uri", "")
        host = urlsplit(redirect_uri).hostname
        if query.get("client_id") != self.client_id or host not in ("127.0.0.1", "localhost", "::1"):
            return 400, "unknown client or redirect_uri"
        if (
            query.get("response_type") != "code"
            or query.get("code_challenge_method") != "S256"
            or not query.get("code_challenge")
        ):
            return 400, "response_type=code with PKCE S256 required"
        answer: dict[str, str] = {"state": query.get("state", "")}
        with self._lock:
            if self.deny_authorization:
                answer["error"] = "access_denied"
            else:
                code = "ac-" + secrets.token_urlsafe(24)
                self.codes[code] = AuthorizationCode(
                    self.authorize_user,
                    self.client_id,
                    redirect_uri,
                    query["code_challenge"],
                    query.get("scope", ""),
                )
                self.issued.append(code)
                answer["code"] = code
        return 302, f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{urlencode(answer)}"

    def client_ok(self, form: dict[str, str], authorization: str | None) -> bool:
        """RFC 6749 §2.3.1: client_secret_basic or client_secret_post; a public client sends its id only."""
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):
            decoded = base64.b64decode(authorization[6:]).decode()
            client_id, _, secret = decoded.partition(":")
        if client_id != self.client_id:
            return False
        return self.client_secret is None or secret == self.client_secret


class _Handler(BaseHTTPRequestHandler):
    server_endpoint: TokenEndpoint

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = dict(parse_qsl(self.rfile.read(length).decode()))
        path = urlsplit(self.path).path
        endpoint = self.server_endpoint
        endpoint.requests.append((path, form))
        if path not in ("/token", "/device"):
            self._json(404, {"error": "not_found"})
        elif not endpoint.client_ok(form, self.headers.get("Authorization")):
            self._json(401, {"error": "invalid_client", "error_description": "Client authentication failed."})
        elif path == "/token":
            self._json(*endpoint.handle_token(form))
        else:
            self._json(*endpoint.handle_device(form))

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query))
        self.server_endpoint.requests.append((parts.path, query))
        if parts.path != "/authorize":
            self._send(404, "text/plain", b"not found")
            return
        status, target = self.server_endpoint.handle_authorize(query)
        if status == 302:
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._send(status, "text/plain", target.encode())

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, "application/json", json.dumps(body).encode())

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request lines carry codes."""


# --------------------------------------------------------------------------------------------------- Dovecot


def dovecot_oauth_config(
    key_dir: Path, *, username_attribute: str = "email", mechanisms: str = "xoauth2 oauthbearer"
) -> str:
    """``extra_config`` for `Sandbox`: an oauth2 passdb that validates our JWTs locally with the key in ``key_dir``.

    Writes the passdb's args file into ``key_dir``. ``mechanisms`` on the passdb keeps password logins from
    being tried as tokens; the failure delay and the anvil auth penalty are off so refused logins cost nothing.
    """
    args = key_dir / "dovecot-oauth2.conf.ext"
    args.write_text(
        "introspection_mode = local\n"
        f"local_validation_key_dict = fs:posix:prefix={key_dir}/keys/\n"
        f"username_attribute = {username_attribute}\n"
        "username_format = %Ln\n"
    )
    args.chmod(0o644)
    return (
        "auth_mechanisms = plain login xoauth2 oauthbearer\n"
        "auth_failure_delay = 0\n"
        "passdb {\n"
        "  driver = oauth2\n"
        f"  mechanisms = {mechanisms}\n"
        f"  args = {args}\n"
        "}\n"
    )


# ---------------------------------------------------------------------------------------------------- SMTP


@dataclass
class OAuthReceived:
    login: str
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


class XOAuth2Handler:
    """aiosmtpd handler with AUTH XOAUTH2 checking `TokenEndpoint` JWTs; records each accepted message.

    A refused token gets the XOAUTH2 error exchange (334 with a base64 JSON status, the client's empty line,
    then 535); the result has ``handled=False`` so that aiosmtpd sends the 535 itself.
    """

    def __init__(self, endpoint: TokenEndpoint) -> None:
        self.endpoint = endpoint
        self.received: list[OAuthReceived] = []
        self.accepted: list[str] = []
        self.refused = 0

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        if len(args) > 1:
            try:
                blob = base64.b64decode(args[1], validate=True)
            except ValueError:
                await server.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        else:
            answer = await server.challenge_auth("")
            if not isinstance(answer, bytes):
                return AuthResult(success=False, handled=True)
            blob = answer
        fields = dict(
            part.split("=", 1) for part in blob.decode(errors="replace").split("\x01") if "=" in part
        )
        user, auth = fields.get("user", ""), fields.get("auth", "")
        try:
            if not auth.startswith("Bearer "):
                raise jwt.InvalidTokenError("no bearer token")
            claims = self.endpoint.verify_access_token(auth[len("Bearer ") :])
            if user.lower() not in (str(claims.get("email", "")).lower(), str(claims.get("sub", "")).lower()):
                raise jwt.InvalidTokenError("token belongs to another user")
        except jwt.InvalidTokenError:
            self.refused += 1
            status = {"status": "401", "schemes": "Bearer", "scope": "https://mail.google.com/"}
            await server.challenge_auth(json.dumps(status))
            return AuthResult(success=False, handled=False)
        self.accepted.append(user)
        return AuthResult(success=True, auth_data=user)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert envelope.mail_from is not None and envelope.original_content is not None
        self.received.append(
            OAuthReceived(
                str(session.auth_data),
                envelope.mail_from,
                list(envelope.rcpt_tos),
                bytes(envelope.original_content),
            )
        )
        return "250 2.0.0 queued"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def oauth_smtp_server(
    endpoint: TokenEndpoint, tls_context: ssl.SSLContext | None = None
) -> Iterator[tuple[int, XOAuth2Handler]]:
    """aiosmtpd on 127.0.0.1 requiring AUTH XOAUTH2, the only mechanism offered; after STARTTLS when
    ``tls_context`` (a server context) is given."""
    handler = XOAuth2Handler(endpoint)
    tls: dict[str, Any] = {"tls_context": tls_context, "require_starttls": True} if tls_context else {}
    controller = Controller(
        handler,
        hostname=HOST,
        port=_free_port(),
        auth_required=True,
        auth_require_tls=tls_context is not None,
        auth_exclude_mechanism=["LOGIN", "PLAIN"],
        **tls,
    )
    controller.start()
    try:
        yield controller.port, handler
    finally:
        controller.stop()
