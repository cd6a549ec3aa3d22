"""Optional JSONL audit log of every write and send (MAIL_MCP_AUDIT_LOG), for the owner to see what an agent did.

One line per action: time, action, account, and the ids/counts/outcome passed in. Never message content or
secrets: callers pass ids, folder names, flag names, recipient addresses and outcome codes only, and content
keys (subject, body, text…) are dropped here whatever a caller passes.

`open_log` checks the file once at start-up. After that a line that cannot be written never undoes or fails
the action it records: `audit` logs the failure to stderr, returns False, and `failure()` says so for the
result of the current call.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mail_mcp.errors import ConfigError

SETTING = "MAIL_MCP_AUDIT_LOG"
CONTENT_KEYS = frozenset(
    {"subject", "body", "body_text", "body_html", "text", "html", "content", "preview", "snippet", "filename"}
)

log = logging.getLogger("mail_mcp.audit")
_lock = threading.Lock()
_failure: contextvars.ContextVar[str | None] = contextvars.ContextVar("mail_mcp_audit_failure", default=None)


def _append(path: str, line: str) -> None:
    if Path(path).is_dir():
        raise IsADirectoryError(21, "is a directory")
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line)


def open_log(env: Mapping[str, str] | None = None) -> Path | None:
    """Start-up check: the audit log, when set, can be opened for appending (created if missing)."""
    path = (os.environ if env is None else env).get(SETTING, "").strip()
    if not path:
        return None
    try:
        _append(path, "")
    except OSError as exc:
        raise ConfigError(SETTING, f"cannot append to {path} ({exc.strerror or exc})") from None
    return Path(path)


def audit(action: str, account: str, **fields: Any) -> bool:
    """Append one line; True when written (or no log is set), False when writing failed (logged, never raised)."""
    path = os.environ.get(SETTING, "").strip()
    if not path:
        return True
    record = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "action": action,
        "account": account,
        **{key: value for key, value in fields.items() if key.lower() not in CONTENT_KEYS},
    }
    try:
        line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
        with _lock:
            _append(path, line)
    except (OSError, ValueError) as exc:
        note = f"the {action} was done, but its audit line could not be written to {path} ({exc})"
        log.error("%s: %s", SETTING, note)
        _failure.set(note)
        return False
    return True


def failure() -> str | None:
    """Why the current call's audit line could not be written, if it could not."""
    return _failure.get()


def reset() -> contextvars.Token[str | None]:
    """Start a call with no audit failure noted; pass the token to `_failure.reset` afterwards if needed."""
    return _failure.set(None)
