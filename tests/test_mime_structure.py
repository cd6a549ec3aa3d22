"""BODYSTRUCTURE parsing, part picking and attachment listing, checked against the stdlib path."""

from __future__ import annotations

from pathlib import Path

import pytest
from imapclient.response_parser import parse_fetch_response

from mail_mcp.mime import (
    Part,
    attachments,
    find_part,
    has_attachments,
    parse_bodystructure,
    parse_message,
    pick_text_parts,
    structure_from_message,
)

EML = Path(__file__).parent / "data" / "eml"

# Genuine Dovecot 2.3.19 output for the fixtures in tests/data/eml (FETCH n (BODYSTRUCTURE ...)).
DOVECOT = {
    "alternative": (
        b'(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 28 1 NIL NIL NIL NIL)("text" '
        b'"html" ("charset" "us-ascii") NIL NIL "7bit" 42 1 NIL NIL NIL NIL) "alternative" '
        b'("boundary" "alt-boundary") NIL NIL NIL)'
    ),
    "bad_base64": (b'("text" "plain" ("charset" "utf-8") NIL NIL "base64" 24 2 NIL NIL NIL NIL)'),
    "bogus_charset": (
        b'("text" "plain" ("charset" "x-no-such-charset") NIL NIL "8bit" 13 1 NIL NIL NIL NIL)'
    ),
    "cp1252_8bit": (b'("text" "plain" ("charset" "windows-1252") NIL NIL "8bit" 39 1 NIL NIL NIL NIL)'),
    "empty_body": (b'("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 0 0 NIL NIL NIL NIL)'),
    "forwarded": (
        b'(("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 35 1 NIL NIL NIL NIL)("message" '
        b'"rfc822" NIL NIL NIL "7bit" 420 ("Fri, 14 Mar 2025 09:30:00 +0100" "Lunch on Friday?" '
        b'(("Alice Example" NIL "alice" "example.org")) (("Alice Example" NIL "alice" '
        b'"example.org")) (("Alice Example" NIL "alice" "example.org")) (("Bob" NIL "bob" '
        b'"example.com")) NIL NIL NIL "<plain-1@example.org>") (("text" "plain" ("charset" "utf-8") '
        b'NIL NIL "7bit" 17 1 NIL NIL NIL NIL)("text" "html" ("charset" "utf-8") NIL NIL "7bit" 24 '
        b'1 NIL NIL NIL NIL) "alternative" ("boundary" "inner-alt") NIL NIL NIL) 19 NIL NIL NIL '
        b'NIL) "mixed" ("boundary" "fwd-boundary") NIL NIL NIL)'
    ),
    "html_only": (b'("text" "html" ("charset" "UTF-8") NIL NIL "quoted-printable" 536 11 NIL NIL NIL NIL)'),
    "latin1_qp": (
        b'("text" "plain" ("charset" "iso-8859-1") NIL NIL "quoted-printable" 43 1 NIL NIL NIL NIL)'
    ),
    "missing_end_boundary": (
        b'(("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 26 1 NIL NIL NIL NIL)("application" '
        b'"octet-stream" ("name" "data.bin") NIL NIL "base64" 18 NIL ("attachment" ("filename" '
        b'"data.bin")) NIL NIL) "mixed" ("boundary" "never-closed") NIL NIL NIL)'
    ),
    "mixed_attachments": (
        b'(("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" 60 1 NIL NIL NIL '
        b'NIL)("application" "pdf" ("name" "greetings.pdf") NIL NIL "base64" 1426 NIL ("attachment" '
        b'("filename*" "UTF-8\'\'Gr%C3%BC%C3%9Fe.pdf")) NIL NIL)("application" '
        b'"vnd.openxmlformats-officedocument.spreadsheetml.sheet" ("name" '
        b'"=?UTF-8?B?UmVjaG51bmcgTcOkcnoueGxzeA==?=") NIL NIL "base64" 18 NIL ("attachment" '
        b'("filename" "=?UTF-8?B?UmVjaG51bmcgTcOkcnoueGxzeA==?=")) NIL NIL)("text" "csv" ("charset" '
        b'"utf-8") NIL NIL "7bit" 10 2 NIL ("attachment" ("filename*" '
        b'"utf-8\'\'sehr%20lange%20Liste%20der %C3%84nderungen.csv")) NIL NIL) "mixed" ("boundary" '
        b'"mixed-boundary") NIL NIL NIL)'
    ),
    "mixed_inline_texts": (
        b'(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 15 1 NIL NIL NIL NIL)("image" '
        b'"png" ("name" "photo.png") NIL NIL "base64" 100 NIL ("inline" ("filename" "photo.png")) '
        b'NIL NIL)("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 17 1 NIL NIL NIL NIL) '
        b'"mixed" ("boundary" "apple") NIL NIL NIL)'
    ),
    "nested_alt_in_mixed": (
        b'((("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 35 1 NIL NIL NIL NIL)("text" "html" '
        b'("charset" "utf-8") NIL NIL "7bit" 53 1 NIL NIL NIL NIL) "alternative" ("boundary" "a") '
        b'NIL NIL NIL)("application" "pdf" NIL NIL NIL "base64" 412 NIL ("attachment" ("filename" '
        b'"report-q1.pdf")) NIL NIL) "mixed" ("boundary" "m") NIL NIL NIL)'
    ),
    "plain": (b'("text" "plain" ("charset" "utf-8") NIL NIL "8bit" 97 5 NIL NIL NIL NIL)'),
    "raw8bit_header": (b'("text" "plain" ("charset" "utf-8") NIL NIL "8bit" 23 1 NIL NIL NIL NIL)'),
    "related_cid": (
        b'(("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 30 1 NIL NIL NIL NIL)(("text" "html" '
        b'("charset" "utf-8") NIL NIL "7bit" 131 2 NIL NIL NIL NIL)("image" "png" ("name" '
        b'"logo.png") "<logo.png@example.org>" NIL "base64" 100 NIL ("inline" ("filename" '
        b'"logo.png")) NIL NIL) "related" ("boundary" "inner" "type" "text/html") NIL NIL NIL) '
        b'"alternative" ("boundary" "outer") NIL NIL NIL)'
    ),
    "unknown_charset": (b'("text" "plain" ("charset" "us-ascii") NIL NIL "8bit" 12 1 NIL NIL NIL NIL)'),
    "utf8_base64": (b'("text" "plain" ("charset" "utf-8") NIL NIL "base64" 66 1 NIL NIL NIL NIL)'),
}


