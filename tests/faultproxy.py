"""A loopback TCP proxy that breaks an IMAP or SMTP conversation at an exact, chosen point.

`FaultProxy` listens on 127.0.0.1 and forwards every connection to one upstream server, in its own threads
(independent of any event loop in the test). It reads the client's stream as commands: IMAP lines with their
literals (``{n}`` and ``{n+}``, whose bytes are data, never commands) and SMTP lines with the DATA body. Rules
armed on the proxy fire on the n-th command matching a regex and cut, stall or falsify the exchange::

    with FaultProxy(sb.host, sb.imap_port) as proxy:
        rule = proxy.cut_after_send(r"APPEND")        # the server executes it, the client never hears back
        client = imapclient.IMAPClient(proxy.host, proxy.port, ssl=False)
        ...
        assert rule.fired.wait(2) and rule.reached_upstream

Patterns use `re.match` (anchored at the start, case-insensitive for strings) against the command text: for
IMAP the first line after the tag (``"APPEND INBOX {310}"``), for SMTP the whole line (``"MAIL FROM:<a@b>"``,
``"DATA"``) or ``"."`` for the end of the message (`END_OF_DATA`).

TLS is not inspected: after a successful STARTTLS both directions are relayed byte for byte and no rule fires
on that connection, so fault tests connect in plain text. SMTP BDAT/CHUNKING, IMAP COMPRESS and commands
pipelined behind a faulted one are not understood.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Self

__all__ = ["END_OF_DATA", "Action", "Entry", "FaultProxy", "Protocol", "Rule"]

Protocol = Literal["imap", "smtp"]
Action = Literal["cut_before", "cut_after_send", "stall", "replace_reply"]
Direction = Literal[">", "<", "!"]
Kind = Literal["line", "literal", "data", "raw", "event"]

END_OF_DATA = r"\.$"
_LITERAL = re.compile(rb"\{(\d+)(\+?)\}\r?\n\Z")
_SMTP_MORE = re.compile(rb"\d{3}-")
_POLL = 0.05
_Pump = Callable[["_Conn"], None]


class _Gone(Exception):
    """The connection was closed; the pump thread ends."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One transcript item: `>` client to server, `<` server to client, `!` proxy event."""

    conn: int
    direction: Direction
    kind: Kind
    data: bytes
    delivered: bool = True
    at: float = field(default_factory=time.monotonic)

    def __str__(self) -> str:
        text = self.data.decode("utf-8", "replace")
        if self.kind in ("literal", "data", "raw"):
            text = f"<{self.kind} {len(self.data)} bytes>"
        mark = "" if self.delivered else " [not delivered]"
        return f"#{self.conn} {self.direction} {text.rstrip()}{mark}"


class Rule:
    """An armed fault; made by the `FaultProxy` methods, never directly."""

    def __init__(
        self,
        pattern: str | re.Pattern[str],
        action: Action,
        *,
        nth: int = 1,
        times: int = 1,
        reply: bytes = b"",
        close: bool = False,
        duration: float | None = None,
        forward: bool = False,
        wait_reply: bool = True,
        reply_timeout: float = 5.0,
    ) -> None:
        if nth < 1 or times < 1:
            raise ValueError("nth and times must be at least 1")
        self.pattern = re.compile(pattern, re.IGNORECASE) if isinstance(pattern, str) else pattern
        self.action: Action = action
        self.nth, self.times = nth, times
        self.reply, self.close, self.duration, self.forward = reply, close, duration, forward
        self.wait_reply, self.reply_timeout = wait_reply, reply_timeout
        self.fired = threading.Event()
        self.replied = threading.Event()
        self.matches = 0
        self.hits = 0
        self.command: str | None = None
        self.reached_upstream: bool | None = None
        self.upstream_reply: bytes | None = None
        self.armed = True
        self._released = threading.Event()

    def __repr__(self) -> str:
        return (
            f"Rule({self.action} {self.pattern.pattern!r} nth={self.nth} times={self.times} "
            f"hits={self.hits} reached={self.reached_upstream})"
        )

    def release(self) -> None:
        """End a stall now (and let any later firing of this rule pass at once)."""
        self._released.set()

    def disarm(self) -> None:
        """Never fire again."""
        self.armed = False

    def _due(self) -> bool:
        return self.armed and self.nth <= self.matches < self.nth + self.times

    def _fire(self) -> None:
        self.hits += 1
        self.fired.set()


