"""A line-level IMAP relay that makes the sandbox Dovecot behave like a mail provider, for tests.

`ProviderShim(upstream_host, upstream_port, rewrite)` listens on 127.0.0.1 (plain text only: point the account at
it with SECURITY=plain) and relays each connection in two threads. The client side is read as whole commands
(the shim answers the client's synchronising literals itself with "+ go ahead", then sends the command upstream
with LITERAL+ literals). For each command `rewrite.command(conn, tag, text)` may return the reply to send
instead of forwarding (bytes, CRLF-terminated, tagged); else `rewrite.translate(conn, text)` gives the command
text to forward (literals included, as sent upstream); every response from the server
goes through `rewrite.response(conn, line)`, which may return it changed or None to drop it. `conn` is a
`ShimConn` carrying the selected mailbox (from SELECT/EXAMINE) and a dict for the rewrite's own state.
Which provider does what, with the source of each quirk, is in tests/test_providers_*.py.
"""

from __future__ import annotations

import re
import socket
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol, Self

_LITERAL = re.compile(rb"\{(\d+)(\+?)\}\r\n\Z")


@dataclass
class ShimConn:
    selected: str | None = None
    state: dict[str, Any] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)


class Rewrite(Protocol):
    def command(self, conn: ShimConn, tag: bytes, text: bytes) -> bytes | None: ...
    def translate(self, conn: ShimConn, text: bytes) -> bytes: ...
    def response(self, conn: ShimConn, line: bytes) -> bytes | None: ...


class PassThrough:
    def command(self, conn: ShimConn, tag: bytes, text: bytes) -> bytes | None:
        return None

    def translate(self, conn: ShimConn, text: bytes) -> bytes:
        return text

    def response(self, conn: ShimConn, line: bytes) -> bytes | None:
        return line


class _Reader:
    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buf = sock, bytearray()

    def readline(self) -> bytes:
        while (end := self.buf.find(b"\n")) < 0:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError
            self.buf += data
        line = bytes(self.buf[: end + 1])
        del self.buf[: end + 1]
        return line

    def read(self, n: int) -> bytes:
        while len(self.buf) < n:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError
            self.buf += data
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


class ProviderShim:
    host = "127.0.0.1"

    def __init__(self, upstream_host: str, upstream_port: int, rewrite: Rewrite) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.rewrite = rewrite
        self.conns: list[ShimConn] = []
        self._listener = socket.create_server((self.host, 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._closing = threading.Event()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._closing.set()
        self._listener.close()
        for sock in self._sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    @property
    def commands(self) -> list[str]:
        """Every command text the clients sent (before rewriting), e.g. "UID SEARCH CHARSET UTF-8 ..."."""
        return [text for conn in self.conns for text in conn.commands]

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(self.upstream, timeout=10)
            upstream.settimeout(None)
            client.settimeout(None)
            self._sockets += [client, upstream]
            conn = ShimConn()
            self.conns.append(conn)
            lock = threading.Lock()
            threading.Thread(
                target=self._client_side, args=(conn, client, upstream, lock), daemon=True
            ).start()
            threading.Thread(
                target=self._server_side, args=(conn, client, upstream, lock), daemon=True
            ).start()

    def _client_side(self, conn: ShimConn, client: socket.socket, upstream: socket.socket, lock: Any) -> None:
        reader = _Reader(client)
        try:
            while True:
                line = reader.readline()
                parts = [line]
                while found := _LITERAL.search(parts[-1]):
                    if not found[2]:
                        with lock:
                            client.sendall(b"+ go ahead\r\n")
                    parts.append(reader.read(int(found[1])))
                    parts.append(reader.readline())
                whole = b"".join(
                    _LITERAL.sub(lambda m: b"{%s+}\r\n" % m[1], p) if i % 2 == 0 else p
                    for i, p in enumerate(parts)
                )
                tag, _, text = whole.partition(b" ")
                text = text.rstrip(b"\r\n")
                conn.commands.append(text.decode("utf-8", "replace"))
                words = text.split(b" ", 2)
                if words[0].upper() in (b"SELECT", b"EXAMINE") and len(words) > 1:
                    conn.selected = b" ".join(words[1:]).strip(b'"').decode("utf-8", "replace")
                answer = self.rewrite.command(conn, tag, text)
                if answer is not None:
                    with lock:
                        client.sendall(answer)
                else:
                    upstream.sendall(tag + b" " + self.rewrite.translate(conn, text) + b"\r\n")
        except (EOFError, OSError):
            for sock in (client, upstream):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _server_side(self, conn: ShimConn, client: socket.socket, upstream: socket.socket, lock: Any) -> None:
        reader = _Reader(upstream)
        try:
            while True:
                line = reader.readline()
                chunk = line
                while found := _LITERAL.search(line):
                    chunk += reader.read(int(found[1]))
                    line = reader.readline()
                    chunk += line
                last = conn.commands[-1].split(" ", 1)[0].upper() if conn.commands else ""
                if chunk.startswith(b"+") and last not in ("IDLE", "AUTHENTICATE"):
                    continue  # the shim gave the continuations for literals itself
                out = self.rewrite.response(conn, chunk)
                if out is not None:
                    with lock:
                        client.sendall(out)
        except (EOFError, OSError):
            try:
                client.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
