"""The MCP conformance suite against `mail-mcp sandbox --transport http`, on both protocol revisions.

`scripts/install-conformance` provides the suite (npm @modelcontextprotocol/conformance, a pinned 0.2.0
prerelease) and the Node 22 it runs on, in a cache directory outside the repo; this test runs that script
itself and fails (never skips) with its reason when the suite cannot be installed. The server is a subprocess
started with its stable command line on a free loopback port. The suite runs `server --requirements
<revision>` against it with the per-check baseline tests/conformance/expected-failures-<revision>.yml, which
lists only the checks that fail for want of the suite's own fixtures (`test_*` tools, prompts and resources,
optional capabilities we do not declare) or because of an SDK bug we cannot fix. Anything else failing, a
WARNING included, fails the test, and so does a baseline entry that is no longer seen failing.

Known defects are described in tests/conformance/defects.md; `test_unknown_names_are_invalid_params` checks
the ones the suite cannot see while mail-mcp lacks its fixtures. Run with `-s` to see the summaries.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
INSTALL = ROOT / "scripts" / "install-conformance"
BASELINES = ROOT / "tests" / "conformance"
MAIL_MCP = Path(sys.executable).with_name("mail-mcp")
REVISIONS = ("2025-11-25", "2026-07-28")
MODERN = "2026-07-28"  # stateless: no initialize, `_meta` on every request, Mcp-Method/Mcp-Name headers
INSTALL_HINT = (
    "install it with `scripts/install-conformance` (needs npm and the npm registry; Debian: "
    "apt-get install npm); it installs into ${XDG_CACHE_HOME:-~/.cache}/mail-mcp/"
)
FAILING = ("FAILURE", "WARNING")  # with a baseline the runner counts WARNINGs as failures too
RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
INVALID_PARAMS = -32602
SERVER_START = 60.0  # seconds for Dovecot and the MCP server to come up
SUITE_TIMEOUT = 300.0  # seconds for one revision (it takes well under 10)


@dataclass(frozen=True)
class Check:
    scenario: str
    id: str
    status: str
    message: str

    @property
    def key(self) -> str:
        return f"{self.scenario}:{self.id}"


@dataclass(frozen=True)
class SuiteRun:
    revision: str
    returncode: int
    output: str
    checks: list[Check]
    scored: frozenset[str]
    seconds: float


@dataclass(frozen=True)
class Server:
    url: str
    log: Path


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def runner() -> Path:
    """The suite's runner script, installed (or verified) by scripts/install-conformance."""
    assert INSTALL.exists(), f"{INSTALL} is missing"
    try:
        done = subprocess.run([str(INSTALL)], capture_output=True, text=True, timeout=900, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"{INSTALL} could not run ({exc}); {INSTALL_HINT}")
    lines = done.stdout.strip().splitlines()
    path = Path(lines[-1]) if lines else None
    if done.returncode != 0 or path is None or not os.access(path, os.X_OK):
        pytest.fail(
            f"the MCP conformance suite is not available: {INSTALL} exited {done.returncode}:\n"
            f"{done.stderr[-3000:]}\n{INSTALL_HINT}"
        )
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`mail-mcp sandbox --transport http` on a free loopback port, stopped (SIGTERM) afterwards."""
    assert MAIL_MCP.exists(), f"{MAIL_MCP} is missing: install the package first (scripts/setup)"
    log = tmp_path_factory.mktemp("conformance-server") / "server.log"
    port = _free_port()
    command = [str(MAIL_MCP), "sandbox", "--transport", "http", "--host", "127.0.0.1", "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAIL_")}  # only the sandbox's defaults
    env["MAIL_MCP_LOG_LEVEL"] = "INFO"
    with (
        log.open("w") as sink,
        subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink) as proc,
    ):
        try:
            url = f"http://127.0.0.1:{port}/mcp"
            _wait_until_serving(proc, url, log)
            yield Server(url, log)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_serving(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Until the MCP endpoint answers HTTP at all (any status: a bare GET is an error without a session)."""
    deadline = time.monotonic() + SERVER_START
    while True:
        if proc.poll() is not None:
            pytest.fail(f"mail-mcp sandbox exited with {proc.returncode} before serving:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"mail-mcp sandbox did not serve {url} within {SERVER_START:.0f}s:\n{_tail(log)}")
        time.sleep(0.1)


def _tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:]


# --------------------------------------------------------------------------- running the suite


def baseline_path(revision: str) -> Path:
    return BASELINES / f"expected-failures-{revision}.yml"


