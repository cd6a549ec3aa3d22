"""The directory a sandbox lives in: a fresh temporary one, or a data directory kept between runs.

A data directory is claimed with a marker file (so a sandbox never takes over a directory holding other
things) and an exclusive lock held while the sandbox runs (so a second sandbox cannot rewrite its
passwords and certificate under a running one).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import tempfile
from pathlib import Path

from mail_mcp.sandbox.processes import SandboxError, closed_parent

MARKER = ".mail-mcp-sandbox"


def temporary_root() -> Path:
    return Path(tempfile.mkdtemp(prefix="mail-mcp-sandbox-"))


def claim(root: Path) -> int:
    """Check and lock ``root`` (creating it); returns the descriptor holding the lock (close it to release)."""
    root.mkdir(parents=True, exist_ok=True)
    if re.search(r'[\s"\\#]', str(root)):
        raise SandboxError(f"sandbox root path must not contain spaces, quotes or '#': {root}")
    if not (root / MARKER).exists() and any(root.iterdir()):
        raise SandboxError(
            f"{root} is neither empty nor a mail-mcp sandbox directory: choose a new or empty one"
        )
    if (closed := closed_parent(root)) is not None:
        raise SandboxError(f"{closed} is closed to other users, so Dovecot cannot reach {root}")
    fd = os.open(root / MARKER, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise SandboxError(f"another mail-mcp sandbox is running in {root}; stop it first") from None
    root.chmod(0o755)  # the mail user and Dovecot's internal users must traverse it
    return fd


def release(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
