"""The sample mailbox's vocabulary and its INBOX: correspondents, `SampleSpec`, and one spec per INBOX message.

The other folders and the builder are in `mail_mcp.sandbox.sample`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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

INBOX: tuple[SampleSpec, ...] = (
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
)