@dataclass
class _Fault:
    """A cut_after_send or replace_reply in progress on one connection."""

    rule: Rule
    tag: bytes = b""
    first_seq: int = 0
    last_seq: int | None = None
    withheld: bytearray = field(default_factory=bytearray)
    done: threading.Event = field(default_factory=threading.Event)


class _Reader:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.eof = False

    def fill(self) -> bool:
        """Wait for more bytes; False at end of stream."""
        if self.eof:
            return False
        try:
            data = self.sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def take(self, n: int) -> bytes:
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def readline(self) -> bytes:
        """A line with its LF, or at end of stream whatever is left."""
        while True:
            end = self.buf.find(b"\n")
            if end >= 0:
                return self.take(end + 1)
            if not self.fill():
                return self.take(len(self.buf))

    def read(self, n: int) -> bytes | None:
        """Exactly `n` bytes, or None at end of stream."""
        while len(self.buf) < n:
            if not self.fill():
                return None
        return self.take(n)

    def chunk(self) -> bytes:
        if not self.buf and not self.fill():
            return b""
        return self.take(len(self.buf))


class _Conn:
    def __init__(
        self, proxy: FaultProxy, number: int, client: socket.socket, upstream: socket.socket
    ) -> None:
        self.proxy, self.number = proxy, number
        self.client, self.upstream = client, upstream
        self.client_in, self.upstream_in = _Reader(client), _Reader(upstream)
        self.lock = threading.Lock()
        self.closed = threading.Event()
        self.relay_open = threading.Event()
        self.relay_open.set()
        self.raw = False
        self.fault: _Fault | None = None
        self.sync_tag: bytes | None = None
        self.literal_aborted = False
        self.starttls_tag: bytes | None = None
        self.sent_seq = 0
        self.special: dict[int, str] = {}
        self.data_mode = False
        self._threads_left = 2
        self.threads: list[threading.Thread] = []

    def record(self, direction: Direction, kind: Kind, data: bytes, delivered: bool = True) -> None:
        self.proxy._record(Entry(self.number, direction, kind, data, delivered))

    def event(self, text: str) -> None:
        self.record("!", "event", text.encode())

    def close(self) -> None:
        """Shut both sockets down (FIN to both peers); the last pump thread releases them."""
        with self.lock:
            if self.closed.is_set():
                return
            self.closed.set()
        for sock in (self.client, self.upstream):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.proxy._forget(self)

    def thread_done(self) -> None:
        self.close()
        with self.lock:
            self._threads_left -= 1
            last = self._threads_left == 0
        if last:
            self.client.close()
            self.upstream.close()

    def to_upstream(self, data: bytes, kind: Kind, record: bool = True) -> None:
        if self.closed.is_set():
            raise _Gone
        try:
            self.upstream.sendall(data)
        except OSError:
            self.close()
            raise _Gone from None
        if record:
            self.record(">", kind, data)

    def to_client(self, data: bytes, kind: Kind) -> None:
        while not self.relay_open.wait(_POLL):
            if self.closed.is_set():
                raise _Gone
        if self.closed.is_set():
            raise _Gone
        try:
            self.client.sendall(data)
        except OSError:
            self.close()
            raise _Gone from None
        self.record("<", kind, data)

    def hold(self, rule: Rule) -> None:
        """Block until the rule is released, its duration has passed or the connection is closed."""
        deadline = None if rule.duration is None else time.monotonic() + rule.duration
        while not self.closed.is_set() and not rule._released.is_set():
            left = _POLL if deadline is None else min(_POLL, deadline - time.monotonic())
            if left <= 0:
                break
            rule._released.wait(left)

    def pump_raw(self, reader: _Reader, dest: socket.socket, direction: Direction) -> None:
        while data := reader.chunk():
            try:
                dest.sendall(data)
            except OSError:
                return
            self.record(direction, "raw", data)

    def end_fault(self, fault: _Fault, reply: bytes | None) -> None:
        """Apply a cut_after_send or replace_reply once the upstream has answered (or never will)."""
        with self.lock:
            if fault.done.is_set():
                return
            fault.done.set()
            if self.fault is fault:
                self.fault = None
        rule = fault.rule
        if reply is not None:
            rule.reached_upstream = (
                True  # the server answered it (the forwarding thread may not have said so yet)
            )
            rule.upstream_reply = reply
            rule.replied.set()
        if rule.action == "cut_after_send":
            self.event(f"cut after send: {rule.command!r} (upstream replied: {reply is not None})")
            rule._fire()
            self.close()
        elif reply is not None:
            self.event(f"replace reply to {rule.command!r}")
            rule._fire()
            self.to_client(rule.reply, "line")
            if rule.close:
                self.close()
        else:
            self.close()

    def await_reply(self, fault: _Fault) -> None:
        """After a cut_after_send command: wait for the (withheld) reply, then cut."""
        deadline = time.monotonic() + (fault.rule.reply_timeout if fault.rule.wait_reply else 0)
        while time.monotonic() < deadline and not self.closed.is_set() and not fault.done.wait(_POLL):
            pass
        self.end_fault(fault, None)


