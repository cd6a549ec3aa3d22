"""Process and user plumbing for the sandbox: system users to run as, the process tree, and a stop that leaves
nothing behind."""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

import imapclient


class SandboxError(RuntimeError):
    """The sandbox could not be created, started or used."""


def ensure_folder(client: imapclient.IMAPClient, folder: str) -> None:
    if folder.upper() != "INBOX" and not client.folder_exists(folder):
        client.create_folder(folder)
        client.subscribe_folder(folder)


def first_user(*names: str) -> str:
    for name in names:
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise SandboxError(f"none of the system users {names} exists; Dovecot needs one for internal processes")


def mail_ids() -> tuple[int, int]:
    """Numeric uid/gid owning the mail: Dovecot refuses uid 0, so root maps to nobody."""
    if os.geteuid() != 0:
        return os.getuid(), os.getgid()
    with contextlib.suppress(KeyError):
        entry = pwd.getpwnam("nobody")
        return entry.pw_uid, entry.pw_gid
    return 65534, 65534


def closed_parent(path: Path) -> Path | None:
    """As root, the first parent of ``path`` that other users cannot enter (Dovecot's users must), else None."""
    if os.geteuid() != 0:
        return None
    return next((p for p in reversed(path.parents) if not p.stat().st_mode & 0o001), None)


def group_of(user: str) -> str:
    gid = pwd.getpwnam(user).pw_gid
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def proc_stat(pid: int) -> tuple[int, int, str] | None:
    """(ppid, pgid, state) of ``pid`` from /proc, or None when it is gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[2]), fields[0]


def descendants(root_pid: int, include_self: bool = False) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := proc_stat(int(entry))) is not None:
            children.setdefault(st[0], []).append(int(entry))
    found, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    alive = [p for p in found if (st := proc_stat(p)) is not None and st[2] != "Z"]
    return alive if include_self else [p for p in alive if p != root_pid]


def group_members(pgid: int) -> list[int]:
    return [
        int(e)
        for e in os.listdir("/proc")
        if e.isdigit() and (st := proc_stat(int(e))) is not None and st[1] == pgid and st[2] != "Z"
    ]


def cleanup(proc: subprocess.Popen[bytes], created: list[Path]) -> None:
    kill_group(proc)
    for path in reversed(created):
        shutil.rmtree(path, ignore_errors=True)


def is_dovecot(pid: int) -> bool:
    try:
        return "dovecot" in os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return False


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop the Dovecot master we started and every process of its own process group, and wait for them.

    ``start_new_session=True`` made the master the leader of a fresh process group that holds only the
    processes it forked, so signalling that group never touches a system Dovecot or anything else.
    SIGTERM goes to the whole group at once: Dovecot's master alone takes seconds to bring down busy
    children (an open IMAP session lingers ~8 s after the master has gone).
    """
    pgid = proc.pid  # a pgid is never reused while any member of the group is alive

    def leftovers() -> list[int]:
        return [p for p in group_members(pgid) if is_dovecot(p)]

    if proc.poll() is None:
        try:
            os.killpg(pgid, signal.SIGTERM)
        except OSError:
            proc.terminate()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(pgid, signal.SIGKILL)
            proc.wait(timeout=5)
    deadline = time.monotonic() + 2
    while leftovers() and time.monotonic() < deadline:
        time.sleep(0.02)
    for pid in leftovers():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 2
    while leftovers() and time.monotonic() < deadline:
        time.sleep(0.02)
