"""Trim the quoted history from a plain-text reply, so a conversation shows each message's own words once.

What goes: the block of `>` lines at the end with the attribution line before it ("On <date>, X wrote:",
"Am ... schrieb X:", "Le ... a écrit :", "Carol Smith wrote:"), and an Outlook-style quoted tail with everything
after it. That tail is recognised only by a mail header block: a "From:/Von:/De:" line with a "Sent:/Date:/Gesendet:"
line within the next 5 lines, right after a separator ("-----Original Message-----", a line of underscores); after a
blank line it needs a "Subject:/Betreff:/Objet:" line too, elsewhere also a "To:/An:/A:" line (HTML-only replies).
A From:/To: pair in prose (an itinerary, a schedule) or a separator with no header block after it stays. Inline
replies stay: a quoted passage followed by the writer's answer is kept, shortened to its first lines when long.
Forwarded messages are content, not history: a message with a forward marker ("---------- Forwarded message
---------") keeps everything after it, and `forwarded=True` (the caller knows the subject is "Fwd:"/"FW:"/...) turns
trimming off. When in doubt nothing is trimmed; a message that would be left empty is returned unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

INLINE_QUOTE_LINES = 3  # an inline quoted passage keeps this many lines, then "> [...]"

_QUOTE = re.compile(r"^\s*>")
_ATTRIBUTION = re.compile(
    r"^\s*(?:On\s.+\bwrote\s*:|Am\s.+\bschrieb\s.*:|Le\s.+\ba\s+écrit\s*:|El\s.+\bescribió\s*:"
    r"|Op\s.+\bschreef\s.*:|Il\s.+\bha\s+scritto\s*:)\s*$",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(
    r"^\s*(?:-{3,}\s*(?:Original Message|Ursprüngliche Nachricht|Message d'origine|Mensaje original"
    r"|Messaggio originale|Oorspronkelijk bericht)\s*-{3,}|_{10,})\s*$",
    re.IGNORECASE,
)
_FROM = re.compile(r"^\s*\*?(?:From|Von|De|Da|Van)\s*:\*?\s+\S", re.IGNORECASE)
_FORWARDED = re.compile(
    r"^\s*(?:-{3,}\s*(?:Forwarded message|Weitergeleitete Nachricht|Message transféré)\s*-{3,}"
    r"|Begin forwarded message\s*:|Anfang der weitergeleiteten (?:Nachricht|E-Mail)\s*:)\s*$",
    re.IGNORECASE,
)
_SENT = re.compile(
    r"^\s*\*?(?:Sent|Date|Gesendet|Datum|Envoyé|Enviado|Fecha|Inviato|Data|Verzonden)\s*:", re.IGNORECASE
)
_SUBJECT = re.compile(r"^\s*\*?(?:Subject|Betreff|Objet|Asunto|Assunto|Oggetto|Onderwerp)\s*:", re.IGNORECASE)
_TO = re.compile(r"^\s*\*?(?:To|An|À|Para|A|Aan)\s*:", re.IGNORECASE)
_HEADER_LINES = 5  # how far after "From:" its "Sent:", "To:" and "Subject:" lines may be
_NAMED_ATTRIBUTION = re.compile(  # "Carol Smith wrote:", "carol@example.test wrote:"; capitals, so no prose
    r"^\s*(?:[A-ZÀ-ÖØ-Þ][\w.'-]*(?:\s+[A-ZÀ-ÖØ-Þ][\w.'-]*){0,3}(?:\s+<[^\s<>]+@[^\s<>]+>)?|<?[^\s<>]+@[^\s<>]+>?)"
    r"\s+(?:wrote|schrieb|a\s+écrit|escribió|schreef|ha\s+scritto)\s*:\s*$"
)


@dataclass(frozen=True)
class Trimmed:
    text: str  # the writer's own words (and kept inline quotes)
    trimmed_chars: int  # characters of quoted history left out (attribution lines included; 0: nothing)
    quoted_lines: int  # quoted lines left out


def _header_block(lines: list[str], i: int, need: tuple[re.Pattern[str], ...]) -> bool:
    """Whether a mail header block starts at line i: a From: line with each needed header in the next lines."""
    if i >= len(lines) or not _FROM.match(lines[i]):
        return False
    after = lines[i + 1 : i + 1 + _HEADER_LINES]
    return all(any(header.match(n) for n in after) for header in need)


def _outlook_tail(lines: list[str]) -> int | None:
    """Index of the first line of an Outlook-style quoted tail, or None."""
    for i, line in enumerate(lines):
        if _FORWARDED.match(line):
            return None
        if _SEPARATOR.match(line) and any(_header_block(lines, j, (_SENT,)) for j in (i + 1, i + 2)):
            return i
        after_blank = i > 0 and not lines[i - 1].strip()
        if _header_block(lines, i, (_SENT, _SUBJECT) if after_blank else (_SENT, _SUBJECT, _TO)):
            return i
    return None


def _attribution_start(lines: list[str], quote_start: int) -> int:
    """Where the attribution before a quoted block begins (it may be wrapped over two lines), else the block."""
    i = quote_start
    while i > 0 and not lines[i - 1].strip():
        i -= 1
    if i > 0 and _ATTRIBUTION.match(lines[i - 1]):
        return i - 1
    if (
        i > 1
        and (i == 2 or not lines[i - 3].strip())
        and not lines[i - 2].rstrip().endswith((".", "!", "?"))
        and _ATTRIBUTION.match(lines[i - 2].rstrip() + " " + lines[i - 1].strip())
    ):
        return i - 2
    if i > 0 and _NAMED_ATTRIBUTION.match(lines[i - 1]):
        return i - 1
    return quote_start


def _tail_quote(lines: list[str]) -> int | None:
    """Index where the trailing quoted block (with its attribution) starts, or None."""
    end = len(lines)
    while end > 0 and not lines[end - 1].strip():
        end -= 1
    start = end
    while start > 0 and (_QUOTE.match(lines[start - 1]) or not lines[start - 1].strip()):
        start -= 1
    while start < end and not lines[start].strip():
        start += 1
    if start >= end:
        return None
    return _attribution_start(lines, start)


def _shorten_inline(lines: list[str]) -> tuple[list[str], int, int]:
    """Inline quoted passages longer than INLINE_QUOTE_LINES keep their first lines."""
    out: list[str] = []
    dropped_chars = dropped_lines = 0
    i = 0
    while i < len(lines):
        if not _QUOTE.match(lines[i]):
            out.append(lines[i])
            i += 1
            continue
        j = i
        while j < len(lines) and _QUOTE.match(lines[j]):
            j += 1
        block = lines[i:j]
        if len(block) > INLINE_QUOTE_LINES + 1:
            out += [*block[:INLINE_QUOTE_LINES], "> [...]"]
            rest = block[INLINE_QUOTE_LINES:]
            dropped_chars += sum(len(line) + 1 for line in rest)
            dropped_lines += len(rest)
        else:
            out += block
        i = j
    return out, dropped_chars, dropped_lines


def trim_quotes(text: str, *, forwarded: bool = False) -> Trimmed:
    """The writer's own text with the quoted history trimmed, and how much was trimmed.

    forwarded: the message is a forward (subject "Fwd:", "FW:", "WG:", "TR:", ...); its quoted part is the
    content, so nothing is trimmed.
    """
    if forwarded:
        return Trimmed(text, 0, 0)
    lines = text.replace("\r\n", "\n").split("\n")
    cut = _outlook_tail(lines)
    tail = _tail_quote(lines[:cut] if cut is not None else lines)
    if tail is not None:
        cut = tail
    own = lines[:cut] if cut is not None else lines
    removed = lines[cut:] if cut is not None else []
    own, inline_chars, inline_lines = _shorten_inline(own)
    kept = "\n".join(own).rstrip()
    if not kept.strip():
        return Trimmed(text, 0, 0)
    tail_chars = len("\n".join(removed).strip())
    quoted = sum(1 for line in removed if line.strip()) + inline_lines
    return Trimmed(kept, tail_chars + inline_chars, quoted)
