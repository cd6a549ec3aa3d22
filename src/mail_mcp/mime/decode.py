"""Byte-level decoding: transfer encodings, charsets, RFC 2047 headers and envelope addresses.

Every function here is total: malformed input degrades to a best-effort string, never an exception.
"""

from __future__ import annotations

import binascii
import codecs
import re
from collections.abc import Iterable
from email.utils import getaddresses
from typing import Any, NotRequired, TypedDict


class Address(TypedDict):
    """One mailbox as shown to a caller; `incomplete` when the server's ENVELOPE held a placeholder."""

    name: str | None
    email: str
    incomplete: NotRequired[bool]


_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/=]")
_B64_CHUNKS = re.compile(rb"=+")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?(.*?)\?=")
_FOLD = re.compile(r"\r?\n[ \t]+|\r\n|[\r\n]")
_SURROGATES = re.compile("[\ud800-\udfff]")
_MISSING_HOSTS = ("MISSING_DOMAIN", ".MISSING-HOST-NAME.", "SYNTAX_ERROR")
_MISSING_MAILBOXES = ("MISSING_MAILBOX",)
_QUOTE_NEEDED = re.compile(r'[()<>@,;:\\".\[\]]')

_CHARSET_ALIASES = {
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "x-sjis": "shift_jis",
    "unicode-1-1-utf-7": "utf-7",
    "utf8": "utf-8",
}
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]")
_UNKNOWN_CHARSETS = {"", "unknown", "unknown-8bit", "x-unknown", "x-user-defined", "default", "none"}


def decode_transfer(data: bytes, encoding: str | None) -> bytes:
    """Undo a Content-Transfer-Encoding; unknown encodings and 7bit/8bit/binary are returned unchanged."""
    enc = (encoding or "").strip().lower()
    if enc == "base64":
        return _b64decode(data)
    if enc == "quoted-printable":
        try:
            return binascii.a2b_qp(data)
        except (binascii.Error, ValueError):
            return data
    return data


def _b64decode(data: bytes) -> bytes:
    """Decode base64 ignoring garbage characters, bad padding and concatenated padded chunks."""
    out = bytearray()
    for chunk in _B64_CHUNKS.split(_B64_JUNK.sub(b"", data)):
        if len(chunk) % 4 == 1:
            chunk = chunk[:-1]
        if chunk:
            try:
                out += binascii.a2b_base64(chunk + b"=" * (-len(chunk) % 4))
            except binascii.Error:
                continue
    return bytes(out)


def normalize_charset(charset: str | None) -> str | None:
    """Return a Python codec name for a MIME charset, or None when it is missing, unknown or bogus."""
    if not charset:
        return None
    name = charset.strip().strip("\"'").split("*", 1)[0].strip().lower()
    if name in _UNKNOWN_CHARSETS:
        return None
    name = _CHARSET_ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    return info.name if getattr(info, "_is_text_encoding", True) else None


def decode_text(data: bytes, charset: str | None) -> str:
    """Decode body bytes to text with LF line endings; never raises.

    Tries the declared charset, then UTF-8 (an incomplete last character, as a partial fetch leaves, is
    dropped); if both fail, UTF-8 with replacement characters when the bytes look like UTF-8, else the
    declared charset with replacements, else cp1252 / latin-1.
    """
    if data.startswith(codecs.BOM_UTF8):
        data = data[3:]
    codec = normalize_charset(charset)
    text: str | None = None
    for name in dict.fromkeys([codec or "utf-8", "utf-8"]):
        try:
            text = data.decode(name)
            break
        except UnicodeDecodeError as exc:
            if _truncated_utf8(data, exc):
                try:
                    text = data[: exc.start].decode(name)
                    break
                except Exception:
                    continue
        except Exception:  # an odd codec's own error
            continue
    if text is None:
        if _UTF8_SEQUENCE.search(data) or codec in (None, "ascii", "utf-8"):
            text = _fallback_decode(data)
        else:
            try:
                text = data.decode(codec, "replace")
            except Exception:
                text = _fallback_decode(data)
    if _SURROGATES.search(text):  # e.g. utf-7 can produce lone surrogates; keep output encodable
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _truncated_utf8(data: bytes, exc: UnicodeDecodeError) -> bool:
    """Whether decoding failed only on a final character cut short (as a partial fetch leaves it)."""
    if exc.reason != "unexpected end of data" or exc.end != len(data):
        return False
    return exc.end - exc.start >= 2 or bool(_UTF8_SEQUENCE.search(data, 0, exc.start))


