"""Message generators for `mail_mcp.sandbox`: a fixed realistic sample mailbox and a fast bulk generator.

The sample is described by `SAMPLE` (one `SampleSpec` per message); `SAMPLE_COUNTS`,
`SAMPLE_SUBJECTS` and `SAMPLE_FOLDERS` are derived from it so tests never repeat numbers.
Content is deterministic; only dates move with "now" (spread over the last ~60 days).
"""

from __future__ import annotations

import base64
import random
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

__all__ = [
    "SAMPLE",
    "SAMPLE_COUNTS",
    "SAMPLE_FOLDERS",
    "SAMPLE_SUBJECTS",
    "SAMPLE_THREAD_SUBJECT",
    "SampleSpec",
    "build_sample",
    "generate_bulk",
]

DOMAIN = "example.test"

# Correspondents: (display name, address)
BOB = ("Bob Builder", "bob@example.test")
CAROL = ("Carol Jones", "carol@example.test")
JUERGEN = ("Jürgen Müller", "juergen.mueller@example.test")
TANAKA = ("田中 太郎", "tanaka@example.test")
IT = ("Example IT", "it@example.test")
SHOP = ("Shop Example", "billing@shop.example")
NEWS = ("Example Weekly", "news@lists.example")
CI = ("CI Bot", "ci@build.example")
BOUTIQUE = ("Boutique Élégance", "facturation@boutique.example")
ALICE = ("Alice Example", "alice@example.test")  # replaced by the seeded user's address

SEEN, FLAGGED, ANSWERED, DRAFT = "\\Seen", "\\Flagged", "\\Answered", "\\Draft"


@dataclass(frozen=True, slots=True)
class SampleSpec:
    """One sample message. ``kind`` selects the MIME shape; ``reply_to`` is a key of another spec."""

    key: str
    folder: str
    subject: str
    sender: tuple[str, str]
    days_ago: float
    kind: str = "plain"  # plain | html | alternative | pdf | csv | inline-image
    flags: tuple[str, ...] = ()
    body: str = ""
    reply_to: str | None = None
    to: tuple[str, str] | None = None  # default: the seeded user
    extra: dict[str, str] = field(default_factory=dict)


SAMPLE_THREAD_SUBJECT = "Offsite agenda"