def fetch_bodystructure(text: bytes) -> object:
    """Run a `* 1 FETCH (BODYSTRUCTURE ...)` line through imapclient's own response parser."""
    parsed = parse_fetch_response([b"1 (BODYSTRUCTURE " + text + b")"])
    return parsed[1][b"BODYSTRUCTURE"]


def from_imap(name: str) -> Part:
    return parse_bodystructure(fetch_bodystructure(DOVECOT[name]))


def from_eml(name: str) -> Part:
    return structure_from_message(parse_message((EML / f"{name}.eml").read_bytes()))


def shape(root: Part) -> list[tuple[str, str, str | None, str | None]]:
    return [(p.part_id, p.content_type, p.filename, p.disposition) for p in root.walk()]


def ids(parts: list[Part] | tuple[Part | None, ...]) -> list[str | None]:
    return [p.part_id if p is not None else None for p in parts]


@pytest.mark.parametrize("name", sorted(DOVECOT))
def test_imap_and_eml_paths_agree(name: str) -> None:
    imap, eml = from_imap(name), from_eml(name)
    assert shape(imap) == shape(eml)
    assert ids(pick_text_parts(imap)) == ids(pick_text_parts(eml))
    assert ids(attachments(imap)) == ids(attachments(eml))
    assert has_attachments(imap) == has_attachments(eml)
    eml_params = [p.params for p in eml.walk()]
    if name == "unknown_charset":  # the server fills in the RFC 2045 default
        eml_params = [{"charset": "us-ascii"}]
    assert [p.params for p in imap.walk()] == eml_params


def test_every_fixture_has_a_dovecot_structure() -> None:
    assert sorted(DOVECOT) == sorted(p.stem for p in EML.glob("*.eml"))


