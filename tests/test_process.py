"""`mail-mcp` as a real process: on stdin EOF, SIGTERM or SIGINT it logs out of IMAP, closes its sockets, stops
any child it started and exits 0 within 2 s, on every transport; one structured log line per tool call."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest

from mail_mcp.sandbox import SAMPLE_SUBJECTS, Sandbox

EXIT_WITHIN = 2.0
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
MCP_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


def call(request_id: int, tool: str, **arguments: Any) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }


class Server:
    """`python -m mail_mcp <args>` with pipes; stderr is collected by a thread so it can be waited on."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mail_mcp", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={"PATH": os.environ["PATH"], "MAIL_MCP_LOG_LEVEL": "DEBUG", **env},
        )
        self.stderr: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._changed:
                self.stderr.append(line)
                self._changed.notify_all()

    @property
    def log(self) -> str:
        return "".join(self.stderr)

    def wait_for(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while (found := re.search(pattern, self.log)) is None:
                left = deadline - time.monotonic()
                assert left > 0 and self.proc.poll() is None, f"no {pattern!r} in the log:\n{self.log}"
                self._changed.wait(min(left, 0.1))
        return found

    def rpc(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """One JSON-RPC message over stdio; the response when it is a request."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()
        if "id" not in message:
            return None
        line = self.proc.stdout.readline()
        return json.loads(line)

    def exit_after(self, action: str) -> float:
        """Close stdin (`eof`) or send a signal; returns the seconds until the process had exited with 0."""
        started = time.monotonic()
        if action == "eof":
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        else:
            self.proc.send_signal(getattr(signal, action))
        try:
            status = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"still running 10 s after {action}:\n{self.log}")
        took = time.monotonic() - started
        time.sleep(0.05)  # let the collector thread read the last lines
        assert status == 0, f"exit status {status} after {action}:\n{self.log}"
        return took

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None and not stream.closed:
                stream.close()


@contextmanager
def running(*args: str, env: dict[str, str]) -> Iterator[Server]:
    server = Server(*args, env=env)
    try:
        yield server
    finally:
        server.close()


# --------------------------------------------------------------------------- /proc helpers


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat[stat.rindex(")") + 2 :].split()[1]), []).append(int(entry))
    found, todo = set(), list(children.get(pid, ()))
    while todo:
        child = todo.pop()
        found.add(child)
        todo.extend(children.get(child, ()))
    return found


def alive(pids: set[int]) -> set[int]:
    left = set()
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if stat[stat.rindex(")") + 2] != "Z":
            left.add(pid)
    return left


def tcp_connections_of(pid: int) -> set[tuple[int, int]]:
    """(local port, remote port) of the process's connected TCP sockets (IPv4 and IPv6)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return {(local, remote) for local, remote, inode, _ in tcp_table() if inode in inodes and remote}


def tcp_table() -> list[tuple[int, int, str, str]]:
    """(local port, remote port, inode, state) of every TCP socket in this network namespace."""
    rows = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as handle:
            for line in handle.readlines()[1:]:
                fields = line.split()
                rows.append(
                    (
                        int(fields[1].rsplit(":", 1)[1], 16),
                        int(fields[2].rsplit(":", 1)[1], 16),
                        fields[9],
                        fields[3],
                    )
                )
    return rows


def assert_sockets_gone(connections: set[tuple[int, int]]) -> None:
    """No ESTABLISHED or CLOSE_WAIT socket left on either end of the server's old connections."""
    ends = connections | {(remote, local) for local, remote in connections}
    left = [row for row in tcp_table() if row[3] in {"01", "08"} and (row[0], row[1]) in ends]
    assert not left, f"sockets left: {left}"


def dovecot_sessions(log_path: Path, offset: int) -> tuple[set[str], set[str]]:
    """(sessions that logged in, sessions that logged out cleanly) in the Dovecot log after `offset`."""
    text = log_path.read_bytes()[offset:].decode(errors="replace")
    logins = set(re.findall(r"Login: user=<alice>.*session=<([^>]+)>", text))
    logouts = set(re.findall(r"imap\(alice\)<\d+><([^>]+)>: Info: (?:Disconnected: )?Logged out", text))
    return logins, logouts


def assert_logged_out(sandbox: Sandbox, offset: int) -> None:
    assert sandbox.log_path is not None
    deadline = time.monotonic() + 2
    while True:
        logins, logouts = dovecot_sessions(sandbox.log_path, offset)
        if (logins and logins <= logouts) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert logins, "the server never logged in"
    assert logins <= logouts, f"sessions closed without LOGOUT: {logins - logouts}\n{sandbox.log_tail()}"


def log_offset(sandbox: Sandbox) -> int:
    assert sandbox.log_path is not None
    return sandbox.log_path.stat().st_size


# --------------------------------------------------------------------------- stdio


def stdio_session(server: Server) -> None:
    assert server.rpc(INIT)["result"]["serverInfo"]["name"] == "mail-mcp"  # type: ignore[index]
    server.rpc(INITIALIZED)
    listing = server.rpc(call(2, "list_messages", limit=3))
    assert listing is not None and not listing["result"]["isError"], listing
    message_id = listing["result"]["structuredContent"]["data"]["messages"][0]["message_id"]
    message = server.rpc(call(3, "get_message", message_id=message_id))
    assert message is not None and not message["result"]["isError"], message


@pytest.mark.parametrize("action", ["eof", "SIGTERM", "SIGINT"])
def test_stdio_exit_logs_out_within_2s(sandbox: Sandbox, action: str) -> None:
    offset = log_offset(sandbox)
    with running("serve", env=sandbox.env()) as server:
        stdio_session(server)
        connections = tcp_connections_of(server.proc.pid)
        assert {remote for _, remote in connections} == {sandbox.imap_port}, "no IMAP connection was open"
        children = descendants(server.proc.pid)
        took = server.exit_after(action)
        assert took < EXIT_WITHIN, f"took {took:.2f}s"
        assert not alive(children)
        assert_sockets_gone(connections)
        assert_logged_out(sandbox, offset)
        assert "stopped" in server.log


def test_call_log_lines_are_structured_and_hold_no_content(sandbox: Sandbox) -> None:
    with running("serve", env=sandbox.env()) as server:
        stdio_session(server)
        server.rpc(call(4, "get_message", message_id="imap:default:INBOX:1:999999"))
        server.exit_after("eof")
    log = server.log
    line = r"INFO mail_mcp\.calls: tool={} account=\S+ outcome={} duration_ms=\d+"
    assert re.search(line.format("list_messages", "ok") + r" items=3 chars=\d+\n", log), log
    assert re.search(line.format("get_message", "ok") + r" chars=\d+\n", log), log
    assert re.search(line.format("get_message", r"(stale_id|not_found)") + r"\n", log), log
    assert len(re.findall(r"mail_mcp\.calls: tool=", log)) == 3
    secret = sandbox.env()["MAIL_IMAP_DEFAULT_PASS"]
    subjects = [s for folder in SAMPLE_SUBJECTS.values() for s in folder if len(s) > 12]
    assert secret not in log
    assert not [s for s in subjects if s in log], "message content in the log"
    assert "DEBUG" in log  # debug logging was on: content stays out all the same (no IMAP wire trace)


def test_sandbox_command_stops_its_dovecot_on_sigterm() -> None:
    with running("sandbox", env={}) as server:
        found = server.wait_for(r"sandbox Dovecot pid (\d+): .* root (\S+)")
        dovecot, root = int(found.group(1)), Path(found.group(2))
        stdio_session(server)
        children = descendants(server.proc.pid)
        assert dovecot in children and root.is_dir()
        took = server.exit_after("SIGTERM")
        assert took < EXIT_WITHIN, f"took {took:.2f}s"
        assert not alive(children), f"left running: {alive(children)}"
        assert not root.exists()


# --------------------------------------------------------------------------- HTTP and SSE


def free_port(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_http_sigterm(sandbox: Sandbox) -> None:
    offset = log_offset(sandbox)
    with running("serve", "--transport", "http", "--port", "0", env=sandbox.env()) as server:
        url = server.wait_for(r"streamable HTTP at (http://\S+)").group(1)
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        with httpx2.Client(timeout=10) as http:
            init = http.post(url, json=INIT, headers=MCP_HEADERS)
            assert init.status_code == 200, init.text
            session = {"mcp-session-id": init.headers["mcp-session-id"], "mcp-protocol-version": "2025-06-18"}
            http.post(url, json=INITIALIZED, headers={**MCP_HEADERS, **session})
            result = http.post(url, json=call(2, "list_folders"), headers={**MCP_HEADERS, **session})
            assert result.status_code == 200 and '"isError":false' in result.text
        connections = tcp_connections_of(server.proc.pid)
        assert sandbox.imap_port in {remote for _, remote in connections}
        took = server.exit_after("SIGTERM")
        assert took < EXIT_WITHIN, f"took {took:.2f}s"
        assert free_port(port)
        assert_sockets_gone(connections)
        assert_logged_out(sandbox, offset)


def test_sse_sigint_with_a_client_connected(sandbox: Sandbox) -> None:
    """An open SSE stream does not hold the server up: it ends the stream and exits within 2 s."""
    offset = log_offset(sandbox)
    with running("serve", "--transport", "sse", "--port", "0", env=sandbox.env()) as server:
        url = server.wait_for(r"SSE \(GET /sse, POST /messages/\) at (http://\S+)").group(1)
        base = url.removesuffix("/sse")
        with httpx2.Client(timeout=10) as http, http.stream("GET", url) as stream:
            lines = stream.iter_lines()
            endpoint = next(line for line in lines if line.startswith("data: /messages/"))[6:]

            def answer(message: dict[str, Any]) -> str:
                assert http.post(base + endpoint, json=message).status_code == 202
                if "id" not in message:
                    return ""
                return next(
                    line for line in lines if line.startswith("data: ") and f'"id":{message["id"]}' in line
                )

            answer(INIT)
            answer(INITIALIZED)
            assert '"isError":false' in answer(call(2, "list_folders"))
            took = server.exit_after("SIGINT")
        assert took < EXIT_WITHIN, f"took {took:.2f}s"
        assert_logged_out(sandbox, offset)