SAMPLE: tuple[SampleSpec, ...] = (
    # ---- INBOX (25)
    SampleSpec(
        "welcome",
        "INBOX",
        "Welcome to Example Corp",
        IT,
        58.5,
        flags=(SEEN,),
        body="Hi,\n\nyour mailbox is ready. Your IT team.",
    ),
    SampleSpec(
        "gruesse",
        "INBOX",
        "Grüße aus München",
        JUERGEN,
        55.2,
        flags=(SEEN,),
        body="Hallo Alice,\n\nviele Grüße aus München! Das Wetter ist schön, die Brezn sind groß.\n\nJürgen",
    ),
    SampleSpec(
        "kaigi",
        "INBOX",
        "会議の議題",
        TANAKA,
        52.1,
        body="アリスさん\n\n来週の会議の議題を添付します。\n1. 予算\n2. 日程\n\n田中",
    ),
    SampleSpec(
        "invoice",
        "INBOX",
        "Your invoice #4821",
        SHOP,
        50.3,
        kind="html",
        flags=(SEEN,),
        body="<p>Thank you for your order. Invoice <b>#4821</b>: total <b>42.00 EUR</b>.</p>",
    ),
    SampleSpec(
        "newsletter",
        "INBOX",
        "Newsletter: March highlights",
        NEWS,
        47.8,
        kind="alternative",
        flags=(SEEN,),
        body="Top stories this month: mail servers, IMAP tips and more.",
    ),
    SampleSpec(
        "report",
        "INBOX",
        "Q1 report attached",
        BOB,
        45.0,
        kind="pdf",
        flags=(SEEN, FLAGGED),
        body="Hi Alice,\n\nplease find the Q1 report attached.\n\nBob",
    ),
    SampleSpec(
        "csv",
        "INBOX",
        "Customer export",
        CAROL,
        42.4,
        kind="csv",
        body="Here is the customer export you asked for (data.csv).",
    ),
    SampleSpec(
        "photo",
        "INBOX",
        "Team photo",
        CAROL,
        40.6,
        kind="inline-image",
        flags=(SEEN,),
        body="Look at our team photo from the summer party!",
    ),
    SampleSpec(
        "offsite1",
        "INBOX",
        SAMPLE_THREAD_SUBJECT,
        BOB,
        38.0,
        flags=(SEEN,),
        body="Hi all,\n\nhere is a first draft of the offsite agenda:\n- Strategy\n- Team building",
    ),
    SampleSpec(
        "offsite2",
        "INBOX",
        "Re: " + SAMPLE_THREAD_SUBJECT,
        CAROL,
        37.5,
        flags=(SEEN,),
        reply_to="offsite1",
        body="Looks good. Can we add a slot for the roadmap?",
    ),
    SampleSpec(
        "offsite3",
        "INBOX",
        "Re: " + SAMPLE_THREAD_SUBJECT,
        BOB,
        36.9,
        reply_to="offsite2",
        body="Sure, added the roadmap slot after lunch.",
    ),
    SampleSpec(
        "budget",
        "INBOX",
        "Can you review the budget?",
        BOB,
        33.2,
        flags=(SEEN, ANSWERED),
        body="Alice, could you review the budget spreadsheet before Friday?",
    ),
    SampleSpec(
        "meeting",
        "INBOX",
        "Meeting: 10:30 tomorrow",
        CAROL,
        30.1,
        flags=(FLAGGED,),
        body="Reminder: we meet tomorrow at 10:30 in room 2.",
    ),
    SampleSpec(
        "ci",
        "INBOX",
        "Build failed: main #1234",
        CI,
        27.7,
        body="Build #1234 of main failed.\n\ntest_parser.py::test_dates FAILED",
    ),
    SampleSpec(
        "lunch",
        "INBOX",
        "Lunch on Friday?",
        CAROL,
        25.3,
        flags=(SEEN,),
        body="Want to grab lunch on Friday? The new place around the corner.",
    ),
    SampleSpec(
        "security",
        "INBOX",
        "Security alert: new sign-in",
        IT,
        22.9,
        kind="html",
        body="<p>A new sign-in to your account was detected from <i>Berlin, DE</i>.</p>",
    ),
    SampleSpec(
        "vacation",
        "INBOX",
        "Vacation request approved",
        BOB,
        20.2,
        flags=(SEEN,),
        body="Your vacation request for 3 days has been approved.",
    ),
    SampleSpec(
        "timesheets",
        "INBOX",
        "Reminder: timesheets due",
        IT,
        17.6,
        body="Please submit your timesheets by end of day.",
    ),
    SampleSpec(
        "entwurf",
        "INBOX",
        "Rückmeldung zum Entwurf",
        JUERGEN,
        15.4,
        flags=(SEEN,),
        body="Hallo Alice,\n\nder Entwurf gefällt mir. Zwei Änderungen: Überschrift kürzen, Fußnote raus.",
    ),
    SampleSpec(
        "pr",
        "INBOX",
        "Pull request #42: Fix date parser",
        CI,
        12.8,
        kind="alternative",
        body="bob wants to merge 3 commits into main from fix-dates.",
    ),
    SampleSpec(
        "tickets",
        "INBOX",
        "Conference tickets",
        CAROL,
        10.1,
        kind="pdf",
        flags=(FLAGGED,),
        body="Tickets for the conference are attached.",
    ),
    SampleSpec(
        "sync",
        "INBOX",
        "Weekly sync notes",
        BOB,
        7.3,
        flags=(SEEN,),
        body="Notes:\n- shipped the importer\n- next: search",
    ),
    SampleSpec(
        "delivery",
        "INBOX",
        "Package delivery update",
        SHOP,
        4.2,
        kind="html",
        body="<p>Your package is <b>out for delivery</b>.</p>",
    ),
    SampleSpec(
        "question", "INBOX", "Quick question", CAROL, 1.4, body="Do you have the slides from Tuesday?"
    ),
    SampleSpec(
        "maintenance",
        "INBOX",
        "Server maintenance tonight",
        IT,
        0.2,
        body="The mail server will be restarted tonight at 23:00 UTC.",
    ),
    # ---- Sent (4)
    SampleSpec(
        "budget-reply",
        "Sent",
        "Re: Can you review the budget?",
        ALICE,
        32.9,
        flags=(SEEN,),
        reply_to="budget",
        to=BOB,
        body="Done, two small comments in the sheet.",
    ),
    SampleSpec(
        "kickoff",
        "Sent",
        "Project kickoff",
        ALICE,
        29.0,
        flags=(SEEN,),
        to=CAROL,
        body="Kickoff is on Monday at 9:00.",
    ),
    SampleSpec(
        "slides",
        "Sent",
        "Slides for Thursday",
        ALICE,
        14.5,
        kind="pdf",
        flags=(SEEN,),
        to=BOB,
        body="Slides attached.",
    ),
    SampleSpec(
        "travel",
        "Sent",
        "Travel plans",
        ALICE,
        3.3,
        flags=(SEEN,),
        to=JUERGEN,
        body="I arrive in München on the 12th.",
    ),
    # ---- Drafts (1)
    SampleSpec(
        "draft",
        "Drafts",
        "Proposal outline",
        ALICE,
        2.0,
        flags=(SEEN, DRAFT),
        to=CAROL,
        body="1. Problem\n2. Proposal\n3. Cost",
    ),
    # ---- Junk (1)
    SampleSpec(
        "spam",
        "Junk",
        "You have WON a prize!!!",
        ("Lottery", "winner@spam.example"),
        9.0,
        kind="html",
        body="<p>Click <a href='http://spam.example/'>here</a> to claim.</p>",
    ),
    # ---- Archive (4)
    SampleSpec(
        "old-notes",
        "Archive",
        "Old project notes",
        BOB,
        59.5,
        flags=(SEEN,),
        body="Archived notes from the old project.",
    ),
    SampleSpec(
        "tax",
        "Archive",
        "2025 tax documents",
        IT,
        59.0,
        kind="pdf",
        flags=(SEEN,),
        body="Your tax documents for 2025.",
    ),
    SampleSpec(
        "receipt",
        "Archive",
        "Receipt: order 1001",
        SHOP,
        57.0,
        kind="html",
        flags=(SEEN,),
        body="<p>Order 1001 — paid.</p>",
    ),
    SampleSpec(
        "recap",
        "Archive",
        "Conference 2025 recap",
        NEWS,
        56.0,
        kind="alternative",
        flags=(SEEN,),
        body="What happened at the conference, in five minutes.",
    ),
    # ---- Reçus (3)
    SampleSpec(
        "recu1",
        "Reçus",
        "Reçu de paiement n° 2026-001",
        BOUTIQUE,
        48.0,
        kind="pdf",
        flags=(SEEN,),
        body="Merci pour votre achat. Votre reçu est joint.",
    ),
    SampleSpec(
        "recu2",
        "Reçus",
        "Facture février",
        BOUTIQUE,
        26.0,
        flags=(SEEN,),
        body="Votre facture de février est disponible.",
    ),
    SampleSpec(
        "recu3",
        "Reçus",
        "Reçu: abonnement mensuel",
        BOUTIQUE,
        6.0,
        body="Abonnement mensuel renouvelé: 9,99 €.",
    ),
    # ---- Projects.2026 (3)
    SampleSpec(
        "roadmap",
        "Projects.2026",
        "Roadmap 2026 draft",
        BOB,
        35.0,
        flags=(SEEN,),
        body="Q1: importer. Q2: search. Q3: sharing.",
    ),
    SampleSpec(
        "budget21",
        "Projects.2026",
        "Budget v2.1",
        CAROL,
        21.0,
        kind="csv",
        flags=(SEEN, FLAGGED),
        body="Updated budget, v2.1.",
    ),
    SampleSpec("hiring", "Projects.2026", "Hiring plan", BOB, 8.0, body="Two engineers in Q2."),
    # ---- Notes:2026 (2)
    SampleSpec(
        "ideas",
        "Notes:2026",
        "Note: ideas",
        ALICE,
        18.0,
        flags=(SEEN,),
        to=ALICE,
        body="- offline mode\n- keyboard shortcuts",
    ),
    SampleSpec(
        "reading",
        "Notes:2026",
        "Reading list",
        ALICE,
        11.0,
        flags=(SEEN,),
        to=ALICE,
        body="RFC 3501, RFC 9051, RFC 6154.",
    ),
)

