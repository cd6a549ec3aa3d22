"""Shared parts of the private test IMAP servers: the running-server record, ports, greetings, processes."""

from __future__ import annotations

import abc
import contextlib
import imaplib
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Self

import imapclient

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0
MARKER_ENV = "MAIL_MCP_TEST_SERVER"
STAMP = ".mail-mcp-unpacked"
SPECIAL_USE: Mapping[str, str] = MappingProxyType(
    {"Sent": "\\Sent", "Drafts": "\\Drafts", "Trash": "\\Trash", "Junk": "\\Junk", "Archive": "\\Archive"}
)


class ServerError(RuntimeError):
    """A private test server could not be found, started or used."""


def servers_dir() -> Path:
    """Where `scripts/install-test-servers` unpacks the servers (same default as the script)."""
    if explicit := os.environ.get("MAIL_MCP_SERVERS_DIR"):
        return Path(explicit)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "mail-mcp" / "servers"


def install_hint(what: str, root: Path) -> str:
    return (
        f"{what} is not unpacked in {root}: run `scripts/install-test-servers` "
        f"(apt-get download + dpkg -x into the cache, about 10 s; MAIL_MCP_SERVERS_DIR overrides "
        f"{servers_dir()})"
    )


@dataclass(frozen=True, slots=True)
class Response:
    """A tagged IMAP response: ``typ`` is OK, NO or BAD; ``text`` keeps a leading ``[CODE]``."""

    typ: str
    text: str

    @property
    def code(self) -> str | None:
        """The response code's atom (``TRYCREATE``, ``NONEXISTENT`` ...), or None."""
        found = re.match(r"\[([A-Za-z0-9-]+)", self.text)
        return found.group(1).upper() if found else None


def _text(data: Iterable[object]) -> str:
    parts = (d.decode(errors="replace") if isinstance(d, bytes) else str(d) for d in data if d is not None)
    return " ".join(parts)


def command(client: imapclient.IMAPClient, name: str, *args: str) -> Response:
    """Send one raw command (arguments verbatim) and return its tagged response instead of raising."""
    imap: imaplib.IMAP4 = client._imap
    try:
        typ, data = imap._simple_command(name, *args)
    except imaplib.IMAP4.error as exc:  # imaplib raises on BAD
        found = re.search(r"command error: BAD \[b?['\"](.*)['\"]\]", str(exc))
        return Response("BAD", found.group(1) if found else str(exc))
    return Response(str(typ), _text(data))


def append_response(client: imapclient.IMAPClient, folder: str, raw: bytes) -> Response:
    """APPEND ``raw`` to ``folder`` and return the tagged response instead of raising on NO."""
    imap: imaplib.IMAP4 = client._imap
    typ, data = imap.append(client._normalise_folder(folder), "", "", raw)
    return Response(str(typ), _text(data))


def quote(folder: str) -> str:
    """An IMAP quoted string for an ASCII folder name."""
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """A running private test server and the account on it."""

    kind: str  # "cyrus-dot", "cyrus-slash" or "courier"
    host: str
    port: int
    user: str
    password: str
    delimiter: str
    prefix: str  # personal namespace prefix: "" or "INBOX."
    folders: Mapping[str, str]  # special-use attribute -> folder created, e.g. "\\Sent" -> "INBOX.Sent"
    special_use: bool  # whether the server itself marks those folders (SPECIAL-USE)
    capabilities: tuple[str, ...]  # after login, upper-case

    def folder(self, name: str) -> str:
        """The full name of personal folder ``name`` (``Sent`` -> ``INBOX.Sent`` where needed)."""
        return self.prefix + name

    def env(self, account: str = "default") -> dict[str, str]:
        """``MAIL_IMAP_<ACCOUNT>_*`` variables pointing mail-mcp at this server (plain IMAP on loopback)."""
        prefix = f"MAIL_IMAP_{account.upper()}_"
        return {
            prefix + "HOST": self.host,
            prefix + "PORT": str(self.port),
            prefix + "USER": self.user,
            prefix + "PASS": self.password,
            prefix + "SECURITY": "plain",
        }

    def connect(self, timeout: float = 30) -> imapclient.IMAPClient:
        """A logged-in IMAPClient (plain IMAP)."""
        client = imapclient.IMAPClient(self.host, self.port, ssl=False, timeout=timeout)
        try:
            client.login(self.user, self.password)
        except BaseException:
            with contextlib.suppress(Exception):
                client.shutdown()
            raise
        return client

    def append(
        self, folder: str, raw: bytes, flags: Sequence[str | bytes] = (), date: datetime | None = None
    ) -> int | None:
        """APPEND one message; returns its UID from APPENDUID (None when the server sends none)."""
        client = self.connect()
        try:
            return _append(client, folder, raw, flags, date)
        finally:
            client.logout()

    def seed(self, folder: str, messages: Iterable[bytes]) -> list[int | None]:
        """APPEND several messages over one connection; returns their UIDs in order."""
        client = self.connect()
        try:
            return [_append(client, folder, raw, (), None) for raw in messages]
        finally:
            client.logout()