def _fallback_decode(data: bytes) -> str:
    if _UTF8_SEQUENCE.search(data):
        return data.decode("utf-8", "replace")
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _to_str(value: bytes | str) -> str:
    if not isinstance(value, (bytes, str)):
        value = str(value)
    if isinstance(value, str):
        if not _SURROGATES.search(value):
            return value
        try:
            return decode_text(value.encode("utf-8", "surrogateescape"), None)
        except UnicodeEncodeError:
            return value.encode("utf-8", "replace").decode("utf-8")
    return decode_text(value, None)


def unfold_header(value: bytes | str | None) -> str:
    """Raw header text as str (8-bit bytes or surrogate escapes decoded), unfolded; no RFC 2047 decoding."""
    if value is None:
        return ""
    return _FOLD.sub(" ", _to_str(value)).strip()


def _decode_word(kind: str, payload: str) -> bytes:
    raw = payload.encode("ascii", "replace")
    if kind in "bB":
        return _b64decode(raw)
    try:
        return binascii.a2b_qp(raw, header=True)
    except (binascii.Error, ValueError):
        return raw


def decode_header(value: bytes | str | None) -> str:
    """Decode a header value: RFC 2047 encoded words, raw 8-bit UTF-8, folding; never raises."""
    if value is None:
        return ""
    text = _FOLD.sub(" ", _to_str(value))
    if "=?" not in text:
        return text.strip()
    out: list[str] = []
    pending: list[bytes] = []
    pending_charset: str | None = None
    pos = 0

    def flush() -> None:
        if pending:
            out.append(decode_text(b"".join(pending), pending_charset).replace("\n", " "))
            pending.clear()

    for match in _ENCODED_WORD.finditer(text):
        between = text[pos : match.start()]
        charset = match.group(1).split("*", 1)[0].lower()
        if between and not (pending and between.isspace()):
            flush()
            out.append(between)
        elif pending and charset != pending_charset:
            flush()
        pending_charset = charset
        pending.append(_decode_word(match.group(2), match.group(3)))
        pos = match.end()
    flush()
    out.append(text[pos:])
    return "".join(out).strip()


def format_address(name: str | None, email: str) -> str:
    """Render `Name <email>`, quoting the name when it contains specials; just `email` without a name."""
    if not name:
        return email
    if _QUOTE_NEEDED.search(name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{email}>" if email else name


def _field(addr: Any, attr: str, index: int) -> Any:
    value = getattr(addr, attr, None)
    if value is None and isinstance(addr, (tuple, list)) and len(addr) > index:
        value = addr[index]
    return value


def envelope_addresses(addrs: Iterable[Any] | None, *, strict: bool = False) -> list[Address]:
    """Convert IMAP ENVELOPE address structures (imapclient `Address` or 4-tuples) to dicts.

    Group markers (host is NIL) are skipped; their members are listed like any other address. A placeholder
    the server put in for what it could not parse (MISSING_DOMAIN, SYNTAX_ERROR, MISSING_MAILBOX) is never an
    address: without `strict` the local part alone is kept (`From: root`); with it, email is "" and
    `incomplete` is set, so the caller can parse the header itself (`parse_address_header`).
    """
    result: list[Address] = []
    for addr in addrs or ():
        try:
            mailbox, host = _field(addr, "mailbox", 2), _field(addr, "host", 3)
            if mailbox is None or host is None:
                continue
            local, domain = decode_header(mailbox), decode_header(host)
            name = decode_header(_field(addr, "name", 0)) or None
            if domain.upper() in _MISSING_HOSTS or local.upper() in _MISSING_MAILBOXES or not domain:
                if strict:
                    result.append({"name": name, "email": "", "incomplete": True})
                    continue
                if local.upper() in _MISSING_MAILBOXES:
                    continue
                email = local
            else:
                email = f"{local}@{domain}"
            result.append({"name": name, "email": email})
        except Exception:  # skip a malformed entry, keep the rest
            continue
    return result


def parse_address_header(value: bytes | str | None) -> list[Address]:
    """Parse an address header (From, To, ...) from raw header text into the same dicts as envelopes."""
    text = unfold_header(value)
    result: list[Address] = []
    for name, email in getaddresses([text]):
        if not email and not name:
            continue
        result.append({"name": decode_header(name) or None, "email": decode_header(email)})
    return result
