"""Transfer encodings, charsets, RFC 2047 headers and ENVELOPE addresses."""

from __future__ import annotations

import pytest
from imapclient.response_parser import parse_fetch_response

from mail_mcp.mime import (
    decode_header,
    decode_text,
    decode_transfer,
    envelope_addresses,
    format_address,
    normalize_charset,
    parse_address_header,
)

# Genuine Dovecot 2.3.19 ENVELOPE for tests/data/eml/plain.eml.
PLAIN_ENVELOPE = (
    b'1 (ENVELOPE ("Fri, 14 Mar 2025 09:30:00 +0100" "Lunch on Friday?" (("Alice Example" NIL "alice" '
    b'"example.org")) (("Alice Example" NIL "alice" "example.org")) (("Alice" NIL "alice.work" '
    b'"example.org")) (("Bob" NIL "bob" "example.com")(NIL NIL "carol" "example.com")) (("Dave, the '
    b'Reviewer" NIL "dave" "example.net")) NIL "<prev-0@example.com>" "<plain-1@example.org>"))'
)


def envelope(line: bytes | list) -> object:
    return parse_fetch_response(line if isinstance(line, list) else [line])[1][b"ENVELOPE"]


@pytest.mark.parametrize(
    ("data", "encoding", "expected"),
    [
        (b"SGVsbG8sIHdvcmxkIQ==", "base64", b"Hello, world!"),
        (b"SGVsbG8sIHdv\r\ncmxkIQ==\r\n", "BASE64", b"Hello, world!"),
        (b"SGVsbG8sIHdvcmxkIQ", "base64", b"Hello, world!"),  # missing padding
        (b"SGVsbG8s!!IHdvcmxk\nIQ\n", "base64", b"Hello, world!"),  # garbage characters
        (b"SGk=SGk=", "base64", b"HiHi"),  # concatenated padded chunks
        (b"SGVsbG8sI", "base64", b"Hello,"),  # one stray trailing character
        (b"", "base64", b""),
        (b"Gr=C3=BC=\r\n=C3=9Fe=3D", "quoted-printable", "Grüße=".encode()),
        (b"soft=\nbreak", "Quoted-Printable", b"softbreak"),
        (b"bad =ZZ escape", "quoted-printable", b"bad =ZZ escape"),
        (b"=C3=BC unchanged", "7bit", b"=C3=BC unchanged"),
        (b"\xff\x00", "binary", b"\xff\x00"),
        (b"x", "x-uuencode", b"x"),
        (b"x", None, b"x"),
    ],
)
def test_decode_transfer(data: bytes, encoding: str | None, expected: bytes) -> None:
    assert decode_transfer(data, encoding) == expected


@pytest.mark.parametrize(
    ("data", "charset", "expected"),
    [
        ("Grüße".encode("latin-1"), "iso-8859-1", "Grüße"),
        ("“quoted” – 5€".encode("cp1252"), "ISO-8859-1", "“quoted” – 5€"),  # mislabelled cp1252
        ("“quoted”".encode("cp1252"), "windows-1252", "“quoted”"),
        ("Café".encode("latin-1"), None, "Café"),
        ("Café".encode("latin-1"), "us-ascii", "Café"),  # the server's default for 8-bit text
        ("Straße ✓".encode(), "x-no-such-charset", "Straße ✓"),
        ("Straße".encode(), '"UTF-8"', "Straße"),
        ("Straße".encode(), "utf8", "Straße"),
        (b"\xef\xbb\xbfBOM", "utf-8", "BOM"),
        (b"\xc3\xbc ok \xff bad", "utf-8", "ü ok \ufffd bad"),
        ("Grüße".encode("latin-1"), "utf-8", "Grüße"),  # no UTF-8 sequence at all: really cp1252
        (b"a\r\nb\rc\n", "utf-8", "a\nb\nc\n"),
        (b"cut \xe2\x82", "utf-8", "cut "),  # BODY.PEEK[1]<0.n> ended inside a character
        (b"cut \xe2\x82", None, "cut "),
        (b"plain", "base64", "plain"),  # a bytes-to-bytes codec is not a charset
        ("Привет".encode("koi8-r"), "koi8-r", "Привет"),
        ("日本語".encode("shift_jis"), "Shift_JIS", "日本語"),
        ("中文".encode("gbk"), "gb2312", "中文"),
        (b"", None, ""),
    ],
)
def test_decode_text(data: bytes, charset: str | None, expected: str) -> None:
    assert decode_text(data, charset) == expected