def test_plain_single_part_is_section_1() -> None:
    root = from_imap("plain")
    assert root == Part("1", "text/plain", {"charset": "utf-8"}, None, "8bit", 97)
    assert root.charset == "utf-8" and not root.is_multipart
    assert pick_text_parts(root) == (root, None)
    assert attachments(root) == [] and not has_attachments(root)


def test_alternative_picks_both() -> None:
    root = from_imap("alternative")
    assert root.part_id == "" and root.content_type == "multipart/alternative"
    assert root.params == {"boundary": "alt-boundary"}
    plain, html = pick_text_parts(root)
    assert (plain.part_id, plain.size, html.part_id, html.size) == ("1", 28, "2", 42)
    assert attachments(root) == []


def test_html_only() -> None:
    root = from_imap("html_only")
    assert root.encoding == "quoted-printable" and root.charset == "UTF-8"
    assert pick_text_parts(root) == (None, root)


def test_mixed_attachments_filenames_and_sizes() -> None:
    root = from_imap("mixed_attachments")
    assert ids(pick_text_parts(root)) == ["1", None]
    found = attachments(root)
    assert [(p.part_id, p.filename, p.size, p.encoding) for p in found] == [
        ("2", "Grüße.pdf", 1426, "base64"),
        ("3", "Rechnung März.xlsx", 18, "base64"),
        ("4", "sehr lange Liste der Änderungen.csv", 10, "7bit"),
    ]
    assert all(p.disposition == "attachment" and p.is_attachment and not p.is_inline for p in found)
    assert found[0].params == {"name": "greetings.pdf"}
    assert found[1].content_type == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert has_attachments(root)


def test_related_cid_image_is_inline_not_an_attachment() -> None:
    root = from_imap("related_cid")
    plain, html = pick_text_parts(root)
    assert (plain.part_id, html.part_id) == ("1", "2.1")
    [logo] = attachments(root)
    assert (logo.part_id, logo.content_id, logo.filename, logo.size) == (
        "2.2",
        "logo.png@example.org",
        "logo.png",
        100,
    )
    assert logo.is_inline and not logo.is_attachment
    assert not has_attachments(root)
    assert find_part(root, "2").params == {"boundary": "inner", "type": "text/html"}


def test_forwarded_message_is_one_attachment() -> None:
    root = from_imap("forwarded")
    assert ids(pick_text_parts(root)) == ["1", None]
    [fwd] = attachments(root)
    assert (fwd.part_id, fwd.content_type, fwd.size, fwd.children) == ("2", "message/rfc822", 420, ())
    assert fwd.filename == "Lunch on Friday.eml" and fwd.is_attachment
    assert has_attachments(root)
    assert [p.part_id for p in root.walk()] == ["", "1", "2"]


def test_nested_alternative_inside_mixed() -> None:
    root = from_imap("nested_alt_in_mixed")
    assert [p.part_id for p in root.walk()] == ["", "1", "1.1", "1.2", "2"]
    assert ids(pick_text_parts(root)) == ["1.1", "1.2"]
    assert [(p.part_id, p.filename, p.params) for p in attachments(root)] == [("2", "report-q1.pdf", {})]


def test_mixed_with_several_inline_texts_picks_the_first() -> None:
    root = from_imap("mixed_inline_texts")
    assert ids(pick_text_parts(root)) == ["1", None]
    assert [(p.part_id, p.is_inline) for p in attachments(root)] == [("2", True), ("3", False)]
    assert has_attachments(root)  # an image with a filename outside multipart/related


def test_empty_body_and_missing_end_boundary() -> None:
    assert from_imap("empty_body").size == 0
    root = from_imap("missing_end_boundary")
    assert [(p.part_id, p.filename) for p in attachments(root)] == [("2", "data.bin")]


# Hand-written variants for what other servers send.


def test_uppercase_and_no_extension_data() -> None:
    text = (
        b'(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 12 1)'
        b'("APPLICATION" "OCTET-STREAM" ("NAME" "a.bin") NIL NIL "BASE64" 20) "MIXED")'
    )
    root = parse_bodystructure(fetch_bodystructure(text))
    body, blob = root.children
    assert root.content_type == "multipart/mixed" and root.params == {}
    assert (body.content_type, body.params, body.encoding) == ("text/plain", {"charset": "US-ASCII"}, "7bit")
    assert (blob.filename, blob.disposition, blob.is_attachment) == ("a.bin", None, True)
    assert ids(pick_text_parts(root)) == ["1", None] and has_attachments(root)


