"""Serving over SSE (legacy hosts, `GET /sse` + `POST /messages/`) or streamable HTTP (`POST /mcp`).

The SDK's Starlette apps run by uvicorn on a socket we bind ourselves, wrapped in `BearerAuth` when a token is
configured. DNS-rebinding protection (Host/Origin checks) is always on with an explicit allow-list: loopback
names on a loopback bind, and on any other address the hosts and origins the owner configured. A non-loopback
bind without a token or without allowed hosts is refused (`TransportError`). On stop: stop accepting, give open
requests `SHUTDOWN_GRACE` seconds; a second signal forces the server down without waiting.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import logging
import os
import socket
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio
import anyio.from_thread
import anyio.lowlevel
from anyio.abc import TaskStatus

from mail_mcp.config.models import is_loopback

if TYPE_CHECKING:
    from mcp.server import MCPServer
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.types import ASGIApp, Receive, Scope, Send


log = logging.getLogger("mail_mcp.transport")

Transport = Literal["stdio", "sse", "http"]
TRANSPORTS: tuple[Transport, ...] = ("stdio", "sse", "http")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MIN_TOKEN_LENGTH = 16
SHUTDOWN_GRACE = 0.7  # seconds uvicorn waits for open requests and streams before cancelling them
LOGOUT_BUDGET = 0.8  # seconds for logging out of every IMAP connection at exit
LOOPBACK_ALLOWED_HOSTS = ("127.0.0.1:*", "localhost:*", "[::1]:*")
LOOPBACK_ALLOWED_ORIGINS = ("http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*")
TOKEN_ENV = "MAIL_MCP_HTTP_TOKEN"
TOKEN_FILE_ENV = "MAIL_MCP_HTTP_TOKEN_FILE"
ALLOWED_HOSTS_ENV = "MAIL_MCP_ALLOWED_HOSTS"
ALLOWED_ORIGINS_ENV = "MAIL_MCP_ALLOWED_ORIGINS"


class TransportError(Exception):
    """Transport options that must not start a server; the CLI prints the message and exits 2."""


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class HttpOptions:
    """Where and how to serve over HTTP. `token` is never shown in a repr."""

    transport: Literal["sse", "http"] = "http"
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str | None = field(default=None, repr=False)
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    @property
    def path(self) -> str:
        return "/sse" if self.transport == "sse" else "/mcp"

    def security(self) -> TransportSecuritySettings:
        """Host/Origin validation, always on: never left to the SDK's bind-address guess."""
        from mcp.server.transport_security import TransportSecuritySettings

        hosts = list(self.allowed_hosts)
        origins = list(self.allowed_origins)
        if self.loopback:
            hosts = [*LOOPBACK_ALLOWED_HOSTS, f"{_url_host(self.host)}:*", *hosts]
            origins = [*LOOPBACK_ALLOWED_ORIGINS, f"http://{_url_host(self.host)}:*", *origins]
        return TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=list(dict.fromkeys(hosts)),
            allowed_origins=list(dict.fromkeys(origins)),
        )


def split_list(value: str | None) -> list[str]:
    """`a, b c` -> ["a", "b", "c"] (commas or whitespace)."""
    return [item for item in (value or "").replace(",", " ").split() if item]