def baseline_entries(revision: str) -> set[str]:
    """The `- scenario:check-id` entries of a baseline (the runner itself parses the YAML)."""
    lines = baseline_path(revision).read_text().splitlines()
    return {found.group(1) for line in lines if (found := re.match(r"^\s*-\s+([^\s#]+)", line))}


def scored_scenarios(runner: Path, revision: str) -> frozenset[str]:
    """The server scenarios the revision requires: the ones the runner judges against the baseline."""
    done = subprocess.run(
        [str(runner), "list", "--requirements", revision, "--server"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"`conformance list --requirements {revision}`:\n{done.stderr[-2000:]}"
    section = done.stdout.split("Server scenarios", 1)[1].split("\n\n", 1)[0]
    return frozenset(re.findall(r"^\s+- (\S+)$", section, flags=re.MULTILINE))


def read_checks(results: Path) -> list[Check]:
    """Every check of every scenario the runner wrote (`-o results`: server-<scenario>-<time>/checks.json)."""
    checks = []
    for directory in sorted(results.iterdir()):
        found = RESULT_DIR.match(directory.name)
        assert found, f"unexpected entry in the results: {directory}"
        assert (directory / "checks.json").is_file(), f"no checks.json in {directory}"
        raw: list[dict[str, Any]] = json.loads((directory / "checks.json").read_text())
        checks += [
            Check(
                found.group("scenario"),
                str(check["id"]),
                str(check["status"]),
                str(check.get("errorMessage") or ""),
            )
            for check in raw
        ]
    return checks


def run_suite(runner: Path, url: str, revision: str, results: Path) -> SuiteRun:
    started = time.monotonic()
    done = subprocess.run(
        [
            str(runner),
            "server",
            "--url",
            url,
            "--requirements",
            revision,
            "--expected-failures",
            str(baseline_path(revision)),
            "-o",
            str(results),
            "--timeout",
            "20000",
        ],
        capture_output=True,
        text=True,
        timeout=SUITE_TIMEOUT,
        check=False,
    )
    seconds = time.monotonic() - started
    output = ANSI.sub("", done.stdout + done.stderr)
    checks = read_checks(results) if results.is_dir() else []
    return SuiteRun(revision, done.returncode, output, checks, scored_scenarios(runner, revision), seconds)


def summary(run: SuiteRun, expected: set[str]) -> str:
    scored = [c for c in run.checks if c.scenario in run.scored]
    statuses = Counter(c.status for c in scored)
    others = {c.scenario for c in run.checks} - run.scored
    failing = sorted({c.scenario for c in run.checks if c.scenario in others and c.status in FAILING})
    tasks = [name for name in failing if name.startswith("tasks-")]  # the Tasks extension
    shown = [name for name in failing if name not in tasks] + ([f"tasks-* ({len(tasks)})"] if tasks else [])
    return (
        f"conformance {run.revision}: {len({c.scenario for c in scored})} required scenarios, "
        f"{len(scored)} checks: {statuses['SUCCESS']} passed, "
        f"{sum(c.key in expected for c in scored if c.status in FAILING)} baselined failures, "
        f"{statuses['SKIPPED']} skipped, "
        f"{statuses['INFO']} info; {run.seconds:.1f}s. Not scored: {len(others)} scenarios, "
        f"{len(failing)} failing ({', '.join(shown) or '-'})"
    )


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("revision", REVISIONS)
def test_conformance_suite(runner: Path, server: Server, revision: str, tmp_path: Path) -> None:
    expected = baseline_entries(revision)
    assert expected, f"{baseline_path(revision)} has no entries"
    run = run_suite(runner, server.url, revision, tmp_path / "results")
    print(f"\n{summary(run, expected)}")

    ran = {c.scenario for c in run.checks}
    assert run.checks, f"the suite wrote no checks to {tmp_path / 'results'}:\n{run.output[-4000:]}"
    assert run.scored <= ran, f"required scenarios that did not run: {sorted(run.scored - ran)}"
    assert [c for c in run.checks if c.scenario in run.scored], "no checks of required scenarios ran"

    # Our own reading of the results, so that a failure names every offending check with the suite's reason.
    unexpected = sorted(
        {
            f"{c.key} [{c.status}] {c.message}"
            for c in run.checks
            if c.scenario in run.scored and c.status in FAILING and c.key not in expected
        }
    )
    failing = {c.key for c in run.checks if c.status in FAILING}
    passing = {c.key for c in run.checks if c.status == "SUCCESS"}
    assert not unexpected, (
        "checks failing that are not in the baseline (a defect: fix it, see "
        "tests/conformance/defects.md; never baseline one):\n  "
        + "\n  ".join(unexpected)
        + f"\nserver log:\n{_tail(server.log, 2000)}"
    )
    assert expected <= failing, (
        f"entries of {baseline_path(revision).name} not seen failing, remove them "
        f"(passing now: {sorted(expected & passing)}): {sorted(expected - failing)}"
    )
    assert run.returncode == 0, f"the conformance runner exited {run.returncode}:\n{run.output[-4000:]}"
    assert "Baseline check passed" in run.output, run.output[-4000:]


# What the suite asks only with its fixture names, which mail-mcp does not have. The spec (tools and prompts,
# "Error Handling"; schema InvalidParamsError) wants -32602 for an unknown tool, an unknown prompt and missing
# required prompt arguments. See tests/conformance/defects.md D1 (prompts) and D2 (tools).
UNKNOWN_NAMES = [
    pytest.param("tools/call", {"name": "no_such_tool", "arguments": {}}, id="D2-unknown-tool"),
    pytest.param("prompts/get", {"name": "no_such_prompt"}, id="D1-unknown-prompt"),
    pytest.param("prompts/get", {"name": "summarise_thread", "arguments": {}}, id="D1-missing-argument"),
]


@pytest.mark.parametrize("revision", REVISIONS)
@pytest.mark.parametrize(("method", "params"), UNKNOWN_NAMES)
def test_unknown_names_are_invalid_params(
    server: Server, revision: str, method: str, params: dict[str, Any]
) -> None:
    reply = McpHttp(server.url, revision).request(method, params)
    code = reply["error"].get("code") if isinstance(reply.get("error"), dict) else None
    if "result" in reply or code != INVALID_PARAMS:
        pytest.fail(
            f"{method} {json.dumps(params)} at {revision} must be a JSON-RPC {INVALID_PARAMS} "
            f"(Invalid params) error; got {json.dumps(reply)[:600]} (tests/conformance/defects.md)"
        )


class McpHttp:
    """The smallest streamable-HTTP client: the 2025-11-25 handshake and session, or 2026-07-28 `_meta`."""

    def __init__(self, url: str, revision: str) -> None:
        self.url = url
        self.revision = revision
        self.session: str | None = None
        self.next_id = 1
        if revision != MODERN:
            self.request(
                "initialize",
                {
                    "protocolVersion": revision,
                    "capabilities": {},
                    "clientInfo": {"name": "mail-mcp-tests", "version": "1"},
                },
            )
            self.post({"jsonrpc": "2.0", "method": "notifications/initialized"}, "notifications/initialized")

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        request_id, self.next_id = self.next_id, self.next_id + 1
        if self.revision == MODERN:
            params = {
                **params,
                "_meta": {
                    "io.modelcontextprotocol/protocolVersion": self.revision,
                    "io.modelcontextprotocol/clientInfo": {"name": "mail-mcp-tests", "version": "1"},
                    "io.modelcontextprotocol/clientCapabilities": {},
                },
            }
        name = params.get("name") if method in ("tools/call", "prompts/get") else None
        message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        replies = self.post(message, method, name if isinstance(name, str) else None)
        for reply in replies:
            if reply.get("id") == request_id:
                return reply
        raise AssertionError(f"no response to {method} (id {request_id}) in {replies}")

    def post(self, message: dict[str, Any], method: str, name: str | None = None) -> list[dict[str, Any]]:
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        if self.session:
            headers["Mcp-Session-Id"] = self.session
        if method != "initialize":
            headers["MCP-Protocol-Version"] = self.revision
        if self.revision == MODERN:
            headers["Mcp-Method"] = method
            if name is not None:
                headers["Mcp-Name"] = name
        request = urllib.request.Request(self.url, json.dumps(message).encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                self.session = response.headers.get("Mcp-Session-Id") or self.session
                kind, text = response.headers.get("Content-Type", ""), response.read().decode()
        except urllib.error.HTTPError as exc:  # the 2026 wire sends some JSON-RPC errors with a 4xx status
            kind, text = exc.headers.get("Content-Type", ""), exc.read().decode()
        if not text.strip():
            return []
        if kind.startswith("text/event-stream"):
            return [json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:")]
        parsed = json.loads(text)
        return parsed if isinstance(parsed, list) else [parsed]