#: Every folder of the sample (special-use ones exist anyway; the others are created), in seed order.
SAMPLE_FOLDERS: tuple[str, ...] = (
    "INBOX",
    "Sent",
    "Drafts",
    "Trash",
    "Junk",
    "Archive",
    "Reçus",
    "Projects.2026",
    "Notes:2026",
)
#: Subjects per folder, in APPEND (= UID) order.
SAMPLE_SUBJECTS: dict[str, tuple[str, ...]] = {
    f: tuple(s.subject for s in SAMPLE if s.folder == f) for f in SAMPLE_FOLDERS
}
#: Number of messages per folder (Trash is empty).
SAMPLE_COUNTS: dict[str, int] = {f: len(s) for f, s in SAMPLE_SUBJECTS.items()}


def _message_id(key: str) -> str:
    return f"<sample-{key}@{DOMAIN}>"


def _tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x80\x00" * 4 for _ in range(4))  # 4x4 orange, RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _tiny_pdf(title: str) -> bytes:
    text = title.encode("ascii", "replace")
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 100]>>endobj\n"
        b"% " + text + b"\n" + bytes(range(256)) + b"\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


def _html(body: str) -> str:
    return "<html><body>" + "".join(f"<p>{line}</p>" for line in body.split("\n") if line) + "</body></html>"


