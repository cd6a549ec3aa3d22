"""MIME structure as a tree of `Part`s, built from IMAP BODYSTRUCTURE or a parsed `email.message`.

Part ids follow IMAP section numbering: a multipart root has the id "" and its children "1".."n",
nested children "1.2"; a non-multipart message's only body is "1". Forwarded messages (message/rfc822,
message/global) are leaves: we never descend into them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mail_mcp.mime.decode import decode_header
from mail_mcp.mime.params import (
    as_int,
    as_str,
    clean_content_id,
    clean_filename,
    merge_params,
    rfc822_filename,
)

BODY_TYPES = ("text/plain", "text/html")
MESSAGE_TYPES = ("message/rfc822", "message/global")
_MAX_DEPTH = 64


@dataclass(frozen=True)
class Part:
    """One MIME entity. `size` is the encoded size in octets; `content_id` has no angle brackets."""

    part_id: str
    content_type: str
    params: dict[str, str] = field(default_factory=dict, hash=False)
    content_id: str | None = None
    encoding: str = "7bit"
    size: int = 0
    disposition: str | None = None
    filename: str | None = None
    children: tuple[Part, ...] = ()

    @property
    def maintype(self) -> str:
        return self.content_type.partition("/")[0]

    @property
    def subtype(self) -> str:
        return self.content_type.partition("/")[2]

    @property
    def is_multipart(self) -> bool:
        return self.maintype == "multipart"

    @property
    def charset(self) -> str | None:
        return self.params.get("charset")

    @property
    def is_attachment(self) -> bool:
        """Disposition attachment, a filename without inline disposition, or a forwarded message."""
        if self.content_type in MESSAGE_TYPES or self.disposition == "attachment":
            return True
        return self.filename is not None and self.disposition != "inline"

    @property
    def is_inline(self) -> bool:
        """Meant to be shown within the body (e.g. a cid: image), rather than offered as a download."""
        return not self.is_attachment and (self.disposition == "inline" or self.content_id is not None)

    def walk(self) -> Iterator[Part]:
        """This part and all its descendants, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


def _pairs(raw: Any) -> list[tuple[Any, Any]]:
    if not isinstance(raw, (list, tuple)):
        return []
    return list(zip(raw[0::2], raw[1::2], strict=False))


def _is_disposition(item: Any) -> bool:
    return (
        isinstance(item, (list, tuple))
        and len(item) == 2
        and isinstance(item[0], (bytes, str))
        and (item[1] is None or isinstance(item[1], (list, tuple)))
    )


def _disposition(node: Any, index: int, scan_from: int) -> tuple[str | None, dict[str, str]]:
    item = node[index] if index < len(node) else None
    if isinstance(item, (bytes, str)) and as_str(item).lower() in ("inline", "attachment"):
        return as_str(item).lower(), {}
    if not _is_disposition(item):
        item = next((x for x in node[scan_from:] if _is_disposition(x)), None)
    if item is None:
        return None, {}
    return (as_str(item[0]).strip().lower() or None), merge_params(_pairs(item[1]))


def parse_bodystructure(bs: Any) -> Part:
    """Build a `Part` tree from the BODYSTRUCTURE value imapclient returns (duck-typed, tolerant)."""
    return _parse_node(bs, "", 0)


def _parse_node(node: Any, part_id: str, depth: int) -> Part:
    if not isinstance(node, (list, tuple)) or not node or depth > _MAX_DEPTH:
        return Part(part_id or "1", "application/octet-stream")
    if isinstance(node[0], (list, tuple)):
        if isinstance(node[0], list) and (not node[0] or isinstance(node[0][0], (list, tuple))):
            kids, rest = list(node[0]), list(node[1:])
        else:
            count = next((i for i, x in enumerate(node) if not isinstance(x, (list, tuple))), len(node))
            kids, rest = list(node[:count]), list(node[count:])
        prefix = f"{part_id}." if part_id else ""
        children = tuple(_parse_node(kid, f"{prefix}{i}", depth + 1) for i, kid in enumerate(kids, 1))
        subtype = as_str(rest[0]).strip().lower() if rest else ""
        disposition, _ = _disposition(rest, 2, 1)
        params = merge_params(_pairs(rest[1])) if len(rest) > 1 else {}
        return Part(
            part_id, f"multipart/{subtype or 'mixed'}", params, disposition=disposition, children=children
        )
    return _parse_leaf(node, part_id or "1")


