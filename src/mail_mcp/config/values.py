"""Strict parsing of setting values, the same for environment variables and TOML keys.

Booleans are true/false, 1/0 or yes/no (any case) and nothing else; sizes and counts are whole numbers of at
least 1. Every refusal names the setting, so start-up can exit 2 with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mail_mcp.errors import ConfigError

TRUE_WORDS = frozenset({"1", "true", "yes"})
FALSE_WORDS = frozenset({"0", "false", "no"})
BOOL_FIELDS = ("allow_plain", "write_enabled", "allow_permanent_delete")
NUMBER_FIELDS = ("port", "pool_size", "timeout", "rate_limit")


def parse_bool(value: Any, setting: str) -> bool:
    """A TOML boolean, or one of true/false, 1/0, yes/no (also TOML integers 1 and 0)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    word = value.strip().lower() if isinstance(value, str) else None
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(setting, f"expected true or false (also 1/0, yes/no), got {value!r}")


def env_bool(env: Mapping[str, str], name: str) -> bool | None:
    """A boolean environment variable; None when it is unset or empty."""
    value = env.get(name, "")
    return parse_bool(value, name) if value.strip() else None


def positive_int(value: Any, setting: str, what: str = "a number of bytes") -> int:
    if isinstance(value, bool):
        raise ConfigError(setting, f"expected {what}, got {value!r}")
    try:
        number = int(str(value).strip()) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise ConfigError(setting, f"expected {what}, got {value!r}") from None
    if number < 1:
        raise ConfigError(setting, f"must be positive, got {number}")
    return number


def check_fields(fields: dict[str, Any], origin: Mapping[str, str], where: str) -> None:
    """Booleans parsed strictly in place; a boolean where a number belongs is refused (pydantic takes it as 1)."""
    for name in BOOL_FIELDS:
        if name in fields and fields[name] is not None:
            fields[name] = parse_bool(fields[name], origin.get(name, f"{where}.{name}"))
    for name in NUMBER_FIELDS:
        if isinstance(fields.get(name), bool):
            raise ConfigError(origin.get(name, f"{where}.{name}"), f"expected a number, got {fields[name]!r}")