def _append(
    client: imapclient.IMAPClient,
    folder: str,
    raw: bytes,
    flags: Sequence[str | bytes],
    date: datetime | None,
) -> int | None:
    text = client.append(folder, raw, tuple(flags), date)
    found = re.search(rb"\[APPENDUID \d+ (\d+)\]", text if isinstance(text, bytes) else str(text).encode())
    return int(found.group(1)) if found else None


# ---------------------------------------------------------------------- ports and greetings


def free_port(host: str = HOST) -> int:
    """A TCP port that was free a moment ago (the caller retries when a server loses the race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def read_greeting(port: int, host: str = HOST, timeout: float = 1.0) -> bytes | None:
    """The first line a server sends on ``port``, or None when nothing answers yet."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            data = b""
            while not data.endswith(b"\r\n") and len(data) < 4096:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
            return data or None
    except OSError:
        return None


class PortInUse(ServerError):
    """Another process listens on the port the server was given."""


def listening_pids(port: int) -> list[int]:
    """Processes holding a TCP socket that listens on ``port`` (from /proc/net/tcp{,6})."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A = LISTEN
                    inodes.add(f"socket:[{fields[9]}]")
    found = []
    for pid in _all_pids() if inodes else ():
        with contextlib.suppress(OSError):
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") in inodes for fd in os.listdir(f"/proc/{pid}/fd")):
                found.append(pid)
    return found


def wait_for_greeting(
    port: int,
    alive: Callable[[], bool],
    describe: Callable[[], str],
    ours: Callable[[], Iterable[int]],
    timeout: float = START_TIMEOUT,
) -> bytes:
    """Wait until ``port`` sends an ``* OK`` greeting; fail early when the server has exited or when
    processes other than ``ours()`` listen on the port."""
    deadline = time.monotonic() + timeout
    while True:
        greeting = read_greeting(port)
        if greeting is not None and greeting.startswith(b"* OK"):
            return greeting
        if not alive():
            raise ServerError(f"the server exited before greeting on port {port}:\n{describe()}")
        if (listeners := set(listening_pids(port))) and not listeners & set(ours()):
            raise PortInUse(f"port {port} is taken by pids {sorted(listeners)}")
        if time.monotonic() > deadline:
            raise ServerError(
                f"no IMAP greeting on port {port} within {timeout:.0f} s (got {greeting!r}):\n{describe()}"
            )
        time.sleep(0.05)


# ---------------------------------------------------------------------- processes


def proc_stat(pid: int) -> tuple[int, int, str] | None:
    """(ppid, pgid, state) of ``pid``, or None when it is gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[2]), fields[0]


def alive(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie."""
    stat = proc_stat(pid)
    return stat is not None and stat[2] != "Z"


def _all_pids() -> list[int]:
    return [int(e) for e in os.listdir("/proc") if e.isdigit()]


def descendants(root_pid: int) -> list[int]:
    """``root_pid`` and all its live descendants."""
    children: dict[int, list[int]] = {}
    for pid in _all_pids():
        if (st := proc_stat(pid)) is not None:
            children.setdefault(st[0], []).append(pid)
    found, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return [p for p in found if alive(p)]


def group_members(pgid: int) -> list[int]:
    """Live members of process group ``pgid``."""
    return [p for p in _all_pids() if (st := proc_stat(p)) is not None and st[1] == pgid and st[2] != "Z"]


def marked(marker: str) -> list[int]:
    """Live processes whose environment has ``MAIL_MCP_TEST_SERVER=<marker>`` (everything a server forked)."""
    needle = f"{MARKER_ENV}={marker}".encode()
    found = []
    for pid in _all_pids():
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0") and alive(pid):
            found.append(pid)
    return found


def namespace_of(pid: int, kind: str = "mnt") -> str | None:
    """The namespace id of ``pid`` such as ``mnt:[4026532601]``, or None."""
    try:
        return os.readlink(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return None


def namespace_members(namespace: str, kind: str = "mnt") -> list[int]:
    """Live processes in the namespace ``namespace`` (as returned by `namespace_of`)."""
    return [p for p in _all_pids() if namespace_of(p, kind) == namespace and alive(p)]


def kill_until_gone(pids: Callable[[], Iterable[int]], timeout: float = STOP_TIMEOUT) -> list[int]:
    """SIGKILL whatever ``pids()`` returns until it returns nothing; returns the survivors (normally [])."""
    deadline = time.monotonic() + timeout
    while True:
        left = sorted(set(pids()))
        if not left or time.monotonic() > deadline:
            return left
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)


def wait_vanished(pids: Iterable[int], timeout: float = 2.0) -> list[int]:
    """Wait until ``pids`` are gone from /proc, zombies reaped too; returns those still listed."""
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in pids if Path(f"/proc/{p}").exists()]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.01)


def stop_process_group(proc: subprocess.Popen[bytes], grace: float = 3.0) -> None:
    """SIGTERM the process group led by ``proc`` (started with a new session), then SIGKILL it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=STOP_TIMEOUT)
    kill_until_gone(lambda: group_members(proc.pid))