def _parse_leaf(node: Any, part_id: str) -> Part:
    fields = list(node) + [None] * max(0, 7 - len(node))
    maintype, subtype = as_str(fields[0]).strip().lower(), as_str(fields[1]).strip().lower()
    if "/" in maintype and not subtype:
        maintype, _, subtype = maintype.partition("/")
    if not maintype:
        maintype, subtype = "application", "octet-stream"
    content_type = f"{maintype}/{subtype or ('plain' if maintype == 'text' else 'octet-stream')}"
    params = merge_params(_pairs(fields[2]))
    ext = 10 if content_type == "message/rfc822" else 8 if maintype == "text" else 7
    disposition, disp_params = _disposition(fields, ext + 1, 7)
    filename = clean_filename(disp_params.get("filename") or params.get("name"))
    if content_type in MESSAGE_TYPES and filename is None:
        envelope = fields[7] if len(fields) > 7 else None
        subject = envelope[1] if isinstance(envelope, (list, tuple)) and len(envelope) > 1 else None
        filename = rfc822_filename(decode_header(subject) if subject else None)
    encoding = as_str(fields[5]).strip().lower() or "7bit"
    return Part(
        part_id,
        content_type,
        params,
        clean_content_id(fields[3]),
        encoding,
        as_int(fields[6]),
        disposition,
        filename,
    )


def _pick(part: Part) -> tuple[Part | None, Part | None]:
    if not part.is_multipart:
        if part.is_attachment or part.content_type not in BODY_TYPES:
            return None, None
        return (part, None) if part.subtype == "plain" else (None, part)
    if part.subtype == "alternative":
        plain = html = None
        for child in reversed(part.children):
            p, h = _pick(child)
            plain, html = plain or p, html or h
        return plain, html
    children = list(part.children)
    start = part.params.get("start", "").strip().strip("<>") if part.subtype == "related" else ""
    if start:
        children.sort(key=lambda child: child.content_id != start)
    for child in children:
        found = _pick(child)
        if found != (None, None):
            return found
    return None, None


def pick_text_parts(root: Part) -> tuple[Part | None, Part | None]:
    """The text/plain and text/html parts to display, either may be None.

    In multipart/alternative the last acceptable alternative of each type wins; elsewhere the first
    child that yields a body wins. Attachments and forwarded messages are never picked.
    """
    return _pick(root)


def attachments(root: Part) -> list[Part]:
    """Leaves to offer besides the body: attachments, inline images, forwarded messages, extra texts.

    Unchosen text/plain or text/html alternatives of the body are left out.
    """
    chosen = {p.part_id for p in pick_text_parts(root) if p is not None}
    found: list[Part] = []

    def visit(part: Part, in_alternative: bool) -> None:
        if part.is_multipart:
            for child in part.children:
                visit(child, part.subtype == "alternative")
        elif part.part_id not in chosen and not (
            in_alternative and part.content_type in BODY_TYPES and not part.is_attachment
        ):
            found.append(part)

    visit(root, False)
    return found


def has_attachments(root: Part) -> bool:
    """True for real attachments; cid: images of an HTML body and inline texts do not count."""

    def real(part: Part, in_related: bool) -> bool:
        if part.is_multipart:
            return any(real(child, part.subtype == "related") for child in part.children)
        if part.disposition == "attachment" or part.content_type in MESSAGE_TYPES:
            return True
        if in_related and part.content_id:
            return False
        return part.filename is not None and (part.maintype != "text" or part.disposition != "inline")

    return real(root, False)


def find_part(root: Part, part_id: str) -> Part | None:
    """The part with this IMAP section number, or None."""
    return next((part for part in root.walk() if part.part_id == part_id), None)
