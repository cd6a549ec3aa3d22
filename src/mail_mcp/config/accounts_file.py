"""Adding and removing ``[accounts.<id>]`` tables in the TOML configuration file, keeping everything else as is.

Used by ``mail-mcp account add|remove``. The file holds no secrets (they go to the OS keyring), but a new file
is still created with mode 0600, and every change is written atomically and re-parsed before it replaces the file.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mail_mcp.errors import ConfigError

__all__ = ["add_account", "default_config_path", "read_accounts", "remove_account", "render_table"]

_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")


def default_config_path() -> Path:
    """``$XDG_CONFIG_HOME/mail-mcp/config.toml`` (``~/.config/...`` by default)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "mail-mcp" / "config.toml"


def read_accounts(path: Path) -> dict[str, Any]:
    """The ``accounts`` table of the file ({} when the file does not exist)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read config file ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"invalid TOML: {exc}") from None
    accounts = data.get("accounts", {})
    return accounts if isinstance(accounts, dict) else {}


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)  # a valid TOML basic string


def render_table(name: str, values: Mapping[str, Any]) -> str:
    lines = [f"[{name}]"]
    lines += [f"{key} = {_value(value)}" for key, value in values.items() if value is not None]
    return "\n".join(lines) + "\n"


def add_account(
    path: Path, account_id: str, entry: Mapping[str, Any], smtp: Mapping[str, Any] | None = None
) -> None:
    """Append ``[accounts.<account_id>]`` (and its ``.smtp`` table); ConfigError when the id is taken."""
    if account_id in read_accounts(path):
        raise ConfigError(str(path), f"account {account_id!r} already exists; remove it first")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    block = render_table(f"accounts.{account_id}", entry)
    if smtp:
        block += "\n" + render_table(f"accounts.{account_id}.smtp", smtp)
    separator = "" if not text else ("\n" if text.endswith("\n") else "\n\n")
    _write(path, text + separator + block)


def remove_account(path: Path, account_id: str) -> bool:
    """Remove ``[accounts.<account_id>]`` and its sub-tables; False when the file has no such account."""
    if account_id not in read_accounts(path):
        return False
    names = {f"accounts.{account_id}", f'accounts."{account_id}"'}
    kept: list[str] = []
    dropping = False
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        header = _HEADER.match(line)
        if header:
            name = re.sub(r"\s*\.\s*", ".", header.group(1))
            dropping = any(name == n or name.startswith(n + ".") for n in names)
        if not dropping:
            kept.append(line)
    text = re.sub(r"\n{3,}", "\n\n", "".join(kept))
    _write(path, text)
    return True


def _write(path: Path, text: str) -> None:
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # never replace a working file with a broken one
        raise ConfigError(
            str(path), f"the edited file would not be valid TOML ({exc}); left unchanged"
        ) from None
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
