"""MIME handling: pick, decode and render the parts of a message that an agent reads.

Pure functions over bytes and IMAP fetch tuples; no I/O, no imapclient or mcp imports.
"""

from mail_mcp.mime.decode import (
    Address,
    decode_header,
    decode_text,
    decode_transfer,
    envelope_addresses,
    format_address,
    normalize_charset,
    parse_address_header,
    unfold_header,
)
from mail_mcp.mime.html import html_to_text, sanitize_html
from mail_mcp.mime.message import index_message, parse_message, part_payload, structure_from_message
from mail_mcp.mime.params import merge_params, split_header_params
from mail_mcp.mime.render import (
    BodyFormat,
    RenderedBody,
    RenderedMessage,
    TextSource,
    preview,
    render_body,
    render_message,
    slice_text,
)
from mail_mcp.mime.structure import (
    Part,
    attachments,
    find_part,
    has_attachments,
    parse_bodystructure,
    pick_text_parts,
)

__all__ = [
    "Address",
    "BodyFormat",
    "Part",
    "RenderedBody",
    "RenderedMessage",
    "TextSource",
    "attachments",
    "decode_header",
    "decode_text",
    "decode_transfer",
    "envelope_addresses",
    "find_part",
    "format_address",
    "has_attachments",
    "html_to_text",
    "index_message",
    "merge_params",
    "normalize_charset",
    "parse_address_header",
    "parse_bodystructure",
    "parse_message",
    "part_payload",
    "pick_text_parts",
    "preview",
    "render_body",
    "render_message",
    "sanitize_html",
    "slice_text",
    "split_header_params",
    "structure_from_message",
    "unfold_header",
]
