"""Rendering from .eml bytes: headers, bodies, attachments; HTML to text; sanitiser; preview; paging."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mail_mcp.mime import (
    RenderedBody,
    html_to_text,
    index_message,
    parse_message,
    part_payload,
    preview,
    render_body,
    render_message,
    sanitize_html,
    slice_text,
)

EML = Path(__file__).parent / "data" / "eml"


def render(name: str, fmt: str = "text"):
    return render_message((EML / f"{name}.eml").read_bytes(), fmt=fmt)  # type: ignore[arg-type]


def test_plain_headers_and_body() -> None:
    msg = render("plain")
    assert msg.subject == "Lunch on Friday?"
    assert msg.from_ == [{"name": "Alice Example", "email": "alice@example.org"}]
    assert msg.to == [
        {"name": "Bob", "email": "bob@example.com"},
        {"name": None, "email": "carol@example.com"},
    ]
    assert msg.cc == [{"name": "Dave, the Reviewer", "email": "dave@example.net"}]
    assert msg.reply_to == [{"name": "Alice (work)", "email": "alice.work@example.org"}]
    assert msg.date == datetime(2025, 3, 14, 9, 30, tzinfo=timezone(timedelta(hours=1)))
    assert msg.message_id == "<plain-1@example.org>"
    assert msg.in_reply_to == "<prev-0@example.com>"
    assert msg.references == ["<root@example.com>", "<prev-0@example.com>"]
    assert msg.body == RenderedBody(
        "Hi Bob,\n\nshall we have lunch on Friday? The café round the corner does a nice soup.\n\nAlice\n",
        None,
        "text/plain",
    )
    assert msg.attachments == [] and not msg.has_attachments
    assert msg.structure.part_id == "1"


def test_html_only_text_comes_from_html() -> None:
    msg = render("html_only", "both")
    assert msg.subject == "Späte Angebote"
    assert msg.body.text_source == "text/html"
    text = msg.body.text
    assert text.startswith("Späte Angebote\n\nDear customer,")
    assert "our big sale <https://shop.example/sale> starts today." in text
    assert "* Shoes" in text and "Shoes  30 EUR" in text
    for gone in ("alert", "tracking", "color", "Newsletter", "display"):
        assert gone not in text
    html = msg.body.html
    assert html is not None and "<h1>Späte Angebote</h1>" in html
    for gone in ("<script", "alert", "<style", "onclick", "tracker.example", "<title", "Newsletter"):
        assert gone not in html
    assert 'rel="noopener noreferrer"' in html


def test_alternative_text_and_html() -> None:
    msg = render("alternative", "both")
    assert msg.body.text == "Notes: ship it on Tuesday.\n"
    assert msg.body.text_source == "text/plain"
    assert msg.body.html == "<p>Notes: <b>ship it</b> on Tuesday.</p>"
    assert render("alternative", "text").body.html is None


def test_mixed_attachments() -> None:
    msg = render("mixed_attachments")
    assert msg.body.text == "Please find the documents attached. Grüße, Alice\n"
    assert [a.filename for a in msg.attachments] == [
        "Grüße.pdf",
        "Rechnung März.xlsx",
        "sehr lange Liste der Änderungen.csv",
    ]
    assert msg.has_attachments


def test_related_cid_image() -> None:
    msg = render("related_cid", "html")
    assert msg.body.text == "Here is our new logo. [logo]\n"
    assert msg.body.html == (
        '<p>Here is our new logo: <img src="cid:logo.png@example.org" alt="logo"></p>\n<p></p>'
    )
    [logo] = msg.attachments
    assert logo.is_inline and logo.content_id == "logo.png@example.org"
    assert not msg.has_attachments


def test_forwarded_message() -> None:
    raw = (EML / "forwarded.eml").read_bytes()
    msg = render_message(raw)
    assert msg.body.text == "See below, Alice is buying lunch.\n"
    [fwd] = msg.attachments
    assert (fwd.part_id, fwd.content_type, fwd.filename) == ("2", "message/rfc822", "Lunch on Friday.eml")
    _, entities = index_message(parse_message(raw))
    inner = render_message(part_payload(entities["2"], fwd))
    assert inner.subject == "Lunch on Friday?"
    assert inner.body.text == "Lunch is on me.\n"


def test_nested_alternative_in_mixed() -> None:
    msg = render("nested_alt_in_mixed", "both")
    assert msg.body.text == "The quarterly report is attached.\n"
    assert msg.body.html == "<div>The <i>quarterly</i> report is attached.</div>"
    assert [a.filename for a in msg.attachments] == ["report-q1.pdf"]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("latin1_qp", "Grüße aus Köln – façade, 50 €\n"),
        ("utf8_base64", "Привет, мир! 你好 👋\nSecond line.\n"),
        ("cp1252_8bit", "“Smart quotes” and — dashes … cost 5€\n"),
        ("unknown_charset", "Café crème\n"),
        ("bogus_charset", "Straße ✓\n"),
        ("bad_base64", "Hello, world!"),
        ("raw8bit_header", "Body with raw header.\n"),
        ("empty_body", ""),
        ("missing_end_boundary", "The first part survived.\n"),
        ("mixed_inline_texts", "Look at this:\n"),
    ],
)
def test_bodies_in_odd_encodings(name: str, text: str) -> None:
    body = render(name).body
    assert body.text == text
    assert body.text_source == "text/plain"


def test_raw_8bit_subject_and_truncated_attachment() -> None:
    assert render("raw8bit_header").subject == "Grüße – raw UTF-8 subject"
    raw = (EML / "missing_end_boundary.eml").read_bytes()
    _, entities = index_message(parse_message(raw))
    [blob] = render_message(raw).attachments
    assert part_payload(entities[blob.part_id], blob) == bytes(range(10))


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage without headers",
        b"Subject: only headers\r\n",
        b"Content-Type: multipart/mixed\r\n\r\nno boundary at all\r\n",
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\n--x--\r\n",
        b"Content-Type: text\r\nContent-Transfer-Encoding: base64\r\n\r\n@@@@\r\n",
        b"Date: not a date\r\nFrom: <<<>>>\r\nMessage-ID:\r\nReferences: junk\r\n\r\nbody",
        b"Content-Type: text/html; charset=bogus\r\n\r\n<p>caf\xe9",
    ],
)
def test_malformed_messages_do_not_raise(raw: bytes) -> None:
    msg = render_message(raw, fmt="both")
    assert isinstance(msg.body.text, str)


def test_malformed_details() -> None:
    msg = render_message(b"Content-Type: multipart/mixed\r\n\r\nno boundary at all\r\n")
    assert msg.body.text == "no boundary at all\n" and msg.structure.content_type == "text/plain"
    msg = render_message(b"Date: not a date\r\nReferences: junk\r\n\r\nbody")
    assert msg.date is None and msg.references == [] and msg.message_id is None
    msg = render_message(b"Content-Type: text/html; charset=bogus\r\n\r\n<p>caf\xe9")
    assert msg.body.text == "café" and msg.body.text_source == "text/html"


# render_body / preview / slice_text


def test_render_body_sources() -> None:
    assert render_body("plain", "<p>html</p>", fmt="text") == RenderedBody("plain", None, "text/plain")
    assert render_body(" \n", "<p>html</p>", fmt="html") == RenderedBody("html", "<p>html</p>", "text/html")
    assert render_body(None, None, fmt="both") == RenderedBody("", None, "none")
    assert render_body("", None, fmt="both") == RenderedBody("", None, "text/plain")
    assert render_body("p", None, fmt="html").html is None


def test_preview() -> None:
    text = "On Mon, 1 Jan 2024 at 10:00, Bob <bob@x.org> wrote:\n> old\n>> older\n\nSounds   good,\nsee you."
    assert preview(text) == "Sounds good, see you."
    assert preview("> only quoted\n> lines") == "> only quoted > lines"
    assert preview("") == ""
    long = "word " * 100
    cut = preview(long, limit=30)
    assert cut == "word word word word word word…" and len(cut) <= 30
    assert preview("x" * 50, limit=10) == "x" * 9 + "…"
    assert preview("Am 3. März 2024 schrieb Anna <a@b.de>:\n> alt\nJa.") == "Ja."


def test_slice_text() -> None:
    assert slice_text("abcdef", 0, 4) == ("abcd", 4)
    assert slice_text("abcdef", 4, 4) == ("ef", None)
    assert slice_text("abcdef", 2, 4) == ("cdef", None)
    assert slice_text("abc", 10, 4) == ("", None)
    assert slice_text("", 0, 1) == ("", None)
    assert slice_text("👋🏽x", 0, 1) == ("👋", 1)
    with pytest.raises(ValueError):
        slice_text("abc", -1, 2)
    with pytest.raises(ValueError):
        slice_text("abc", 0, 0)


# HTML


def test_html_to_text_structure() -> None:
    html = (
        "<html><head><style>p{}</style><script>var x=1;</script></head><body>"
        "<p>One</p><p>Two &amp; <a href='https://ex.org/x'>link</a>, <a href='mailto:a@b.c'>mail</a>,"
        " <a href='https://ex.org/'>https://ex.org</a> <a href='javascript:x()'>js</a></p>"
        "<br><br><br><br><ol><li>first</li><li>second</li></ol>"
        "<div style='display:none'>hidden preheader</div>&zwnj;&nbsp;<p>end</p></body></html>"
    )
    text = html_to_text(html)
    assert "var x" not in text and "p{}" not in text and "hidden" not in text
    assert "Two & link <https://ex.org/x>, mail <a@b.c>, https://ex.org js" in text
    assert "\n\n\n" not in text and "\u200c" not in text
    assert "1. first" in text and "2. second" in text
    assert text.startswith("One\n\nTwo") and text.endswith("end")


@pytest.mark.parametrize(
    "html", ["", "   ", "<html></html>", '<?xml version="1.0" encoding="utf-8"?><p>x\x00y</p>']
)
def test_html_to_text_edge_cases(html: str) -> None:
    assert html_to_text(html) in ("", "xy")


def test_sanitize_html() -> None:
    dirty = (
        '<p onclick="x()">Hi <script>alert(1)</script><style>p{}</style>'
        '<img src="x" onerror="alert(1)"><img src="cid:logo@x" alt="Logo">'
        '<img src="https://tracker.example/p.gif" alt="Sale"><img src="//tracker.example/p2.gif">'
        '<img src="data:image/png;base64,AAAA"><img src="data:image/svg+xml,&lt;svg&gt;">'
        '<a href="javascript:alert(1)">js</a><a href="https://ok.example/" target="_top">ok</a>'
        '<iframe src="https://x"></iframe><object data="x"></object><form action="https://x">'
        '<input name="pw"><button>Send</button></form><div style="background:url(https://t)">s</div></p>'
    )
    clean = sanitize_html(dirty)
    for gone in (
        "script",
        "alert",
        "style",
        "onerror",
        "onclick",
        "tracker.example",
        "javascript:",
        "iframe",
        "object",
        "form",
        "input",
        "svg",
        "background",
        'src="x"',
        "target",
    ):
        assert gone not in clean
    assert '<img src="cid:logo@x" alt="Logo">' in clean
    assert '<img src="data:image/png;base64,AAAA">' in clean
    assert "[image: Sale]" in clean
    assert '<a href="https://ok.example/" rel="noopener noreferrer">ok</a>' in clean
    assert '<a rel="noopener noreferrer">js</a>' in clean
    assert sanitize_html("") == ""
