"""How the ``mail-mcp account`` commands talk to the user: `Console` (replaceable in tests), `Abort`, `ask`."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Abort", "Console", "ask"]


def _read_secret(prompt: str) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    print(prompt, end="", flush=True)  # piped input (scripts, tests): read a line, echo nothing back
    return sys.stdin.readline().rstrip("\r\n")


def _open_browser(url: str) -> bool:
    from mail_mcp.auth.loopback import default_open_browser

    return default_open_browser(url)


@dataclass
class Console:
    """How the commands talk to the user."""

    ask: Callable[[str], str] = input
    secret: Callable[[str], str] = _read_secret
    say: Callable[[str], None] = print
    open_browser: Callable[[str], bool] = _open_browser


class Abort(Exception):
    """The user declined, or a required answer is missing; the message says what to do."""


def ask(io: Console, question: str, default: str | None = None, *, required: bool = True) -> str:
    answer = io.ask(f"{question}{f' [{default}]' if default else ''}: ").strip()
    if not answer and default is not None:
        return default
    if not answer and required:
        raise Abort(f"no answer for: {question}")
    return answer
