"""In-process tunnelling proxies for the proxy tests: SOCKS5 (RFC 1928, RFC 1929 auth) and HTTP CONNECT.

Both listen on 127.0.0.1 in a thread, tunnel only to 127.0.0.1 (``localhost`` is mapped to it; any other
target is refused), and record every accepted connection and every target asked for. With ``coalesce`` the
proxy waits briefly for the server's first bytes and sends them in the same write as its own success reply,
the worst case a client must survive when the server speaks first (IMAP, SMTP).
"""

from __future__ import annotations

import base64
import select
import socket
import socketserver
import threading
from typing import Any, Self

ALLOWED = {"127.0.0.1": "127.0.0.1", "localhost": "127.0.0.1"}


def _exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("client went away")
        data += chunk
    return data


class TunnelProxy:
    """Base of both proxies; subclasses implement the handshake in `negotiate`."""

    scheme = ""

    def __init__(
        self, username: str | None = None, password: str | None = None, coalesce: bool = False
    ) -> None:
        self.username, self.password, self.coalesce = username, password, coalesce
        self.connections = 0
        self.targets: list[tuple[str, int]] = []
        self.auth_failures = 0
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                proxy._serve(self.request)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler, bind_and_activate=True)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        creds = f"{self.username}:{self.password}@" if self.username else ""
        return f"{self.scheme}://{creds}127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            for sock in list(self._open):
                sock.close()
        self._thread.join(5)

    def _record(self, host: str, port: int) -> None:
        with self._lock:
            self.targets.append((host, port))

    def _serve(self, client: socket.socket) -> None:
        with self._lock:
            self.connections += 1
            self._open.add(client)
        upstream: socket.socket | None = None
        try:
            upstream = self.negotiate(client)
            if upstream is not None:
                with self._lock:
                    self._open.add(upstream)
                self._relay(client, upstream)
        except (OSError, ValueError):  # the client went away, or stop() closed the sockets
            pass
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    sock.close()
                    with self._lock:
                        self._open.discard(sock)

    def _dial(self, host: str, port: int) -> socket.socket | None:
        """Connect to an allowed target; None when refused by rule or by the target."""
        address = ALLOWED.get(host.lower())
        if address is None:
            return None
        try:
            return socket.create_connection((address, port), timeout=5)
        except OSError:
            return None

    def _first_bytes(self, upstream: socket.socket) -> bytes:
        if not self.coalesce:
            return b""
        readable, _, _ = select.select([upstream], [], [], 1.0)
        return upstream.recv(65536) if readable else b""

    @staticmethod
    def _relay(a: socket.socket, b: socket.socket) -> None:
        a.settimeout(None)
        b.settimeout(None)
        while True:
            readable, _, _ = select.select([a, b], [], [], 30)
            if not readable:
                return
            for src in readable:
                data = src.recv(65536)
                if not data:
                    return
                (b if src is a else a).sendall(data)

    def negotiate(self, client: socket.socket) -> socket.socket | None:
        raise NotImplementedError


class Socks5Proxy(TunnelProxy):
    """RFC 1928 SOCKS5, CONNECT only; RFC 1929 username/password required when credentials are set."""

    scheme = "socks5"

    def negotiate(self, client: socket.socket) -> socket.socket | None:
        version, count = _exact(client, 2)
        methods = _exact(client, count)
        if version != 5:
            return None
        wanted = 2 if self.username is not None else 0
        if wanted not in methods:
            client.sendall(b"\x05\xff")
            return None
        client.sendall(bytes([5, wanted]))
        if wanted == 2:
            _, ulen = _exact(client, 2)
            user = _exact(client, ulen).decode()
            (plen,) = _exact(client, 1)
            password = _exact(client, plen).decode()
            ok = (user, password) == (self.username, self.password)
            client.sendall(b"\x01\x00" if ok else b"\x01\x01")
            if not ok:
                with self._lock:
                    self.auth_failures += 1
                return None
        _, command, _, atyp = _exact(client, 4)
        if atyp == 1:
            host = socket.inet_ntoa(_exact(client, 4))
        elif atyp == 3:
            host = _exact(client, _exact(client, 1)[0]).decode()
        elif atyp == 4:
            host = socket.inet_ntop(socket.AF_INET6, _exact(client, 16))
        else:
            client.sendall(b"\x05\x08\x00\x01" + bytes(6))
            return None
        port = int.from_bytes(_exact(client, 2), "big")
        self._record(host, port)
        if command != 1:
            client.sendall(b"\x05\x07\x00\x01" + bytes(6))
            return None
        upstream = self._dial(host, port)
        if upstream is None:
            code = 2 if host.lower() not in ALLOWED else 5
            client.sendall(bytes([5, code, 0, 1]) + bytes(6))
            return None
        bound_host, bound_port = upstream.getsockname()[:2]
        reply = b"\x05\x00\x00\x01" + socket.inet_aton(bound_host) + bound_port.to_bytes(2, "big")
        client.sendall(reply + self._first_bytes(upstream))
        return upstream


class HttpConnectProxy(TunnelProxy):
    """HTTP/1.1 CONNECT; ``Proxy-Authorization: Basic`` required when credentials are set."""

    scheme = "http"

    def negotiate(self, client: socket.socket) -> socket.socket | None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk or len(head) > 16384:
                return None
            head += chunk
        lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        method, authority, _ = lines[0].split(" ", 2)
        headers: dict[str, Any] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        host, _, port_text = authority.rpartition(":")
        host = host.strip("[]")
        self._record(host, int(port_text))
        if method != "CONNECT":
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            return None
        if self.username is not None:
            token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            if headers.get("proxy-authorization") != f"Basic {token}":
                with self._lock:
                    self.auth_failures += 1
                client.sendall(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                    b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n'
                )
                return None
        upstream = self._dial(host, int(port_text))
        if upstream is None:
            status = b"403 Forbidden" if host.lower() not in ALLOWED else b"502 Bad Gateway"
            client.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\n\r\n")
            return None
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n" + self._first_bytes(upstream))
        return upstream
