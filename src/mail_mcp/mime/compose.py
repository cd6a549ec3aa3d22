"""Pure message composition: addresses, header safety, reply/forward headers, and the EmailMessage itself.

No I/O. Messages are built by the stdlib `email` package with policy SMTP (CRLF, RFC 2047 encoded words for
non-ASCII names and subjects, a Message-ID and a Date); bodies are 7-bit safe (quoted-printable or base64 when
needed), so no server needs 8BITMIME. Anything that would put a line break or control character into a header
is refused with InvalidInput before a message exists.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage, MIMEPart
from email.policy import SMTP, SMTPUTF8
from email.utils import format_datetime, localtime

from mail_mcp.errors import InvalidInput
from mail_mcp.mime.addresses import ADDRESS_RE, HEADER_UNSAFE, ascii_domain

POLICY = SMTP.clone(cte_type="7bit")
POLICY_UTF8 = SMTPUTF8.clone(cte_type="7bit")
MAX_REFERENCES = 20
_ANGLE = re.compile(r'^\s*(?:"(?P<quoted>[^"]*)"|(?P<name>[^"<>]*?))\s*<(?P<addr>[^<>]*)>\s*$')
_MSG_ID = re.compile(r"<[^<>\s]+@[^<>\s]+>")
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")
_RE_PREFIX = re.compile(r"^\s*((re|aw|sv|antw|réf)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_FWD_PREFIX = re.compile(r"^\s*((fwd?|wg|tr)\s*:\s*)+", re.IGNORECASE)
# Tool-call markup that models have been seen leaking into message bodies; refusing it beats sending it.
_TOOL_MARKUP = re.compile(r"</?(antml:)?(invoke|parameter|function_calls)\b[^>]*>", re.IGNORECASE)


def check_header(value: str, field: str) -> str:
    """Refuse CR, LF and every other control character (they could start a new header such as Bcc)."""
    if HEADER_UNSAFE.search(value):
        raise InvalidInput(
            f"{field} contains a line break or control character; header fields must be a single "
            "line of text. Nothing was sent.",
            field=field,
        )
    return value


def clean_header(value: str | None) -> str:
    """Third-party header text (an original's subject or names): control characters become spaces."""
    return " ".join(HEADER_UNSAFE.sub(" ", value or "").split())


def check_body(text: str, field: str) -> str:
    if "\x00" in text:
        raise InvalidInput(f"{field} contains NUL characters; nothing was sent", field=field)
    if match := _TOOL_MARKUP.search(text):
        raise InvalidInput(
            f"{field} contains tool-call markup ({match.group(0)[:40]!r}), which looks like a "
            "formatting accident; rewrite the body without it. Nothing was sent.",
            field=field,
        )
    return text


@dataclass(frozen=True, slots=True)
class Mailbox:
    """One address; `email` is as transmitted (a non-ASCII domain is IDNA-encoded when the local part is ASCII)."""

    email: str
    name: str | None = None

    @property
    def needs_smtputf8(self) -> bool:
        return not self.email.isascii()

    def header(self) -> HeaderAddress:
        local, _, domain = self.email.rpartition("@")
        return HeaderAddress(display_name=self.name or "", username=local, domain=domain)

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


def _mailbox(name: str | None, addr: str, field: str, text: str) -> Mailbox:
    if addr.count("@") != 1 or not ADDRESS_RE.match(addr):
        raise InvalidInput(
            f"{field}: {text!r} is not an e-mail address; give one address per item, as "
            'name@example.com or "Name <name@example.com>". Nothing was sent.',
            field=field,
        )
    local, domain = addr.split("@")
    if local.isascii() and not domain.isascii():
        try:
            domain = ascii_domain(domain)
        except ValueError as exc:
            raise InvalidInput(
                f"{field}: the domain of {text!r} is not a valid host name ({exc})", field=field
            ) from None
    return Mailbox(f"{local}@{domain.lower()}", name or None)


def parse_mailbox(text: str, field: str) -> Mailbox:
    """`a@b.example` or `Name <a@b.example>` (name may be quoted); exactly one address."""
    check_header(text, field)
    match = _ANGLE.match(text)
    if match is None:
        return _mailbox(None, text.strip(), field, text)
    name = (match["quoted"] if match["quoted"] is not None else match["name"] or "").strip()
    return _mailbox(name, match["addr"].strip(), field, text)


def parse_mailboxes(items: Iterable[str] | None, field: str) -> list[Mailbox]:
    return dedupe(parse_mailbox(item, field) for item in items or ())


def dedupe(boxes: Iterable[Mailbox], exclude: Iterable[str] = ()) -> list[Mailbox]:
    seen = {e.lower() for e in exclude}
    out: list[Mailbox] = []
    for box in boxes:
        if box.email.lower() not in seen:
            seen.add(box.email.lower())
            out.append(box)
    return out


def third_party(entries: Iterable[Mapping[str, object]]) -> list[Mailbox]:
    """Addresses from an original's envelope: names cleaned, unusable addresses dropped."""
    boxes = []
    for entry in entries:
        addr, name = str(entry.get("email") or "").strip(), entry.get("name")
        if addr.count("@") == 1 and ADDRESS_RE.match(addr) and not HEADER_UNSAFE.search(addr):
            boxes.append(Mailbox(addr, clean_header(name if isinstance(name, str) else None) or None))
    return boxes


def not_allowed(recipients: Iterable[Mailbox], patterns: Sequence[str] | None) -> list[str]:
    """Recipients matching neither an address nor an `@domain` of the allow-list (None: no list)."""
    if patterns is None:
        return []
    allowed = set(patterns)
    return [
        box.email
        for box in recipients
        if box.email.lower() not in allowed and "@" + box.email.rpartition("@")[2].lower() not in allowed
    ]


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


def check_attachment(filename: str, content_type: str, field: str) -> tuple[str, str]:
    check_header(filename, f"{field}.filename")
    content_type = content_type.strip().lower()
    if not _CONTENT_TYPE.match(content_type):
        raise InvalidInput(
            f"{field}.content_type {content_type!r} is not a MIME type such as application/pdf", field=field
        )
    return filename.strip() or "attachment", content_type


@dataclass(frozen=True)
class Original:
    """What a reply or forward needs from the message it answers (already decoded)."""

    header_message_id: str | None
    references: tuple[str, ...]
    subject: str
    from_: tuple[Mailbox, ...]
    reply_to: tuple[Mailbox, ...]
    to: tuple[Mailbox, ...]
    cc: tuple[Mailbox, ...]
    date: datetime | None
    text: str = ""
    attachments: tuple[Attachment, ...] = field(default_factory=tuple)


def message_ids(values: Iterable[str | None]) -> list[str]:
    found: list[str] = []
    for value in values:
        found += [m for m in _MSG_ID.findall(value or "") if not HEADER_UNSAFE.search(m) and m not in found]
    return found


def first_id(value: str | None) -> str | None:
    """The first well-formed <id@host> in a header value, or None."""
    found = message_ids([value])
    return found[0] if found else None


def reply_subject(subject: str) -> str:
    return "Re: " + _RE_PREFIX.sub("", clean_header(subject))


def forward_subject(subject: str) -> str:
    return "Fwd: " + _FWD_PREFIX.sub("", clean_header(subject))


def threading(original: Original) -> tuple[str | None, list[str]]:
    """In-Reply-To and References for a reply (RFC 5322 §3.6.4), References trimmed to the first and newest."""
    own = message_ids([original.header_message_id])
    if not own:
        return None, []
    chain = [r for r in message_ids(original.references) if r != own[0]] + own
    if len(chain) > MAX_REFERENCES:
        chain = chain[:1] + chain[-(MAX_REFERENCES - 1) :]
    return own[0], chain


def reply_recipients(original: Original, own: str, reply_all: bool) -> tuple[list[Mailbox], list[Mailbox]]:
    """To: the original's Reply-To, else From (its To when it was our own message); reply-all adds To and Cc."""
    own = own.lower()
    primary = original.reply_to or original.from_
    if original.from_ and all(b.email.lower() == own for b in original.from_) and original.to:
        primary = original.to
    to = dedupe(primary, exclude=[own]) or dedupe(primary)
    cc = dedupe(original.to + original.cc, exclude=[own] + [b.email for b in to]) if reply_all else []
    return to, cc


def forward_text(body: str, original: Original) -> str:
    lines = ["", "", "---------- Forwarded message ---------"]
    for label, boxes in (("From", original.from_), ("To", original.to), ("Cc", original.cc)):
        if boxes:
            lines.append(f"{label}: {', '.join(str(b) for b in boxes)}")
    if original.date:
        lines.append(f"Date: {format_datetime(original.date)}")
    lines += [f"Subject: {clean_header(original.subject)}", "", original.text]
    return body.rstrip("\n") + "\n".join(lines)


def reply_text(body: str, original: Original) -> str:
    """The reply on top, then the original quoted as mail clients do ("On …, … wrote:" and `> ` lines)."""
    if not original.text.strip():
        return body
    sender = str(original.from_[0]) if original.from_ else "the sender"
    when = f"On {format_datetime(original.date)}, " if original.date else ""
    quoted = "\n".join(f"> {line}" if line else ">" for line in original.text.rstrip("\n").split("\n"))
    return f"{body.rstrip(chr(10))}\n\n{when}{sender} wrote:\n{quoted}\n"


def derive_header_message_id(domain: str, account: str, key: str | None) -> str:
    """Fresh, or deterministic from an idempotency key so a resend can be found in Sent after a restart."""
    if key is None:
        return f"<{secrets.token_hex(16)}@{domain}>"  # make_msgid would put the process id in it
    digest = hashlib.sha256(f"{account}\0{key}".encode()).hexdigest()[:32]
    return f"<idem.{digest}@{domain}>"


@dataclass
class Draft:
    """A composed message plus what sending needs; `message` holds Bcc, which `wire_bytes` leaves out."""

    message: EmailMessage | MIMEPart
    sender: Mailbox
    to: list[Mailbox]
    cc: list[Mailbox]
    bcc: list[Mailbox]
    header_message_id: str
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)

    @property
    def recipients(self) -> list[Mailbox]:
        return dedupe(self.to + self.cc + self.bcc)

    @property
    def needs_smtputf8(self) -> bool:
        return any(b.needs_smtputf8 for b in [self.sender, *self.recipients])

    def copy_bytes(self) -> bytes:
        """The message as stored in Sent or Drafts: Bcc kept so the owner sees who got a blind copy."""
        return self.message.as_bytes(policy=POLICY_UTF8 if self.needs_smtputf8 else POLICY)

    def wire_bytes(self) -> bytes:
        """The message as transmitted: never with a Bcc header."""
        saved = self.message.get_all("Bcc")
        del self.message["Bcc"]
        try:
            return self.message.as_bytes(policy=POLICY_UTF8 if self.needs_smtputf8 else POLICY)
        finally:
            for value in saved or ():
                self.message["Bcc"] = value


