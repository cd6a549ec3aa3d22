"""HTML bodies: readable text for an agent (inscriptis) and a safe, tracking-free HTML (nh3).

Both libraries are imported lazily, inside the functions, to keep start-up fast. HTML nested deeper than
`MAX_DEPTH` (which lxml would cut off and nh3 takes minutes over) or with more than `MAX_TAGS` tags is not
given to them: a linear scan extracts its text instead, so every rendering stays within about a second.
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
_IMG = re.compile(r'<img((?:\s+[^\s=>]+="[^"]*")*)\s*/?>')
_ATTR = re.compile(r'([^\s=>]+)="([^"]*)"')
_DATA_IMAGE = re.compile(r"^data:image/(png|jpe?g|gif|webp);", re.IGNORECASE)
_TAG_TOKEN = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*)[^<>]*?(/?)>")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
MAX_DEPTH = 200
MAX_TAGS = 50_000
_VOID = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr",
    "p", "li", "td", "th", "tr", "dt", "dd", "option", "optgroup", "thead", "tbody", "tfoot", "colgroup",
}  # fmt: skip
_HIDDEN_START = re.compile(r"<!--|<(script|style|head|title|template|svg|math)\b")
_BLOCK_TAG = re.compile(
    r"</?(?:address|article|aside|blockquote|br|dd|div|dl|dt|footer|form|h[1-6]|header|hr|li|main|nav|ol|p|pre"
    r"|section|table|tr|ul)\b[^<>]*>",
    re.IGNORECASE,
)
_CELL_TAG = re.compile(r"</?t[dh]\b[^<>]*>", re.IGNORECASE)
_ANY_TAG = re.compile(r"</?[A-Za-z!?][^<>]*>")

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


def too_complex(html: str, max_tags: int | None = MAX_TAGS) -> bool:
    """Nested deeper than MAX_DEPTH (end tags that HTML lets one leave out do not count) or over MAX_TAGS tags."""
    if html.count("<") <= MAX_DEPTH:
        return False
    depth = tags = 0
    for match in _TAG_TOKEN.finditer(html):
        tags += 1
        if max_tags is not None and tags > max_tags:
            return True
        name = match.group(2).lower()
        if name in _VOID or match.group(3):
            continue
        if match.group(1):
            depth = max(depth - 1, 0)
        else:
            depth += 1
            if depth > MAX_DEPTH:
                return True
    return False


def _without_hidden(html: str) -> str:
    """Comments and script/style/head/… blocks cut out, in one pass over the openings (unclosed: to the end)."""
    lowered, kept, pos = html.translate(_ASCII_LOWER), [], 0
    for match in _HIDDEN_START.finditer(lowered):
        if match.start() < pos:
            continue
        kept.append(html[pos : match.start()])
        closer = "-->" if match.group(0) == "<!--" else f"</{match.group(1)}"
        end = lowered.find(closer, match.end())
        pos = len(html) if end < 0 else lowered.find(">", end) + 1 or len(html)
    kept.append(html[pos:])
    return "".join(kept)


def simple_text(html: str) -> str:
    """Text of any HTML in linear time: tags dropped (block tags become line breaks, cells spaces), comments
    and script/style/head skipped, entities decoded. The fallback when the full renderer cannot be used."""
    if (cut := html.rfind("<")) > html.rfind(">"):  # a tag cut short, as a partial fetch leaves it
        html = html[:cut]
    text = _BLOCK_TAG.sub("\n", _without_hidden(html))
    text = htmllib.unescape(_ANY_TAG.sub("", _CELL_TAG.sub(" ", text)))
    return _tidy("\n".join(" ".join(line.split()) for line in text.split("\n")))


def html_to_text(html: str) -> str:
    """Readable plain text: paragraphs, lists, table rows, links as `text <url>`; no script/style."""
    source = _CONTROL.sub("", _XML_DECL.sub("", html or "", count=1))
    if not source.strip():
        return ""
    if too_complex(source):
        return simple_text(source)
    try:
        from inscriptis.html_engine import Inscriptis
        from inscriptis.model.config import ParserConfig
        from lxml.html import document_fromstring

        tree = document_fromstring(source)
        _annotate_links(tree)
        text = Inscriptis(tree, ParserConfig()).get_text()
    except Exception:  # fall back to the simple extraction rather than fail
        return simple_text(source)
    text = _tidy(text)
    return text if text.strip() or not (fallback := simple_text(source)) else fallback


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

    if too_complex(html or "", max_tags=None):  # nh3 is quick on many tags, slow on deep nesting
        paragraphs = simple_text(_CONTROL.sub("", html)).split("\n\n")
        return "\n".join(f"<p>{htmllib.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs if p)
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
