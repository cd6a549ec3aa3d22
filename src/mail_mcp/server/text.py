"""The text block a model reads: compact lines written for reading, not a second copy of structuredContent.

Everything that came from a mailbox (names, subjects, previews, bodies, attachment text) sits between two
marker lines carrying a random token made for this call, so a sender cannot forge the closing marker.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from mail_mcp.server import text_tracking
from mail_mcp.server.text_parts import (
    FENCE_NOTE,
    fence,
    flag_words,
    new_token,
    one_line,
    people,
    person,
    size,
    summary_lines,
    when,
)

__all__ = ["FENCE_NOTE", "render", "when"]


def _paging(meta: dict[str, Any], shown: int, offset_hint: int | None) -> str:
    if not meta.get("next_cursor"):
        return "End of list."
    text = f'More: cursor="{meta["next_cursor"]}"'
    return text + (f" (or offset={offset_hint})" if offset_hint is not None else "")


def render_list(envelope: dict[str, Any], token: str) -> str:
    data, meta = envelope["data"], envelope.get("meta", {})
    messages = data.get("messages", [])
    role = f" ({data['folder_role']})" if data.get("folder_role") else ""
    total = "" if data.get("total") is None else f" of {data['total']}"
    searched = data.get("mailboxes")
    where = f"{len(searched)} folders" if searched else f"{data['mailbox']}{role}"
    grouped = any(m.get("thread_count") for m in messages)
    what = "conversations (their newest message)" if grouped else "messages"
    head = (
        f"{len(messages)}{total} {what} in {where} of {data['account']}, newest arrival first; "
        "times UTC; line: date | from | subject | flags | id"
    )
    lines: list[str] = []
    for m in messages:
        count = m.get("thread_count") or 0
        lines += summary_lines(m, extra=f"{count} in conversation" if count > 1 else "")
    body = fence(lines, token) if lines else []
    return "\n".join([head, *body, _paging(meta, len(messages), None), *text_tracking.state_line(meta)])


def _attachment_line(a: dict[str, Any]) -> str:
    name = one_line(a.get("filename")) or "(no name)"
    return (
        f"  {a['index']}. {name} ({one_line(a['content_type'])}, {size(a.get('size'))}, part {a['part_id']})"
    )


def render_message(envelope: dict[str, Any], token: str) -> str:
    d = envelope["data"]
    body = d["body"]
    headers = [f"From: {person(d.get('from'))}"]
    for label, key in (("Reply-To", "reply_to"), ("To", "to"), ("Cc", "cc"), ("Bcc", "bcc")):
        if d.get(key) and not (key == "reply_to" and d[key] == [d.get("from")]):
            headers.append(f"{label}: {people(d[key])}")
    headers.append(f"Subject: {one_line(d.get('subject'))}")
    for label, key in (("Message-ID", "header_message_id"), ("In-Reply-To", "in_reply_to")):
        if d.get(key):
            headers.append(f"{label}: {one_line(d[key])}")
    if d.get("references"):
        headers.append(f"References: {' '.join(one_line(r) for r in d['references'])}")
    flags = flag_words(d.get("flags", []))
    ours = [
        f"{d['message_id']} | {when(d.get('date'))} UTC | {size(d.get('size'))}"
        + (f" | {flags}" if flags else "")
    ]
    content = [*headers, ""]
    text = body.get("text") or ""
    content += text.splitlines() or ["(no text)"]
    if body.get("html") is not None:
        content += ["", "HTML:", *body["html"].splitlines()]
    if d.get("attachments"):  # their names and types come from the sender too: inside the fence
        content += ["", "Attachments (get_attachment with the number):"]
        content += [_attachment_line(a) for a in d["attachments"]]
    tail = []
    shown = f"chars {body['offset']}-{body['offset'] + len(text)} of {body['total_chars']}"
    if body.get("next_offset") is not None:
        tail.append(f"Body cut ({shown}): continue with offset={body['next_offset']}.")
    elif body.get("offset"):
        tail.append(f"Body {shown}.")
    return "\n".join([*ours, *fence(content, token), *tail])


def render_attachment(envelope: dict[str, Any], token: str) -> str:
    d = envelope["data"]
    lines = [f"Attachment, part {d['part_id']} of {d['message_id']}, {size(d.get('size'))}:"]
    if d.get("resource_uri"):
        lines.append(f"Bytes: {d['resource_uri']} (resources/read)")
    content = [
        f"Name: {one_line(d.get('filename')) or '(no name)'}",
        f"Type: {one_line(d.get('content_type'))}",
    ]
    if d.get("saved_path"):
        content.append(f"Saved to: {one_line(d['saved_path'])}")
    if d.get("text") is not None:
        content += ["", *(d["text"].splitlines() or [""])]
    lines += fence(content, token)
    if d.get("text") is not None and d.get("next_offset") is not None:
        lines.append(
            f"Text cut (chars {d.get('offset', 0)}-{d['next_offset']} of {d.get('total_chars')}): "
            f"continue with offset={d['next_offset']}."
        )
    return "\n".join(lines)


def render_folders(envelope: dict[str, Any], token: str) -> str:
    d = envelope["data"]
    head = f"{len(d['folders'])} folders of {d['account']}: name (role) messages/unread"
    lines = []
    for f in d["folders"]:  # names can be made by others (shared folders): fenced like mail content
        role = f" ({f['role']})" if f.get("role") else ""
        counts = f" {f['messages']}/{f['unseen']}" if f.get("messages") is not None else ""
        closed = "" if f.get("selectable", True) else " not selectable"
        lines.append(f"{one_line(f['name'])}{role}{counts}{closed}")
    return "\n".join([head, *fence(lines, token)])


def render_accounts(envelope: dict[str, Any], token: str) -> str:
    d = envelope["data"]
    lines = [f"{len(d['accounts'])} account(s); default {d['default_account']}"]
    for a in d["accounts"]:
        state = "ok" if a["status"] == "ok" else f"ERROR {a.get('error')}"
        rights = (
            ", ".join(w for w, on in (("write", a["write_enabled"]), ("send", a["send_enabled"])) if on)
            or "read only"
        )
        caps = " ".join(a.get("capabilities", []))
        address = a.get("address") or "(no address configured)"
        lines.append(f"{a['id']}: {address} on {a['server']}, {state}; {rights}; {caps}")
    return "\n".join(lines)


def _lean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _lean(v) for k, v in value.items() if v not in (None, [], {}, "")}
    if isinstance(value, list):
        return [_lean(v) for v in value]
    return value


def render_other(envelope: dict[str, Any], token: str) -> str:
    """Results of writes and sending: the summary, then the data as compact JSON without empty members, fenced
    (a reply's subject and recipients, a forward's file names come from the original's sender)."""
    data = json.dumps(_lean(envelope.get("data")), ensure_ascii=False)
    return "\n".join([one_line(envelope.get("summary", "")), *fence([data], token)])


RENDERERS: dict[str, Callable[[dict[str, Any], str], str]] = {
    "list_messages": render_list,
    "get_message": render_message,
    "get_attachment": render_attachment,
    "list_folders": render_folders,
    "list_accounts": render_accounts,
    "get_thread": text_tracking.render_thread,
    "list_changes": text_tracking.render_changes,
}


def render(tool: str, envelope: dict[str, Any]) -> str:
    return RENDERERS.get(tool, render_other)(envelope, new_token())
