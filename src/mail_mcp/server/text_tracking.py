"""The text blocks of get_thread and list_changes, and the state line every listing ends with."""

from __future__ import annotations

from typing import Any

from mail_mcp.server.text_parts import fence, flag_words, one_line, people, person, summary_lines, when


def state_line(meta: dict[str, Any]) -> list[str]:
    state = meta.get("state")
    return [f'Later changes: list_changes(state="{state}")'] if state else []


def render_thread(envelope: dict[str, Any], token: str) -> str:
    d = envelope["data"]
    messages = d.get("messages", [])
    position = {m["header_message_id"]: n for n, m in enumerate(messages, 1) if m.get("header_message_id")}
    head = (
        f"Conversation of {d.get('count', len(messages))} message(s) in {len(d.get('folders') or [])} folder(s), "
        "oldest first; times UTC; [n] numbers the messages"
    )
    content = [f"Subject: {one_line(d.get('subject')) or '(no subject)'}"]
    for n, m in enumerate(messages, 1):
        flags = flag_words(m.get("flags", []) + ([] if not m.get("is_read", True) else ["\\Seen"]))
        reply = f" | answers [{position[m['parent']]}]" if m.get("parent") in position else ""
        also = f" (also in {', '.join(one_line(f) for f in m['also_in'])})" if m.get("also_in") else ""
        content += [
            "",
            f"[{n}] {when(m.get('date'))} | {person(m.get('from'))}"
            + (f" -> {people(m['to'])}" if m.get("to") else "")
            + (f" | {flags}" if flags else "")
            + reply,
            f"{m['message_id']}{also}",
        ]
        if m.get("subject"):
            content.append(f"Subject: {one_line(m['subject'])}")
        if m.get("attachments"):
            content.append("Attachments: " + ", ".join(one_line(a) for a in m["attachments"]))
        content += (m.get("text") or "").splitlines() or ["(no text)"]
        if m.get("next_offset") is not None:
            content.append(f"(cut: get_message with offset={m['next_offset']} reads on)")
    tail = [one_line(d["hint"])] if d.get("hint") else []
    return "\n".join([head, *fence(content, token), *tail])


def render_changes(envelope: dict[str, Any], token: str) -> str:
    d, meta = envelope["data"], envelope.get("meta", {})
    lines = [one_line(envelope.get("summary", ""))]
    new = d.get("new_messages", [])
    content: list[str] = []
    if new:
        total = d.get("new_total", len(new))
        shown = f"{len(new)} of {total}" if total > len(new) else str(len(new))
        content.append(f"New ({shown}), newest first: date | from | subject | flags | id")
        for m in new:
            content += summary_lines(m)
    for change in d.get("flag_changes", []):
        content.append(f"Flags now {flag_words(change.get('flags', [])) or 'read'}: {change['message_id']}")
    if d.get("flag_changes_total", 0) > len(d.get("flag_changes", [])):
        content.append(f"(of {d['flag_changes_total']} flag changes)")
    for gone in d.get("vanished", []):
        content.append(f"Gone (deleted or moved): {gone}")
    if d.get("vanished_total", 0) > len(d.get("vanished", [])):
        content.append(f"(of {d['vanished_total']} gone)")
    for unknown in d.get("unknown", []):
        what = [
            "flag changes" if unknown.get("flags_unknown") else "",
            f"which {unknown['vanished_unknown']} went" if unknown.get("vanished_unknown") else "",
        ]
        told = " and ".join(w for w in what if w) or "some changes"
        content.append(f"Could not tell {told} in {one_line(unknown.get('mailbox'))}: list it to be sure.")
    if d.get("note"):
        content.append(one_line(d["note"]))
    if content:  # flag keywords and folder names are set by others: fenced like mail content
        lines += fence(content, token)
    return "\n".join([*lines, *state_line(meta)])