def build_sample(
    address: str, now: datetime | None = None
) -> Iterator[tuple[str, bytes, tuple[str, ...], datetime]]:
    """Yield ``(folder, raw, flags, internal_date)`` for every `SAMPLE` message, addressed to ``address``.

    Messages "from alice" (Sent, Drafts, Notes:2026) come from ``address`` instead.
    """
    now = now or datetime.now(UTC)
    by_key = {s.key: s for s in SAMPLE}
    me = (address.split("@")[0].capitalize() + " Example", address)
    for spec in SAMPLE:
        sender = me if spec.sender == ALICE else spec.sender
        rcpt = me if spec.to in (None, ALICE) else spec.to
        when = (now - timedelta(days=spec.days_ago)).replace(microsecond=0)
        msg = EmailMessage(policy=SMTP)
        msg["From"] = Address(sender[0], addr_spec=sender[1])
        msg["To"] = Address(rcpt[0], addr_spec=rcpt[1])
        if spec.key.startswith("offsite"):
            msg["Cc"] = Address(
                CAROL[0] if sender != CAROL else BOB[0], addr_spec=CAROL[1] if sender != CAROL else BOB[1]
            )
        msg["Subject"] = spec.subject
        msg["Date"] = format_datetime(when)
        msg["Message-ID"] = _message_id(spec.key)
        if spec.reply_to:
            chain: list[str] = []
            parent: SampleSpec | None = by_key[spec.reply_to]
            while parent is not None:
                chain.insert(0, _message_id(parent.key))
                parent = by_key[parent.reply_to] if parent.reply_to else None
            msg["In-Reply-To"] = chain[-1]
            msg["References"] = " ".join(chain)
        if spec.folder == "INBOX" and spec.sender in (NEWS, CI):
            msg["List-Id"] = f"<{spec.sender[1].split('@')[0]}.{spec.sender[1].split('@')[1]}>"
        body = spec.body
        # Non-ASCII bodies: Japanese as base64, European as quoted-printable (what real clients send).
        cte = None
        if not body.isascii():
            cte = "base64" if any(ord(ch) > 0x2FFF for ch in body) else "quoted-printable"
        if spec.kind == "html":
            msg.set_content(_html(body), subtype="html")
        elif spec.kind == "alternative":
            msg.set_content(body)
            msg.add_alternative(_html(body), subtype="html")
        elif spec.kind == "inline-image":
            msg.set_content(body)
            msg.add_alternative(
                f'<html><body><p>{body}</p><img src="cid:photo1@{DOMAIN}" alt="team photo"></body></html>',
                subtype="html",
            )
            html_part = msg.get_payload()[1]  # type: ignore[index]
            html_part.add_related(  # type: ignore[union-attr]
                _tiny_png(),
                "image",
                "png",
                cid=f"<photo1@{DOMAIN}>",
                filename="team.png",
                disposition="inline",
            )
        else:
            msg.set_content(body, cte=cte)
            if spec.kind == "pdf":
                msg.add_attachment(_tiny_pdf(spec.subject), "application", "pdf", filename="report.pdf")
            elif spec.kind == "csv":
                msg.add_attachment(
                    "id,name,city\n1,Anna,Berlin\n2,Ben,Köln\n3,Chloé,Paris\n",
                    subtype="csv",
                    filename="data.csv",
                )
        yield spec.folder, msg.as_bytes(), spec.flags, when


