"""A private Cyrus IMAP 3.6 on loopback, run from the unpacked Debian packages (see install-test-servers).

``Cyrus("dot")`` is the 2.x-style hierarchy (``altnamespace: 0``, ``unixhierarchysep: 0``): personal folders
live below INBOX (``INBOX.Sent``) and the separator is ``.``. ``Cyrus("slash")`` is the 3.x default:
folders beside INBOX (``Sent``), separator ``/``::

    with Cyrus("dot") as cyrus:
        client = cyrus.info.connect()
        cyrus.info.append("INBOX.Sent", raw)

Cyrus drops root privileges to ``cyrus_user`` (nobody), which cannot reach a cache below ``/root`` (0700).
Run as root, it therefore starts in private mount and PID namespaces where the unpacked tree is bind-mounted
into its temp dir; run as another user, it runs as that user, directly from the cache.

``idled`` runs beside imapd, so an IDLE pushes another session's changes at once; without it an idling imapd
looks at its folder only every ``imapidlepoll`` (60) seconds.

Cyrus logs only to syslog, which these machines lack; every IMAP session of the user is instead recorded
in ``<configdirectory>/log/<user>/`` (see `session_logs`, `log_tail`).
"""

from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from .common import (
    HOST,
    NAMESPACE_ARGV,
    SPECIAL_USE,
    PrivateServer,
    ServerError,
    ServerInfo,
    capabilities,
    command,
    multiarch_dirs,
    quote,
    tail,
)

__all__ = ["Cyrus", "CyrusMode"]

CyrusMode = Literal["dot", "slash"]
SERVERNAME = "mail-mcp.test"  # also the SASL realm of the sasldb entries
BIN = "usr/lib/cyrus/bin"
START_SCRIPT = """\
set -e
mount --bind "$MMCP_PACKAGE" "$MMCP_ROOT/pkg"
"$@" &
server=$!
wait $server
"""


