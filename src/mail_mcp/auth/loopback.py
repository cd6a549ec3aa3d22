"""The loopback sign-in of ``mail-mcp account login`` (e.g. Google): the authorization code grant with PKCE S256
(RFC 7636) and a loopback redirect (RFC 8252). A one-shot HTTP server on 127.0.0.1 (random port) receives the
redirect and checks ``state``; without a browser the user opens the URL anywhere and pastes back the address
they were sent to, or the code. Nothing secret reaches a log line, exception or repr."""

from __future__ import annotations

import logging
import os
import socketserver
import sys
import threading
import webbrowser
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from authlib.common.security import generate_token  # type: ignore[import-untyped,unused-ignore]
from authlib.integrations.httpx_client import OAuth2Client  # type: ignore[import-untyped,unused-ignore]
from pydantic import SecretStr

from mail_mcp.auth.endpoint import Verify, request_token
from mail_mcp.auth.flows import LoginResult, _fix, _result
from mail_mcp.errors import AuthFailed

__all__ = ["default_open_browser", "loopback_login"]

log = logging.getLogger(__name__)


def default_open_browser(url: str) -> bool:
    """Open ``url`` in the user's browser; False when there is none to open (headless or SSH session).

    On Linux without a display, Python's webbrowser would start a console browser in this terminal, so such
    sessions get False unless ``$BROWSER`` names one.
    """
    headless = (
        sys.platform.startswith("linux")
        and not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY")
    )
    if headless and not os.environ.get("BROWSER"):
        return False
    try:
        return webbrowser.open(url, new=1)
    except webbrowser.Error:
        return False


class _Redirect:
    """What the loopback listener received: the code, or the provider's error, for our ``state`` only."""

    def __init__(self, state: str) -> None:
        self.state = state
        self.done = threading.Event()
        self.code: SecretStr | None = None
        self.error: str | None = None


class _Listener(HTTPServer):
    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # HTTPServer's would do a reverse DNS lookup of the host
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])


_PAGE = (
    "<!doctype html><html><head><meta charset=utf-8><title>mail-mcp</title></head>"
    "<body><p>{}</p></body></html>"
)


def _handler(box: _Redirect) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            params = dict(parse_qsl(urlsplit(self.path).query))
            if (
                box.done.is_set()
                or params.get("state") != box.state
                or not ("code" in params or "error" in params)
            ):
                self._reply(400, "This is not the sign-in answer mail-mcp is waiting for.")
                return
            if "error" in params:
                box.error = params["error"][:100]
                self._reply(200, "Sign-in failed. You can close this tab and return to the terminal.")
            else:
                box.code = SecretStr(params["code"])
                self._reply(200, "Sign-in complete. You can close this tab and return to the terminal.")
            box.done.set()

        def _reply(self, status: int, text: str) -> None:
            body = _PAGE.format(text).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Silent: the request line carries the authorization code."""

    return Handler


def _code_from_paste(text: str, state: str, fix: str) -> str:
    """The authorization code from a pasted redirect address (state checked) or a pasted bare code."""
    text = text.strip()
    if "code=" in text or "error=" in text or "://" in text:
        params = dict(parse_qsl(urlsplit(text).query if "?" in text else text))
        if "error" in params:
            raise AuthFailed(
                f"The provider refused the sign-in ({params['error'][:100]}). {fix}",
                oauth_error=params["error"][:100],
            )
        if params.get("state") != state:
            raise AuthFailed(f"The pasted address belongs to another sign-in attempt (state mismatch). {fix}")
        code = params.get("code", "")
    else:
        code = text
    if not code or any(ch.isspace() for ch in code):
        raise AuthFailed(f"No authorization code found in what was pasted. {fix}")
    return code


def loopback_login(
    *,
    client_id: str,
    authorization_url: str,
    token_url: str,
    scope: str,
    notify: Callable[[str], None],
    client_secret: SecretStr | str | None = None,
    authorization_params: Mapping[str, str] | None = None,
    open_browser: Callable[[str], bool] = default_open_browser,
    prompt: Callable[[str], str] | None = None,
    account_id: str | None = None,
    timeout: float = 300.0,
    redirect_host: str = "127.0.0.1",
    http_timeout: float = 30.0,
    verify: Verify = True,
) -> LoginResult:
    """Sign in with an authorization code, PKCE S256 and a redirect to a one-shot listener on ``redirect_host``.

    ``notify`` gets the authorization URL to show. When ``open_browser`` cannot open it and ``prompt`` is
    given, ``prompt`` reads the pasted redirect address (or bare code); an empty answer means "the browser on
    this machine finished" and uses what the listener received. Otherwise the listener waits ``timeout`` s.
    """
    secret = SecretStr(client_secret) if isinstance(client_secret, str) else client_secret
    fix = _fix(account_id)
    verifier = generate_token(64)
    state = generate_token(32)
    box = _Redirect(state)
    server = _Listener((redirect_host, 0), _handler(box))
    server.timeout = 0.2
    stop = threading.Event()

    def serve() -> None:
        while not box.done.is_set() and not stop.is_set():
            server.handle_request()

    host = f"[{redirect_host}]" if ":" in redirect_host else redirect_host
    redirect_uri = f"http://{host}:{server.server_port}/"
    thread = threading.Thread(target=serve, name="oauth-loopback", daemon=True)
    thread.start()
    try:
        with OAuth2Client(
            client_id=client_id, scope=scope, redirect_uri=redirect_uri, code_challenge_method="S256"
        ) as builder:
            url, _ = builder.create_authorization_url(
                authorization_url, state=state, code_verifier=verifier, **dict(authorization_params or {})
            )
        opened = open_browser(url)
        if opened:
            notify(f"Sign in in the browser window that opened. If none did, open this URL:\n{url}")
        elif prompt is not None:
            notify(
                "Open this URL in a browser and sign in:\n"
                f"{url}\nThen paste the address the browser was sent to (it starts with {redirect_uri}) "
                "or just its code; press Enter alone if a browser on this machine already finished."
            )
        else:
            notify(f"Open this URL in a browser on this machine and sign in:\n{url}")
        if opened or prompt is None:
            if not box.done.wait(timeout):
                raise AuthFailed(f"No sign-in answer arrived within {timeout:.0f} s. {fix}")
            code = _listener_code(box, fix)
        else:
            pasted = prompt("Address or code: ")
            if pasted.strip():
                code = _code_from_paste(pasted, state, fix)
            elif box.done.wait(1.0):
                code = _listener_code(box, fix)
            else:
                raise AuthFailed(f"Nothing was pasted and no browser on this machine answered. {fix}")
    finally:
        stop.set()
        thread.join(timeout=5)
        server.server_close()
    token = request_token(
        lambda client: client.fetch_token(
            token_url,
            grant_type="authorization_code",
            code=code,
            redirect_uri=redirect_uri,
            code_verifier=verifier,
        ),
        client_id=client_id,
        client_secret=secret,
        url=token_url,
        fix=fix,
        secrets=[code, verifier],
        timeout=http_timeout,
        verify=verify,
    )
    log.debug("loopback sign-in completed")
    return _result(token, account_id)


def _listener_code(box: _Redirect, fix: str) -> str:
    if box.error is not None:
        raise AuthFailed(f"The provider refused the sign-in ({box.error}). {fix}", oauth_error=box.error)
    assert box.code is not None
    return box.code.get_secret_value()
