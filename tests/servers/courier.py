"""A private Courier-IMAP 5.0 on loopback, run from the unpacked Debian packages (see install-test-servers).

Courier's authlib has ``/etc/courier``, ``/run/courier/authdaemon`` and ``/usr/lib/courier-authlib`` compiled
in, so everything runs in private mount and PID namespaces (``unshare``, needs root): overlayfs lays the
unpacked ``/usr`` and ``/etc`` (plus this server's own ``/etc/courier`` files) over the real ones, writes
go to a fresh tmpfs on ``/run``, and killing the namespace's first process ends every process in it,
including the ``gam_server`` that libgamin double-forks. The account has ``INBOX.Sent``, ``INBOX.Drafts``,
``INBOX.Trash`` and ``INBOX.Junk``; Courier has no SPECIAL-USE, so nothing marks them.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path
from types import MappingProxyType

from .common import (
    HOST,
    NAMESPACE_ARGV,
    PrivateServer,
    ServerError,
    ServerInfo,
    capabilities,
    tail,
)

__all__ = ["COURIER_FOLDERS", "Courier"]

COURIER_FOLDERS = {"\\Sent": "Sent", "\\Drafts": "Drafts", "\\Trash": "Trash", "\\Junk": "Junk"}

# Runs as PID 1 of the new namespaces. Debian's /etc/courier/imapd{,-ssl} are sourced as its init script
# does; STARTTLS is off (there is no certificate: tests use plain IMAP on loopback). IMAP_ENHANCEDIDLE=1 makes IDLE
# push changes as gamin reports them (Debian's default, 0, polls the folder every IMAP_IDLE_TIMEOUT = 60 s).
START_SCRIPT = r"""
set -e
mount -t tmpfs -o mode=0755 mail-mcp-run /run
mkdir -p /run/mail-mcp/usr.up /run/mail-mcp/usr.work /run/mail-mcp/etc.up /run/mail-mcp/etc.work \
    /run/courier/authdaemon
mount -t overlay mail-mcp-usr \
    -o "lowerdir=$MMCP_PACKAGE/usr:/usr,upperdir=/run/mail-mcp/usr.up,workdir=/run/mail-mcp/usr.work" /usr
lower="$MMCP_ROOT/etc:$MMCP_PACKAGE/etc:/etc"
mount -t overlay mail-mcp-etc \
    -o "lowerdir=$lower,upperdir=/run/mail-mcp/etc.up,workdir=/run/mail-mcp/etc.work" /etc
/usr/sbin/makeuserdb
/usr/lib/courier/courier-authlib/authdaemond &
i=0
while [ ! -S /run/courier/authdaemon/socket ]; do
    i=$((i + 1))
    [ $i -lt 200 ] || { echo "authdaemond created no socket" >&2; exit 1; }
    sleep 0.02
done
set -a
. /etc/courier/imapd
. /etc/courier/imapd-ssl
IMAP_STARTTLS=NO
IMAP_TLS_REQUIRED=0
IMAP_ENHANCEDIDLE=1
set +a
/usr/sbin/couriertcpd -address=127.0.0.1 -maxprocs=40 -maxperip=40 -nodnslookup -noidentlookup \
    "$MMCP_PORT" /usr/lib/courier/courier/imaplogin /usr/bin/imapd Maildir &
