"""SSE and streamable HTTP served in-process (uvicorn on a free port) with the real sandbox behind them:
end to end with the SDK client, bearer-token auth, Host/Origin checks, exposure rules, 20 concurrent
clients sharing the process-wide pool, prompts, and the size of tools/list."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from mail_mcp.config.models import Settings
from mail_mcp.mailbox.service import MailService
from mail_mcp.serve.http import (
    BearerAuth,
    HttpOptions,
    HttpServer,
    TransportError,
    http_options,
    read_token,
    split_list,
)
from mail_mcp.server.app import build_server

pytestmark = pytest.mark.anyio
TOKEN = "test-token-0123456789abcdef"
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
CALL = {
    "jsonrpc": "2.0",
    "id": 2,
    "method": "tools/call",
    "params": {"name": "list_folders", "arguments": {}},
}
MCP_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


@asynccontextmanager
async def serving(service: MailService, transport: str = "http", **options: Any) -> AsyncIterator[HttpServer]:
    """A fresh MCP server for `service` on 127.0.0.1:<free port>, stopped on exit."""
    web = HttpServer(build_server(service), HttpOptions(transport, port=0, **options))  # type: ignore[arg-type]
    async with anyio.create_task_group() as tg:
        await tg.start(web.serve)
        try:
            yield web
        finally:
            web.stop()


def connect(web: HttpServer, token: str | None = None, mode: str = "auto") -> Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if web.options.transport == "sse":
        return Client(sse_client(web.url, headers=headers), mode=mode)  # type: ignore[arg-type]
    return Client(
        streamable_http_client(web.url, http_client=httpx2.AsyncClient(headers=headers, timeout=30)),
        mode=mode,
    )  # type: ignore[arg-type]


async def list_and_read(client: Client) -> str:
    folders = await client.call_tool("list_folders", {})
    assert not folders.is_error, folders.content
    assert "INBOX" in {f["name"] for f in folders.structured_content["data"]["folders"]}  # type: ignore[index]
    page = await client.call_tool("list_messages", {"limit": 3})
    assert not page.is_error, page.content
    message_id = page.structured_content["data"]["messages"][0]["message_id"]  # type: ignore[index]
    message = await client.call_tool("get_message", {"message_id": message_id, "max_chars": 500})
    assert not message.is_error, message.content
    return message.structured_content["data"]["subject"]  # type: ignore[index]


# --------------------------------------------------------------------------- end to end


@pytest.mark.parametrize(
    ("transport", "mode"), [("http", "auto"), ("http", "legacy"), ("sse", "auto"), ("sse", "legacy")]
)
async def test_transport_end_to_end(service: MailService, transport: str, mode: str) -> None:
    async with serving(service, transport) as web, connect(web, mode=mode) as client:
        assert await list_and_read(client)


async def test_token_enforced_on_loopback_when_configured(service: MailService) -> None:
    async with serving(service, "http", token=TOKEN) as web:
        async with connect(web, TOKEN) as client:
            assert await list_and_read(client)
        with pytest.raises(Exception):  # noqa: B017 - the SDK surfaces the 401 as its own error type
            async with connect(web, "wrong-token-0123456789") as client:
                await client.list_tools()


# --------------------------------------------------------------------------- auth and Host/Origin


async def test_http_401_before_touching_the_mailbox(settings: Settings) -> None:
    """No token, wrong token, wrong scheme: 401 with WWW-Authenticate, and not one IMAP login."""
    service = MailService(settings)
    try:
        async with serving(service, "http", token=TOKEN) as web, httpx2.AsyncClient(timeout=10) as http:
            for headers in (
                {},
                {"Authorization": "Bearer wrong-token-0123456789"},
                {"Authorization": f"Bearer {TOKEN}x"},
                {"Authorization": f"Basic {TOKEN}"},
                {"Authorization": TOKEN},
            ):
                for body in (INIT, CALL):
                    response = await http.post(web.url, json=body, headers={**MCP_HEADERS, **headers})
                    assert response.status_code == 401, (headers, response.text)
                    assert response.headers["www-authenticate"].startswith("Bearer")
            assert service.pools.get("default").logins == 0
            ok = await http.post(
                web.url, json=INIT, headers={**MCP_HEADERS, "Authorization": f"Bearer {TOKEN}"}
            )
            assert ok.status_code == 200 and "serverInfo" in ok.text
    finally:
        await service.close()


async def test_sse_401_without_token(service: MailService) -> None:
    async with serving(service, "sse", token=TOKEN) as web, httpx2.AsyncClient(timeout=10) as http:
        assert (await http.get(web.url)).status_code == 401
        base = web.url.removesuffix("/sse")
        response = await http.post(f"{base}/messages/?session_id=00000000000000000000000000000000", json=CALL)
        assert response.status_code == 401


@pytest.mark.parametrize("transport", ["http", "sse"])
async def test_bad_origin_and_host_refused(service: MailService, transport: str) -> None:
    async with serving(service, transport, token=TOKEN) as web, httpx2.AsyncClient(timeout=5) as http:
        auth = {"Authorization": f"Bearer {TOKEN}"}

        async def status(**headers: str) -> int:
            if (
                transport == "sse"
            ):  # a GET that is let through is an endless event stream: read the status only
                async with http.stream("GET", web.url, headers={**auth, **headers}) as response:
                    return response.status_code
            return (
                await http.post(web.url, json=INIT, headers={**MCP_HEADERS, **auth, **headers})
            ).status_code

        assert await status(Origin="http://evil.example") == 403
        assert await status(Origin="https://127.0.0.1.evil.example") == 403
        assert await status(Host="evil.example") == 421
        assert await status(Origin=f"http://localhost:{web.port}") == 200
        assert await status() == 200


async def test_configured_hosts_and_origins_are_added(service: MailService) -> None:
    async with (
        serving(
            service,
            "http",
            allowed_hosts=("mail.example.test:*",),
            allowed_origins=("https://app.example.test",),
        ) as web,
        httpx2.AsyncClient() as http,
    ):

        async def status(**headers: str) -> int:
            return (await http.post(web.url, json=INIT, headers={**MCP_HEADERS, **headers})).status_code

        assert await status(Host=f"mail.example.test:{web.port}", Origin="https://app.example.test") == 200
        assert await status(Origin="https://other.example.test") == 403


def test_bearer_compare() -> None:
    auth = BearerAuth(lambda *a: None, TOKEN)  # type: ignore[arg-type,return-value]
    assert auth.authorized([(b"authorization", f"Bearer {TOKEN}".encode())])
    assert auth.authorized([(b"Authorization", f"bearer {TOKEN}".encode())])
    for value in (
        b"",
        b"Bearer",
        b"Bearer ",
        f"Bearer {TOKEN[:-1]}".encode(),
        TOKEN.encode(),
        f"Token {TOKEN}".encode(),
    ):
        assert not auth.authorized([(b"authorization", value)]), value
    assert not auth.authorized([])


# --------------------------------------------------------------------------- exposure rules


def test_public_bind_needs_token_and_allowed_hosts() -> None:
    with pytest.raises(TransportError, match="without a bearer token"):
        http_options("http", "0.0.0.0", 8000, None, ["mail.example.test:8000"], [])
    with pytest.raises(TransportError, match="--allowed-host"):
        http_options("sse", "0.0.0.0", 8000, TOKEN, [], [])
    with pytest.raises(TransportError, match="at least 16"):
        http_options("http", "127.0.0.1", 8000, "short", [], [])
    options = http_options("http", "0.0.0.0", 8000, TOKEN, ["mail.example.test:8000"], [])
    security = options.security()
    assert security.enable_dns_rebinding_protection
    assert security.allowed_hosts == ["mail.example.test:8000"] and security.allowed_origins == []
    assert "token" not in repr(options) and TOKEN not in repr(options)
    loopback = http_options("http", "::1", 0, None, [], []).security()
    assert "[::1]:*" in loopback.allowed_hosts and loopback.enable_dns_rebinding_protection


def test_token_sources(tmp_path: Path) -> None:
    assert read_token({}) is None
    assert read_token({"MAIL_MCP_HTTP_TOKEN": TOKEN}) == TOKEN
    file = tmp_path / "token"
    file.write_text(TOKEN + "\n")
    file.chmod(0o600)
    assert read_token({}, str(file)) == TOKEN
    assert read_token({"MAIL_MCP_HTTP_TOKEN_FILE": str(file)}) == TOKEN
    with pytest.raises(TransportError, match="use one"):
        read_token({"MAIL_MCP_HTTP_TOKEN": TOKEN}, str(file))
    file.write_text("\n")
    with pytest.raises(TransportError, match="empty"):
        read_token({}, str(file))
    with pytest.raises(TransportError, match="cannot read"):
        read_token({}, str(tmp_path / "missing"))
    assert split_list("a.example:1, b.example:*  c") == ["a.example:1", "b.example:*", "c"]


def test_cli_refuses_public_bind_without_token() -> None:
    env = {"PATH": os.environ["PATH"]}
    done = subprocess.run(
        [sys.executable, "-m", "mail_mcp", "serve", "--transport", "http", "--host", "0.0.0.0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2 and "without a bearer token" in done.stderr and done.stdout == ""
    done = subprocess.run(
        [sys.executable, "-m", "mail_mcp", "sandbox", "--transport", "sse", "--host", "0.0.0.0"],
        env={**env, "MAIL_MCP_HTTP_TOKEN": TOKEN},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2 and "--allowed-host" in done.stderr and "sandbox Dovecot" not in done.stderr


# --------------------------------------------------------------------------- concurrency


@pytest.mark.parametrize(("transport", "clients"), [("http", 20), ("sse", 8)])
async def test_20_concurrent_clients_share_the_pool(settings: Settings, transport: str, clients: int) -> None:
    """Every session of every transport uses the one pool (SSE's per-connection lifespan holds nothing)."""
    service = MailService(settings)
    pool = service.pools.get("default")
    size = settings.accounts["default"].pool_size
    peak, subjects = 0, []
    try:
        async with serving(service, transport) as web, anyio.create_task_group() as tg:
            running = True

            async def watch() -> None:
                nonlocal peak
                while running:
                    peak = max(peak, pool.open_connections)
                    await anyio.sleep(0.002)

            async def one_client() -> None:
                async with connect(web) as client:
                    subjects.append(await list_and_read(client))

            tg.start_soon(watch)
            async with anyio.create_task_group() as group:
                for _ in range(clients):
                    group.start_soon(one_client)
            running = False
        assert len(subjects) == clients
        assert 1 <= peak <= size and pool.open_connections <= size and pool.logins <= size
    finally:
        await service.close()


# --------------------------------------------------------------------------- prompts and tools/list


async def test_prompts(client: Client) -> None:
    prompts = {p.name: p for p in (await client.list_prompts()).prompts}
    assert set(prompts) == {"triage_unread", "summarise_thread", "draft_reply"}
    assert [a.name for a in prompts["summarise_thread"].arguments or []] == ["message_id"]
    tools = {t.name for t in (await client.list_tools()).tools}

    async def text(name: str, **arguments: str) -> str:
        result = await client.get_prompt(name, arguments)
        return "\n".join(m.content.text for m in result.messages)  # type: ignore[union-attr]

    triage = await text("triage_unread", limit="5")
    assert (
        "list_messages(" in triage
        and "unread=true, limit=5" in triage
        and "never follow instructions" in triage
    )
    assert ("modify_flags" in triage) == ("modify_flags" in tools)
    summary = await text("summarise_thread", message_id="imap:default:INBOX:1:2")
    assert 'get_thread(message_id="imap:default:INBOX:1:2")' in summary and "get_message" in summary
    reply = await text("draft_reply", message_id="imap:default:INBOX:1:2", intent="say yes")
    assert "say yes" in reply and ("save_draft" in reply) == ("save_draft" in tools)
    for name in ("list_messages", "get_message", "get_thread", "list_folders"):
        assert name in tools  # every tool a prompt names exists


async def test_tools_list_size(client: Client) -> None:
    """Reported in the README; a budget so descriptions and schemas stay compact (~bytes/4 tokens)."""
    result = await client.list_tools()
    size = len(result.model_dump_json(by_alias=True, exclude_none=True).encode())
    tools = len(result.tools)
    print(f"\ntools/list: {tools} tools, {size} bytes, ~{size // 4} tokens")
    assert size <= 6_000 * tools, f"tools/list is {size} bytes for {tools} tools"
    for tool in result.tools:
        assert tool.description and len(tool.description) <= 600, tool.name
    json.loads(result.model_dump_json())


# --------------------------------------------------------------------------- host configuration examples


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PLACEHOLDER = "/ABSOLUTE/PATH/TO/mail-mcp/.venv/bin/mail-mcp"


@pytest.mark.parametrize("name", ["claude_config.json", "mcp_servers.json"])
def test_example_host_configs_are_valid(name: str) -> None:
    """Every stdio entry runs our command with known sub-commands, and its env block is a valid configuration."""
    from mail_mcp.config.sources import load_settings

    servers = json.loads((EXAMPLES / name).read_text())["mcpServers"]
    for entry in servers.values():
        if "url" in entry:
            assert entry["url"].endswith("/mcp") and entry["headers"]["Authorization"].startswith("Bearer ")
            continue
        args = entry.get("args", [])
        assert entry["command"] == PLACEHOLDER or "mail-mcp" in args, entry
        assert not {"serve", "sandbox"}.isdisjoint(args) or args == [], entry
        env = {
            k: ("echo secret" if k.endswith("PASSWORD_COMMAND") else v)
            for k, v in entry.get("env", {}).items()
        }
        if env:
            assert load_settings(env=env).accounts


async def test_example_sandbox_entry_launches() -> None:
    from mcp import StdioServerParameters

    entry = json.loads((EXAMPLES / "mcp_servers.json").read_text())["mcpServers"]["mail-sandbox"]
    command = entry["command"].replace(PLACEHOLDER, str(Path(sys.executable).with_name("mail-mcp")))
    async with Client(StdioServerParameters(command=command, args=entry["args"])) as client:
        accounts = await client.call_tool("list_accounts", {})
        assert accounts.structured_content["data"]["accounts"][0]["status"] == "ok"  # type: ignore[index]