def test_rfc2231_continuations_and_uppercase_disposition() -> None:
    text = (
        b'("application" "pdf" ("name" "fallback.pdf") NIL NIL "base64" 100 NIL '
        b'("ATTACHMENT" ("FILENAME*0*" "utf-8\'\'Gr%C3%BC" "FILENAME*1*" "%C3%9Fe" "filename*2" ".pdf")) '
        b"NIL NIL)"
    )
    part = parse_bodystructure(fetch_bodystructure(text))
    assert (part.part_id, part.disposition, part.filename) == ("1", "attachment", "Grüße.pdf")


def test_odd_values_do_not_crash() -> None:
    assert parse_bodystructure(None) == Part("1", "application/octet-stream")
    assert parse_bodystructure(()).content_type == "application/octet-stream"
    odd = (b"text", None, b"garbage", b"<x>", None, None, b"12", b"x")
    part = parse_bodystructure(odd)
    assert (part.content_type, part.params, part.size, part.content_id, part.encoding) == (
        "text/plain",
        {},
        12,
        "x",
        "7bit",
    )
    truncated = parse_bodystructure((b"image", b"png"))
    assert (truncated.content_type, truncated.size) == ("image/png", 0)
    # Raw nested tuples (no BodyData, children not wrapped in a list), disposition out of place.
    raw = (
        (b"text", b"html", None, None, None, b"8bit", 5, 1),
        (b"image", b"gif", None, None, None, b"base64", b"7", (b"attachment", None)),
        b"related",
    )
    root = parse_bodystructure(raw)
    assert [p.part_id for p in root.walk()] == ["", "1", "2"]
    assert root.children[1].disposition == "attachment" and root.children[1].size == 7
    assert ids(pick_text_parts(root)) == [None, "1"]


def test_message_rfc822_without_subject_gets_default_name() -> None:
    text = (
        b'("message" "rfc822" NIL NIL NIL "7bit" 50 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) '
        b'("text" "plain" NIL NIL NIL "7bit" 2 1) 3)'
    )
    part = parse_bodystructure(fetch_bodystructure(text))
    assert (part.part_id, part.filename, part.children) == ("1", "forwarded.eml", ())
    assert pick_text_parts(part) == (None, None) and attachments(part) == [part]


def test_attachment_disposition_text_is_not_the_body() -> None:
    text = (
        b'(("text" "plain" NIL NIL NIL "7bit" 3 1 NIL ("attachment" ("filename" "notes.txt")) NIL NIL)'
        b'("text" "plain" NIL NIL NIL "7bit" 4 1 NIL ("inline" NIL) NIL NIL) "mixed")'
    )
    root = parse_bodystructure(fetch_bodystructure(text))
    assert ids(pick_text_parts(root)) == ["2", None]
    assert ids(attachments(root)) == ["1"]


def test_related_start_parameter() -> None:
    text = (
        b'(("image" "png" NIL "<img1>" NIL "base64" 10 NIL NIL NIL NIL)'
        b'("text" "html" NIL "<root>" NIL "7bit" 10 1 NIL NIL NIL NIL) "related" ("start" "<root>"))'
    )
    root = parse_bodystructure(fetch_bodystructure(text))
    assert ids(pick_text_parts(root)) == [None, "2"]
    assert not has_attachments(root)


def test_message_global_from_dovecot_is_a_forwarded_message() -> None:
    # Dovecot 2.3.19 gives message/global no envelope or body fields.
    text = b'("message" "global" NIL NIL NIL "7bit" 22 NIL NIL NIL NIL)'
    part = parse_bodystructure(fetch_bodystructure(text))
    assert (part.part_id, part.content_type, part.size, part.filename) == (
        "1",
        "message/global",
        22,
        "forwarded.eml",
    )
    assert pick_text_parts(part) == (None, None) and attachments(part) == [part] and has_attachments(part)
    eml = structure_from_message(
        parse_message(b"Content-Type: message/global\r\n\r\nSubject: inner\r\n\r\nhi\r\n")
    )
    assert shape(eml) == shape(part)