tcpd=$!
echo "couriertcpd pid $tcpd on 127.0.0.1:$MMCP_PORT"
wait $tcpd
"""


class Courier(PrivateServer):
    """Courier-IMAP with one userdb user and the folders INBOX.Sent, INBOX.Drafts, INBOX.Trash, INBOX.Junk."""

    package = "courier"
    kind = "courier"
    delimiter = "."
    prefix = "INBOX."
    namespaced = True

    def log_tail(self, lines: int = 40) -> str:
        if self.root is None:
            return "(not started)"
        return f"== {self._log_path()}\n{tail(self._log_path(), lines)}"

    def _required(self) -> list[str]:
        return [
            "usr/sbin/couriertcpd",
            "usr/bin/imapd",
            "usr/lib/courier/courier/imaplogin",
            "usr/lib/courier/courier-authlib/authdaemond",
            "usr/sbin/makeuserdb",
            "usr/libexec/gam_server",
            "etc/courier/imapd",
            "etc/courier/imapd-ssl",
        ]

    def _log_path(self) -> Path:
        assert self.root is not None
        return self.root / "courier.log"

    def _prepare(self) -> None:
        assert self.root is not None
        if os.geteuid() != 0:
            raise ServerError(
                "Courier runs in private mount/PID namespaces (unshare --mount --pid), "
                "which needs root (CAP_SYS_ADMIN)"
            )
        missing = [tool for tool in ("unshare", "mount", "openssl", "perl") if shutil.which(tool) is None]
        if missing:
            raise ServerError(
                f"Courier needs {', '.join(missing)} on PATH "
                "(`apt-get install util-linux mount openssl perl-base`)"
            )
        if any(c in str(p) for p in (self.root, self.package_root) for c in ':,"\\ $`'):
            raise ServerError(
                f"paths for overlayfs must not contain ':', ',', quotes or spaces: "
                f"{self.root}, {self.package_root}"
            )
        entry = pwd.getpwnam("nobody")  # Courier's imapd drops to the userdb uid; mail is not owned by root
        home = self.root / "home" / self.user
        for sub in ("cur", "new", "tmp"):
            (home / "Maildir" / sub).mkdir(parents=True, exist_ok=True)
        for path in (home, *home.rglob("*")):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        done = subprocess.run(
            ["openssl", "passwd", "-6", "-stdin"],
            input=self.password.encode(),
            capture_output=True,
            check=False,
            timeout=30,
        )
        if done.returncode != 0:
            raise ServerError(f"openssl passwd -6 failed: {done.stderr.decode(errors='replace')}")
        crypted = done.stdout.decode().strip()
        etc = self.root / "etc" / "courier"
        etc.mkdir(parents=True)
        (etc / "authdaemonrc").write_text(
            'authmodulelist="authuserdb"\ndaemons=2\nauthdaemonvar=/run/courier/authdaemon\n'
            'DEBUG_LOGIN=0\nDEFAULTOPTIONS=""\nLOGGEROPTS=""\n'
        )
        userdb = etc / "userdb"
        userdb.write_text(
            f"{self.user}\tuid={entry.pw_uid}|gid={entry.pw_gid}|home={home}|"
            f"mail={home / 'Maildir'}|systempw={crypted}\n"
        )
        userdb.chmod(0o600)  # makeuserdb refuses a userdb with group or world permissions
        (self.root / "start.sh").write_text(START_SCRIPT)
        self._log_path().touch()

    def _command(self) -> tuple[list[str], dict[str, str]]:
        assert self.root is not None
        argv = [*NAMESPACE_ARGV, str(self.root / "start.sh")]
        # GAM_CLIENT_ID names gamin's abstract socket, which mount namespaces do not separate.
        env = {
            "MMCP_ROOT": str(self.root),
            "MMCP_PACKAGE": str(self.package_root),
            "MMCP_PORT": str(self.port),
            "GAM_CLIENT_ID": f"mail-mcp-{self.marker}",
        }
        return argv, env

    def _provision(self) -> ServerInfo:
        info = self._describe({}, ())
        client = info.connect()
        try:
            folders: dict[str, str] = {}
            for use, name in COURIER_FOLDERS.items():
                folder = self.prefix + name
                client.create_folder(folder)
                client.subscribe_folder(folder)
                folders[use] = folder
            caps = capabilities(client)
        finally:
            client.logout()
        return self._describe(folders, caps)

    def _describe(self, folders: dict[str, str], caps: tuple[str, ...]) -> ServerInfo:
        return ServerInfo(
            self.kind,
            HOST,
            self.port,
            self.user,
            self.password,
            self.delimiter,
            self.prefix,
            MappingProxyType(folders),
            False,
            caps,
        )
