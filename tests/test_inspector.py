"""Smoke test with the MCP Inspector's CLI mode driving the installed `mail-mcp` (stdio sandbox and HTTP).

The Inspector is installed with npm into a cache directory this test controls (the one `scripts/setup` fills):
MAIL_MCP_INSPECTOR_DIR, else $XDG_CACHE_HOME/mail-mcp/mcp-inspector-<version> (~/.cache when unset). Without
node/npm the test is skipped on a developer machine and fails in CI (CI set); a failed install always fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from mail_mcp.sandbox import Sandbox

INSPECTOR_VERSION = os.environ.get("MCP_INSPECTOR_VERSION", "2.12.0")
MAIL_MCP = Path(sys.executable).with_name("mail-mcp")
READ_TOOLS = {"list_accounts", "list_folders", "list_messages", "get_message", "get_attachment"}
TOKEN = "inspector-token-0123456789abcdef"


def inspector_dir() -> Path:
    if os.environ.get("MAIL_MCP_INSPECTOR_DIR"):
        return Path(os.environ["MAIL_MCP_INSPECTOR_DIR"])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "mail-mcp" / f"mcp-inspector-{INSPECTOR_VERSION}"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def inspector() -> Path:
    npm = shutil.which("npm")
    if not shutil.which("node") or not npm:
        if in_ci():
            pytest.fail(
                "node and npm are required in CI for the MCP Inspector smoke test "
                "(Debian: apt-get install nodejs npm)"
            )
        pytest.skip("node/npm not installed: the MCP Inspector smoke test needs them")
    where = inspector_dir()
    binary = where / "node_modules" / ".bin" / "mcp-inspector"
    manifest = where / "node_modules" / "@modelcontextprotocol" / "inspector" / "package.json"
    installed = manifest.exists() and json.loads(manifest.read_text()).get("version") == INSPECTOR_VERSION
    if not (installed and binary.exists()):
        where.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(where),
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                f"@modelcontextprotocol/inspector@{INSPECTOR_VERSION}",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0 or not binary.exists():
            pytest.fail(
                f"npm install of @modelcontextprotocol/inspector@{INSPECTOR_VERSION} into {where} failed "
                f"(exit {done.returncode}):\n{(done.stderr or done.stdout)[-3000:]}"
            )
    return binary


def run_inspector(binary: Path, tmp_path: Path, *args: str) -> Any:
    assert MAIL_MCP.exists(), f"{MAIL_MCP} missing: install the package (scripts/setup)"
    home = tmp_path / "home"  # the Inspector keeps a catalog and a storage folder under ~/.mcp-inspector
    home.mkdir(exist_ok=True)
    env = {**os.environ, "HOME": str(home), "MCP_INSPECTOR_SECRET_STORE": "memory"}
    done = subprocess.run(
        [str(binary), "--cli", *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )
    assert done.returncode == 0, f"inspector exit {done.returncode}:\n{done.stderr[-3000:]}"
    return json.loads(done.stdout)


def test_inspector_cli_against_the_sandbox(inspector: Path, tmp_path: Path) -> None:
    listing = run_inspector(inspector, tmp_path, str(MAIL_MCP), "sandbox", "--method", "tools/list")
    assert {tool["name"] for tool in listing["tools"]} >= READ_TOOLS
    result = run_inspector(
        inspector,
        tmp_path,
        str(MAIL_MCP),
        "sandbox",
        "--method",
        "tools/call",
        "--tool-name",
        "list_messages",
        "--tool-arg",
        "limit=2",
    )
    assert result.get("isError") is not True
    assert len(result["structuredContent"]["data"]["messages"]) == 2


def test_inspector_cli_over_http_with_a_token(inspector: Path, tmp_path: Path, sandbox: Sandbox) -> None:
    env = {"PATH": os.environ["PATH"], **sandbox.env(), "MAIL_MCP_HTTP_TOKEN": TOKEN}
    with subprocess.Popen(
        [str(MAIL_MCP), "serve", "--transport", "http", "--port", "0"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as server:
        assert server.stderr is not None
        try:
            deadline, url = time.monotonic() + 30, None
            while url is None and time.monotonic() < deadline:
                line = server.stderr.readline()
                assert line, "the server exited before serving"
                if found := re.search(r"streamable HTTP at (http://\S+)", line):
                    url = found.group(1)
            assert url
            prompts = run_inspector(
                inspector,
                tmp_path,
                url,
                "--transport",
                "http",
                "--header",
                f"Authorization: Bearer {TOKEN}",
                "--method",
                "prompts/list",
            )
            assert {p["name"] for p in prompts["prompts"]} == {
                "triage_unread",
                "summarise_thread",
                "draft_reply",
            }
        finally:
            server.terminate()
            assert server.wait(timeout=10) == 0
