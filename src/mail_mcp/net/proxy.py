"""Outgoing TCP connections through a SOCKS5 or HTTP CONNECT proxy, for IMAP (blocking) and SMTP (asyncio).

An account's ``MAIL_IMAP_<ID>_PROXY`` (or ``MAIL_SMTP_<ID>_PROXY``) is parsed once with `parse_proxy`; the
connection code then asks `open_socket` / `open_socket_async` for a socket already tunnelled to the mail
server and runs IMAP or SMTP (and any TLS) over it as if it had connected directly.

Schemes: ``socks5://`` resolves the mail server's name locally and sends the proxy an address, ``socks5h://``
lets the proxy resolve it (use this for Tor or when only the proxy can resolve the name), ``http://`` uses an
HTTP ``CONNECT`` tunnel. Credentials in the URL (``socks5://user:pass@host:1080``, percent-encoded) are kept
in a `SecretStr` and never appear in reprs, logs or error messages.

SOCKS5 goes through python-socks, which reads exactly the bytes of each SOCKS reply. HTTP CONNECT is done
here: python-socks reads the proxy's ``200`` reply with a single ``recv`` and drops whatever follows it, which
for IMAP and SMTP (the server speaks first) is the server's greeting whenever the proxy forwards it in the
same segment. `_http_tunnel` reads the reply head byte by byte and never past its blank line.
"""

from __future__ import annotations

import asyncio
import base64
import socket
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn
from urllib.parse import SplitResult, unquote, urlsplit

from pydantic import SecretStr
from python_socks import ProxyConnectionError, ProxyError, ProxyTimeoutError, ProxyType
from python_socks.async_.asyncio import Proxy as AsyncioProxy
from python_socks.sync import Proxy as SyncProxy

from mail_mcp.errors import ConfigError, ConnectionFailed, Timeout

__all__ = ["ProxyConfig", "ProxyScheme", "open_socket", "open_socket_async", "parse_proxy"]

ProxyScheme = Literal["socks5", "socks5h", "http"]
SCHEMES: dict[str, ProxyScheme] = {"socks5": "socks5", "socks5h": "socks5h", "http": "http"}
DEFAULT_TIMEOUT = 30.0
MAX_REPLY_HEAD = 16 * 1024


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """A validated proxy URL. `setting` names where it came from, for error messages."""

    scheme: ProxyScheme
    host: str
    port: int
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    setting: str = "proxy"

    @property
    def display(self) -> str:
        """``scheme://host:port``: safe to log and to show, never with credentials."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def __str__(self) -> str:
        return self.display


def parse_proxy(url: str, setting: str = "proxy") -> ProxyConfig:
    """Parse ``socks5://[user:pass@]host:port``, ``socks5h://…`` or ``http://[user:pass@]host:port``.

    Raises `ConfigError` naming `setting`; its message never contains the password.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        _bad(setting, "not a valid proxy URL; expected socks5://[user:pass@]host:port or http://host:port")
    raw_scheme = parts.scheme
    scheme = SCHEMES.get(raw_scheme.lower())
    if scheme is None:
        shown = raw_scheme if raw_scheme.isascii() and raw_scheme.isalnum() and len(raw_scheme) < 20 else "?"
        _bad(
            setting,
            f"unsupported proxy scheme {shown!r}; use socks5://, socks5h:// or http:// (HTTP CONNECT)",
        )
    host = parts.hostname
    where = f"{scheme}://{host}:{port}"
    if not host or any(c.isspace() or not c.isprintable() or c in "%\\" for c in host):
        _bad(setting, f"the proxy URL {scheme}://… has no valid host")
    if port is None or port == 0:
        _bad(setting, f"the proxy URL {scheme}://{host} needs an explicit port, e.g. {scheme}://{host}:1080")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        _bad(setting, f"the proxy URL {where} must not have a path, query or fragment")
    username, password = _credentials(parts, scheme, where, setting)
    return ProxyConfig(
        scheme=scheme,
        host=host,
        port=port,
        username=username,
        password=SecretStr(password) if password is not None else None,
        setting=setting,
    )


