"""HTML bodies: readable text for an agent (inscriptis) and a safe, tracking-free HTML (nh3).

Both libraries are imported lazily, inside the functions, to keep start-up fast.
"""

from __future__ import annotations

import html as htmllib
import re
from typing import Any

_XML_DECL = re.compile(r"^\s*<\?xml[^>]*>", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u034f\u00ad\u180e]")
_TRAILING_SPACE = re.compile(r"[ \t]+$", re.MULTILINE)
_BLANK_RUNS = re.compile(r"\n{3,}")
_TAG = re.compile(r"<[^>]*>")
_HIDDEN_BLOCKS = re.compile(r"<(script|style|head|title)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_IMG = re.compile(r'<img((?:\s+[^\s=>]+="[^"]*")*)\s*/?>')
_ATTR = re.compile(r'([^\s=>]+)="([^"]*)"')
_DATA_IMAGE = re.compile(r"^data:image/(png|jpe?g|gif|webp);", re.IGNORECASE)

_TAGS = {
    "a", "abbr", "b", "big", "blockquote", "br", "caption", "center", "cite", "code", "col", "colgroup",
    "dd", "del", "div", "dl", "dt", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img",
    "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "small", "span", "strike", "strong", "sub",
    "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul",
}  # fmt: skip
_CELL = {"align", "valign", "colspan", "rowspan", "width"}
_ATTRIBUTES = {
    "*": {"title", "lang", "dir"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "td": _CELL,
    "th": _CELL,
    "table": {"align", "border", "cellpadding", "cellspacing", "width"},
    "ol": {"start", "type"},
    "font": {"color", "size", "face"},
    "p": {"align"},
    "div": {"align"},
}
_CLEAN_CONTENT = {"script", "style", "title", "head", "template", "iframe", "object", "embed", "svg", "math"}


def _tidy(text: str) -> str:
    text = _INVISIBLE.sub("", text).replace("\u00a0", " ")
    text = _TRAILING_SPACE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return _BLANK_RUNS.sub("\n\n", text).strip("\n")


def _link_target(href: str) -> str | None:
    href = href.strip()
    lowered = href.lower()
    if lowered.startswith(("http://", "https://")):
        return href
    if lowered.startswith("mailto:"):
        return href[7:].split("?", 1)[0] or None
    return None


def _annotate_links(tree: Any) -> None:
    for anchor in tree.iter("a"):
        target = _link_target(anchor.get("href") or "")
        label = " ".join((anchor.text_content() or "").split())
        if not target or not label or target.rstrip("/") in label or label in target:
            continue
        anchor.tail = f" <{target}>" + (anchor.tail or "")


def html_to_text(html: str) -> str:
    """Readable plain text: paragraphs, lists, table rows, links as `text <url>`; no script/style."""
    source = _CONTROL.sub("", _XML_DECL.sub("", html or "", count=1))
    if not source.strip():
        return ""
    try:
        from inscriptis.html_engine import Inscriptis
        from inscriptis.model.config import ParserConfig
        from lxml.html import document_fromstring

        tree = document_fromstring(source)
        _annotate_links(tree)
        text = Inscriptis(tree, ParserConfig()).get_text()
    except Exception:  # fall back to crude tag stripping rather than fail
        text = htmllib.unescape(_TAG.sub(" ", _HIDDEN_BLOCKS.sub(" ", source)))
    return _tidy(text)


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    lowered = value.strip().lower()
    if tag == "img" and attr == "src":
        return value if lowered.startswith("cid:") or _DATA_IMAGE.match(lowered) else None
    if attr == "href":
        return value if lowered.startswith(("http://", "https://", "mailto:")) else None
    return value


def _replace_blocked_image(match: re.Match[str]) -> str:
    attrs = dict(_ATTR.findall(match.group(1)))
    if "src" in attrs:
        return match.group(0)
    alt = htmllib.unescape(attrs.get("alt", "")).strip()
    return htmllib.escape(f"[image: {alt}]", quote=False) if alt else ""


def sanitize_html(html: str) -> str:
    """Allow-list sanitising: no scripts, styles, frames, forms, event handlers or javascript: URLs.

    Links get rel="noopener noreferrer". Remote images (tracking pixels) are removed, leaving their
    alt text; cid: and data:image images are kept.
    """
    import nh3

    cleaned = nh3.clean(
        _CONTROL.sub("", html or ""),
        tags=_TAGS,
        clean_content_tags=_CLEAN_CONTENT,
        attributes=_ATTRIBUTES,
        attribute_filter=_attribute_filter,
        url_schemes={"http", "https", "mailto", "cid", "data"},
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
    return _IMG.sub(_replace_blocked_image, cleaned).strip()