def _finalize(proc: subprocess.Popen[bytes], marker: str, created: list[Path]) -> None:
    stop_process_group(proc)
    kill_until_gone(lambda: marked(marker))
    for path in reversed(created):
        shutil.rmtree(path, ignore_errors=True)


def tail(path: Path | None, lines: int) -> str:
    if path is None or not path.exists():
        return f"({path}: no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def multiarch_dirs(root: Path) -> list[Path]:
    """The library directories of an unpacked package tree, e.g. ``usr/lib/x86_64-linux-gnu``, ``usr/lib``."""
    found = sorted(p for p in (root / "usr" / "lib").glob("*-linux-gnu*") if p.is_dir())
    return [*found, root / "usr" / "lib"]


# ---------------------------------------------------------------------- the server base class


# Runs a server inside new mount and PID namespaces: killing their first process (this shell) makes the
# kernel kill every process in them, however often it forked. The server's argv follows the script path.
NAMESPACE_ARGV = [
    "unshare",
    "--mount",
    "--pid",
    "--fork",
    "--kill-child",
    "--mount-proc",
    "--propagation",
    "private",
    "--",
    "/bin/sh",
]


class PrivateServer(abc.ABC):
    """A server run from the unpacked cache on a random loopback port, with its own temp dir.

    Every process it starts carries ``MAIL_MCP_TEST_SERVER=<marker>`` in its environment and runs in a
    new process group, so `stop` can end exactly those processes and nothing else. With ``namespaced``
    (root only) it runs in private mount and PID namespaces (see `NAMESPACE_ARGV`).
    """

    kind: str
    package: str  # sub-directory of servers_dir()
    namespaced = False

    def __init__(
        self, user: str = "alice", password: str | None = None, *, servers_root: Path | None = None
    ) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9]*", user):
            raise ServerError(f"invalid test user name {user!r}: lower-case letters and digits only")
        self.user = user
        self.password = password or secrets.token_urlsafe(12)
        self.package_root = (servers_root or servers_dir()) / self.package
        self.marker = secrets.token_hex(8)
        self.root: Path | None = None
        self.port = 0
        self.greeting = b""
        self.start_seconds = 0.0
        self.leftovers: list[int] = []
        self._info: ServerInfo | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._created: list[Path] = []
        self._finalizer: weakref.finalize[..., PrivateServer] | None = None
        self.namespace: str | None = None  # with `namespaced`: the mount namespace, e.g. "mnt:[4026532601]"
        self.init_pid: int | None = None  # with `namespaced`: PID 1 of the PID namespace

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind} port={self.port} root={self.root}>"

    @property
    def info(self) -> ServerInfo:
        if self._info is None:
            raise ServerError(f"{self.kind} is not running")
        return self._info

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        """Write the config, start the server, wait for its greeting and create the account's folders."""
        if self._proc is not None:
            return
        began = time.monotonic()
        self._check_installed()
        try:
            self.root = Path(tempfile.mkdtemp(prefix=f"mail-mcp-{self.kind}-"))
            self._created.append(self.root)
            self.root.chmod(0o755)  # unprivileged server processes must traverse it
            self._prepare()
            for attempt in range(3):  # a free port may be taken between probing and binding
                self.port = free_port()
                self._spawn_server()
                try:
                    self.greeting = wait_for_greeting(
                        self.port, lambda: self.running, self.log_tail, self.process_ids
                    )
                    break
                except ServerError as exc:
                    in_use = isinstance(exc, PortInUse) or "in use" in self.log_tail(200)
                    self._terminate()
                    if not in_use or attempt == 2:
                        raise
                    log.warning("%s: port %s was taken, retrying", self.kind, self.port)
            self._ready()
            self._info = self._provision()
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began
        log.info(
            "%s ready on %s:%s in %.2f s (root %s)", self.kind, HOST, self.port, self.start_seconds, self.root
        )

    def stop(self) -> None:
        """Stop every process this server started and remove its temp dir. Idempotent."""
        self._terminate()
        self._info = None
        for path in reversed(self._created):
            shutil.rmtree(path, ignore_errors=True)
        self._created.clear()

    def process_ids(self) -> list[int]:
        """Live pids this server started (its process group, descendants, marked and extra processes)."""
        if self._proc is None:
            return []
        pids = {
            *group_members(self._proc.pid),
            *descendants(self._proc.pid),
            *marked(self.marker),
            *self._extra_pids(),
        }
        return sorted(p for p in pids if alive(p))

    def _spawn_server(self) -> None:
        argv, env = self._command()
        log_path = self._log_path()
        env = {**os.environ, **env, MARKER_ENV: self.marker}
        with open(log_path, "ab") as out:
            self._proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env, start_new_session=True
            )
        self._finalizer = weakref.finalize(self, _finalize, self._proc, self.marker, self._created)

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        started = {*group_members(proc.pid), *descendants(proc.pid), *self._extra_pids()}
        self._kill(proc)
        stop_process_group(proc)
        self.leftovers = kill_until_gone(
            lambda: [*marked(self.marker), *self._extra_pids(), *(p for p in started if alive(p))]
        )
        if self.leftovers:
            log.error("%s: processes %s survived SIGKILL", self.kind, self.leftovers)
        wait_vanished(started)

    def _check_installed(self) -> None:
        missing = [p for p in self._required() if not (self.package_root / p).exists()]
        if not (self.package_root / STAMP).exists() or missing:
            raise ServerError(
                install_hint(self.kind, self.package_root)
                + (f"; missing {', '.join(missing)}" if missing else "")
            )

    def _namespace_init(self, unshare_pid: int | None) -> int | None:
        """PID 1 of the namespaces: unshare's child."""
        if unshare_pid is None:
            return None
        for pid in descendants(unshare_pid):
            if (st := proc_stat(pid)) is not None and st[0] == unshare_pid:
                return pid
        return None

    def _ready(self) -> None:
        """Called once the server greets: record the namespaces it runs in."""
        if not self.namespaced:
            return
        init = self._namespace_init(self.pid)
        found = namespace_of(init) if init is not None else None
        if found is None or found == namespace_of(os.getpid()):
            raise ServerError(
                f"{self.kind} is not in a private mount namespace (init {init}):\n{self.log_tail()}"
            )
        self.namespace, self.init_pid = found, init

    def _kill(self, proc: subprocess.Popen[bytes]) -> None:
        """Called first when stopping; the process group and marked processes are swept afterwards."""
        if not self.namespaced:
            return
        # PID 1 of a namespace ignores SIGTERM; SIGKILL to it makes the kernel kill the whole namespace.
        init, self.init_pid = self.init_pid or self._namespace_init(proc.pid), None
        if init is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(init, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=STOP_TIMEOUT)

    def _extra_pids(self) -> list[int]:
        return namespace_members(self.namespace) if self.namespace else []

    @abc.abstractmethod
    def _required(self) -> list[str]:
        """Paths (relative to the package root) the server needs."""

    @abc.abstractmethod
    def _prepare(self) -> None:
        """Create users, directories and the parts of the config that do not depend on the port."""

    @abc.abstractmethod
    def _command(self) -> tuple[list[str], dict[str, str]]:
        """The argv and extra environment starting the server on ``self.port``."""

    @abc.abstractmethod
    def _log_path(self) -> Path:
        """Where the server's stdout and stderr go."""

    @abc.abstractmethod
    def _provision(self) -> ServerInfo:
        """Create the account's INBOX and special-use folders; return the server description."""

    @abc.abstractmethod
    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's logs, for error messages."""


def capabilities(client: imapclient.IMAPClient) -> tuple[str, ...]:
    """The capabilities as upper-case strings, fetched afresh (CAPABILITY command)."""
    imap: imaplib.IMAP4 = client._imap
    imap.untagged_responses.pop("CAPABILITY", None)  # imaplib also keeps the one from LOGIN's response code
    typ, data = imap.capability()
    if typ != "OK":
        raise ServerError(f"CAPABILITY failed: {typ} {data!r}")
    return tuple(dict.fromkeys(_text(data).upper().split()))