def test_normalize_charset() -> None:
    assert normalize_charset(" 'UTF-8' ") == "utf-8"
    assert normalize_charset("iso-8859-1") == "cp1252"
    assert normalize_charset("utf-8*en") == "utf-8"
    assert normalize_charset("unknown-8bit") is None
    assert normalize_charset("rot13") is None
    assert normalize_charset("") is None and normalize_charset(None) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        ("Plain subject", "Plain subject"),
        ("=?UTF-8?Q?Sp=C3=A4te_Angebote?=", "Späte Angebote"),
        ("=?utf-8?b?R3LDvMOfZQ==?=", "Grüße"),
        ("=?utf-8?q?Gr=C3=BC?= =?utf-8?q?=C3=9Fe?=", "Grüße"),  # whitespace between words dropped
        ("=?utf-8?q?a?=\r\n\t=?utf-8?q?b?=", "ab"),  # also across a fold
        ("=?utf-8?q?a?= and =?utf-8?q?b?=", "a and b"),
        ("Re: =?iso-8859-1?q?K=F6ln?= trip", "Re: Köln trip"),
        ("=?UTF-8?B?w6Q=?==?UTF-8?B?w7w=?=", "äü"),
        ("=?utf-8?b?ww==?= =?utf-8?b?pA==?=", "ä"),  # a character split across two words
        ("=?iso-8859-1?q?caf=E9?= =?utf-8?q?=E2=9C=93?=", "café✓"),
        ("=?x-bogus?q?Stra=C3=9Fe?=", "Straße"),
        ("=?utf-8?b?!!!?=", ""),
        ("=?utf-8*en?q?hello?=", "hello"),
        ("=?utf-8?q?broken", "=?utf-8?q?broken"),
        ("Long subject\r\n folded\r\n\tagain", "Long subject folded again"),
        ("Grüße raw".encode(), "Grüße raw"),
        ("Grüße cp1252 – x".encode("cp1252"), "Grüße cp1252 – x"),
        (b"Gr\xc3\xbc\xc3\x9fe =?utf-8?q?mixed?=", "Grüße mixed"),
        ("Gr\udcc3\udcbc\udcc3\udc9fe", "Grüße"),  # surrogate-escaped str from the compat32 parser
    ],
)
def test_decode_header(value: bytes | str | None, expected: str) -> None:
    assert decode_header(value) == expected


def test_envelope_addresses_from_dovecot() -> None:
    env = envelope(PLAIN_ENVELOPE)
    assert envelope_addresses(env.from_) == [{"name": "Alice Example", "email": "alice@example.org"}]
    assert envelope_addresses(env.reply_to) == [{"name": "Alice", "email": "alice.work@example.org"}]
    assert envelope_addresses(env.to) == [
        {"name": "Bob", "email": "bob@example.com"},
        {"name": None, "email": "carol@example.com"},
    ]
    assert envelope_addresses(env.cc) == [{"name": "Dave, the Reviewer", "email": "dave@example.net"}]
    assert envelope_addresses(env.bcc) == []
    assert (
        format_address("Dave, the Reviewer", "dave@example.net") == '"Dave, the Reviewer" <dave@example.net>'
    )


def test_envelope_groups_encoded_names_and_literals() -> None:
    line = [
        (
            b'1 (ENVELOPE (NIL "x" (("=?utf-8?q?M=C3=BCller?=" NIL "mueller" "example.de")) NIL NIL '
            b'((NIL NIL "team" NIL)("Ann" NIL "ann" "x.org")(NIL NIL NIL NIL)(NIL NIL "undisclosed" NIL)'
            b"(NIL NIL NIL NIL)) (({5}",
            "Jörg".encode(),
        ),
        b' NIL "joerg" "example.de")) NIL NIL NIL))',
    ]
    env = envelope(line)
    assert envelope_addresses(env.from_) == [{"name": "Müller", "email": "mueller@example.de"}]
    assert envelope_addresses(env.to) == [{"name": "Ann", "email": "ann@x.org"}]
    assert envelope_addresses(env.cc) == [{"name": "Jörg", "email": "joerg@example.de"}]


def test_envelope_missing_domain_and_groups_from_dovecot() -> None:
    # Genuine Dovecot 2.3.19 output for `From: root`, `To: undisclosed-recipients:;` and a group in Cc.
    env = envelope(
        b'1 (ENVELOPE (NIL "x" ((NIL NIL "root" "MISSING_DOMAIN")) ((NIL NIL "root" "MISSING_DOMAIN")) '
        b'((NIL NIL "root" "MISSING_DOMAIN")) ((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)) '
        b'((NIL NIL "Team" NIL)(NIL NIL "a" "x.org")("B" NIL "b" "y.org")(NIL NIL NIL NIL)(NIL NIL "c" '
        b'"z.org")) NIL NIL NIL))'
    )
    assert envelope_addresses(env.from_) == [{"name": None, "email": "root"}]
    assert envelope_addresses(env.to) == []
    assert [a["email"] for a in envelope_addresses(env.cc)] == ["a@x.org", "b@y.org", "c@z.org"]


def test_envelope_addresses_duck_typed_and_odd() -> None:
    odd = [
        (b"Root", None, b"root", b".MISSING-HOST-NAME."),
        ("str name", None, "x", "example.org"),
        (None,),
        object(),
    ]
    assert envelope_addresses(odd) == [
        {"name": "Root", "email": "root"},
        {"name": "str name", "email": "x@example.org"},
    ]
    assert envelope_addresses(None) == []


def test_format_address() -> None:
    assert format_address(None, "a@b.c") == "a@b.c"
    assert format_address("Ann", "a@b.c") == "Ann <a@b.c>"
    assert format_address('Say "hi"', "a@b.c") == '"Say \\"hi\\"" <a@b.c>'
    assert format_address("Jörg", "j@b.c") == "Jörg <j@b.c>"


def test_parse_address_header() -> None:
    value = '=?utf-8?q?M=C3=BCller=2C_Hans?= <hans@example.de>, "Ann B." <ann@x.org>,\r\n bob@y.org'
    assert parse_address_header(value) == [
        {"name": "Müller, Hans", "email": "hans@example.de"},
        {"name": "Ann B.", "email": "ann@x.org"},
        {"name": None, "email": "bob@y.org"},
    ]
    assert parse_address_header("Jörg <j@x.de>".encode()) == [{"name": "Jörg", "email": "j@x.de"}]
    assert parse_address_header(None) == [] and parse_address_header("") == []