def _credentials(parts: SplitResult, scheme: str, where: str, setting: str) -> tuple[str | None, str | None]:
    if parts.username is None and parts.password is None:
        return None, None
    username = unquote(parts.username or "")
    password = unquote(parts.password or "")
    if not username or not password:
        _bad(
            setting,
            f"the proxy URL {where} needs both a user name and a password, or neither "
            "(percent-encode ':' '@' '/' in them)",
        )
    if scheme.startswith("socks5"):
        for label, value in (("user name", username), ("password", password)):
            if not value.isascii() or len(value) > 255:
                _bad(setting, f"the SOCKS5 {label} for {where} must be ASCII and at most 255 characters")
    elif ":" in username:
        _bad(setting, f"the HTTP proxy user name for {where} must not contain ':'")
    return username, password


def _bad(setting: str, problem: str) -> NoReturn:
    raise ConfigError(setting, problem) from None


# ---------------------------------------------------------------------------------------------------- opening


def open_socket(proxy: ProxyConfig, host: str, port: int, timeout: float | None) -> socket.socket:
    """A blocking socket connected to ``host:port`` through `proxy`, with `timeout` set on it.

    Raises `ConnectionFailed` (proxy unreachable, refused, authentication failed) or `Timeout`.
    """
    limit = DEFAULT_TIMEOUT if timeout is None else timeout
    try:
        if proxy.scheme == "http":
            sock = _http_tunnel(proxy, host, port, limit)
        else:
            sock = SyncProxy(**_socks_args(proxy)).connect(host, port, timeout=limit)
    except _FAILURES as exc:
        _raise_mapped(proxy, host, port, limit, exc)
    sock.settimeout(timeout)
    return sock


async def open_socket_async(proxy: ProxyConfig, host: str, port: int, timeout: float | None) -> socket.socket:
    """A non-blocking socket connected to ``host:port`` through `proxy`, for ``aiosmtplib.SMTP(sock=...)``.

    Must run in an asyncio event loop. Raises `ConnectionFailed` or `Timeout`.
    """
    limit = DEFAULT_TIMEOUT if timeout is None else timeout
    try:
        if proxy.scheme == "http":
            async with asyncio.timeout(limit):
                return await _http_tunnel_async(proxy, host, port)
        socks = AsyncioProxy(**_socks_args(proxy), loop=asyncio.get_running_loop())
        return await socks.connect(host, port, timeout=limit)
    except _FAILURES as exc:
        _raise_mapped(proxy, host, port, limit, exc)


def _socks_args(proxy: ProxyConfig) -> dict[str, Any]:
    secret = proxy.password.get_secret_value() if proxy.password is not None else None
    return {
        "proxy_type": ProxyType.SOCKS5,
        "host": proxy.host,
        "port": proxy.port,
        "username": proxy.username,
        "password": secret,
        "rdns": proxy.scheme == "socks5h",
    }


def _raise_mapped(proxy: ProxyConfig, host: str, port: int, limit: float, exc: Exception) -> NoReturn:
    """Translate a failure into `ConnectionFailed`/`Timeout`, naming the proxy but never its password."""
    target = f"{host}:{port}"
    details = {"proxy": proxy.display, "target": target}
    if isinstance(exc, (ProxyTimeoutError, TimeoutError)):
        raise Timeout(
            f"no tunnel to {target} through the proxy {proxy} within {limit:g} s; "
            f"check the proxy in {proxy.setting}",
            **details,
        ) from None
    if isinstance(exc, ProxyConnectionError):
        cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
        reason = _scrub(cause.strerror or type(cause).__name__, proxy)
        raise ConnectionFailed(
            f"cannot reach the proxy {proxy} ({reason}); check {proxy.setting}", **details
        ) from None
    if isinstance(exc, (ProxyError, _TunnelRefused)):
        reason = _scrub(str(exc), proxy)
        raise ConnectionFailed(
            f"the proxy {proxy} did not open a tunnel to {target}: {reason}; check the "
            f"proxy address and credentials in {proxy.setting}",
            **details,
        ) from None
    if isinstance(exc, OSError):
        reason = _scrub(exc.strerror or type(exc).__name__, proxy)
        raise ConnectionFailed(
            f"connecting to {target} through the proxy {proxy} failed ({reason}); check {proxy.setting}",
            **details,
        ) from None
    raise ConnectionFailed(
        f"connecting to {target} through the proxy {proxy} failed ({type(exc).__name__})", **details
    ) from None