def read_token(env: Mapping[str, str], token_file: str | None = None) -> str | None:
    """The bearer token from `--token-file`, MAIL_MCP_HTTP_TOKEN_FILE or MAIL_MCP_HTTP_TOKEN (one of them)."""
    path = token_file or env.get(TOKEN_FILE_ENV) or None
    inline = env.get(TOKEN_ENV) or None
    if path and inline:
        raise TransportError(
            f"both {TOKEN_ENV} and a token file ({TOKEN_FILE_ENV} / --token-file) are set; use one"
        )
    if path:
        try:
            mode = os.stat(path).st_mode
            token = Path(path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise TransportError(f"cannot read the token file {path}: {exc.__class__.__name__}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("token file %s is readable by other users; chmod 600 it", path)
        if not token:
            raise TransportError(f"the token file {path} is empty")
        return token
    return inline


def http_options(
    transport: Literal["sse", "http"],
    host: str,
    port: int,
    token: str | None,
    allowed_hosts: list[str],
    allowed_origins: list[str],
) -> HttpOptions:
    """Validate what the owner asked for; refuse anything that would expose the mailbox."""
    if not 0 <= port <= 65535:
        raise TransportError(f"--port must be 0-65535, not {port}")
    if token is not None and (
        len(token) < MIN_TOKEN_LENGTH or any(c.isspace() or not c.isprintable() for c in token)
    ):
        raise TransportError(
            f"the HTTP token must be at least {MIN_TOKEN_LENGTH} printable characters without "
            "spaces (e.g. `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )
    options = HttpOptions(transport, host, port, token, tuple(allowed_hosts), tuple(allowed_origins))
    if not options.loopback:
        if token is None:
            raise TransportError(
                f"refusing to serve on {host}, which is not a loopback address, without a "
                f"bearer token: set {TOKEN_ENV} or {TOKEN_FILE_ENV} (or --token-file)"
            )
        if not allowed_hosts:
            raise TransportError(
                f"refusing to serve on {host} without the Host names clients will use: pass "
                f"--allowed-host (e.g. mail.example.org:{port or DEFAULT_PORT}) or set "
                f"{ALLOWED_HOSTS_ENV}; DNS-rebinding protection stays on"
            )
    return options


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


# --------------------------------------------------------------------------- bearer auth


class BearerAuth:
    """ASGI middleware: every HTTP request needs `Authorization: Bearer <token>`, else 401 before the app runs.

    Tokens are compared as SHA-256 digests with `hmac.compare_digest`: constant time, and no length leak.
    Lifespan events pass through untouched.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._digest = hashlib.sha256(token.encode()).digest()

    def authorized(self, headers: Iterable[tuple[bytes, bytes]]) -> bool:
        value = next((v for k, v in headers if k.lower() == b"authorization"), b"")
        scheme, _, presented = value.partition(b" ")
        ok = hmac.compare_digest(hashlib.sha256(presented.strip()).digest(), self._digest)
        return ok and scheme.lower() == b"bearer"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or (
            scope["type"] == "http" and self.authorized(scope.get("headers", []))
        ):
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # no websockets here
            await send({"type": "websocket.close", "code": 1008})
            return
        client = scope.get("client") or ("?", 0)
        log.warning(
            "401 for %s %s from %s: missing or wrong bearer token",
            scope.get("method", "-"),
            scope.get("path", "-"),
            client[0],
        )
        body = b'{"error":"unauthorized","message":"send Authorization: Bearer <token>"}'
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="mail-mcp"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def build_app(server: MCPServer, options: HttpOptions) -> ASGIApp:
    """The SDK's SSE or streamable-HTTP app with our Host/Origin allow-list, behind BearerAuth if configured."""
    security = options.security()
    app: ASGIApp
    if options.transport == "sse":
        app = server.sse_app(transport_security=security, host=options.host)
    else:
        app = server.streamable_http_app(transport_security=security, host=options.host)
    return BearerAuth(app, options.token) if options.token else app


# --------------------------------------------------------------------------- HTTP server


class HttpServer:
    """uvicorn serving `build_app` on a socket bound up front (so port 0 works and the URL is known).

    `await tg.start(http.serve)` returns once it accepts connections; `stop()` ends it. The process's signal
    handlers are left alone: `run()` owns them.
    """

    def __init__(self, server: MCPServer, options: HttpOptions) -> None:
        self.options = options
        self.app = build_app(server, options)
        self.port = options.port
        self._sock: socket.socket | None = None
        self._uvicorn: Any = None
        self._stops = 0

    @property
    def url(self) -> str:
        return f"http://{_url_host(self.options.host)}:{self.port}{self.options.path}"

    def bind(self) -> None:
        """Bind the listening socket now (idempotent); a busy port is a `TransportError`."""
        if self._sock is not None:
            return
        host = self.options.host.strip("[]")
        try:
            family, kind, proto, _, address = socket.getaddrinfo(
                host, self.options.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )[0]
            sock = socket.socket(family, kind, proto)
        except OSError as exc:
            raise TransportError(f"cannot bind {self.options.host}:{self.options.port}: {exc}") from None
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
        except OSError as exc:
            sock.close()
            why = "the port is in use" if exc.errno == errno.EADDRINUSE else str(exc)
            raise TransportError(f"cannot bind {self.options.host}:{self.options.port}: {why}") from None
        self._sock = sock
        self.port = sock.getsockname()[1]

    async def serve(self, *, task_status: TaskStatus[str] = anyio.TASK_STATUS_IGNORED) -> None:
        import uvicorn

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:  # run() handles signals, for every transport
                yield

        self.bind()
        assert self._sock is not None
        sock = self._sock
        config = uvicorn.Config(
            self.app,
            log_config=None,
            access_log=False,
            lifespan="on",
            ws="none",
            server_header=False,
            timeout_graceful_shutdown=SHUTDOWN_GRACE,  # type: ignore[arg-type]  # float works
            host=self.options.host,
            port=self.port,
        )
        self._uvicorn = Server(config)
        self._uvicorn.should_exit = self._stops > 0
        done = anyio.Event()

        async def run_uvicorn() -> None:
            try:
                await self._uvicorn.serve(sockets=[sock])
            finally:
                sock.close()
                done.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(run_uvicorn)
            while not self._uvicorn.started and not done.is_set():
                await anyio.sleep(0.01)
            if self._uvicorn.started:
                where = (
                    "SSE (GET /sse, POST /messages/)"
                    if self.options.transport == "sse"
                    else "streamable HTTP"
                )
                log.info(
                    "serving MCP over %s at %s (bearer token %s; allowed hosts %s)",
                    where,
                    self.url,
                    "required" if self.options.token else "not configured",
                    " ".join(self.options.security().allowed_hosts),
                )
                task_status.started(self.url)
        if not self._uvicorn.started and not self._stops:
            raise TransportError(f"the HTTP server on {self.options.host}:{self.port} did not start")

    def stop(self, signum: int | None = None) -> None:
        """Stop accepting and finish; a second call (second Ctrl-C / SIGTERM) stops without waiting."""
        self._stops += 1
        server = self._uvicorn
        if server is None:
            return
        if server.should_exit:
            server.force_exit = True
        elif signum is not None:
            server.handle_exit(signum, None)  # also tells sse-starlette to end open SSE streams
        else:
            server.should_exit = True


# --------------------------------------------------------------------------- stdio