# ---------------------------------------------------------------------- bulk

_WORDS = (
    "the project status update meeting budget review release deadline customer feedback design proposal "
    "server migration invoice schedule quarterly report draft team offsite travel agenda contract support "
    "ticket roadmap hiring security backup database search index performance latency cache deploy rollout "
    "metrics dashboard alert incident"
).split()
_SUBJECT_FORMS = (
    "{a} {b}",
    "Re: {a} {b}",
    "Fwd: {a} {b} {c}",
    "{A}: {b} {c}",
    "[{list}] {a} {b}",
    "Weekly {a} #{n}",
    "Grüße: {a} {b}",
    "{a}の{b}",
    "Question about {a}",
    "{A} {b} ({n})",
)
_NAMES = (
    "Anna Schmidt",
    "Ben Carter",
    "Chloé Martin",
    "David Kim",
    "Eva Novak",
    "Farid Haddad",
    "Grace Liu",
    "Hugo Weiß",
    "Ines García",
    "佐藤 花子",
    "Jon Berg",
    "Kate O'Neil",
)


def _header_text(text: str) -> str:
    """RFC 2047-encode ``text`` when it is not plain ASCII (quick path, no email package)."""
    if text.isascii():
        return text
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


def generate_bulk(
    count: int, *, size_hint: int = 2048, seed: int = 0, days: int = 365, now: datetime | None = None
) -> Iterator[tuple[bytes, datetime, tuple[str, ...]]]:
    """Yield ``count`` varied raw messages ``(raw, internal_date, flags)``, quickly and deterministically."""
    rng = random.Random(seed)
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    for i in range(count):
        # Oldest first with jitter, so UID order roughly follows date order as in a real mailbox.
        age = (count - i) / count * days * 86400 + rng.uniform(0, 3600)
        when = now - timedelta(seconds=int(age))
        a, b, c = rng.sample(_WORDS, 3)
        subject = rng.choice(_SUBJECT_FORMS).format(
            a=a,
            b=b,
            c=c,
            A=a.capitalize(),
            n=rng.randrange(1, 999),
            list=rng.choice(("dev", "ops", "announce")),
        )
        name = rng.choice(_NAMES)
        local = name.split()[0].lower().encode("ascii", "ignore").decode() or "user"
        target = max(64, int(size_hint * rng.uniform(0.4, 1.6)))
        words: list[str] = []
        length = 0
        while length < target:
            line = " ".join(rng.choices(_WORDS, k=rng.randrange(6, 14))).capitalize() + "."
            words.append(line)
            length += len(line) + 2
        body = "\r\n".join(words)
        headers = (
            f"From: {_header_text(name)} <{local}{i % 50}@example.test>\r\n"
            f"To: Alice Example <alice@example.test>\r\n"
            f"Subject: {_header_text(subject)}\r\n"
            f"Date: {format_datetime(when)}\r\n"
            f"Message-ID: <bulk-{seed}-{i}@example.test>\r\n"
            "MIME-Version: 1.0\r\n"
        )
        if rng.random() < 0.1:
            boundary = f"=_bulk_{seed}_{i}"
            csv = "".join(f"{n},{rng.choice(_WORDS)},{rng.randrange(1000)}\r\n" for n in range(20))
            raw = (
                headers + f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
                f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
                f"--{boundary}\r\nContent-Type: text/csv; charset=utf-8\r\n"
                f'Content-Disposition: attachment; filename="data-{i}.csv"\r\n\r\n{csv}'
                f"--{boundary}--\r\n"
            )
        else:
            raw = headers + f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
        roll = rng.random()
        flags: tuple[str, ...] = ("\\Seen",) if roll < 0.7 else ()
        if roll > 0.95:
            flags += ("\\Flagged",)
        yield raw.encode("utf-8"), when, flags
