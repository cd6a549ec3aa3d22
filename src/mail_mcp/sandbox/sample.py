"""The fixed, realistic sample mailbox of `mail_mcp.sandbox`.

The sample is described by `SAMPLE` (one `SampleSpec` per message); `SAMPLE_COUNTS`,
`SAMPLE_SUBJECTS` and `SAMPLE_FOLDERS` are derived from it so tests never repeat numbers.
Content is deterministic; only dates move with "now" (spread over the last ~60 days).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from mail_mcp.sandbox.sample_specs import (
    ALICE,
    BOB,
    BOUTIQUE,
    CAROL,
    CI,
    DOMAIN,
    DRAFT,
    FLAGGED,
    INBOX,
    IT,
    JUERGEN,
    NEWS,
    SAMPLE_THREAD_SUBJECT,
    SEEN,
    SHOP,
    SampleSpec,
)

__all__ = [
    "SAMPLE",
    "SAMPLE_COUNTS",
    "SAMPLE_FOLDERS",
    "SAMPLE_SUBJECTS",
    "SAMPLE_THREAD_SUBJECT",
    "SampleSpec",
    "build_sample",
]

SAMPLE: tuple[SampleSpec, ...] = (
    *INBOX,
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