class FaultProxy:
    """A fault-injecting TCP proxy on 127.0.0.1:`port` to ``(upstream_host, upstream_port)``; starts at once."""

    host = "127.0.0.1"

    def __init__(self, upstream_host: str, upstream_port: int, protocol: Protocol = "imap") -> None:
        if protocol not in ("imap", "smtp"):
            raise ValueError(f"protocol must be 'imap' or 'smtp', not {protocol!r}")
        self.upstream = (upstream_host, upstream_port)
        self.protocol: Protocol = protocol
        self.transcript: list[Entry] = []
        self.rules: list[Rule] = []
        self.connections = 0
        self._lock = threading.Lock()
        self._open: list[_Conn] = []
        self._all: list[_Conn] = []
        self._closing = threading.Event()
        self._listener = socket.create_server((self.host, 0))
        self._listener.settimeout(_POLL)
        self.port: int = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(
            target=self._accept_loop, name=f"faultproxy-{self.port}", daemon=True
        )
        self._acceptor.start()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FaultProxy({self.protocol} :{self.port} -> {self.upstream[0]}:{self.upstream[1]})"

    # ------------------------------------------------------------------ rules

    def cut_before(self, pattern: str | re.Pattern[str], *, nth: int = 1, times: int = 1) -> Rule:
        """Close both sides instead of forwarding the matching command: nothing of it reaches the server."""
        return self._arm(Rule(pattern, "cut_before", nth=nth, times=times))

    def cut_after_send(
        self,
        pattern: str | re.Pattern[str],
        *,
        nth: int = 1,
        times: int = 1,
        wait_reply: bool = True,
        reply_timeout: float = 5.0,
    ) -> Rule:
        """Forward the whole command (literals; for SMTP DATA the message through the dot), then cut.

        With `wait_reply` the cut happens when the server's reply arrives (it is recorded in
        `Rule.upstream_reply`, never relayed), so the server has executed the command before the client sees
        the connection drop; otherwise right after the last byte is forwarded.
        """
        return self._arm(
            Rule(
                pattern,
                "cut_after_send",
                nth=nth,
                times=times,
                wait_reply=wait_reply,
                reply_timeout=reply_timeout,
            )
        )

    def stall(
        self,
        pattern: str | re.Pattern[str],
        duration: float | None = None,
        *,
        forward: bool = False,
        nth: int = 1,
        times: int = 1,
    ) -> Rule:
        """Freeze the connection at the matching command for `duration` seconds or until `Rule.release`.

        Nothing is relayed to the client meanwhile; the command itself is held back too unless `forward`
        (then the server executes it and only its reply is delayed). `close` ends every stall.
        """
        return self._arm(Rule(pattern, "stall", nth=nth, times=times, duration=duration, forward=forward))

    def replace_reply(
        self,
        pattern: str | re.Pattern[str],
        reply: bytes,
        *,
        close: bool = False,
        nth: int = 1,
        times: int = 1,
    ) -> Rule:
        """Forward the command but send `reply` (raw bytes, with CRLF) instead of the server's whole answer.

        For IMAP that is every response up to and including the tagged one (continuations are relayed), for
        SMTP DATA the final reply after the dot. With `close` the connection is closed right after.
        """
        return self._arm(Rule(pattern, "replace_reply", nth=nth, times=times, reply=reply, close=close))

    def clear_rules(self) -> None:
        """Disarm and forget every rule."""
        with self._lock:
            for rule in self.rules:
                rule.disarm()
            self.rules.clear()

    def _arm(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def _match(self, text: str) -> Rule | None:
        """Count the match on every armed rule; the earliest-armed rule that is due fires."""
        chosen: Rule | None = None
        with self._lock:
            for rule in self.rules:
                if rule.armed and rule.pattern.match(text):
                    rule.matches += 1
                    if chosen is None and rule._due():
                        chosen = rule
                        rule.command = text
        return chosen

    # ------------------------------------------------------------------ connections

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._open)

    def cut_idle_connections(self, farewell: bytes = b"") -> int:
        """Close every open connection now (after sending `farewell`, e.g. an IMAP BYE); returns how many."""
        with self._lock:
            conns = list(self._open)
        for conn in conns:
            conn.event("cut idle connection")
            if farewell:
                try:
                    conn.client.sendall(farewell)
                    conn.record("<", "line", farewell)
                except OSError:
                    pass
            conn.close()
        return len(conns)

    def close(self) -> None:
        """Stop listening, close every connection and end all stalls."""
        self._closing.set()
        self._acceptor.join(2)
        self._listener.close()
        with self._lock:
            conns = list(self._all)
        for conn in conns:
            conn.close()
        for conn in conns:
            for thread in conn.threads:
                thread.join(2)

    def _forget(self, conn: _Conn) -> None:
        with self._lock:
            if conn in self._open:
                self._open.remove(conn)

    def _record(self, entry: Entry) -> None:
        with self._lock:
            self.transcript.append(entry)

    # ------------------------------------------------------------------ transcript

    def lines(self, direction: Direction = ">", *, delivered_only: bool = False) -> list[str]:
        """The decoded lines (no CRLF) in one direction, e.g. ``"a3 APPEND INBOX {42}"``."""
        with self._lock:
            entries = list(self.transcript)
        return [
            e.data.decode("utf-8", "replace").rstrip("\r\n")
            for e in entries
            if e.direction == direction
            and e.kind in ("line", "event")
            and (e.delivered or not delivered_only)
        ]

    def dump(self) -> str:
        """The whole transcript, one entry per line, for assertion messages."""
        with self._lock:
            return "\n".join(str(e) for e in self.transcript)

    # ------------------------------------------------------------------ plumbing

    def _accept_loop(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError as exc:
                client.close()
                self._record(Entry(0, "!", "event", f"upstream connect failed: {exc}".encode()))
                continue
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.connections += 1
                conn = _Conn(self, self.connections, client, upstream)
                self._open.append(conn)
                self._all.append(conn)
            if self.protocol == "imap":
                pumps = (self._imap_client_side, self._imap_server_side)
            else:
                pumps = (self._smtp_client_side, self._smtp_server_side)
            for pump, side in zip(pumps, ("c2s", "s2c"), strict=True):
                thread = threading.Thread(
                    target=self._run,
                    args=(pump, conn),
                    name=f"faultproxy-{self.port}-{conn.number}-{side}",
                    daemon=True,
                )
                conn.threads.append(thread)
            conn.event(f"connected to {self.upstream[0]}:{self.upstream[1]}")
            for thread in conn.threads:
                thread.start()

    def _run(self, pump: _Pump, conn: _Conn) -> None:
        try:
            pump(conn)
        except _Gone:
            pass
        finally:
            with conn.lock:
                fault = conn.fault
            if fault is not None and not conn.closed.is_set():
                conn.end_fault(fault, None)
            conn.thread_done()

    def _begin(
        self, conn: _Conn, rule: Rule | None, line: bytes, tag: bytes, seq: int, last_seq: int | None
    ) -> _Fault | None:
        """Apply the start of a rule to a command about to be forwarded; _Gone if the connection ended."""
        if rule is None:
            return None
        if rule.action == "cut_before":
            conn.record(">", "line", line, delivered=False)
            conn.event(f"cut before {rule.command!r}")
            rule.reached_upstream = False
            rule._fire()  # before the cut, so a client that sees the cut also sees the rule fired
            conn.close()
            raise _Gone
        if rule.action == "stall":
            conn.relay_open.clear()
            conn.event(f"stall at {rule.command!r}")
            rule.reached_upstream = False
            rule._fire()
            if rule.forward:
                threading.Thread(target=self._unstall, args=(conn, rule), daemon=True).start()
            else:
                conn.hold(rule)
                conn.relay_open.set()
                if conn.closed.is_set():
                    raise _Gone
            return None
        fault = _Fault(rule, tag=tag, first_seq=seq, last_seq=last_seq)
        with conn.lock:
            conn.fault = fault
        return fault

    @staticmethod
    def _unstall(conn: _Conn, rule: Rule) -> None:
        conn.hold(rule)
        conn.relay_open.set()

    @staticmethod
    def _sent(conn: _Conn, rule: Rule | None, fault: _Fault | None) -> None:
        """The whole command has been forwarded."""
        if rule is not None:
            rule.reached_upstream = True
        if fault is not None and rule is not None and rule.action == "cut_after_send":
            conn.await_reply(fault)
            raise _Gone

    def _after_starttls(self, conn: _Conn, reader: _Reader) -> bool:
        """Wait for the client's next bytes; True (and relay raw) if the server accepted STARTTLS."""
        if not reader.buf and not reader.fill():
            raise _Gone
        if conn.raw:
            conn.event("STARTTLS accepted: relaying raw bytes")
            conn.pump_raw(reader, conn.upstream, ">")
            return True
        return False

    # IMAP ---------------------------------------------------------------

    def _imap_client_side(self, conn: _Conn) -> None:
        reader = conn.client_in
        starttls = False
        while True:
            if starttls and self._after_starttls(conn, reader):
                return
            line = reader.readline()
            if not line.endswith(b"\n"):
                return
            tag, space, rest = line.partition(b" ")
            if not space:
                tag, rest = b"", line
            text = rest.rstrip(b"\r\n").decode("latin-1")
            rule = self._match(text) if conn.fault is None else None
            fault = self._begin(conn, rule, line, tag, 0, None)
            starttls = re.match(r"STARTTLS\s*$", text, re.IGNORECASE) is not None
            if starttls:
                with conn.lock:
                    conn.starttls_tag = tag
            self._forward_imap_command(conn, reader, line, tag)
            self._sent(conn, rule, fault)

    @staticmethod
    def _forward_imap_command(conn: _Conn, reader: _Reader, line: bytes, tag: bytes) -> None:
        while True:
            found = _LITERAL.search(line)
            sync = found is not None and not found[2]
            with conn.lock:
                conn.sync_tag = tag if sync else None
                conn.literal_aborted = False
            conn.to_upstream(line, "line")
            if found is None:
                return
            size = int(found[1])
            if sync and size and not reader.buf and not reader.fill():
                raise _Gone
            with conn.lock:
                conn.sync_tag = None
                if conn.literal_aborted:
                    return  # the server refused the literal: the buffered bytes are the next command
            literal = bytearray()
            while len(literal) < size:
                if not reader.buf and not reader.fill():
                    raise _Gone
                part = reader.take(size - len(literal))
                conn.to_upstream(part, "literal", record=False)
                literal += part
            conn.record(">", "literal", bytes(literal))
            line = reader.readline()
            if not line.endswith(b"\n"):
                raise _Gone

    def _imap_server_side(self, conn: _Conn) -> None:
        reader = conn.upstream_in
        while True:
            if conn.raw:
                conn.pump_raw(reader, conn.client, "<")
                return
            parts: list[tuple[Kind, bytes]] = []
            line = reader.readline()
            while True:
                if not line.endswith(b"\n"):
                    return
                parts.append(("line", line))
                found = _LITERAL.search(line)
                if found is None:
                    break
                literal = reader.read(int(found[1]))
                if literal is None:
                    return
                parts.append(("literal", literal))
                line = reader.readline()
            tag = parts[0][1].split(b" ", 1)[0]
            with conn.lock:
                fault = conn.fault
                if conn.sync_tag is not None and tag == conn.sync_tag:
                    conn.literal_aborted = True
                if conn.starttls_tag is not None and tag == conn.starttls_tag:
                    conn.starttls_tag = None
                    conn.raw = parts[0][1].split(b" ", 2)[1:2] == [b"OK"]
            if fault is not None and tag != b"+":
                for kind, data in parts:
                    conn.record("<", kind, data, delivered=False)
                    fault.withheld += data
                if tag == fault.tag:
                    conn.end_fault(fault, bytes(fault.withheld))
                continue
            for kind, data in parts:
                conn.to_client(data, kind)

    # SMTP ---------------------------------------------------------------

    def _smtp_client_side(self, conn: _Conn) -> None:
        reader = conn.client_in
        starttls = False
        while True:
            if starttls and self._after_starttls(conn, reader):
                return
            line = reader.readline()
            if not line.endswith(b"\n"):
                return
            with conn.lock:
                in_body = conn.data_mode
                end_of_data = in_body and line.rstrip(b"\r\n") == b"."
                if end_of_data:
                    conn.data_mode = False
            if in_body and not end_of_data:
                conn.to_upstream(line, "data")
                continue
            text = line.rstrip(b"\r\n").decode("latin-1")
            verb = text.split(" ", 1)[0].upper()
            with conn.lock:
                conn.sent_seq += 1
                seq = conn.sent_seq
                open_fault = conn.fault
                if not end_of_data and verb in ("DATA", "STARTTLS"):
                    conn.special[seq] = verb
                if open_fault is not None and end_of_data and open_fault.last_seq is None:
                    open_fault.last_seq = seq
                else:
                    open_fault = None
            starttls = verb == "STARTTLS" and not end_of_data
            if open_fault is not None:
                conn.to_upstream(line, "line")
                self._sent(conn, open_fault.rule, open_fault)
                continue
            rule = self._match(text) if conn.fault is None else None
            is_data = verb == "DATA" and not end_of_data
            fault = self._begin(conn, rule, line, b"", seq, None if is_data else seq)
            conn.to_upstream(line, "line")
            if is_data and fault is not None:
                continue  # the unit ends with the dot
            self._sent(conn, rule, fault)

    @staticmethod
    def _smtp_server_side(conn: _Conn) -> None:
        reader = conn.upstream_in
        seq = 0
        while True:
            if conn.raw:
                conn.pump_raw(reader, conn.client, "<")
                return
            lines: list[bytes] = []
            while True:
                line = reader.readline()
                if not line.endswith(b"\n"):
                    return
                lines.append(line)
                if not _SMTP_MORE.match(line):
                    break
            code = lines[0][:3]
            with conn.lock:
                fault = conn.fault
                verb = conn.special.pop(seq, None)
                if verb == "DATA":
                    if code == b"354":
                        conn.data_mode = True
                    elif fault is not None and fault.first_seq == seq and fault.last_seq is None:
                        fault.last_seq = seq
                if verb == "STARTTLS":
                    conn.raw = code == b"220"
                current, seq = seq, seq + 1
            if fault is not None and current == fault.last_seq:
                for line in lines:
                    conn.record("<", "line", line, delivered=False)
                    fault.withheld += line
                conn.end_fault(fault, bytes(fault.withheld))
                continue
            for line in lines:
                conn.to_client(line, "line")
