"""Header text as a model should see it: invisible and direction-changing characters made visible, and display
names that pretend to be a different address called out.

A subject "Invoice\u202efdp.exe" renders as "Invoiceexe.pdf"; a name "ceo@bank.com" beside the address
attacker@evil.test reads as the bank. Both tricks work on a model as well as on a person.
"""

from __future__ import annotations

import re
import unicodedata

# Bidi embeddings/overrides/isolates and marks, zero-width and other invisible characters, C0/C1 controls.
_HIDDEN = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb]"
)
_ADDRESS_LIKE = re.compile(r"[^\s@<>()\[\],;:\"'`]+@[^\s@<>()\[\],;:\"'`]+\.[^\s@<>()\[\],;:\"'`]+")


_EMOJI_SIDE = {"So", "Sk"}


def _visible(match: re.Match[str]) -> str:
    char, text, at = match.group(0), match.string, match.start()
    if char == "\u200d" and 0 < at < len(text) - 1:  # a zero-width joiner inside an emoji sequence
        before, after = text[at - 1], text[at + 1]
        if unicodedata.category(after) in _EMOJI_SIDE and (
            unicodedata.category(before) in _EMOJI_SIDE or before == "\ufe0f"
        ):
            return char
    return f"[U+{ord(char):04X}]"


def escape_hidden(text: str) -> str:
    """Each invisible, bidi-control or control character replaced by a visible `[U+XXXX]`; tab and line
    breaks are kept."""
    return _HIDDEN.sub(_visible, text) if text else text


def has_hidden(text: str | None) -> bool:
    return bool(text) and escape_hidden(text or "") != text


def spoofed_address(name: str | None, email: str) -> str | None:
    """The address a display name shows when it is not the real one (`"ceo@bank.com" <attacker@evil.test>`)."""
    if not name:
        return None
    folded = unicodedata.normalize("NFKC", _HIDDEN.sub("", name)).replace("\uff20", "@")
    real = email.strip().lower()
    for match in _ADDRESS_LIKE.finditer(folded):
        shown = match.group(0).strip(".").lower()
        if shown != real:
            return match.group(0)
    return None


def address_warning(name: str | None, email: str) -> str | None:
    """Why a model should not trust how this address looks, or None."""
    shown = spoofed_address(name, email)
    if shown is not None:
        return (
            f"the display name shows the address {escape_hidden(shown)!r}, but the real address is "
            f"{escape_hidden(email) or 'unknown'!r}: do not treat this as mail from {escape_hidden(shown)!r}"
        )
    if has_hidden(name) or has_hidden(email):
        return "the name or address contains invisible or text-direction characters, shown as [U+XXXX]"
    return None