def _scrub(text: str, proxy: ProxyConfig) -> str:
    text = " ".join(text.split())[:200]
    if proxy.password is not None and proxy.password.get_secret_value():
        text = text.replace(proxy.password.get_secret_value(), "***")
    return text


# ---------------------------------------------------------------------------------------------- HTTP CONNECT


class _TunnelRefused(Exception):
    """The HTTP proxy answered CONNECT with something other than 2xx; the text is safe to show."""


_FAILURES = (ProxyError, ProxyTimeoutError, ProxyConnectionError, _TunnelRefused, OSError)


def _connect_request(proxy: ProxyConfig, host: str, port: int) -> bytes:
    if not host or any(c in host for c in " \r\n\t/@"):
        raise _TunnelRefused("invalid target host name")
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
    if proxy.username is not None and proxy.password is not None:
        token = base64.b64encode(f"{proxy.username}:{proxy.password.get_secret_value()}".encode()).decode()
        lines.append(f"Proxy-Authorization: Basic {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _grow(head: bytes, byte: bytes) -> bytes:
    if not byte:
        raise _TunnelRefused("the proxy closed the connection before answering CONNECT")
    if len(head) >= MAX_REPLY_HEAD:
        raise _TunnelRefused("the proxy's reply to CONNECT is too long")
    return head + byte


def _check_reply(head: bytes) -> None:
    status = head.split(b"\r\n", 1)[0].decode("latin-1")
    words = status.split(None, 2)
    if len(words) < 2 or not words[0].startswith("HTTP/") or not words[1].isdigit():
        raise _TunnelRefused("not an HTTP proxy (unexpected reply to CONNECT)")
    code = int(words[1])
    if code == 407:
        raise _TunnelRefused("407 proxy authentication required or refused")
    if not 200 <= code < 300:
        reason = words[2] if len(words) > 2 else ""
        raise _TunnelRefused(f"{code} {reason}".strip())


def _http_tunnel(proxy: ProxyConfig, host: str, port: int, timeout: float) -> socket.socket:
    request = _connect_request(proxy, host, port)
    try:
        sock = socket.create_connection((proxy.host, proxy.port), timeout)
    except TimeoutError:
        raise
    except OSError as exc:
        raise ProxyConnectionError(exc.errno, exc.strerror or type(exc).__name__) from None
    try:
        sock.sendall(request)
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head = _grow(head, sock.recv(1))
        _check_reply(head)
    except BaseException:
        sock.close()
        raise
    return sock


async def _http_tunnel_async(proxy: ProxyConfig, host: str, port: int) -> socket.socket:
    request = _connect_request(proxy, host, port)
    loop = asyncio.get_running_loop()
    sock = await _tcp_connect_async(loop, proxy.host, proxy.port)
    try:
        await loop.sock_sendall(sock, request)
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head = _grow(head, await loop.sock_recv(sock, 1))
        _check_reply(head)
    except BaseException:
        sock.close()
        raise
    return sock


async def _tcp_connect_async(loop: asyncio.AbstractEventLoop, host: str, port: int) -> socket.socket:
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ProxyConnectionError(exc.errno, exc.strerror or "cannot resolve the proxy host") from None
    error: OSError = OSError("no address")
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, address)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
        except BaseException:
            sock.close()
            raise
    raise ProxyConnectionError(error.errno, error.strerror or type(error).__name__)
