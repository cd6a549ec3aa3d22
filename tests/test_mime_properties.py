"""Property tests: decoding never raises on junk, paging reassembles the text exactly."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mail_mcp.mime import (
    decode_header,
    decode_text,
    decode_transfer,
    html_to_text,
    parse_bodystructure,
    preview,
    render_message,
    slice_text,
)

encoded_words = st.builds(
    lambda charset, kind, payload: f"=?{charset}?{kind}?{payload}?=",
    st.sampled_from(["utf-8", "UTF-8", "iso-8859-1", "bogus", "", "utf-8*en", "base64"]),
    st.sampled_from(["q", "Q", "b", "B"]),
    st.text(alphabet="=?_ abcXYZ019+/\r\n\udcff\u00e9", max_size=20),
)
header_text = st.lists(st.one_of(st.text(max_size=20), encoded_words), max_size=6).map("".join)


@given(
    st.one_of(
        st.none(),
        st.text(),
        st.binary(),
        header_text,
        header_text.map(lambda s: s.encode("utf-8", "surrogatepass")),
    )
)
def test_decode_header_never_raises(value: bytes | str | None) -> None:
    decode_header(value).encode("utf-8")  # a str that JSON/UTF-8 can carry: no lone surrogates


@given(
    st.binary(),
    st.one_of(st.none(), st.text(max_size=15), st.sampled_from(["utf-8", "utf-7", "utf-16", "hex", "idna"])),
)
def test_decode_text_never_raises(data: bytes, charset: str | None) -> None:
    text = decode_text(data, charset)
    assert "\r" not in text
    text.encode("utf-8")


@given(st.binary(), st.sampled_from(["base64", "quoted-printable", "7bit", "x-junk", ""]))
def test_decode_transfer_never_raises(data: bytes, encoding: str) -> None:
    assert isinstance(decode_transfer(data, encoding), bytes)


@given(st.text(), st.integers(min_value=1, max_value=50))
def test_slice_text_pages_reassemble(text: str, size: int) -> None:
    pages, offset = [], 0
    while True:
        page, offset = slice_text(text, offset, size)
        pages.append(page)
        assert len(page) <= size
        if offset is None:
            break
    assert "".join(pages) == text


@given(st.text(), st.integers(min_value=1, max_value=200))
def test_preview_is_one_bounded_line(text: str, limit: int) -> None:
    line = preview(text, limit)
    assert "\n" not in line and len(line) <= limit


atoms = st.one_of(
    st.none(), st.binary(max_size=8), st.integers(min_value=-5, max_value=10**6), st.text(max_size=8)
)
structures = st.recursive(
    atoms,
    lambda inner: st.one_of(st.lists(inner, max_size=12), st.lists(inner, max_size=12).map(tuple)),
    max_leaves=40,
)


@given(structures)
def test_parse_bodystructure_never_raises(bs: object) -> None:
    parse_bodystructure(bs)


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=400))
def test_render_message_never_raises(raw: bytes) -> None:
    render_message(b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" + raw, fmt="both")
    render_message(raw)


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet="<>/=\"' abpdivscript&;#x0\u00a0", max_size=200))
def test_html_to_text_never_raises(html: str) -> None:
    assert isinstance(html_to_text(html), str)
