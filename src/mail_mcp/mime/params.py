"""MIME parameters and filenames: RFC 2231 continuations/charsets, RFC 2047 names, quoting."""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from mail_mcp.mime.decode import decode_header, decode_text

_EXT_KEY = re.compile(r"^([^*]+)\*(\d+)?(\*)?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_UNSAFE_NAME = re.compile(r'[:*?"<>|]+')  # for names we make up from a subject
_QUOTED_PAIR = re.compile(r'\\([\\"])')


def as_str(value: Any) -> str:
    """An IMAP atom (bytes, int, None) as text."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return decode_text(value, None)
    return str(value)


def as_int(value: Any) -> int:
    """A non-negative int from an IMAP number, digits as bytes, or junk (0)."""
    try:
        return max(int(value), 0)
    except (TypeError, ValueError):
        return 0


def merge_params(pairs: Any) -> dict[str, str]:
    """Build a parameter dict with lowercase keys, joining RFC 2231 continuations and charsets.

    An extended `name*` value wins over a plain `name`.
    """
    plain: dict[str, str] = {}
    extended: dict[str, list[tuple[int, bool, str]]] = {}
    for key, value in pairs:
        key, value = as_str(key).strip().lower(), as_str(value)
        match = _EXT_KEY.match(key)
        if not match:
            plain.setdefault(key, value)
            continue
        base, number, star = match.groups()
        extended.setdefault(base, []).append((as_int(number), star is not None or number is None, value))
    for base, segments in extended.items():
        segments.sort(key=lambda seg: seg[0])
        charset, raw = None, bytearray()
        for index, (_number, encoded, value) in enumerate(segments):
            if encoded:
                if index == 0 and value.count("'") >= 2:
                    charset, _lang, value = value.split("'", 2)
                raw += urllib.parse.unquote_to_bytes(value)
            else:
                raw += value.encode("utf-8", "surrogateescape")
        plain[base] = decode_text(bytes(raw), charset or None)
    return plain


def split_header_params(value: str | None) -> tuple[str, list[tuple[str, str]]]:
    """Split `type/sub; k=v; k2="v 2"` into the lowercased first token and raw (key, value) pairs."""
    items: list[str] = []
    buf: list[str] = []
    quoted = escaped = False
    for ch in value or "":
        if escaped:
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == ";" and not quoted:
            items.append("".join(buf))
            buf = []
            continue
        buf.append(ch)
    items.append("".join(buf))
    pairs = []
    for item in items[1:]:
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            continue
        val = val.strip()
        if val.startswith('"'):
            val = val[1:-1] if len(val) > 1 and val.endswith('"') else val[1:]
            val = _QUOTED_PAIR.sub(r"\1", val)
        pairs.append((key.strip(), val))
    return items[0].strip().lower(), pairs


def clean_filename(name: str | None) -> str | None:
    """RFC 2047-decode a filename and strip directory parts and control characters."""
    if not name:
        return None
    name = _CONTROL.sub("", decode_header(name).replace("\\", "/").rsplit("/", 1)[-1]).strip()
    return name if name.strip(".") else None


def rfc822_filename(subject: str | None) -> str:
    """Filename for a forwarded message: its subject plus `.eml`, else `forwarded.eml`."""
    stem = " ".join(_UNSAFE_NAME.sub(" ", _CONTROL.sub(" ", subject or "")).split())
    stem = stem.replace("/", "-").replace("\\", "-")[:80].strip(" .")
    return f"{stem}.eml" if stem else "forwarded.eml"


def clean_content_id(value: Any) -> str | None:
    """A Content-ID without angle brackets, or None."""
    cid = as_str(value).strip().strip("<>").strip()
    return cid or None
