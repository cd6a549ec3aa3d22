"""`mail-mcp serve` over stdio stops within 2 s on SIGTERM, SIGINT or stdin EOF even while a tool call waits on
a stalled IMAP server (FaultProxy `stall`, IMAP timeout 20 s): the call is cancelled, its socket closed, a write
cut this way is audited as unknown, and the process exits 0 with no child left."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import pytest

from mail_mcp.ids import MessageId
from mail_mcp.sandbox import Sandbox

from .faultproxy import FaultProxy
from .test_process import (
    EXIT_WITHIN,
    INIT,
    INITIALIZED,
    Server,
    alive,
    call,
    descendants,
    running,
    tcp_connections_of,
)


def fresh_message(sandbox: Sandbox) -> str:
    name = f"S-{uuid.uuid4().hex[:8]}"
    with sandbox.connect("bob") as imap:
        imap.create_folder(name)
        imap.append(name, b"Subject: stalled\r\nMessage-ID: <s@t>\r\n\r\nbody\r\n")
        validity = int(imap.select_folder(name, readonly=True)[b"UIDVALIDITY"])
        uid = int(imap.search("ALL")[0])
    return str(MessageId("default", name, validity, uid))


def send(server: Server, message: dict[str, object]) -> None:
    assert server.proc.stdin is not None
    server.proc.stdin.write(json.dumps(message) + "\n")
    server.proc.stdin.flush()


@pytest.mark.parametrize("action", ["SIGTERM", "SIGINT", "eof"])
@pytest.mark.parametrize("kind", ["write", "read"])
def test_exit_within_2s_while_a_call_waits_on_a_stalled_server(
    sandbox: Sandbox, tmp_path: Path, action: str, kind: str
) -> None:
    message_id = fresh_message(sandbox)
    audit_log = tmp_path / "audit.jsonl"
    with FaultProxy(sandbox.host, sandbox.imap_port) as proxy:
        env = {
            **sandbox.env("bob"),
            "MAIL_IMAP_DEFAULT_HOST": "127.0.0.1",
            "MAIL_IMAP_DEFAULT_PORT": str(proxy.port),
            "MAIL_IMAP_DEFAULT_SECURITY": "plain",
            "MAIL_IMAP_TIMEOUT": "20",
            "MAIL_IMAP_WRITE_ENABLED": "true",
            "MAIL_MCP_AUDIT_LOG": str(audit_log),
            **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"},
        }
        with running("serve", env=env) as server:
            assert server.rpc(INIT)["result"]["serverInfo"]["name"] == "mail-mcp"  # type: ignore[index]
            server.rpc(INITIALIZED)
            listing = server.rpc(call(2, "list_folders"))
            assert listing is not None and not listing["result"]["isError"], listing
            if kind == "write":
                rule = proxy.stall(r"UID STORE")
                send(server, call(3, "modify_flags", message_ids=[message_id], add_flags=["\\Flagged"]))
            else:
                rule = proxy.stall(r"UID FETCH")
                send(server, call(3, "get_message", message_id=message_id))
            assert rule.fired.wait(5), proxy.dump()
            time.sleep(0.2)
            connections = tcp_connections_of(server.proc.pid)
            assert proxy.port in {remote for _, remote in connections}
            children = descendants(server.proc.pid)
            took = server.exit_after(action)
            assert took < EXIT_WITHIN, f"took {took:.2f}s after {action}:\n{server.log}"
            assert not alive(children)
            assert not alive({server.proc.pid})
            assert "stopped" in server.log
    records = [json.loads(line) for line in audit_log.read_text().splitlines()] if audit_log.exists() else []
    if kind == "write":
        assert [(r["action"], r["status"]) for r in records] == [("modify_flags", "unknown")], records
    else:
        assert records == []