class Cyrus(PrivateServer):
    """Cyrus IMAP with one user, its INBOX and the special-use folders Sent, Drafts, Trash, Junk, Archive."""

    package = "cyrus"

    def __init__(
        self,
        mode: CyrusMode = "dot",
        user: str = "alice",
        password: str | None = None,
        *,
        servers_root: Path | None = None,
    ) -> None:
        if mode not in ("dot", "slash"):
            raise ServerError(f"Cyrus mode must be 'dot' or 'slash', not {mode!r}")
        self.mode: CyrusMode = mode
        self.kind = f"cyrus-{mode}"
        super().__init__(user, password, servers_root=servers_root)
        self.delimiter = "." if mode == "dot" else "/"
        self.prefix = "INBOX." if mode == "dot" else ""
        self.namespaced = os.geteuid() == 0

    @property
    def tree(self) -> Path:
        """Where the server processes see the unpacked packages."""
        return self.root_path("pkg") if self.namespaced else self.package_root

    @property
    def config_dir(self) -> Path:
        assert self.root is not None
        return self.root / "conf"

    @property
    def session_log_dir(self) -> Path:
        return self.config_dir / "log" / self.user

    def session_logs(self) -> list[Path]:
        """The per-session protocol logs of the user, oldest first."""
        if self.root is None or not self.session_log_dir.is_dir():
            return []
        return sorted(self.session_log_dir.iterdir(), key=lambda p: (p.stat().st_mtime, p.name))

    def log_tail(self, lines: int = 40) -> str:
        if self.root is None:
            return "(not started)"
        parts = [f"== {self._log_path()}\n{tail(self._log_path(), lines)}"]
        parts += [f"== {p}\n{tail(p, lines)}" for p in self.session_logs()[-3:]]
        return "\n".join(parts)

    def _required(self) -> list[str]:
        return [f"{BIN}/master", f"{BIN}/imapd", f"{BIN}/ctl_cyrusdb", "usr/sbin/saslpasswd2"]

    def _log_path(self) -> Path:
        return self.config_dir / "master.log"

    def _library_env(self, tree: Path) -> dict[str, str]:
        """LD_LIBRARY_PATH (and SASL_PATH if SASL plugins were unpacked) for the packages seen at ``tree``."""
        found = [d.relative_to(self.package_root) for d in multiarch_dirs(self.package_root)]
        env = {"LD_LIBRARY_PATH": ":".join(str(tree / d) for d in found)}
        plugins = [d / "sasl2" for d in found if any((self.package_root / d / "sasl2").glob("*.so*"))]
        if plugins:  # the machine lacked them; keep the system plugin directories too
            env["SASL_PATH"] = ":".join([*(str(tree / p) for p in plugins), *(f"/{p}" for p in plugins)])
        return env

    def _ids(self) -> tuple[str, int, int]:
        """The user Cyrus runs as: it drops root privileges to ``cyrus_user`` (nobody when run as root)."""
        entry = pwd.getpwnam("nobody") if os.geteuid() == 0 else pwd.getpwuid(os.getuid())
        return entry.pw_name, entry.pw_uid, entry.pw_gid

    def _prepare(self) -> None:
        conf = self.config_dir
        for path in (conf / "socket", self.session_log_dir, self.root_path("spool"), self.root_path("pkg")):
            path.mkdir(parents=True, exist_ok=True)
        self.root_path("start.sh").write_text(START_SCRIPT)
        self._log_path().touch()
        sasldb = self.root_path("sasldb2")
        done = subprocess.run(
            [
                str(self.package_root / "usr/sbin/saslpasswd2"),
                "-p",
                "-c",
                "-f",
                str(sasldb),
                "-u",
                SERVERNAME,
                self.user,
            ],
            input=self.password.encode(),
            capture_output=True,
            env={**os.environ, **self._library_env(self.package_root)},
            check=False,
            timeout=30,
        )
        if done.returncode != 0 or not sasldb.exists():
            raise ServerError(
                f"saslpasswd2 exited {done.returncode} and wrote no {sasldb} (is the sasldb "
                f"plugin, libsasl2-modules-db, missing?): "
                f"{done.stderr.decode(errors='replace')}"
            )
        name, uid, gid = self._ids()
        if os.geteuid() == 0:
            for path in (conf, self.root_path("spool"), sasldb):
                os.chown(path, uid, gid)
                for sub in path.rglob("*") if path.is_dir() else ():
                    os.chown(sub, uid, gid)
        flag = "0" if self.mode == "dot" else "1"
        self.root_path("imapd.conf").write_text(f"""\
# Generated by tests/servers/cyrus.py ({self.kind}); removed on stop.
configdirectory: {conf}
partition-default: {self.root_path("spool")}
defaultpartition: default
servername: {SERVERNAME}
cyrus_user: {name}
altnamespace: {flag}
unixhierarchysep: {flag}
autocreate_quota: 0
allowplaintext: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: {sasldb}
sasl_mech_list: PLAIN LOGIN
lmtpsocket: {conf}/socket/lmtp
idlesocket: {conf}/socket/idle
notifysocket: {conf}/socket/notify
proc_path: {conf}/proc
mboxname_lockpath: {conf}/lock
syslog_prefix: mail-mcp-{self.kind}
""")

    def root_path(self, name: str) -> Path:
        assert self.root is not None
        return self.root / name

    def _command(self) -> tuple[list[str], dict[str, str]]:
        imapd_conf = self.root_path("imapd.conf")
        bin_dir = self.tree / BIN
        cyrus_conf = self.root_path("cyrus.conf")
        # master passes no -C to what it runs: each command names the config itself.
        cyrus_conf.write_text(f"""\
START {{
  recover cmd="{bin_dir}/ctl_cyrusdb -C {imapd_conf} -r"
}}
SERVICES {{
  imap cmd="{bin_dir}/imapd -C {imapd_conf}" listen="{HOST}:{self.port}" prefork=0 maxchild=50
}}
EVENTS {{
}}
DAEMON {{
  idled cmd="{bin_dir}/idled -C {imapd_conf}"
}}
""")
        argv = [
            str(bin_dir / "master"),
            "-C",
            str(imapd_conf),
            "-M",
            str(cyrus_conf),
            "-p",
            str(self.config_dir / "master.pid"),
            "-L",
            str(self._log_path()),
        ]
        env = self._library_env(self.tree)
        if not self.namespaced:
            return argv, env
        env |= {"MMCP_ROOT": str(self.root), "MMCP_PACKAGE": str(self.package_root)}
        return [*NAMESPACE_ARGV, str(self.root_path("start.sh")), *argv], env

    def _provision(self) -> ServerInfo:
        client = self.info_template().connect()  # the first login creates INBOX (autocreate_quota: 0)
        try:
            folders: dict[str, str] = {}
            for name, use in SPECIAL_USE.items():
                folder = self.prefix + name
                done = command(client, "CREATE", quote(folder), f"(USE ({use}))")
                if done.typ != "OK":
                    raise ServerError(f"CREATE {folder} (USE ({use})) failed: {done}\n{self.log_tail()}")
                client.subscribe_folder(folder)
                folders[use] = folder
            caps = capabilities(client)
        finally:
            client.logout()
        return ServerInfo(
            self.kind,
            HOST,
            self.port,
            self.user,
            self.password,
            self.delimiter,
            self.prefix,
            MappingProxyType(folders),
            True,
            caps,
        )

    def info_template(self) -> ServerInfo:
        """A description without folders, for logging in before provisioning."""
        return ServerInfo(
            self.kind,
            HOST,
            self.port,
            self.user,
            self.password,
            self.delimiter,
            self.prefix,
            MappingProxyType({}),
            True,
            (),
        )
