"""Loopback ports for the sandbox's servers: picking free ones and waiting for a server's greeting."""

from __future__ import annotations

import socket
import ssl

HOST = "127.0.0.1"


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports that were free a moment ago (another process may still take one)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def greets(port: int, greeting: bytes, context: ssl.SSLContext | None = None) -> bool:
    """True when a server on ``port`` answers a new connection with ``greeting`` (over TLS with ``context``)."""
    try:
        with socket.create_connection((HOST, port), timeout=1) as raw:
            sock = context.wrap_socket(raw, server_hostname=HOST) if context is not None else raw
            with sock:
                return sock.recv(256).startswith(greeting)
    except OSError:  # includes ssl.SSLError and timeouts
        return False