def build(
    *,
    sender: Mailbox,
    to: list[Mailbox],
    cc: list[Mailbox],
    bcc: list[Mailbox],
    subject: str,
    text: str,
    html: str | None,
    attachments: Sequence[Attachment],
    header_message_id: str,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    date: datetime | None = None,
) -> Draft:
    msg = MIMEPart(policy=POLICY)  # sub-parts made from an EmailMessage would each repeat MIME-Version
    msg["From"] = sender.header()
    for name, boxes in (("To", to), ("Cc", cc), ("Bcc", bcc)):
        if boxes:
            msg[name] = [b.header() for b in boxes]
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date or localtime())
    msg["Message-ID"] = header_message_id
    msg["MIME-Version"] = "1.0"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = " ".join(references or [in_reply_to])
    msg.set_content(text.replace("\r\n", "\n").replace("\r", "\n"))
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for item in attachments:
        if item.content_type == "message/rfc822" and item.data.isascii():  # RFC 2046: never base64-encoded
            msg.add_attachment(
                message_from_bytes(item.data, policy=POLICY), cte="7bit", filename=item.filename
            )
            continue
        maintype, _, subtype = item.content_type.partition("/")
        if maintype in ("message", "multipart"):
            maintype, subtype = "application", "octet-stream"
        msg.add_attachment(item.data, maintype=maintype, subtype=subtype, filename=item.filename)
    return Draft(msg, sender, to, cc, bcc, header_message_id, in_reply_to, list(references))
