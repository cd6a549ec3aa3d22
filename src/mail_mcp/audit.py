"""Optional JSONL audit log of every write and send (MAIL_MCP_AUDIT_LOG), for the owner to see what an agent did.

One line per action: time, action, account, and the ids/counts/outcome passed in. Never message content or
secrets: callers pass ids, folder names, flag names, recipient addresses and outcome codes only.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from typing import Any

_lock = threading.Lock()


def audit(action: str, account: str, **fields: Any) -> None:
    path = os.environ.get("MAIL_MCP_AUDIT_LOG")
    if not path:
        return
    record = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "action": action,
        "account": account,
        **fields,
    }
    line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
    with _lock, open(path, "a", encoding="utf-8") as handle:
        handle.write(line)
