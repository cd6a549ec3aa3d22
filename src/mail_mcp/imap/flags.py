"""The flag grammar of modify_flags: system flags, IMAP keywords (atoms) and friendly aliases. Pure functions.

A flag reaches the wire unquoted inside `(...)`, so anything that is not a valid flag is refused here: a space,
parenthesis, quote, brace, backslash or CR/LF would let a caller change the command.
"""

from __future__ import annotations

from dataclasses import dataclass

from mail_mcp.errors import InvalidInput

SYSTEM_FLAGS = ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft")
ALIASES: dict[str, str] = {
    "read": "\\Seen",
    "seen": "\\Seen",
    "flagged": "\\Flagged",
    "starred": "\\Flagged",
    "answered": "\\Answered",
    "draft": "\\Draft",
    "important": "$Important",
    "junk": "$Junk",
    "notjunk": "$NotJunk",
}
MAX_KEYWORD_LENGTH = 64
MAX_FLAGS_PER_LIST = 20
ATOM_SPECIALS = frozenset('(){%*"\\]')
ALIAS_DOC = ", ".join(f"{alias}→{flag}" for alias, flag in ALIASES.items())
FLAG_GRAMMAR_DOC = (
    f"System flags {' '.join(SYSTEM_FLAGS)}; keywords such as $Forwarded or project-x (printable ASCII, at most "
    f'{MAX_KEYWORD_LENGTH} characters, no space and none of ( ) {{ % * " \\ ], not starting with \\); '
    f"aliases (case-insensitive): {ALIAS_DOC}. \\Recent and other backslash flags are refused."
)
_SYSTEM_BY_LOWER = {flag.lower(): flag for flag in SYSTEM_FLAGS}


def keyword_problem(text: str) -> str | None:
    """Why `text` is not a valid IMAP keyword (an atom, RFC 3501/9051), or None when it is one."""
    if not text:
        return "is empty"
    if len(text) > MAX_KEYWORD_LENGTH:
        return f"is longer than {MAX_KEYWORD_LENGTH} characters"
    for char in text:
        if not " " < char < "\x7f":
            return "contains a space, control or non-ASCII character"
        if char in ATOM_SPECIALS:
            return f"contains {char!r}, which IMAP flags may not contain"
    return None


def canonical_flag(text: str) -> str:
    """The IMAP flag for an alias, system flag or keyword; raises InvalidInput naming the flag."""
    if not isinstance(text, str):
        raise InvalidInput(f"flag {text!r} must be a string", flag=repr(text)[:100])
    alias = ALIASES.get(text.lower())
    if alias is not None:
        return alias
    if text.startswith("\\"):
        system = _SYSTEM_BY_LOWER.get(text.lower())
        if system is not None:
            return system
        reason = (
            "is set by the server and cannot be changed"
            if text.lower() == "\\recent"
            else f"is not a system flag (those are {' '.join(SYSTEM_FLAGS)})"
        )
        raise InvalidInput(f"flag {text[:80]!r} {reason}", flag=text[:100])
    problem = keyword_problem(text)
    if problem is not None:
        raise InvalidInput(f"flag {text[:80]!r} {problem}", flag=text[:100])
    return text


@dataclass(frozen=True)
class FlagChange:
    """Validated, de-duplicated IMAP flags to add and remove."""

    add: tuple[str, ...]
    remove: tuple[str, ...]


def _canonical_list(values: list[str] | None, name: str, problems: list[dict[str, str]]) -> list[str]:
    result: list[str] = []
    if values is not None and len(values) > MAX_FLAGS_PER_LIST:
        problems.append({"field": name, "problem": f"at most {MAX_FLAGS_PER_LIST} flags per list"})
        return result
    for value in values or []:
        try:
            flag = canonical_flag(value)
        except InvalidInput as exc:
            problems.append({"field": name, "flag": str(exc.details.get("flag")), "problem": exc.message})
            continue
        if flag.lower() not in {f.lower() for f in result}:
            result.append(flag)
    return result


def parse_change(add: list[str] | None, remove: list[str] | None) -> FlagChange:
    """Validate both lists together: any bad flag refuses the whole change, naming every bad flag."""
    problems: list[dict[str, str]] = []
    added = _canonical_list(add, "add_flags", problems)
    removed = _canonical_list(remove, "remove_flags", problems)
    if problems:
        names = ", ".join(repr(p["flag"][:40]) if "flag" in p else p["field"] for p in problems)
        reasons = "; ".join(p["problem"] for p in problems[:5])
        raise InvalidInput(
            f"invalid flags {names}: {reasons}. Nothing was changed. Allowed: {FLAG_GRAMMAR_DOC}",
            problems=problems,
        )
    if not added and not removed:
        raise InvalidInput("give at least one flag in add_flags or remove_flags")
    both = sorted({f.lower() for f in added} & {f.lower() for f in removed})
    if both:
        raise InvalidInput(
            f"flags both added and removed: {', '.join(both)}; nothing was changed", flags=both
        )
    return FlagChange(tuple(added), tuple(removed))


def check_wire_flags(flags: list[str] | tuple[str, ...]) -> None:
    """Defence in depth for callers that bypass parse_change: only system flags and keywords may be sent."""
    for flag in flags:
        if flag not in SYSTEM_FLAGS and (flag.startswith("\\") or keyword_problem(flag) is not None):
            raise InvalidInput(f"flag {flag[:80]!r} cannot be sent to the server", flag=flag[:100])
